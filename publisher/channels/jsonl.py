"""The ``jsonl`` channel: appends each post as one JSON line to a file.

Useful as an archive, for feeding another tool, and in tests.  It is truly
idempotent: the file is the platform, and a post whose idempotency key is
already in the file is not written again, even after a crash and restart.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from publisher.channels.base import ChannelSpec
from publisher.exceptions import Permanent, Transient
from publisher.types import DeliveryClass, PublishRequest, PublishResult


class JsonlChannel:
    """Appends posts to ``options.path`` (default ``var/<channel>.jsonl``)."""

    delivery = DeliveryClass.IDEMPOTENT

    def __init__(self, spec: ChannelSpec):
        self.name = spec.name
        self.path = Path(spec.options.get("path") or f"var/{spec.name}.jsonl")
        self._lock = threading.Lock()
        self._keys: dict[str, str] = {}  # idempotency key -> remote id
        self._offset = 0  # how far the file has been read into _keys

    def _catch_up(self, fh: BinaryIO) -> None:
        """Read what was appended since the last look (by us or another process)."""
        fh.seek(self._offset)
        while True:
            line = fh.readline()
            if not line.endswith(b"\n"):
                break  # end of file, or a torn last line after a crash: not a post
            self._offset += len(line)
            try:
                row = json.loads(line)
                self._keys[row["idempotency_key"]] = row["id"]
            except (ValueError, KeyError, TypeError):
                continue

    def publish(self, request: PublishRequest) -> PublishResult:
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                raise Permanent(f"cannot open {self.path}: {exc.strerror}") from None
            with os.fdopen(fd, "a+b") as fh:
                # Another process (a second daemon, a test) may append too.
                fcntl.flock(fh, fcntl.LOCK_EX)
                self._catch_up(fh)
                existing = self._keys.get(request.idempotency_key)
                if existing is not None:
                    return PublishResult(remote_id=existing, remote_url=self._url(existing))
                remote_id = f"{self.name}-{request.post_id}"
                row = {
                    "id": remote_id,
                    "post_id": request.post_id,
                    "idempotency_key": request.idempotency_key,
                    "text": request.text,
                    "link": request.link,
                    "image": request.image.url if request.image else None,
                    "image_alt": request.image.alt if request.image else None,
                    "title": request.title,
                    "at": datetime.now(UTC).isoformat(),
                }
                data = json.dumps(row, ensure_ascii=False).encode() + b"\n"
                size = fh.seek(0, os.SEEK_END)
                if size > self._offset:
                    data = b"\n" + data  # end a torn line so ours stays whole
                try:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                except OSError as exc:
                    raise Transient(f"cannot write {self.path}: {exc.strerror}") from None
                self._offset = fh.tell()
                self._keys[request.idempotency_key] = remote_id
                return PublishResult(remote_id=remote_id, remote_url=self._url(remote_id))

    def _url(self, remote_id: str) -> str:
        return f"{self.path.resolve().as_uri()}#{remote_id}"

    def find(self, request: PublishRequest) -> PublishResult | None:
        return None  # idempotent: the retry finds the key in the file

    def whoami(self) -> str:
        return f"file {self.path}"

    def close(self) -> None:
        pass
