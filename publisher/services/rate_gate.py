"""The in-memory rate-limit gate of one daemon (DESIGN.md: "A rate limit is a gate").

The database row of a channel is the gate between daemons, read at every
claim; inside one daemon that is too slow: a worker that meets a 429 closes
this gate under its lock before it does anything else (before the database
write), and every worker looks at it immediately before its platform call.
A closed gate never opens early: ``close`` only moves a reset later.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime


class RateGate:
    """Per channel, no platform call before ``until`` (UTC)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, datetime] = {}

    def close(self, channel: str, until: datetime) -> bool:
        """Close ``channel`` until ``until`` (kept when a later reset is known).
        Returns whether the reset moved."""
        with self._lock:
            known = self._until.get(channel)
            if known is not None and known >= until:
                return False
            self._until[channel] = until
            return True

    def merge(self, resets: Mapping[str, datetime | None]) -> None:
        """Take in resets another daemon stored (the database row)."""
        for channel, until in resets.items():
            if until is not None:
                self.close(channel, until)

    def until(self, channel: str, now: datetime) -> datetime | None:
        """The reset ``channel`` waits for at ``now``; None when it is open."""
        with self._lock:
            until = self._until.get(channel)
        return until if until is not None and until > now else None

    def closed(self, now: datetime) -> dict[str, datetime]:
        """Every channel closed at ``now``, with its reset."""
        with self._lock:
            return {name: until for name, until in self._until.items() if until > now}
