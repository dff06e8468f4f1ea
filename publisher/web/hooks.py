"""Signed push notices: the pure check and the replay memory.

A notice from the site (``integrations/wordpress/publisher-notify.php``)
carries::

    X-Publisher-Timestamp: 1764683000            (Unix seconds)
    X-Publisher-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

``check_signature`` returns ``Accept(signature)`` or ``Refuse(status, result,
message)``.  Signing the timestamp with the body means an old notice cannot
be re-dated; the 5-minute window bounds how long a captured one stays valid,
and ``ReplayGuard`` refuses a signature seen inside that window.

The replay memory is in the daemon's memory, not in the store: a notice is
only a hint (publisher reads the post from the site's REST API and never
trusts the body), so a replay that reached a second daemon or came after a
restart could at worst make publisher read one post again, and the outbox's
``UNIQUE(article, channel)`` keeps that from posting twice.  Memory costs no
write per notice and is bounded by the window.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass

#: How far a notice's timestamp may be from our clock, either way (seconds).
WINDOW = 300.0
#: The largest notice body read; anything longer is refused unread (bytes).
MAX_BODY = 16 * 1024


@dataclass(frozen=True, slots=True)
class Accept:
    signature: str


@dataclass(frozen=True, slots=True)
class Refuse:
    status: int
    result: str  # for the metrics' label
    message: str


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The header value a sender puts in ``X-Publisher-Signature``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_signature(secret: str, *, timestamp: str | None, signature: str | None,
                    body: bytes, now: float, window: float = WINDOW) -> Accept | Refuse:
    """Whether a notice is signed with ``secret`` and fresh (pure)."""
    if not timestamp or not signature:
        return Refuse(401, "unsigned", "missing X-Publisher-Timestamp or X-Publisher-Signature")
    if not timestamp.isdigit() or len(timestamp) > 12:
        return Refuse(401, "bad_timestamp", "X-Publisher-Timestamp is not Unix seconds")
    if abs(now - int(timestamp)) > window:
        return Refuse(401, "stale", f"timestamp outside the {window:.0f} s window")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        return Refuse(401, "bad_signature", "signature does not match")
    return Accept(expected)


class ReplayGuard:
    """Signatures seen in the last ``window`` seconds (thread-safe)."""

    def __init__(self, window: float = WINDOW):
        self.window = window
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str, *, now: float) -> bool:
        """Remember ``signature``; False when it was seen within the window."""
        with self._lock:
            # Anything older than twice the window can no longer pass the
            # timestamp check, so it need not be remembered.
            horizon = now - 2 * self.window
            if len(self._seen) > 1024:
                self._seen = {s: t for s, t in self._seen.items() if t > horizon}
            seen = self._seen.get(signature)
            if seen is not None and seen > horizon:
                return False
            self._seen[signature] = now
            return True
