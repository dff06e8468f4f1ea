"""The channels' state: paused (by whom, why), rate-limited until when, last
success and error.

Every datetime in and out is aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    case,
    select,
)

from publisher.store.rows import (
    _aware,
    _channel,
)
from publisher.store.schema import channels
from publisher.types import (
    ChannelState,
)


class ChannelQueries:
    """Mixed into ``publisher.store.db.Store``, which provides the transactions."""

    _read: Any
    _write: Any
    _insert: Any

    # -- channels --------------------------------------------------------

    def channel_states(self) -> dict[str, ChannelState]:
        """Every channel that has a row (rows are created on first write)."""
        with self._read() as conn:
            rows = conn.execute(select(channels).order_by(channels.c.name)).all()
        return {r.name: _channel(r) for r in rows}

    def _channel_upsert(self, name: str, values: dict[str, Any],
                        on_conflict: dict[str, Any] | None = None) -> Any:
        stmt = self._insert(channels).values(name=name, **values)
        return stmt.on_conflict_do_update(index_elements=[channels.c.name],
                                          set_=on_conflict if on_conflict is not None else values)

    def _upsert_channel(self, name: str, values: dict[str, Any],
                        on_conflict: dict[str, Any] | None = None) -> None:
        with self._write() as conn:
            conn.execute(self._channel_upsert(name, values, on_conflict))

    def set_paused(self, channel: str, *, paused: bool, now: datetime,
                   reason: str | None = None, by: str | None = None,
                   auth_failed: bool = False) -> None:
        """Pause (with reason, who, when, whether for failed credentials) or
        resume (clears all of those) a channel."""
        now = _aware(now)
        if paused:
            values = {"paused": True, "paused_reason": reason, "paused_by": by,
                      "paused_at": now, "auth_failed": auth_failed}
        else:
            values = {"paused": False, "paused_reason": None, "paused_by": None,
                      "paused_at": None, "auth_failed": False}
        self._upsert_channel(channel, values)

    def set_rate_limited(self, channel: str, until: datetime | None) -> None:
        """Never moves an existing later ``until`` earlier unless ``until`` is None."""
        if until is None:
            self._upsert_channel(channel, {"rate_limited_until": None})
            return
        until = _aware(until, "until")
        stmt = self._insert(channels).values(name=channel, rate_limited_until=until)
        current = channels.c.rate_limited_until
        later = case((current > stmt.excluded.rate_limited_until, current),
                     else_=stmt.excluded.rate_limited_until)
        stmt = stmt.on_conflict_do_update(index_elements=[channels.c.name],
                                          set_={"rate_limited_until": later})
        with self._write() as conn:
            conn.execute(stmt)

    def record_channel_result(self, channel: str, *, now: datetime, ok: bool,
                              error: str | None = None) -> None:
        """ok: last_success_at = now; else last_error and last_error_at."""
        now = _aware(now)
        if ok:
            values: dict[str, Any] = {"last_success_at": now}
        else:
            values = {"last_error": error, "last_error_at": now}
        self._upsert_channel(channel, values)
