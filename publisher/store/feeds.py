"""The feeds: which are configured, when each is due, how its last poll went.

Every datetime in and out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    select,
    update,
)

from publisher.exceptions import NotFoundError
from publisher.store import schema
from publisher.store.api import FeedSpec
from publisher.store.rows import (
    _aware,
    _chunks,
    _feed,
)
from publisher.store.schema import feeds
from publisher.types import (
    FeedKind,
    FeedState,
)


class FeedQueries:
    """Mixed into ``publisher.store.db.Store``, which provides the transactions."""

    _read: Any
    _write: Any
    _insert: Any

    # -- feeds -----------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[FeedSpec], *, now: datetime) -> None:
        """Insert new feeds (due now), update kind/url of known ones (a changed
        url resets etag/last_modified/body_hash/seeded and makes it due now).
        Feeds no longer configured are kept but marked unconfigured."""
        now = _aware(now)
        table = schema.feeds  # the parameter `feeds` shadows the table
        wanted = {spec.name: spec for spec in feeds}
        with self._write() as conn:
            known = {r.name: r for r in conn.execute(
                select(table.c.name, table.c.url, table.c.kind, table.c.configured))}
            for spec in wanted.values():
                kind = FeedKind(spec.kind).value
                row = known.get(spec.name)
                if row is None:
                    # Daemons starting together on one PostgreSQL database all
                    # see the feed missing: the first insert wins, the others
                    # find it there (it is what they would have inserted).
                    conn.execute(self._insert(table).values(
                        name=spec.name, url=spec.url, kind=kind, configured=True,
                        seeded=False, next_poll_at=now, error_count=0)
                        .on_conflict_do_nothing(index_elements=[table.c.name]))
                    continue
                values: dict[str, Any] = {}
                if row.kind != kind:
                    values["kind"] = kind
                if not row.configured:
                    values["configured"] = True
                if row.url != spec.url:
                    values.update(url=spec.url, etag=None, last_modified=None, body_hash=None,
                                  seeded=False, next_poll_at=now)
                if values:
                    conn.execute(update(table).where(table.c.name == spec.name).values(values))
            gone = [name for name, row in known.items() if name not in wanted and row.configured]
            for chunk in _chunks(gone):
                conn.execute(update(table).where(table.c.name.in_(chunk)).values(configured=False))

    def get_feed(self, name: str) -> FeedState:
        """Raise NotFoundError for an unknown feed (configured or not)."""
        with self._read() as conn:
            row = conn.execute(select(feeds).where(feeds.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no feed named {name!r}")
        return _feed(row)

    def list_feeds(self) -> list[FeedState]:
        """Configured (synced) feeds only, by name."""
        with self._read() as conn:
            rows = conn.execute(
                select(feeds).where(feeds.c.configured.is_(True)).order_by(feeds.c.name)).all()
        return [_feed(r) for r in rows]

    def due_feeds(self, *, now: datetime) -> list[FeedState]:
        """Configured feeds whose next_poll_at is null or <= now, most overdue first."""
        now = _aware(now)
        stmt = (select(feeds)
                .where(feeds.c.configured.is_(True),
                       (feeds.c.next_poll_at.is_(None)) | (feeds.c.next_poll_at <= now))
                .order_by(feeds.c.next_poll_at.is_not(None), feeds.c.next_poll_at, feeds.c.name))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [_feed(r) for r in rows]

    def record_poll_success(self, name: str, *, now: datetime, etag: str | None,
                            last_modified: str | None, body_hash: str | None,
                            next_poll_at: datetime) -> None:
        """Clears last_error and error_count, sets seeded, last_poll_at,
        last_success_at, the validators and next_poll_at."""
        now = _aware(now)
        stmt = update(feeds).where(feeds.c.name == name).values(
            etag=etag, last_modified=last_modified, body_hash=body_hash,
            next_poll_at=_aware(next_poll_at, "next_poll_at"), last_poll_at=now,
            last_success_at=now, last_error=None, error_count=0, seeded=True)
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFoundError(f"no feed named {name!r}")

    def record_poll_failure(self, name: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """Stores the error, increments and returns error_count."""
        now = _aware(now)
        stmt = (update(feeds).where(feeds.c.name == name)
                .values(last_error=error, last_poll_at=now,
                        next_poll_at=_aware(next_poll_at, "next_poll_at"),
                        error_count=feeds.c.error_count + 1)
                .returning(feeds.c.error_count))
        with self._write() as conn:
            count = conn.execute(stmt).scalar()
        if count is None:
            raise NotFoundError(f"no feed named {name!r}")
        return int(count)
