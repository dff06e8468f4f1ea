"""What makes publisher unhealthy, decided once for ``status``, ``status
--json``, ``/readyz`` and ``check``.

- ``template_problems``: every template the configuration will use (each
  channel's, each route's and recurring post's, the correction note where the
  channel type has one), compiled and rendered against a sample article; one
  line each, ``file:line: message``.
- ``failing_channel``: a channel whose posts fail (any failure within a
  window, or among its last N posts).
- ``heartbeat_problem``: the daemon's heartbeat, or that of ``run --once``
  (cron) judged against ``max_silence``.
- ``unknown_channels``: channels with posts due that the running daemon does
  not know (the schedules changed and it was not reloaded).

The deciders are pure functions of plain values; ``desk_status.status``
gathers the values and ``desk_status.problems(app)`` is the one entry point
for anything that wants the list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from publisher.types import ArticleData, Image, WorkerInfo

if TYPE_CHECKING:
    from publisher.config import Config
    from publisher.render import Renderer

#: A daemon beats every 15 s: older than this, it is down.
DAEMON_TIMEOUT = timedelta(minutes=2)
#: ``run --once`` workers are recorded under ids starting with this.
ONCE_PREFIX = "once@"

#: The article every template is rendered against by ``check`` and ``status``:
#: every field filled, so a template that reads any of them is exercised.
SAMPLE_ARTICLE = ArticleData(
    guid="publisher-check-sample",
    url="https://example.com/news/2026/city-council-approves-new-budget",
    title="City council approves the new budget after a long night of debate",
    summary="The vote, 7 to 2, ends a month of talks over schools, roads and the harbour.",
    author="Jane Reporter",
    categories=("Politics", "City"),
    tags=("budget", "council"),
    published=datetime(2026, 11, 26, 14, 0, tzinfo=UTC),
    updated=datetime(2026, 11, 26, 15, 30, tzinfo=UTC),
    image=Image(url="https://example.com/images/council.jpg", alt="The council chamber"),
)


@dataclass(frozen=True)
class Thresholds:
    """When ``status`` calls things unhealthy (its flags)."""

    #: Any failed post of a channel within this window makes it failing.
    failing_within: timedelta = timedelta(hours=1)
    #: And any failure among the channel's last N posts (0: only the window).
    failing_last: int = 0
    #: ``run --once`` (cron) not seen for longer than this is a problem.
    max_silence: timedelta = timedelta(minutes=10)


def is_once(worker: WorkerInfo) -> bool:
    """Whether the worker row was written by ``run --once``."""
    return worker.id.startswith(ONCE_PREFIX)


def once_worker_id(host: str) -> str:
    """The worker id ``run --once`` records its heartbeat under (one row per host)."""
    return f"{ONCE_PREFIX}{host}"


def template_uses(config: Config, renderer: Renderer) -> list[tuple[str, str, str]]:
    """(channel, template, what uses it) for every template the
    configuration will render, without repeats; templates that do not exist
    are left out (``validate`` names them)."""
    from publisher.channels import REGISTRY

    uses: dict[tuple[str, str], str] = {}

    def use(channel: str, template: str | None, source: str) -> None:
        cfg = config.channels.get(channel)
        if cfg is None or template is None or cfg.type not in REGISTRY:
            return
        if renderer.has_template(cfg.type, template):
            uses.setdefault((channel, template), source)

    for name, ch in config.channels.items():
        use(name, ch.template, ch.source or f"channel {name}")
        use(name, "correction", f"{ch.source or f'channel {name}'} (correction notes)")
    for route in config.routes:
        for name in route.channels:
            use(name, route.template, route.source)
    for rec in config.recurring:
        if rec.urls:
            for name in rec.channels:
                target = config.channels.get(name)
                if target is not None:
                    use(name, rec.template or target.template, rec.source)
    return [(channel, template, source) for (channel, template), source in uses.items()]


def template_problems(config: Config, renderer: Renderer) -> list[str]:
    """Each template in use that does not compile or does not render the
    sample article: ``file:line: message (used by …)``, one line each.  A
    sample too long for the channel is not a broken template (real articles
    are shortened) and is not reported."""
    from publisher.exceptions import RenderError, TooLong
    from publisher.services.plan import render_for

    problems: list[str] = []
    seen: set[str] = set()
    for channel, template, source in template_uses(config, renderer):
        try:
            render_for(renderer, config.channels[channel], SAMPLE_ARTICLE, template)
        except TooLong:
            continue
        except RenderError as exc:
            line = f"{exc} (template {template} of channel {channel}, {source})"
            key = str(exc)
            if key not in seen:  # one line per broken file, not per channel using it
                seen.add(key)
                problems.append(line)
        except ValueError:  # a length rule refused: validate names it
            continue
    return problems


@dataclass(frozen=True)
class Failure:
    """A failed post of a channel, as ``failing_channel`` needs it."""

    post_id: int
    at: datetime
    error: str | None


def failing_channel(channel: str, failures: Collection[Failure], *,
                    window: timedelta, last: int) -> str | None:
    """The problem line of a channel whose posts fail, or None.  ``failures``:
    its failed posts within the window and among its last posts."""
    if not failures:
        return None
    latest = max(failures, key=lambda f: (f.at, f.post_id))
    n = len(failures)
    scope = f"in the last {_span(window)}" + (f" or among its last {last} posts" if last else "")
    error = " ".join((latest.error or "no error recorded").split())
    return (f"channel {channel}: {n} post{'s' if n != 1 else ''} failed {scope} "
            f"(latest: post {latest.post_id}: {error}); fix the cause, then "
            f"publisher queue retry {latest.post_id}")


def heartbeat_problem(workers: Iterable[WorkerInfo], *, now: datetime,
                      max_silence: timedelta, when: str = "") -> str | None:
    """Whether anything works the queue: a live daemon (heartbeat within 2
    minutes), else a ``run --once`` (cron) seen within ``max_silence``.
    ``when`` formats a time for the line."""
    rows = list(workers)
    if not rows:
        return ("daemon: never started on this database (start `publisher run`, or "
                "`publisher run --once` from cron)")
    daemons = [w for w in rows if not is_once(w)]
    onces = [w for w in rows if is_once(w)]
    live = [w for w in daemons if w.stopped_at is None
            and now - w.heartbeat_at <= DAEMON_TIMEOUT]
    if live:
        return None
    latest_once = max(onces, key=lambda w: w.heartbeat_at) if onces else None
    latest_daemon = max(daemons, key=lambda w: w.heartbeat_at) if daemons else None
    if latest_once is not None and (latest_daemon is None
                                    or latest_once.heartbeat_at >= latest_daemon.heartbeat_at):
        age = now - latest_once.heartbeat_at
        if age <= max_silence:
            return None
        return (f"run --once: last seen {_span(age)} ago on {latest_once.id[len(ONCE_PREFIX):]}"
                f" (more than --max-silence {_span(max_silence)}): is cron still running "
                "`publisher run --once`?")
    assert latest_daemon is not None
    at = when or latest_daemon.heartbeat_at.isoformat(timespec="seconds")
    if latest_daemon.stopped_at is not None:
        return f"daemon: stopped at {at} (start `publisher run`)"
    return (f"daemon: not seen for {_span(now - latest_daemon.heartbeat_at)} (last heartbeat "
            f"{at}); is `publisher run` still running?")


def unknown_channels(daemon_channels: Collection[str] | None,
                     due: Iterable[str]) -> list[str]:
    """Channels with posts due that the running daemon does not know (it
    started before they were configured), sorted; [] when the daemon did
    not record its channels."""
    if daemon_channels is None:
        return []
    return sorted({c for c in due if c not in daemon_channels})


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"
