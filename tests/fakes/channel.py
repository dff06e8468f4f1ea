"""A platform and its adapter in one, at the ``Channel`` protocol level.

Used to test the dispatcher (the thing under test), not any adapter: it
keeps the platform's state (the posts it holds, by idempotency key when the
class is idempotent), answers ``find`` from that state, and follows a script
of faults: ``"ok"``, ``"reset_after"`` (stored, then the answer is lost),
``"reset_before"`` (lost before it was stored), or any ``ChannelError`` to
raise.  Every call is recorded with the (fake) time it arrived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from publisher.exceptions import Ambiguous, ChannelError
from publisher.types import DeliveryClass, PublishRequest, PublishResult


@dataclass
class Call:
    kind: str  # publish | find
    post_id: int
    key: str
    at: datetime | None
    started: float = field(default_factory=time.monotonic)
    ended: float = 0.0


class ScriptedChannel:
    def __init__(
        self,
        name: str,
        *,
        delivery: DeliveryClass = DeliveryClass.RECONCILABLE,
        script: list[object] | None = None,
        clock: Callable[[], datetime] | None = None,
        delay: float = 0.0,
    ):
        self.name = name
        self.delivery = delivery
        self.script = list(script or [])
        self.clock = clock
        self.delay = delay
        self.calls: list[Call] = []
        self.posts: list[PublishRequest] = []  # what the platform holds
        self._lock = threading.Lock()

    def _stored(self, request: PublishRequest) -> PublishRequest | None:
        for post in self.posts:
            if post.idempotency_key == request.idempotency_key:
                return post
        return None

    def publish(self, request: PublishRequest) -> PublishResult:
        call = Call(
            "publish",
            request.post_id,
            request.idempotency_key,
            self.clock() if self.clock else None,
        )
        with self._lock:
            self.calls.append(call)
            step = self.script.pop(0) if self.script else "ok"
        if self.delay:
            time.sleep(self.delay)
        call.ended = time.monotonic()
        if isinstance(step, ChannelError):
            raise step
        with self._lock:
            exists = self._stored(request)
            if step == "reset_before":
                raise Ambiguous("connection reset")
            if exists is None or self.delivery is not DeliveryClass.IDEMPOTENT:
                self.posts.append(request)
            if step == "reset_after":
                raise Ambiguous("connection reset after sending")
        return PublishResult(
            remote_id=f"{self.name}-{request.post_id}",
            remote_url=f"https://{self.name}.example/{request.post_id}",
        )

    def find(self, request: PublishRequest) -> PublishResult | None:
        with self._lock:
            self.calls.append(
                Call(
                    "find",
                    request.post_id,
                    request.idempotency_key,
                    self.clock() if self.clock else None,
                )
            )
            for post in self.posts:
                if (post.link and post.link == request.link) or post.text == request.text:
                    return PublishResult(remote_id=f"{self.name}-{post.post_id}")
        return None

    def count(self, post_id: int) -> int:
        with self._lock:
            return sum(1 for p in self.posts if p.post_id == post_id)

    def publish_calls(self) -> list[Call]:
        return [c for c in self.calls if c.kind == "publish"]

    def whoami(self) -> str:
        return f"{self.name} (fake)"

    def close(self) -> None:
        pass
