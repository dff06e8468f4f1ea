"""Reload without restart (SIGHUP, ``publisher reload``).

``load(app)`` reads ``schedules/``, ``templates/`` and ``.env`` again and
builds every part a new configuration needs (config, renderer, channel
pool), checked as strictly as a start; ``ConfigError`` names what is wrong
and nothing of the running app is touched.  ``App.reconfigure`` then swaps
the new parts in between two claims; the daemon adds and removes its feed
and recurring jobs from the ``Reloaded`` value.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from publisher.config import Config, environment_problems, load_config
from publisher.exceptions import ConfigError, PublisherError
from publisher.types import WorkerInfo

if TYPE_CHECKING:
    from publisher.app import App

log = logging.getLogger("publisher.reload")


@dataclass(frozen=True)
class Reloaded:
    """What a successful reload changed, for the log and the scheduler."""

    config: Config
    feeds_added: tuple[str, ...]
    feeds_removed: tuple[str, ...]
    channels_added: tuple[str, ...]
    channels_removed: tuple[str, ...]

    def summary(self) -> str:
        parts = [f"{len(self.config.feeds)} feeds", f"{len(self.config.channels)} channels"]
        for label, names in (("feeds added", self.feeds_added),
                             ("feeds removed", self.feeds_removed),
                             ("channels added", self.channels_added),
                             ("channels removed", self.channels_removed)):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts)


def one_line(error: ConfigError) -> str:
    """A reload's failure as one line (the first problem, and how many more)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return "invalid configuration"
    more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
    return lines[0] + more


def reload(app: App) -> Reloaded:
    """Read the configuration again and swap it into ``app``; raises
    ``ConfigError`` (nothing changed) when it is not valid."""
    from publisher.app import validate
    from publisher.render import Renderer
    from publisher.services.channel_pool import ChannelPool

    settings = app.settings
    environ = settings.environment()
    config = load_config(settings.schedules, environ=environ)
    renderer = Renderer([settings.templates])
    problems = environment_problems(config, environ) + validate(settings, config, renderer)
    if problems:
        raise ConfigError(problems)
    old = app.config
    channels = ChannelPool(config, environ, overrides=app.channel_overrides)
    app.reconfigure(config, environ=environ, renderer=renderer, channels=channels)
    old_feeds = {f.name for f in old.feeds}
    new_feeds = {f.name for f in config.feeds}
    return Reloaded(config,
                    feeds_added=tuple(sorted(new_feeds - old_feeds)),
                    feeds_removed=tuple(sorted(old_feeds - new_feeds)),
                    channels_added=tuple(sorted(set(config.channels) - set(old.channels))),
                    channels_removed=tuple(sorted(set(old.channels) - set(config.channels))))


# -- ``publisher reload``: signal the running daemon and wait for its answer ----------


@dataclass(frozen=True)
class ReloadAnswer:
    """What the daemon recorded after ``publisher reload`` signalled it."""

    worker: str
    pid: int
    error: str | None  # None: the new configuration took effect


def running_daemons(workers: list[WorkerInfo], *, host: str,
                    now: datetime) -> list[WorkerInfo]:
    """The daemons alive on ``host`` by their heartbeat (``run --once`` is
    not a daemon: it reads the configuration at each start)."""
    from publisher.services.health import DAEMON_TIMEOUT, is_once

    return [w for w in workers if w.host == host and w.stopped_at is None
            and not is_once(w) and now - w.heartbeat_at <= DAEMON_TIMEOUT]


def signal_reload(app: App, *, timeout: float = 30.0,
                  kill: Callable[[int, int], None] = os.kill,
                  sleep: Callable[[float], None] = time.sleep) -> list[ReloadAnswer]:
    """Send SIGHUP to every daemon of this host that records its heartbeat
    in ``app``'s database, and wait for each to record its reload.  Raises
    ``PublisherError`` naming what went wrong (none running, gone, silent)."""
    host = socket.gethostname()
    store = app.store
    daemons = running_daemons(store.workers(), host=host, now=app.now())
    if not daemons:
        raise PublisherError(f"no publisher daemon is running on {host} with this database "
                             "(start one with `publisher run`)")
    before = {w.id: w.reloaded_at for w in daemons}
    for w in daemons:
        try:
            kill(w.pid, signal.SIGHUP)
        except ProcessLookupError:
            raise PublisherError(f"the daemon {w.id} (pid {w.pid}) is gone; its last "
                                 "heartbeat is older than it looks") from None
        except PermissionError:
            raise PublisherError(f"not allowed to signal the daemon {w.id} (pid {w.pid}): "
                                 "run `publisher reload` as the daemon's user") from None
    deadline = time.monotonic() + timeout
    answers: dict[str, ReloadAnswer] = {}
    while True:
        for w in store.workers():
            if w.id in before and w.id not in answers and w.reloaded_at is not None \
                    and w.reloaded_at != before[w.id]:
                answers[w.id] = ReloadAnswer(w.id, w.pid, w.reload_error)
        if len(answers) == len(before):
            return [answers[w.id] for w in daemons]
        if time.monotonic() >= deadline:
            silent = ", ".join(sorted(set(before) - set(answers)))
            raise PublisherError(f"signalled, but no answer within {timeout:g} s from {silent}; "
                                 "see its log")
        sleep(0.1)
