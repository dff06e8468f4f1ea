"""The web desk's people: roles and rights, passwords, sign-in, sessions.

Pure rules first (``may``, ``check_name``, ``check_password``,
``sign_in_gate``, ``session_verdict``: functions of data and the time,
returning small frozen values), then the thin I/O around them (hashing with
argon2id through argon2-cffi, the ``UserStore`` in the database, an
in-memory ledger of failed sign-ins).

Rights (the README's table)::

    action      viewer  editor  ops
    look          x       x      x
    create                x      x
    edit                  x      x
    approve               x      x
    cancel                x      x
    retry                 x      x
    retract               x      x
    resolve                      x
    pause                        x
    resume                       x
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import unicodedata
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from publisher.exceptions import InputError
from publisher.store.users import Role, SessionRow, User, UserStore

__all__ = [
    "ABSOLUTE_LIFETIME",
    "IDLE_TIMEOUT",
    "RIGHTS",
    "Allow",
    "Expired",
    "FailureLedger",
    "Refused",
    "Role",
    "SignedIn",
    "User",
    "Valid",
    "Wait",
    "add_user",
    "check_name",
    "check_password",
    "hash_password",
    "may",
    "parse_role",
    "session_verdict",
    "sign_in",
    "sign_in_gate",
    "token_hash",
    "verify_password",
]

# -- rights ------------------------------------------------------------------

_LEVEL = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OPS: 2}

#: The least role that may do each action.
RIGHTS: dict[str, Role] = {
    "look": Role.VIEWER,
    "create": Role.EDITOR,
    "edit": Role.EDITOR,
    "approve": Role.EDITOR,
    "cancel": Role.EDITOR,
    "retry": Role.EDITOR,
    "retract": Role.EDITOR,
    "resolve": Role.OPS,
    "pause": Role.OPS,
    "resume": Role.OPS,
}


def may(role: Role, action: str) -> bool:
    """May a person of ``role`` do ``action``?  An unknown action: no."""
    least = RIGHTS.get(action)
    return least is not None and _LEVEL[role] >= _LEVEL[least]


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise InputError(f'--role: must be viewer, editor or ops, not "{value[:40]}"') from None


# -- names and passwords -----------------------------------------------------

NAME_MAX = 64
PASSWORD_MIN = 10
PASSWORD_MAX = 1024


def check_name(value: str) -> str:
    """A user name: 1-64 letters, digits, ``.``, ``_``, ``-``, ``@``."""
    name = value.strip()
    if not name:
        raise InputError("user name: empty")
    if len(name) > NAME_MAX:
        raise InputError(f"user name: longer than {NAME_MAX} characters")
    bad = [c for c in name if not (c.isalnum() or c in "._-@")
           or unicodedata.category(c).startswith("C")]
    if bad:
        raise InputError(f"user name: only letters, digits and . _ - @ (not {bad[0]!r})")
    return name


def check_password(value: str) -> str:
    """At least 10 characters, at most 1024; never echoed back."""
    if len(value) < PASSWORD_MIN:
        raise InputError(f"password: at least {PASSWORD_MIN} characters")
    if len(value) > PASSWORD_MAX:
        raise InputError(f"password: at most {PASSWORD_MAX} characters")
    return value


_hasher: Any = None


def _ph() -> Any:
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
    return _hasher


def hash_password(password: str) -> str:
    return str(_ph().hash(password))


def verify_password(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_ph().verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """Verified against for unknown names, so a miss costs what a hit costs."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


# -- sign-in rate limit (pure) -----------------------------------------------

#: At most this many failed sign-ins per name, and per client address, in WINDOW.
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Allow:
    pass


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime
    message: str


def sign_in_gate(failures: Iterable[datetime], *, now: datetime,
                 limit: int = MAX_FAILURES, window: timedelta = WINDOW) -> Allow | Wait:
    """May one more sign-in be tried, given the times of recent failures?"""
    recent = sorted(t for t in failures if t > now - window)
    if len(recent) < limit:
        return Allow()
    until = recent[-limit] + window
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    return Wait(until, f"too many failed sign-ins: try again in {minutes} min")


class FailureLedger:
    """Failed sign-ins of the last ``WINDOW``, per name and per client
    address, in this process's memory (the daemon serves the desk)."""

    def __init__(self, window: timedelta = WINDOW, keys: int = 10_000):
        self._window = window
        self._keys = keys
        self._lock = threading.Lock()
        self._seen: dict[str, deque[datetime]] = {}

    def failures(self, key: str, now: datetime) -> list[datetime]:
        with self._lock:
            q = self._seen.get(key)
            while q and q[0] <= now - self._window:
                q.popleft()
            return list(q or ())

    def fail(self, key: str, now: datetime) -> None:
        with self._lock:
            if key not in self._seen and len(self._seen) >= self._keys:
                self._seen.pop(next(iter(self._seen)))  # the oldest key goes first
            self._seen.setdefault(key, deque(maxlen=64)).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


# -- sessions (pure) ----------------------------------------------------------

#: A session ends after this long without a request …
IDLE_TIMEOUT = timedelta(hours=12)
#: … and this long after sign-in at the latest.
ABSOLUTE_LIFETIME = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Valid:
    user: User
    #: The session's new expiry (slides with use, never past the absolute lifetime).
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Expired:
    reason: str


def session_verdict(row: SessionRow | None, *, now: datetime,
                    idle: timedelta = IDLE_TIMEOUT,
                    lifetime: timedelta = ABSOLUTE_LIFETIME) -> Valid | Expired:
    if row is None:
        return Expired("not signed in")
    if row.user.disabled:
        return Expired("this account is disabled")
    if now >= row.expires_at or now >= row.created_at + lifetime:
        return Expired("the session expired: sign in again")
    if row.user.password_changed_at > row.created_at:
        return Expired("the password changed: sign in again")
    return Valid(row.user, min(now + idle, row.created_at + lifetime))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# -- I/O ---------------------------------------------------------------------

def add_user(users: UserStore, name: str, role: str, password: str, *, now: datetime) -> User:
    return users.add_user(check_name(name), parse_role(role),
                          hash_password(check_password(password)), now=now)


def set_password(users: UserStore, name: str, password: str, *, now: datetime) -> None:
    users.set_password(check_name(name), hash_password(check_password(password)), now=now)


@dataclass(frozen=True, slots=True)
class Refused:
    message: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    #: The cookie's value (only its hash is stored).
    token: str
    expires_at: datetime


def sign_in(users: UserStore, ledger: FailureLedger, *, name: str, password: str,
            client: str, now: datetime) -> SignedIn | Wait | Refused:
    """Check a name and password; a session, or why not (one line, the same
    for an unknown name and a wrong password)."""
    name = name.strip()[:NAME_MAX]
    keys = (f"name:{name.lower()}", f"client:{client}")
    for key in keys:
        gate = sign_in_gate(ledger.failures(key, now), now=now)
        if isinstance(gate, Wait):
            return gate
    user = users.get_user(name) if name else None
    ok = verify_password(user.password_hash if user else _dummy_hash(), password[:PASSWORD_MAX])
    if user is None or not ok or user.disabled:
        for key in keys:
            ledger.fail(key, now)
        return Refused("wrong name or password")
    ledger.clear(keys[0])
    token = secrets.token_urlsafe(32)
    expires = now + IDLE_TIMEOUT
    users.add_session(token_hash(token), user.id, now=now, expires_at=expires)
    return SignedIn(user, token, expires)
