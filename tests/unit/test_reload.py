"""The pure parts of reload (issue 12 part 4): which daemons ``publisher
reload`` signals, and a refused reload as one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.exceptions import ConfigError
from publisher.reload import one_line, running_daemons
from publisher.services.health import ONCE_PREFIX
from publisher.types import WorkerInfo

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def worker(id_: str, *, host: str = "desk", age: float = 5, stopped: bool = False) -> WorkerInfo:
    beat = NOW - timedelta(seconds=age)
    return WorkerInfo(id=id_, host=host, pid=100, started_at=beat, heartbeat_at=beat,
                      stopped_at=beat if stopped else None)


def test_only_live_daemons_of_this_host_are_signalled():
    workers = [
        worker("desk:1"),                          # alive here: signalled
        worker("other:2", host="other"),           # another machine: its own reload
        worker("desk:3", stopped=True),            # stopped cleanly
        worker("desk:4", age=600),                 # silent for 10 minutes: dead
        worker(f"{ONCE_PREFIX}desk", age=1),       # run --once reads the config each time
    ]
    assert [w.id for w in running_daemons(workers, host="desk", now=NOW)] == ["desk:1"]


def test_a_refused_reload_is_one_line_naming_the_first_problem_and_the_count():
    error = ConfigError(["schedules/site.toml: routes[1].channels: unknown channel \"wire\"",
                         "schedules/site.toml: channels.masto.credentials: MASTO is not set"])
    assert one_line(error) == ('schedules/site.toml: routes[1].channels: unknown channel '
                               '"wire" (and 1 more)')
    assert one_line(ConfigError(["a: b"])) == "a: b"
    assert one_line(ConfigError([])) == "invalid configuration"
