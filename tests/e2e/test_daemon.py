"""``publisher`` as a subprocess: the bundled example, the daemon against a
feed served over real HTTP, SIGTERM, a second daemon, invalid configuration."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.shipped import EXAMPLE
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = [sys.executable, "-m", "publisher.cli"]


def env_for(workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "DATABASE_"))}
    env.update({
        "PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES),
        "DATABASE_URL": f"sqlite:///{workdir / 'var' / 'publisher.db'}",
        "PYTHONPATH": str(ROOT),
    })
    env.update(extra)
    return env


def publisher(workdir: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PUBLISHER, *args], cwd=workdir, env=env or env_for(workdir),
                          capture_output=True, text=True, timeout=timeout)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s")


def jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_bundled_example_runs_once_and_never_twice(tmp_path):
    work = tmp_path / "site"
    shutil.copytree(EXAMPLE / "schedules", work / "schedules")
    shutil.copytree(EXAMPLE / "examples", work / "examples")
    first = publisher(work, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("│ console · post") == 3
    assert "riverside-ledger.example" in first.stdout
    # An unchanged poll is logged at DEBUG (issue 12: quiet cron mail).
    second = publisher(work, "run", "--once",
                       env=env_for(work, PUBLISHER_LOG_LEVEL="DEBUG"))
    assert second.returncode == 0, second.stderr
    assert "│ console" not in second.stdout
    assert "status=unchanged" in second.stderr or "status=not_modified" in second.stderr
    quiet = publisher(work, "run", "--once")
    assert quiet.returncode == 0 and "publisher.ingest" not in quiet.stderr, quiet.stderr
    assert (work / "var" / "publisher.db").stat().st_mode & 0o777 == 0o600


def write_schedule(work: Path, feed_url: str, *, poll: str = "1s") -> None:
    (work / "schedules").mkdir(parents=True, exist_ok=True)
    (work / "schedules" / "site.toml").write_text(f"""
[site]
timezone = "America/New_York"

[[feeds]]
name = "site"
url = "{feed_url}"
poll_interval = "{poll}"

[channels.archive]
type = "jsonl"
options = {{ path = "{work / 'out' / 'archive.jsonl'}" }}

[channels.wire]
type = "jsonl"
options = {{ path = "{work / 'out' / 'wire.jsonl'}" }}

[[routes]]
feed = "site"
channels = ["archive", "wire"]
""")


@pytest.fixture
def daemon_site(tmp_path):
    with FeedServer() as srv:
        now = datetime.now(UTC)
        items = [item(n, published=now - timedelta(hours=n)) for n in range(1, 6)]
        srv.set("/feed/", rss(items))
        write_schedule(tmp_path, srv.url("/feed/"))
        yield tmp_path, srv, items


def start(work: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*PUBLISHER, *args, "run"], cwd=work, env=env_for(work),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_daemon_publishes_new_articles_and_stops_on_sigterm(daemon_site):
    work, srv, items = daemon_site
    proc = start(work)
    try:
        # The first poll marks what is there as seen and posts nothing.
        wait_for(lambda: len(srv.requests_for("/feed/")) >= 2)
        assert jsonl(work / "out" / "archive.jsonl") == []
        # A new article appears on the site.
        fresh = item(0, title="Bridge reopens after repairs", published=datetime.now(UTC))
        srv.set("/feed/", rss([fresh, *items]))
        rows = wait_for(lambda: jsonl(work / "out" / "wire.jsonl"))
        wait_for(lambda: jsonl(work / "out" / "archive.jsonl"))
        assert [r["link"] for r in rows] == [fresh["link"]]
        assert "Bridge reopens after repairs" in rows[0]["text"]
        # The next polls get 304s and post nothing more.
        count = len(srv.requests_for("/feed/"))
        wait_for(lambda: len(srv.requests_for("/feed/")) >= count + 2)
        assert srv.requests_for("/feed/")[-1].status == 304
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "daemon stopped" in err
    assert len(jsonl(work / "out" / "archive.jsonl")) == 1
    assert len(jsonl(work / "out" / "wire.jsonl")) == 1
    db = sqlite3.connect(work / "var" / "publisher.db")
    [(stopped,)] = db.execute("select count(*) from workers where stopped_at is not null")
    assert stopped == 1


def test_second_daemon_on_the_same_sqlite_is_refused(daemon_site):
    work, srv, _ = daemon_site
    proc = start(work)
    try:
        wait_for(lambda: srv.requests_for("/feed/"))
        second = publisher(work, "run")
        assert second.returncode == 1
        assert "already running" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_invalid_configuration_is_refused_with_one_line_per_problem(tmp_path):
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text("""
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.x]
type = "x"
credentials = { api_key = "X_API_KEY" }

[[routes]]
channels = ["x", "fb"]
""")
    for args in (["run"], ["run", "--once"], ["check"]):
        result = publisher(tmp_path, *args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert 'schedules/site.toml: routes[0].channels[1]: unknown channel "fb"' in lines
        assert ("schedules/site.toml: channels.x.credentials.api_key: environment variable "
                "X_API_KEY is not set") in lines
    assert not (tmp_path / "var").exists()  # nothing half-written
