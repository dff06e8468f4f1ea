"""The pure deciders behind ``status``: who works the queue (a daemon, or
``run --once`` within --max-silence), a failing channel, channels the
running daemon does not know; and the editor-text rules of ``desk_input``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.exceptions import InputError
from publisher.services import health
from publisher.services.desk_input import (
    MAX_NAME,
    MAX_REASON,
    editor_name,
    editor_reason,
    safe_line,
    safe_text,
)
from publisher.types import WorkerInfo

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SILENCE = timedelta(minutes=10)


def worker(id_: str, ago: float, *, stopped: bool = False) -> WorkerInfo:
    at = NOW - timedelta(seconds=ago)
    return WorkerInfo(id=id_, host="news1", pid=7, started_at=at - timedelta(hours=1),
                      heartbeat_at=at, stopped_at=at if stopped else None)


@pytest.mark.parametrize(("workers", "starts"), [
    pytest.param([], "daemon: never started", id="nothing ever ran"),
    pytest.param([worker("news1:7", 15)], None, id="live daemon"),
    pytest.param([worker("news1:7", 300)], "daemon: not seen for 5 min", id="silent daemon"),
    pytest.param([worker("news1:7", 30, stopped=True)], "daemon: stopped at",
                 id="stopped daemon"),
    pytest.param([worker("once@news1", 540, stopped=True)], None, id="cron within silence"),
    pytest.param([worker("once@news1", 660, stopped=True)], "run --once: last seen 11 min ago",
                 id="cron too quiet"),
    pytest.param([worker("once@news1", 60, stopped=True), worker("news1:7", 3600,
                                                                  stopped=True)],
                 None, id="cron after an old daemon"),
    pytest.param([worker("once@news1", 3600, stopped=True), worker("news1:7", 30,
                                                                    stopped=True)],
                 "daemon: stopped at", id="daemon stopped after cron"),
    pytest.param([worker("once@news1", 3600, stopped=True), worker("news1:7", 20)],
                 None, id="daemon live, old cron"),
])
def test_who_works_the_queue(workers, starts):
    line = health.heartbeat_problem(workers, now=NOW, max_silence=SILENCE)
    if starts is None:
        assert line is None
    else:
        assert line is not None and line.startswith(starts), line


def test_a_failing_channel_names_the_latest_failure_and_what_to_do():
    failures = [health.Failure(3, NOW - timedelta(minutes=30), "duplicate"),
                health.Failure(9, NOW - timedelta(minutes=5), "content\n rejected")]
    line = health.failing_channel("x", failures, window=timedelta(hours=1), last=0)
    assert line == ("channel x: 2 posts failed in the last 60 min (latest: post 9: content "
                    "rejected); fix the cause, then publisher queue retry 9")
    assert health.failing_channel("x", [], window=timedelta(hours=1), last=5) is None


def test_unknown_channels_only_when_the_daemon_recorded_its_own():
    assert health.unknown_channels(("a",), ["a", "b", "c", "b"]) == ["b", "c"]
    assert health.unknown_channels(None, ["b"]) == []  # an older daemon: no claim made


@pytest.mark.parametrize(("typed", "text", "line"), [
    ("plain", "plain", "plain"),
    ("a\r\nb\rc", "a\nb\nc", "a b c"),
    ("tab\there", "tab here", "tab here"),
    ("bell\x07 esc\x1b[31m del\x7f c1\x85", "bell esc[31m del c1", "bell esc[31m del c1"),
    ("\u202eevil\u202c \u2066iso\u2069", "evil iso", "evil iso"),
    ("lone \ud800 surrogate", "lone  surrogate", "lone surrogate"),
    ("family 👨\u200d👩\u200d👧 keeps its joiners", "family 👨\u200d👩\u200d👧 keeps its joiners",
     "family 👨\u200d👩\u200d👧 keeps its joiners"),
    ("עברית \u200f mark", "עברית \u200f mark", "עברית \u200f mark"),
])
def test_safe_text_and_line(typed, text, line):
    assert safe_text(typed) == text
    assert safe_line(typed) == line


def test_names_and_reasons_are_bounded():
    assert editor_name("  al\x07ice\n ") == "alice"
    assert editor_name("\x07\n") is None and editor_name(None) is None
    assert editor_name("a" * MAX_NAME) == "a" * MAX_NAME
    with pytest.raises(InputError, match=f"--by: at most {MAX_NAME} characters"):
        editor_name("a" * (MAX_NAME + 1))
    assert editor_reason("r" * MAX_REASON) == "r" * MAX_REASON
    with pytest.raises(InputError, match=f"--reason: at most {MAX_REASON} characters"):
        editor_reason("r" * (MAX_REASON + 1))
    # The bound counts what is kept, not the controls taken out.
    assert editor_reason("\x1b" * 1000 + "ok") == "ok"
