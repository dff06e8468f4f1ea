"""FakeWebhookReceiver: a receiver for the generic webhook channel, over real HTTP.

There is no platform here: the contract is our own, published in
docs/webhook-bridge.md and the docstring of ``publisher.channels.webhook``
(signed JSON POSTs, ``Idempotency-Key``, the status codes a receiver answers,
the optional check event). This fake is a receiver that follows it strictly.

::

    POST {path}   signed JSON → 200 {"id": "rcv-N", "url": "https://bridge.example.net/p/N"}
    POST {path}   signed check event (X-Publisher-Event: check) → 200 {"ok": true}, nothing stored
    POST {path}   signed retract event (X-Publisher-Event: retract, {"id"}) → 200 {"ok": true};
                  the delivery is marked retracted (gone from ``live``); unknown id → 404
    POST {path}   signed correct event (X-Publisher-Event: correct, {"id", "text", …})
                  → 200 {"ok": true, "url"}; the delivery's ``text`` changes; unknown id → 404

It checks every request as docs/webhook-bridge.md tells receivers to: the
signature with ``publisher.channels.webhook.verify_signature`` (bad or missing
→ 401 ``{"error": "bad signature"}``, kept in ``rejected``; a timestamp older
than ``tolerance`` seconds is refused the same way), then the
``Idempotency-Key``: when ``dedupe`` is on, a key seen before is answered 200
with the first delivery's id and ``"duplicate": true`` and not stored again.

Deliveries are kept in ``deliveries`` (key, timestamp, headers, raw body,
parsed JSON). ``answer_with_id = False`` answers 204 without a body.
Faults: "429" → ``Retry-After`` (whole seconds), "500" → JSON, "503" → HTML,
"revoked" → 403 ``{"error": "forbidden"}`` (the receiver dropped us). A post
is scope "create", a check event "read", a retract "delete", a correct "edit"
("reset_after" applies the event, then drops the answer).  Retract and
correct events are deduplicated by their ``Idempotency-Key`` when ``dedupe``
is on, as the docs tell receivers; ``events`` lists the events this receiver
knows (a receiver written before them answers 400 "unknown event").
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from publisher.channels.webhook import (
    EVENT_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from tests.fakes.fakehttp import FakeServer, Reply, Request


@dataclass
class Delivery:
    id: str
    key: str | None
    timestamp: str | None
    signature: str | None
    headers: dict[str, str]
    raw: bytes
    retracted: bool = False
    corrections: list[str] = field(default_factory=list)  # the corrected texts, in order

    @property
    def text(self) -> str:
        """The text as the receiver now has it."""
        return self.corrections[-1] if self.corrections else str(self.json["text"])

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class FakeWebhookReceiver(FakeServer):
    """A signature-checking webhook receiver (see the module docstring)."""

    def __init__(self, *, secret: str, path: str = "/hooks/publisher",
                 dedupe: bool = False, tolerance: float = 300, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret = secret
        self.path = path
        self.dedupe = dedupe
        self.tolerance = tolerance
        self.answer_with_id = True
        self.deliveries: list[Delivery] = []
        self.rejected: list[Request] = []
        self.duplicates: list[Request] = []
        #: Check events received (and answered) with a good signature.
        self.checks: list[Request] = []
        #: Events this receiver takes besides posts and checks.
        self.events = {"retract", "correct"}
        #: Retract and correct events taken (not the copies), in order.
        self.events_taken: list[tuple[str, str, dict[str, Any]]] = []  # (event, key, body)
        self._count = 0

    @property
    def url(self) -> str:
        return self.base_url + self.path

    @property
    def live(self) -> list[Delivery]:
        """The deliveries not retracted."""
        with self.lock:
            return [d for d in self.deliveries if not d.retracted]

    def scope_of(self, request: Request) -> str:
        event = request.headers.get(EVENT_HEADER.lower())
        if event == "check":
            return "read"  # a check event stores nothing
        if event == "retract":
            return "delete"
        if event == "correct":
            return "edit"
        return "create" if request.method == "POST" else "other"

    def has_auth(self, request: Request) -> bool:
        return SIGNATURE_HEADER.lower() in request.headers

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            return Reply(503, "<html><body>503 Service Unavailable</body></html>", {},
                         content_type="text/html")
        return Reply(500, {"error": "internal error"})

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        seconds = max(0.0, reset - time.time())
        return Reply(429, {"error": "slow down"}, {"Retry-After": str(math.ceil(seconds))})

    def handle(self, request: Request) -> Reply:
        if request.path != self.path:
            return Reply(404, {"error": "not found"})
        if request.method != "POST":
            return Reply(405, {"error": "method not allowed"})
        if self.revoked:
            return Reply(403, {"error": "forbidden"})
        timestamp = request.headers.get(TIMESTAMP_HEADER.lower())
        signature = request.headers.get(SIGNATURE_HEADER.lower())
        if not verify_signature(self.secret, timestamp, request.body, signature,
                                now=time.time(), tolerance=self.tolerance):
            with self.lock:
                self.rejected.append(request)
            return Reply(401, {"error": "bad signature"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Reply(415, {"error": "expected application/json"})
        try:
            json.loads(request.body)
        except ValueError:
            return Reply(400, {"error": "body is not JSON"})
        event = request.headers.get(EVENT_HEADER.lower())
        if event == "check":
            with self.lock:
                self.checks.append(request)
            return Reply(200, {"ok": True})
        if event in self.events and event in ("retract", "correct"):
            return self._event(request, event)
        if event not in (None, "post"):
            return Reply(400, {"error": f"unknown event {event!r}"})
        key = request.headers.get(IDEMPOTENCY_HEADER.lower())
        if not key:
            return Reply(400, {"error": "no Idempotency-Key"})
        with self.lock:
            if self.dedupe and key:
                earlier = next((d for d in self.deliveries if d.key == key), None)
                if earlier is not None:
                    self.duplicates.append(request)
                    return Reply(200, {"id": earlier.id, "duplicate": True})
            self._count += 1
            delivery = Delivery(f"rcv-{self._count}", key, timestamp, signature,
                                dict(request.headers), request.body)
            self.deliveries.append(delivery)
            number = self._count
        if not self.answer_with_id:
            return Reply(204, None)
        return Reply(200, {"id": delivery.id, "url": f"https://bridge.example.net/p/{number}"})

    def _event(self, request: Request, event: str) -> Reply:
        key = request.headers.get(IDEMPOTENCY_HEADER.lower())
        if not key:
            return Reply(400, {"error": "no Idempotency-Key"})
        body = json.loads(request.body)
        if not isinstance(body, dict) or body.get("event") != event or not body.get("id"):
            return Reply(400, {"error": f"a {event} event needs its event and id"})
        with self.lock:
            if self.dedupe and any(k == key for _, k, _ in self.events_taken):
                self.duplicates.append(request)
                return Reply(200, {"ok": True, "duplicate": True})
            target = str(body["id"])
            delivery = next((d for d in self.deliveries
                             if target in (d.id, d.key) and not d.retracted), None)
            if delivery is None:
                return Reply(404, {"error": "unknown post"})
            if event == "retract":
                delivery.retracted = True
            else:
                if not isinstance(body.get("text"), str):
                    return Reply(400, {"error": "a correct event needs its text"})
                delivery.corrections.append(body["text"])
            self.events_taken.append((event, key, body))
            number = self.deliveries.index(delivery) + 1
        if event == "correct":
            return Reply(200, {"ok": True, "url": f"https://bridge.example.net/p/{number}"})
        return Reply(200, {"ok": True})
