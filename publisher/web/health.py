"""``/readyz``: the pure verdict and the facts it is made from.

``readiness(facts)`` decides; ``gather(app, scheduler_running)`` reads the
facts (one database round trip, the channels' rows).  The verdict is a value:
``Ready`` or ``NotReady(reasons)``, one line per reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publisher.exceptions import PublisherError

if TYPE_CHECKING:
    from publisher.app import App


@dataclass(frozen=True, slots=True)
class Facts:
    database_error: str | None  # None: reachable
    scheduler_running: bool
    paused: Sequence[tuple[str, str]]  # (channel, reason)


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class NotReady:
    reasons: tuple[str, ...]


def readiness(facts: Facts) -> Ready | NotReady:
    """Ready when the database answers, the scheduler runs and no channel is paused."""
    reasons: list[str] = []
    if facts.database_error is not None:
        reasons.append(f"database not reachable: {facts.database_error}")
    if not facts.scheduler_running:
        reasons.append("scheduler not running")
    for channel, reason in facts.paused:
        reasons.append(f"channel {channel} paused: {reason}")
    return NotReady(tuple(reasons)) if reasons else Ready()


def gather(app: App, scheduler_running: Callable[[], bool]) -> Facts:
    """Read the facts for ``readiness`` (never raises for a store outage)."""
    from publisher.store.metrics import ping

    error: str | None = None
    paused: list[tuple[str, str]] = []
    try:
        ping(app.store)
        states = app.store.channel_states()
        paused = [(name, states[name].paused_reason or "no reason given")
                  for name in sorted(app.config.channels)
                  if name in states and states[name].paused]
    except PublisherError as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Facts(database_error=error, scheduler_running=scheduler_running(), paused=paused)
