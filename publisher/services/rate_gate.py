"""The in-memory rate-limit gate of one daemon (DESIGN.md: "A rate limit is a gate").

The database row of a channel is the gate between daemons, read at every
claim; inside one daemon that is too slow: a worker that meets a 429 closes
this gate under its lock before it does anything else (before the database
write), and every worker looks at it immediately before its platform call.
A closed gate never opens early: ``close`` only moves a reset later.

A pause (refused credentials, a blocked account) is known to the claim from
the database; ``pause`` tells the posts this daemon claimed before it: a post
claimed before the pause (``claim_seq``) is not sent.
"""

from __future__ import annotations

import threading
from datetime import datetime


class RateGate:
    """Per channel, no platform call before ``until`` (UTC)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, datetime] = {}
        self._seq = 0
        self._paused: dict[str, int] = {}  # channel -> the sequence number of its pause

    def claim_seq(self) -> int:
        """A number for a claim about to read the gates: every pause after it
        has a larger one."""
        with self._lock:
            self._seq += 1
            return self._seq

    def pause(self, channel: str) -> None:
        """The channel was paused: posts claimed before now must not be sent."""
        with self._lock:
            self._seq += 1
            self._paused[channel] = self._seq

    def paused_since(self, channel: str, claimed: int) -> bool:
        """Whether ``channel`` was paused after the claim numbered ``claimed``."""
        with self._lock:
            return self._paused.get(channel, 0) > claimed

    def close(self, channel: str, until: datetime) -> bool:
        """Close ``channel`` until ``until`` (kept when a later reset is known).
        Returns whether the reset moved."""
        with self._lock:
            known = self._until.get(channel)
            if known is not None and known >= until:
                return False
            self._until[channel] = until
            return True

    def until(self, channel: str, now: datetime) -> datetime | None:
        """The reset ``channel`` waits for at ``now``; None when it is open."""
        with self._lock:
            until = self._until.get(channel)
        return until if until is not None and until > now else None

    def closed(self, now: datetime) -> dict[str, datetime]:
        """Every channel closed at ``now``, with its reset."""
        with self._lock:
            return {name: until for name, until in self._until.items() if until > now}
