"""WebSub (W3C Recommendation, 23 January 2018): a hub tells us a feed changed.

Discovery (spec §4): a feed that advertises ``<link rel="hub" href="…">``
(Atom ``link``, RSS ``atom:link``) or an HTTP ``Link: <…>; rel="hub"``
header is subscribed to, for its ``rel="self"`` URL (the topic), when
``[site] public_url`` is set: the callback is
``<public_url>/websub/<feed>``.

- Subscribe (§5.1): ``POST`` to the hub, form ``hub.callback``, ``hub.mode=subscribe``,
  ``hub.topic``, ``hub.lease_seconds`` and a fresh ``hub.secret``; the hub
  answers 202 and later verifies.
- Verification of intent (§5.3): the hub ``GET``s the callback with
  ``hub.mode``, ``hub.topic``, ``hub.challenge`` and ``hub.lease_seconds``;
  we echo the challenge (200) only for a subscription we asked for, else 404.
  ``hub.mode=denied`` records the refusal.
- Content distribution (§7, §8): the hub ``POST``s the feed with
  ``X-Hub-Signature: <method>=<hex HMAC(secret, body)>``, method ``sha1``,
  ``sha256``, ``sha384`` or ``sha512``.  A missing or wrong signature is
  answered 2xx (the spec says so: a hub must not learn which secret works)
  and ignored.  A good one is a hint: publisher polls the feed now (a
  conditional GET) rather than trusting the pushed body.
- Leases are renewed when 80% of them have passed; a subscription the hub
  never confirms is asked again after ``RETRY`` (doubling, at most a day).

Polling goes on as the safety net: ``poll_interval`` is the configured one
while a feed's subscription is not confirmed, and slower (x10, at most an
hour) while it is.  Subscriptions live in memory: after a restart they are
made again, which a hub takes as a renewal.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html import unescape
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from publisher.app import App

log = logging.getLogger("publisher.websub")

LEASE = 10 * 86400  # asked for; the hub decides
RETRY = timedelta(minutes=10)
RETRY_MAX = timedelta(days=1)
#: How long a feed found without a hub waits before it is looked at again.
REDISCOVER = timedelta(hours=6)
MAX_CONTENT = 5 * 1024 * 1024
_DIGESTS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
            "sha512": hashlib.sha512}


# -- pure parts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hub:
    hub: str
    topic: str


_LINK_TAG = re.compile(r"<(?:[\w-]+:)?link\b([^>]*)>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def discover(body: bytes, *, url: str, link_header: str | None = None) -> Hub | None:
    """The hub and topic a feed advertises (HTTP ``Link`` first, as §4 says), or None."""
    hubs: list[str] = []
    selves: list[str] = []
    if link_header:
        for part in link_header.split(","):
            match = re.match(r"\s*<([^>]+)>\s*;(.*)", part)
            if match:
                rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', match.group(2))
                for rel in " ".join(rels).split():
                    (hubs if rel == "hub" else selves if rel == "self" else []).append(
                        match.group(1).strip())
    text = body[:200_000].decode("utf-8", "replace")
    for tag in _LINK_TAG.finditer(text):
        attrs = {m.group(1).lower(): unescape(m.group(2) or m.group(3) or "")
                 for m in _ATTR.finditer(tag.group(1))}
        rels = attrs.get("rel", "").split()
        href = attrs.get("href", "").strip()
        if not href:
            continue
        if "hub" in rels:
            hubs.append(href)
        if "self" in rels:
            selves.append(href)
    hub = next((urljoin(url, h) for h in hubs if h), None)
    if hub is None or not hub.startswith(("http://", "https://")):
        return None
    topic = urljoin(url, selves[0]) if selves else url
    return Hub(hub, topic)


def signature_ok(secret: str, header: str | None, body: bytes) -> bool:
    """``X-Hub-Signature: method=hex`` checked with ``secret`` (§8)."""
    if not header or "=" not in header:
        return False
    method, _, given = header.strip().partition("=")
    digest = _DIGESTS.get(method.lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def poll_interval(configured: float, confirmed: bool) -> float:
    """Polling is the safety net: slower while a hub pushes, as set while it does not."""
    return min(max(configured * 10, configured), 3600.0) if confirmed else configured


@dataclass(frozen=True, slots=True)
class Subscription:
    feed: str
    hub: str
    topic: str
    callback: str
    secret: str
    state: str  # requested | verified | denied | failed
    asked_at: datetime
    tries: int = 1
    lease_expires_at: datetime | None = None
    reason: str = ""


def next_action(sub: Subscription, now: datetime) -> str | None:
    """``"subscribe"`` when the subscription should be asked for (again), else None."""
    if sub.state == "verified" and sub.lease_expires_at is not None:
        lease = sub.lease_expires_at - sub.asked_at
        return "subscribe" if now >= sub.asked_at + lease * 0.8 else None
    if sub.state in ("requested", "failed", "denied"):
        wait = min(RETRY * (2 ** (sub.tries - 1)), RETRY_MAX)
        return "subscribe" if now >= sub.asked_at + wait else None
    return None


# -- the running part -------------------------------------------------------------------


class WebSub:
    """Subscriptions of one daemon, and the callback's routes."""

    def __init__(self, app: App, public_url: str, *, on_change: Callable[[str], object],
                 http: Any = None):
        import httpx

        self.app = app
        self.public_url = public_url.rstrip("/")
        self.on_change = on_change  # feed name -> poll it now
        self.http = http or httpx.Client(timeout=10, follow_redirects=False,
                                         headers={"User-Agent": "publisher (WebSub)"})
        self.subs: dict[str, Subscription] = {}
        self._looked: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def confirmed(self, feed: str) -> bool:
        sub = self.subs.get(feed)
        return sub is not None and sub.state == "verified"

    def callback(self, feed: str) -> str:
        return f"{self.public_url}/websub/{feed}"

    def refresh(self) -> None:
        """Discover hubs of feeds not subscribed yet; (re)subscribe what is due."""
        now = self.app.now()
        for feed in self.app.config.feeds:
            sub = self.subs.get(feed.name)
            if sub is None:
                looked = self._looked.get(feed.name)
                if looked is not None and now - looked < REDISCOVER:
                    continue  # no hub last time: look again in a few hours, not every round
                self._looked[feed.name] = now
                hub = self._discover(feed.url)
                if hub is not None:
                    self.subscribe(feed.name, hub)
            elif next_action(sub, now) == "subscribe":
                self.subscribe(feed.name, Hub(sub.hub, sub.topic), tries=sub.tries + 1
                               if sub.state != "verified" else 1)

    def _discover(self, url: str) -> Hub | None:
        import httpx

        if not url.startswith(("http://", "https://")):
            return None
        try:
            with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    return None
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_CONTENT:
                        break  # the hub link is near the top; the rest is not needed
                link = response.headers.get("link")
                final = str(response.url)
        except httpx.HTTPError as exc:
            log.info("websub: cannot read %s for a hub: %s", url, type(exc).__name__)
            return None
        return discover(body, url=final, link_header=link)

    def subscribe(self, feed: str, hub: Hub, *, tries: int = 1) -> Subscription:
        import httpx

        secret = secrets.token_hex(32)
        sub = Subscription(feed, hub.hub, hub.topic, self.callback(feed), secret, "requested",
                           self.app.now(), tries)
        with self._lock:
            self.subs[feed] = sub
        form = {"hub.callback": sub.callback, "hub.mode": "subscribe", "hub.topic": hub.topic,
                "hub.lease_seconds": str(LEASE), "hub.secret": secret}
        try:
            response = self.http.post(hub.hub, data=form)
            ok = response.status_code in (202, 204)
            why = f"hub answered {response.status_code}"
        except httpx.HTTPError as exc:
            ok, why = False, f"hub not reachable: {type(exc).__name__}"
        if not ok:
            with self._lock:
                self.subs[feed] = replace(sub, state="failed", reason=why)
            log.warning("websub: feed=%s subscribe to %s failed: %s", feed, hub.hub, why)
        else:
            log.info("websub: feed=%s subscription requested hub=%s topic=%s", feed, hub.hub,
                     hub.topic)
        return self.subs[feed]

    # -- the callback ------------------------------------------------------------------

    def routes(self) -> list[Any]:
        from starlette.routing import Route

        return [Route("/websub/{feed}", self.verify, methods=["GET"]),
                Route("/websub/{feed}", self.content, methods=["POST"])]

    async def verify(self, request: Request) -> Response:
        """Verification of intent (§5.3) and denial (§5.2)."""
        from starlette.responses import PlainTextResponse

        feed = request.path_params["feed"]
        q = request.query_params
        mode, topic = q.get("hub.mode"), q.get("hub.topic")
        with self._lock:
            sub = self.subs.get(feed)
            if sub is None or topic != sub.topic:
                return PlainTextResponse("no such subscription", status_code=404)
            if mode == "denied":
                self.subs[feed] = replace(sub, state="denied",
                                          reason=(q.get("hub.reason") or "denied")[:200])
                log.warning("websub: feed=%s denied by the hub: %s", feed,
                            self.subs[feed].reason)
                return PlainTextResponse("ok")
            challenge = q.get("hub.challenge")
            if mode != "subscribe" or not challenge or sub.state == "denied":
                return PlainTextResponse("not asked for", status_code=404)
            lease = q.get("hub.lease_seconds")
            # The hub decides the lease; a silly one is bounded (a minute .. a year).
            seconds = int(lease) if lease and lease.isdigit() and len(lease) < 10 else LEASE
            seconds = min(max(seconds, 60), 366 * 86400)
            now = self.app.now()
            self.subs[feed] = replace(sub, state="verified", asked_at=now, tries=1,
                                      lease_expires_at=now + timedelta(seconds=seconds))
        log.info("websub: feed=%s confirmed, lease %d s", feed, seconds)
        return PlainTextResponse(challenge)

    async def content(self, request: Request) -> Response:
        """Content distribution (§7): a signed notice that the topic changed."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import PlainTextResponse

        from publisher.web import TooLarge, read_body

        feed = request.path_params["feed"]
        sub = self.subs.get(feed)
        if sub is None or sub.state != "verified":
            return PlainTextResponse("no such subscription", status_code=410)
        try:
            body = await read_body(request, MAX_CONTENT)
        except TooLarge:
            return PlainTextResponse("too large", status_code=413)
        if not signature_ok(sub.secret, request.headers.get("x-hub-signature"), body):
            log.warning("websub: feed=%s content with a missing or wrong signature ignored",
                        feed)
            return PlainTextResponse("ok", status_code=202)
        await run_in_threadpool(self.on_change, feed)
        return PlainTextResponse("ok", status_code=202)

    def close(self) -> None:
        self.http.close()
