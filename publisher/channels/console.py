"""The ``console`` channel: a dry run that prints each post.

It goes through the same protocol, taxonomy and dispatch path as a real
platform, so a newsroom can watch exactly what would be posted before it
connects X or Facebook.  It is idempotent within a process: a retry with the
same idempotency key prints nothing new.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from publisher.channels.base import ChannelSpec
from publisher.types import DeliveryClass, PublishRequest, PublishResult


class ConsoleChannel:
    """Prints posts to standard output (or ``options.stream``: "stderr")."""

    delivery = DeliveryClass.IDEMPOTENT

    def __init__(self, spec: ChannelSpec, stream: TextIO | None = None):
        self.name = spec.name
        self._stream = stream
        self._use_stderr = spec.options.get("stream") == "stderr"
        self._printed: set[str] = set()
        self._lock = threading.Lock()

    def publish(self, request: PublishRequest) -> PublishResult:
        remote_id = f"console-{request.post_id}"
        with self._lock:
            if request.idempotency_key not in self._printed:
                stream = self._stream or (sys.stderr if self._use_stderr else sys.stdout)
                bar = "─" * 60
                lines = [f"┌{bar}", f"│ {self.name} · post {request.post_id}"]
                lines += [f"│ {line}" for line in request.text.splitlines() or [""]]
                if request.image is not None:
                    alt = f' (alt: "{request.image.alt}")' if request.image.alt else ""
                    lines.append(f"│ [image {request.image.url}{alt}]")
                lines.append(f"└{bar}")
                stream.write("\n".join(lines) + "\n")
                stream.flush()
                self._printed.add(request.idempotency_key)
        return PublishResult(remote_id=remote_id, remote_url=None)

    def find(self, request: PublishRequest) -> PublishResult | None:
        return None  # idempotent: a retry with the same key is safe

    def whoami(self) -> str:
        return "standard output (dry run)"

    def close(self) -> None:
        pass
