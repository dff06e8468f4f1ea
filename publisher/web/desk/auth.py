"""Who is asking, and may they: the desk's sign-in sessions, the trusted
proxy's user header, CSRF tokens, and the cookies' flags.

Pure deciders (``client_is_proxy``, ``is_secure``, ``csrf_ok``,
``desk_state``) over plain facts; ``identify`` reads the facts of one
request (the cookie's session in the store, the headers) and returns a
``Person`` or ``None``.

Settings come from the schedules' ``[desk]`` table (``trusted_proxy_header``,
``trusted_proxy``), each overridden by its environment variable when set:

``PUBLISHER_DESK_TRUSTED_PROXY_HEADER``  the header a reverse proxy sets to the
                                         signed-in user's name (``X-Remote-User``);
``PUBLISHER_DESK_TRUSTED_PROXY``         the proxy's addresses, comma-separated: the
                                         header (and ``X-Forwarded-Proto``) is believed
                                         only from them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from publisher.config import DeskConfig
from publisher.services import users as people
from publisher.store.users import Role, UserStore

SESSION_COOKIE = "desk_session"
CSRF_COOKIE = "desk_csrf"
COOKIE_PATH = "/desk"


@dataclass(frozen=True, slots=True)
class DeskSettings:
    proxy_header: str | None = None
    proxies: frozenset[str] = frozenset()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str],
                     desk: DeskConfig | None = None) -> DeskSettings:
        """The ``[desk]`` table's settings (``desk``), each replaced by its
        environment variable when that is set and not empty."""
        header = ((environ.get("PUBLISHER_DESK_TRUSTED_PROXY_HEADER") or "").strip()
                  or (desk.trusted_proxy_header if desk else None))
        listed = (environ.get("PUBLISHER_DESK_TRUSTED_PROXY") or "").split(",")
        proxies = frozenset(p.strip() for p in listed if p.strip())
        if not proxies and desk is not None:
            proxies = frozenset(desk.trusted_proxy)
        return cls(header.lower() if header else None, proxies)


@dataclass(frozen=True, slots=True)
class Person:
    """Who is asking: their name (for the log's ``by``) and role."""

    name: str
    role: Role
    #: "session" (signed in here) or "proxy" (the proxy's header).
    via: str
    #: The session's token hash (to end it at sign-out), for "session".
    session: str | None = None

    def may(self, action: str) -> bool:
        return people.may(self.role, action)


# -- pure rules ----------------------------------------------------------------

def client_is_proxy(client: str | None, settings: DeskSettings) -> bool:
    return client is not None and client in settings.proxies


def is_secure(scheme: str, forwarded_proto: str | None, from_proxy: bool) -> bool:
    """Served over TLS: directly, or by a trusted proxy saying so."""
    if scheme == "https":
        return True
    return from_proxy and (forwarded_proto or "").split(",")[0].strip().lower() == "https"


def desk_state(active_users: int, settings: DeskSettings) -> str | None:
    """Why the desk is off (None: it is on)."""
    if active_users > 0:
        return None
    if settings.proxy_header and settings.proxies:
        return None
    if settings.proxy_header:
        return ("the web desk is off: [desk] trusted_proxy_header is set without "
                "trusted_proxy (the proxy's address; or PUBLISHER_DESK_TRUSTED_PROXY)")
    return "the web desk is off: add a user with `publisher users add NAME --role editor`"


def exposure_warning(host: str | None, settings: DeskSettings, *, desk_on: bool) -> str | None:
    """For ``publisher check``: the desk listens beyond loopback with no TLS
    proxy declared in front of it (passwords and cookies would cross the
    network in clear)."""
    import ipaddress

    if not desk_on or host is None:
        return None
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or settings.proxies:
        return None
    return (f"the web desk listens on {host} without a TLS proxy in front: serve it "
            "through nginx or Caddy with TLS and set [desk] trusted_proxy to its address "
            "(or keep PUBLISHER_HTTP on 127.0.0.1)")


def check_warning(app: Any) -> str | None:
    """``exposure_warning`` for ``app``'s listener (``PUBLISHER_HTTP``), its
    ``[desk]`` settings and its users, for ``publisher check``.  A store that
    cannot be read counts as people who can sign in: a warning too many
    beats an exposed desk unmentioned."""
    from publisher.web.server import DEFAULT_BIND, parse_bind

    address = parse_bind(app.environ.get("PUBLISHER_HTTP", DEFAULT_BIND))
    if address is None:
        return None
    settings = DeskSettings.from_environ(app.environ, app.config.desk)
    try:
        active = UserStore(app.store).count_active()
    except Exception:  # no database yet, or not migrated: cannot tell
        active = 1
    return exposure_warning(address[0], settings, desk_on=desk_state(active, settings) is None)


def csrf_token(key: bytes, cookie: str) -> str:
    """The form token for a CSRF cookie (the cookie alone cannot be read
    cross-site; the token is bound to it by a key only the daemon holds)."""
    return hmac.new(key, cookie.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:40]


def csrf_ok(key: bytes, cookie: str | None, token: str | None) -> bool:
    if not cookie or not token:
        return False
    return hmac.compare_digest(csrf_token(key, cookie), token)


def new_cookie_value() -> str:
    return secrets.token_urlsafe(24)


# -- one request -----------------------------------------------------------------

def identify(users: UserStore, settings: DeskSettings, *, client: str | None,
             headers: Mapping[str, str], cookies: Mapping[str, str],
             now: datetime) -> Person | None:
    """The person behind a request, or None (sign in)."""
    if settings.proxy_header and client_is_proxy(client, settings):
        name = (headers.get(settings.proxy_header) or "").strip()
        if name:
            try:
                name = people.check_name(name)
            except Exception:
                return None
            known = users.get_user(name)
            if known is not None and known.disabled:
                return None
            return Person(name, known.role if known else Role.VIEWER, "proxy")
    token = cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    digest = people.token_hash(token)
    verdict = people.session_verdict(users.session(digest), now=now)
    if not isinstance(verdict, people.Valid):
        return None
    users.touch_session(digest, now=now, expires_at=verdict.expires_at)
    return Person(verdict.user.name, verdict.user.role, "session", digest)


def cookie_flags(secure: bool) -> dict[str, Any]:
    return {"httponly": True, "samesite": "strict", "secure": secure, "path": COOKIE_PATH}
