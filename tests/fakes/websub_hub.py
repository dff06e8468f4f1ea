"""FakeHub: a WebSub hub over real HTTP, as the W3C Recommendation (23 January
2018, www.w3.org/TR/websub/) describes it.

- §5.1 subscriber request: ``POST /`` form ``hub.callback``, ``hub.mode``
  (``subscribe``/``unsubscribe``), ``hub.topic``, optional ``hub.lease_seconds``
  and ``hub.secret`` (under 200 bytes, else 400).  Missing fields → 400.
  Accepted → 202, then, on another thread, the verification of intent.
- §5.3 verification: ``GET <callback>?hub.mode=subscribe&hub.topic=…&hub.challenge=…
  &hub.lease_seconds=…``; the subscription holds only if the subscriber
  answers 2xx with exactly the challenge.  ``confirm = False`` plays a hub
  that accepts and never verifies; ``deny = "reason"`` sends
  ``hub.mode=denied`` instead (§5.2).
- §7/§8 content distribution: :meth:`FakeHub.distribute` POSTs a body to each
  verified callback of a topic with ``X-Hub-Signature: <method>=<hex HMAC>``
  when the subscriber gave a secret.

``verifications`` logs (callback, status, body) of every verification made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.fakehttp import FakeServer, Reply, Request


@dataclass
class Sub:
    callback: str
    topic: str
    secret: str | None
    lease: int
    verified: bool = False


class FakeHub(FakeServer):
    """A WebSub hub (see the module docstring)."""

    def __init__(self, *, lease: int = 3600, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lease = lease
        self.confirm = True
        self.deny: str | None = None
        self.subs: dict[tuple[str, str], Sub] = {}
        self.verifications: list[tuple[str, int, str]] = []
        self.verified = threading.Event()
        self.requests_made = 0

    def scope_of(self, request: Request) -> str:
        return "create" if request.method == "POST" else "other"

    def has_auth(self, request: Request) -> bool:
        return False

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply(405, "POST only", content_type="text/plain")
        form = request.form()
        mode, callback, topic = form.get("hub.mode"), form.get("hub.callback"), form.get(
            "hub.topic")
        if mode not in ("subscribe", "unsubscribe") or not callback or not topic:
            return Reply(400, "hub.mode, hub.callback and hub.topic are required",
                         content_type="text/plain")
        secret = form.get("hub.secret")
        if secret is not None and len(secret.encode()) >= 200:
            return Reply(400, "hub.secret must be less than 200 bytes", content_type="text/plain")
        asked = form.get("hub.lease_seconds", "")
        lease = min(int(asked), self.lease) if asked.isdigit() else self.lease
        with self.lock:
            self.requests_made += 1
            self.subs[(callback, topic)] = Sub(callback, topic, secret, lease)
        if self.confirm:
            threading.Thread(target=self._verify, args=(callback, topic, mode, lease),
                             daemon=True).start()
        return Reply(202, "", content_type="text/plain")

    def _verify(self, callback: str, topic: str, mode: str, lease: int) -> None:
        if self.deny is not None:
            params = {"hub.mode": "denied", "hub.topic": topic, "hub.reason": self.deny}
            httpx.get(callback, params=params, timeout=5)
            return
        challenge = secrets.token_urlsafe(24)
        params = {"hub.mode": mode, "hub.topic": topic, "hub.challenge": challenge,
                  "hub.lease_seconds": str(lease)}
        try:
            answer = httpx.get(callback, params=params, timeout=5)
            status, text = answer.status_code, answer.text
        except httpx.HTTPError as exc:
            status, text = 0, type(exc).__name__
        with self.lock:
            self.verifications.append((callback, status, text))
            if 200 <= status < 300 and text == challenge:
                self.subs[(callback, topic)].verified = True
        self.verified.set()

    def distribute(self, topic: str, body: bytes, *, method: str = "sha256",
                   secret: str | None = None) -> list[int]:
        """POST ``body`` to every verified subscriber of ``topic``; their statuses.
        ``secret`` overrides the subscriber's (to play a forged notice)."""
        statuses = []
        with self.lock:
            subs = [s for s in self.subs.values() if s.topic == topic and s.verified]
        for sub in subs:
            headers = {"Content-Type": "application/rss+xml"}
            key = secret if secret is not None else sub.secret
            if key is not None:
                mac = hmac.new(key.encode(), body, getattr(hashlib, method)).hexdigest()
                headers["X-Hub-Signature"] = f"{method}={mac}"
            statuses.append(httpx.post(sub.callback, content=body, headers=headers,
                                       timeout=5).status_code)
        return statuses
