"""``/readyz``: the pure verdict and the facts it is made from.

``readiness(facts)`` decides; ``gather(app, scheduler_running)`` reads the
facts: whether the database answers, whether the scheduler runs, and the
problems ``publisher status`` lists (``desk_status.problems``: a paused or
failing channel, a broken template, posts due but not moving, a feed failing,
…), so ``/readyz``, ``status`` and ``status --json`` say the same.  The
verdict is a value: ``Ready`` or ``NotReady(reasons)``, one line per reason.
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
    problems: Sequence[str] = ()  # what `publisher status` lists


@dataclass(frozen=True, slots=True)
class Ready:
    pass


@dataclass(frozen=True, slots=True)
class NotReady:
    reasons: tuple[str, ...]


def readiness(facts: Facts) -> Ready | NotReady:
    """Ready when the database answers, the scheduler runs and ``status``
    finds no problem (no channel paused among them)."""
    reasons: list[str] = []
    if facts.database_error is not None:
        reasons.append(f"database not reachable: {facts.database_error}")
    if not facts.scheduler_running:
        reasons.append("scheduler not running")
    reasons += facts.problems
    return NotReady(tuple(reasons)) if reasons else Ready()


def gather(app: App, scheduler_running: Callable[[], bool]) -> Facts:
    """Read the facts for ``readiness`` (never raises for a store outage)."""
    from publisher.services.desk_status import problems
    from publisher.store.metrics import ping

    error: str | None = None
    found: tuple[str, ...] = ()
    try:
        ping(app.store)
        found = problems(app)
    except PublisherError as exc:
        error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return Facts(database_error=error, scheduler_running=scheduler_running(), problems=found)
