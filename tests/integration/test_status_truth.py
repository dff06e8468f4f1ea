"""``status`` tells the truth (issue 12, part 3): each cause makes it exit 1
with its one line (the same in ``--json``), a healthy setup exits 0, and
``check`` compiles and renders every template in use, naming file:line.

Through Typer's CliRunner on the test's store, under an injected clock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from publisher.cli import app, state
from publisher.config import load_config
from publisher.exceptions import Permanent
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.types import NewPost, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

SCHEDULE = """
[site]
timezone = "America/New_York"

[channels.archive]
type = "jsonl"
options = { path = "{out}/archive.jsonl" }

[channels.wire]
type = "jsonl"
template = "wire"
options = { path = "{out}/wire.jsonl" }
"""

GOOD = "{{ article.title }}\n{{ link }}\n"
WIRE = "WIRE: {{ article.title | upper }}\n{{ link }}\n"


@dataclass
class Site:
    store: Any
    clock: FakeClock
    env: dict[str, str]
    tmp: Path

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=self.env)

    def problems(self, *args: str, code: int = 1) -> list[str]:
        """``status`` with ``args``: its exit code must be ``code``; the
        problem lines, checked equal to those of ``status --json``."""
        result = self.run("status", *args)
        assert result.exit_code == code, (result.stdout, result.stderr)
        lines = [line[4:] for line in result.stdout.splitlines() if line.startswith("  - ")]
        as_json = self.run("status", "--json", *args)
        assert as_json.exit_code == code, (as_json.stdout, as_json.stderr)
        data = json.loads(as_json.stdout)
        assert data["healthy"] is (code == 0)
        assert [" ".join(p.split()) for p in data["problems"]] == [
            " ".join(p.split()) for p in lines]
        if code == 0:
            assert "healthy" in result.stdout and not lines
        return list(data["problems"])

    def beat(self, worker: str = "news1:100", *, at: datetime | None = None,
             channels: tuple[str, ...] | None = ("archive", "wire"),
             stopping: bool = False) -> None:
        self.store.heartbeat(worker, now=at or self.clock(), host="news1", pid=100,
                             stopping=stopping, channels=channels)

    def post(self, channel: str = "archive", **kw: Any) -> int:
        kw.setdefault("expires_at", self.clock() + timedelta(hours=24))
        [post_id] = self.store.add_posts([NewPost(channel=channel, text="Hello", **kw)],
                                         article_id=None, now=self.clock())
        return post_id

    def template(self, name: str, text: str) -> Path:
        path = self.tmp / "templates" / "jsonl" / f"{name}.j2"
        path.write_text(text)
        return path


@pytest.fixture
def site(store, tmp_path, monkeypatch) -> Site:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        SCHEDULE.replace("{out}", str(tmp_path / "out")))
    (tmp_path / "templates" / "jsonl").mkdir(parents=True)
    clock = FakeClock(START)
    monkeypatch.setattr(state, "clock", clock)
    env = {"DATABASE_URL": store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
           "PUBLISHER_TEMPLATES": str(tmp_path / "templates"), "USER": "alice"}
    s = Site(store, clock, env, tmp_path)
    s.template("default", GOOD)
    s.template("wire", WIRE)
    return s


def test_a_healthy_setup_exits_0(site):
    site.beat()
    site.post(status=PostStatus.PUBLISHED)
    assert site.problems(code=0) == []


def test_a_daemon_never_started_says_how_to_start_one(site):
    [line] = site.problems()
    assert line.startswith("daemon: never started on this database")
    assert "publisher run --once" in line


def test_a_channel_whose_posts_fail_is_unhealthy_for_the_window(site):
    site.beat()
    post_id = site.post("wire")
    config = load_config(site.tmp / "schedules")
    wire = ScriptedChannel("wire", script=[Permanent("the platform refused: duplicate")])
    pool = ChannelPool(config, {}, overrides={"wire": wire})
    Dispatcher(config=config, store=site.store, channels=pool, now=site.clock, worker="w1",
               max_workers=2, rand=lambda: 1.0).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.FAILED
    site.clock.advance(20 * 60)
    site.beat()
    [line] = site.problems()
    assert line.startswith("channel wire: 1 post failed in the last 60 min")
    assert "the platform refused: duplicate" in line
    assert f"publisher queue retry {post_id}" in line
    # Out of the hour it is history, unless the last N posts are asked about.
    site.clock.advance(60 * 60)
    site.beat()
    assert site.problems(code=0) == []
    [line] = site.problems("--failing-last", "3")
    assert line.startswith("channel wire: 1 post failed in the last 60 min or among its "
                           "last 3 posts")
    assert site.problems("--failing-within", "3h", code=1)


def test_the_new_user_walk_through_a_broken_template(site):
    """Break a template: check names file:line and exits 2, status says so;
    fix it: both green."""
    site.beat()
    site.template("wire", "WIRE: {{ article.title | upper }}\n{% if link %}\n{{ link }\n")
    check = site.run("check", "--offline")
    assert check.exit_code == 2, (check.stdout, check.stderr)
    [line] = check.stderr.strip().splitlines()
    assert "jsonl/wire.j2:3:" in line and "channel wire" in line
    [problem] = site.problems()
    assert "jsonl/wire.j2:3:" in problem

    # A template that compiles but fails on an article: the line that fails.
    site.template("wire", "WIRE\n{{ article.title }}\n{{ article.titel }}\n")
    check = site.run("check", "--offline")
    assert check.exit_code == 2
    [line] = check.stderr.strip().splitlines()
    assert "jsonl/wire.j2:3:" in line and "titel" in line
    [problem] = site.problems()
    assert "jsonl/wire.j2:3:" in problem and "titel" in problem

    site.template("wire", WIRE)
    check = site.run("check", "--offline")
    assert check.exit_code == 0, (check.stdout, check.stderr)
    assert site.problems(code=0) == []


def test_a_broken_correction_template_is_checked_too(site):
    site.beat()
    site.template("correction", "Correction: {{ article.title }\n")
    check = site.run("check", "--offline")
    assert check.exit_code == 2
    assert "jsonl/correction.j2:1:" in check.stderr
    [problem] = site.problems()
    assert "jsonl/correction.j2:1:" in problem


def test_a_channel_the_running_daemon_does_not_know(site):
    # The daemon started when only archive was configured; wire came later.
    site.beat(channels=("archive",))
    post_id = site.post("wire")
    [line] = site.problems()
    assert line.startswith("channel wire: 1 post due, but the running daemon (news1:100) "
                           "does not know this channel")
    assert "kill -HUP 100" in line
    # Reloaded (its heartbeat now lists wire): healthy again.
    site.beat()
    site.store.set_post_status(post_id, PostStatus.PUBLISHED, now=site.clock())
    assert site.problems(code=0) == []


def test_run_once_records_a_heartbeat_judged_by_max_silence(site):
    # `run` keeps the system's clock: the post must not be stale by it.
    site.post("archive", expires_at=datetime.now(UTC) + timedelta(days=1))
    result = site.run("run", "--once")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    [worker] = site.store.workers()
    assert worker.id.startswith("once@") and worker.stopped_at is not None
    assert set(worker.channels or ()) == {"archive", "wire"}

    assert site.store.get_post(1).status is PostStatus.PUBLISHED
    site.clock.set(worker.heartbeat_at + timedelta(minutes=5))
    assert site.problems(code=0) == []
    shown = site.run("status")
    assert "run --once" in shown.stdout

    site.clock.set(worker.heartbeat_at + timedelta(minutes=11))
    [line] = site.problems()
    assert line.startswith("run --once: last seen 11 min ago")
    assert "--max-silence 10 min" in line
    assert site.problems("--max-silence", "30m", code=0) == []


def test_a_daemon_started_after_cron_is_judged_as_a_daemon(site):
    site.beat("once@news1", at=START - timedelta(minutes=1), stopping=True)
    site.beat(at=START)
    assert site.problems(code=0) == []
    site.beat(at=START, stopping=True)
    site.clock.advance(60)
    [line] = site.problems()
    assert line.startswith("daemon: stopped at")


@pytest.mark.parametrize("args", [("--max-silence", "forever"), ("--max-silence", "0"),
                                  ("--failing-within", "9" * 400), ("--failing-last", "-1")])
def test_bad_thresholds_are_one_line_and_exit_2(site, args):
    result = site.run("status", *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout
