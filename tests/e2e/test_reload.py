"""Reload without restart (issue 12 part 4), with a real daemon subprocess
and real signals: SIGHUP and ``publisher reload`` make a new channel and
route take effect at once; a broken schedule or a missing credential leaves
the daemon running on its previous configuration, and the log, ``status``
and ``publisher reload`` say why in one line."""

from __future__ import annotations

import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_daemon import jsonl, publisher, start, wait_for
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss


def channel(work: Path, name: str) -> str:
    return f"""
[channels.{name}]
type = "jsonl"
options = {{ path = "{work / 'out' / f'{name}.jsonl'}" }}
"""


def schedule(work: Path, feed_url: str, channels: list[str], extra: str = "") -> None:
    (work / "schedules").mkdir(parents=True, exist_ok=True)
    text = f"""
[site]
timezone = "UTC"

[[feeds]]
name = "site"
url = "{feed_url}"
poll_interval = "1s"
"""
    text += "".join(channel(work, name) for name in channels)
    text += f"""
[[routes]]
feed = "site"
channels = {channels!r}
""".replace("'", '"')
    (work / "schedules" / "site.toml").write_text(text + extra)


def worker_row(work: Path) -> dict[str, object]:
    db = sqlite3.connect(work / "var" / "publisher.db")
    try:
        db.row_factory = sqlite3.Row
        row = db.execute("select * from workers where stopped_at is null "
                         "order by heartbeat_at desc").fetchone()
        return dict(row) if row else {}
    finally:
        db.close()


def reloads(work: Path, count_before: object) -> dict[str, object] | None:
    """The worker's row once its reloaded_at moved past ``count_before``."""
    row = worker_row(work)
    if row.get("reloaded_at") and row["reloaded_at"] != count_before:
        return row
    return None


def links(work: Path, name: str) -> list[str]:
    return [r["link"] for r in jsonl(work / "out" / f"{name}.jsonl")]


@pytest.fixture
def site(tmp_path):
    with FeedServer() as srv:
        now = datetime.now(UTC)
        items = [item(n, published=now - timedelta(hours=n)) for n in range(1, 4)]
        srv.set("/feed/", rss(items))
        yield tmp_path, srv, items


def publish(srv: FeedServer, items: list, n: int, title: str) -> dict:
    fresh = item(100 + n, title=title, published=datetime.now(UTC))
    items.insert(0, fresh)
    srv.set("/feed/", rss(items))
    return fresh


@pytest.mark.slow
def test_hup_and_reload_command_change_the_running_daemon(site):
    work, srv, items = site
    url = srv.url("/feed/")
    schedule(work, url, ["archive"])
    proc = start(work)
    try:
        wait_for(lambda: len(srv.requests_for("/feed/")) >= 2)  # seeded: nothing posted
        assert worker_row(work)["channels"] == '["archive"]'

        # A channel and a route added, SIGHUP: the next article goes to it too.
        schedule(work, url, ["archive", "wire"])
        proc.send_signal(signal.SIGHUP)
        row = wait_for(lambda: reloads(work, None))
        assert row["reload_error"] is None
        wait_for(lambda: worker_row(work)["channels"] == '["archive", "wire"]')
        first = publish(srv, items, 1, "Council approves the new bridge")
        wait_for(lambda: links(work, "wire") == [first["link"]])
        wait_for(lambda: links(work, "archive") == [first["link"]])

        # A broken schedule: the daemon keeps running on the previous one.
        good = (work / "schedules" / "site.toml").read_text()
        (work / "schedules" / "site.toml").write_text(good + "\n[[routes]\nfeed = \n")
        proc.send_signal(signal.SIGHUP)
        row = wait_for(lambda: reloads(work, row["reloaded_at"]))
        assert "site.toml" in row["reload_error"] and "\n" not in row["reload_error"]
        assert proc.poll() is None
        second = publish(srv, items, 2, "Library opens on Sundays")
        wait_for(lambda: links(work, "wire") == [second["link"], first["link"]]
                 or links(work, "wire") == [first["link"], second["link"]])
        # status reads the same broken schedule and says where it breaks.
        broken = publisher(work, "status")
        assert broken.returncode != 0
        assert "site.toml" in broken.stderr + broken.stdout

        # Valid TOML the daemon cannot use (a credential variable not set):
        # refused on reload; status (which needs no secrets) names the reload.
        schedule(work, url, ["archive", "wire"], extra="""
[channels.masto]
type = "mastodon"
base_url = "http://127.0.0.1:9"
credentials = { access_token = "RELOAD_TEST_MASTODON_TOKEN" }
""")
        answer = publisher(work, "reload", "--timeout", "20")
        assert answer.returncode == 1, answer.stderr
        assert "kept its previous configuration" in answer.stderr
        assert "RELOAD_TEST_MASTODON_TOKEN" in answer.stderr
        status = publisher(work, "status")
        assert status.returncode == 1
        assert "failed, it runs on its previous configuration" in status.stdout + status.stderr
        assert "RELOAD_TEST_MASTODON_TOKEN" in status.stdout + status.stderr
        assert worker_row(work)["channels"] == '["archive", "wire"]'

        # Fixed, with a third channel: `publisher reload` does what SIGHUP does.
        schedule(work, url, ["archive", "wire", "third"])
        answer = publisher(work, "reload", "--timeout", "20")
        assert answer.returncode == 0, answer.stderr
        assert "reloaded: daemon" in answer.stdout
        third = publish(srv, items, 3, "Harbour festival moves to June")
        wait_for(lambda: links(work, "third") == [third["link"]])
        status = publisher(work, "status")
        assert "previous configuration" not in status.stdout + status.stderr

        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert err.count("reload failed, still running on the previous configuration") == 2
    assert err.count("reloaded:") == 2
    assert "Traceback" not in err
    # Each article once per channel it was routed to when it was planned.
    assert sorted(links(work, "archive")) == sorted([first["link"], second["link"],
                                                     third["link"]])
    assert len(links(work, "wire")) == 3
    assert links(work, "third") == [third["link"]]


def test_reload_without_a_running_daemon_says_so(site):
    work, srv, _ = site
    schedule(work, srv.url("/feed/"), ["archive"])
    assert publisher(work, "db", "upgrade").returncode == 0
    answer = publisher(work, "reload")
    assert answer.returncode == 1
    assert "no publisher daemon is running" in answer.stderr
