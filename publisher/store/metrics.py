"""Aggregates read at scrape time for ``/metrics`` and ``/readyz``.

Functions over a ``Store`` (they use its read transactions and tables), kept
out of ``db.py`` because only the daemon's HTTP face asks for them.  Each is
one query; all datetimes are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from publisher.store.schema import attempts, posts
from publisher.types import CLAIMABLE_STATUSES

__all__ = ["QueueStats", "attempt_counts", "ping", "queue_stats"]

_CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Posts that could be claimed now, and the oldest due one."""

    due: int
    oldest_due_at: datetime | None


def ping(store: Any) -> None:
    """One round trip to the database; raises ``StoreError`` when it is not reachable."""
    with store._read() as conn:
        conn.execute(text("SELECT 1"))


def attempt_counts(store: Any) -> dict[tuple[str, str], int]:
    """Rows of the publish log per (channel, outcome), since the beginning."""
    stmt = (select(attempts.c.channel, attempts.c.outcome, func.count())
            .group_by(attempts.c.channel, attempts.c.outcome))
    with store._read() as conn:
        return {(ch, out): int(n) for ch, out, n in conn.execute(stmt)}


def queue_stats(store: Any, *, now: datetime) -> QueueStats:
    """Claimable posts (queued or waiting) due at or before ``now``."""
    stmt = select(func.count(), func.min(posts.c.due_at)).where(
        posts.c.status.in_(_CLAIMABLE), posts.c.due_at <= now)
    with store._read() as conn:
        count, oldest = conn.execute(stmt).one()
    return QueueStats(int(count), oldest)
