"""Faults of publisher's own store (issue 12 part 6): a database that is
full, locked or unreachable for a while is survived by the running daemon
with one log line when it goes and one when it is back (no traceback per
job), its pool is dropped, and work resumes by itself: every article is
published once, none twice.

The daemon test runs a real ``publisher run`` on a SQLite file in a small
tmpfs that the test fills up (SQLite then answers "database or disk is
full" to every write, on the connections already open) and empties again.
"""

from __future__ import annotations

import logging
import shutil
import signal
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.exceptions import StoreError
from publisher.store import Store, sqlite_url_for
from publisher.store.db import StoreHealth
from tests.conftest import unavailable
from tests.e2e.test_daemon import PUBLISHER, env_for, jsonl, wait_for
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.integration.test_storage_faults import fill

# -- the rule: one line per change of state, the pool dropped at each failure ---------


class Ticks:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_health_logs_each_change_of_state_once_and_drops_the_pool_at_each_failure(caplog):
    clock, dropped = Ticks(), []
    health = StoreHealth(on_down=lambda: dropped.append(clock()), clock=clock)
    caplog.set_level(logging.INFO, logger="publisher.store")
    health.succeeded()
    assert health.available and caplog.records == []
    for _ in range(3):
        health.failed(StoreError("database unavailable: attempt to write a readonly database"))
        clock.t += 4
    assert not health.available
    assert len(dropped) == 3  # a connection opened while it was read-only is not kept
    health.succeeded()
    health.succeeded()
    health.failed(StoreError("database is locked (another process holds a write lock)"))
    health.succeeded()
    assert [r.getMessage() for r in caplog.records] == [
        "database unavailable: attempt to write a readonly database",
        "database back after 12 s",
        "database unavailable: database is locked (another process holds a write lock)",
        "database back after 0 s",
    ]


def test_a_locked_sqlite_is_one_line_and_the_store_recovers_by_itself(tmp_path, caplog):
    """Another process holds the write lock longer than the busy timeout:
    writes fail, then succeed on their own once it lets go."""
    caplog.set_level(logging.INFO, logger="publisher.store")
    path = tmp_path / "var" / "publisher.db"
    store = Store(sqlite_url_for(path), busy_timeout=0.2)
    store.upgrade()
    now = datetime.now(UTC)
    store.heartbeat("w", now=now, host="h", pid=1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    for _ in range(3):
        with pytest.raises(StoreError, match="database is locked"):
            store.heartbeat("w", now=now, host="h", pid=1)
    assert not store.health.available
    other.execute("ROLLBACK")
    other.close()
    store.heartbeat("w", now=now, host="h", pid=1)
    assert store.health.available
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: database is locked")
    assert lines[1].startswith("database back after")
    store.close()


# -- the daemon -----------------------------------------------------------------------


@pytest.fixture
def ext4_disk(tmp_path: Path):
    """A real small ext4 file system (a loop device), whose files root can make
    immutable: the closest to a read-only database file for a process that
    runs as root, which chmod does not stop."""
    image, disk = tmp_path / "disk.img", tmp_path / "disk"
    disk.mkdir()
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    mounted = made if made.returncode else subprocess.run(
        ["mount", "-o", "loop", str(image), str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0 or shutil.which("chattr") is None:
        unavailable(f"cannot mount an ext4 image here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        for path in disk.glob("publisher.db*"):
            subprocess.run(["chattr", "-i", str(path)], check=False)
        subprocess.run(["umount", "-l", str(disk)], check=False)


def write_schedule(work: Path, feed_url: str) -> None:
    (work / "schedules").mkdir(parents=True, exist_ok=True)
    (work / "schedules" / "site.toml").write_text(f"""
[site]
timezone = "UTC"

[[feeds]]
name = "site"
url = "{feed_url}"
poll_interval = "1s"

[channels.wire]
type = "jsonl"
options = {{ path = "{work / 'out' / 'wire.jsonl'}" }}

[[routes]]
feed = "site"
channels = ["wire"]
""")


def feed_polls_stored(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        [(n,)] = con.execute("select count(*) from articles")
        return n
    finally:
        con.close()


def _survives(tmp_path: Path, disk: Path, fault, mend) -> None:
    """A daemon on a database in ``disk``: ``fault(disk)`` makes every write
    fail while it runs, ``mend(disk)`` ends that.  One line each way, no
    traceback, still polling meanwhile, every article published once."""
    work = tmp_path / "site"
    db = disk / "publisher.db"
    with FeedServer() as srv:
        now = datetime.now(UTC)
        items = [item(n, published=now - timedelta(hours=n)) for n in range(1, 4)]
        srv.set("/feed/", rss(items))
        write_schedule(work, srv.url("/feed/"))
        env = env_for(work, DATABASE_URL=f"sqlite:///{db}")
        log_path = tmp_path / "daemon.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen([*PUBLISHER, "run"], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL, stderr=log_file, text=True)
        try:
            wait_for(lambda: len(srv.requests_for("/feed/")) >= 2 and feed_polls_stored(db) == 3)
            before = item(10, title="Before the outage", published=datetime.now(UTC))
            items.insert(0, before)
            srv.set("/feed/", rss(items))
            wait_for(lambda: jsonl(work / "out" / "wire.jsonl"))

            fault(disk)  # every write to the database fails
            during = item(11, title="During the outage", published=datetime.now(UTC))
            items.insert(0, during)
            srv.set("/feed/", rss(items))
            wait_for(lambda: "database unavailable" in log_path.read_text(), timeout=30)
            polls = len(srv.requests_for("/feed/"))
            wait_for(lambda: len(srv.requests_for("/feed/")) >= polls + 3)  # still polling
            assert proc.poll() is None
            assert [r["link"] for r in jsonl(work / "out" / "wire.jsonl")] == [before["link"]]

            mend(disk)  # writes work again
            wait_for(lambda: "database back after" in log_path.read_text(), timeout=30)
            rows = wait_for(lambda: [r for r in jsonl(work / "out" / "wire.jsonl")
                                     if r["link"] == during["link"]], timeout=30)
            after = item(12, title="After the outage", published=datetime.now(UTC))
            items.insert(0, after)
            srv.set("/feed/", rss(items))
            wait_for(lambda: [r for r in jsonl(work / "out" / "wire.jsonl")
                              if r["link"] == after["link"]], timeout=30)
            assert len(rows) == 1
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log = log_path.read_text()
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    assert log.count("database unavailable") == 1, log
    assert log.count("database back after") == 1, log
    links = [r["link"] for r in jsonl(work / "out" / "wire.jsonl")]
    assert sorted(links) == sorted([before["link"], during["link"], after["link"]])


@pytest.mark.slow
def test_the_daemon_survives_a_full_database_disk(tmp_path, small_disk):
    _survives(tmp_path, small_disk, fill, lambda disk: (disk / "filler").unlink())


def _read_only(disk: Path, flag: str) -> None:
    # The database and its write-ahead log (not the shared-memory index, which
    # SQLite maps: an immutable map would crash any process, not fail a write).
    for name in ("publisher.db", "publisher.db-wal"):
        subprocess.run(["chattr", flag, str(disk / name)], check=True)


@pytest.mark.slow
def test_the_daemon_survives_its_database_turning_read_only(tmp_path, ext4_disk):
    """The database file turns read-only with the daemon running, then
    writable again."""
    _survives(tmp_path, ext4_disk, lambda disk: _read_only(disk, "+i"),
              lambda disk: _read_only(disk, "-i"))


@pytest.mark.postgres
def test_an_unreachable_postgresql_is_one_line_and_the_pool_recovers(_pg_admin, caplog):
    """The server refuses connections and drops the ones it has (a restart, a
    failover): writes fail with one line; once it takes connections again
    the next write succeeds on a fresh pool, with one line."""
    import uuid

    import sqlalchemy as sa

    caplog.set_level(logging.INFO, logger="publisher.store")
    name = f"outage_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin.execution_options(isolation_level="AUTOCOMMIT")

    def admin_sql(statement: str) -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(statement))

    admin_sql(f'CREATE DATABASE "{name}"')
    store = Store(_pg_admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        store.upgrade()
        now = datetime.now(UTC)
        store.heartbeat("w", now=now, host="h", pid=1)
        admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                  f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        for _ in range(3):
            with pytest.raises(StoreError, match="database unavailable"):
                store.heartbeat("w", now=now, host="h", pid=1)
        assert not store.health.available
        admin_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        store.heartbeat("w", now=now, host="h", pid=1)
        assert store.health.available
        assert [w.id for w in store.workers()] == ["w"]
    finally:
        store.close()
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: ")
    assert lines[1].startswith("database back after")


@pytest.mark.slow
def test_a_post_in_flight_when_the_disk_fills_is_settled_once(tmp_path, small_disk):
    """Mastodon stores the status while the database's disk is full, so the
    daemon cannot record the answer: one line, the post keeps its lease, and
    once the disk has room the same daemon takes the expired lease over and
    settles it with the same Idempotency-Key: one status on the platform."""
    from tests.fakes.mastodon_server import FakeMastodon

    work = tmp_path / "site"
    db = small_disk / "publisher.db"
    with FeedServer() as srv, FakeMastodon(access_token="masto-outage-token",
                                           slow_seconds=30) as masto:
        items = [item(n, published=datetime.now(UTC) - timedelta(hours=n)) for n in (1, 2)]
        srv.set("/feed/", rss(items))
        (work / "schedules").mkdir(parents=True)
        (work / "schedules" / "site.toml").write_text(f"""
[site]
timezone = "UTC"

[[feeds]]
name = "site"
url = "{srv.url('/feed/')}"
poll_interval = "1s"

[channels.social]
type = "mastodon"
base_url = "{masto.base_url}"
timeout = "60s"
credentials = {{ access_token = "MASTODON_TOKEN" }}

[[routes]]
feed = "site"
channels = ["social"]
""")
        env = env_for(work, DATABASE_URL=f"sqlite:///{db}", MASTODON_TOKEN="masto-outage-token",
                      PUBLISHER_LEASE_SECONDS="5")
        log_path = tmp_path / "daemon.log"
        with log_path.open("w") as log_file:
            proc = subprocess.Popen([*PUBLISHER, "run"], cwd=work, env=env,
                                    stdout=subprocess.DEVNULL, stderr=log_file, text=True)
        try:
            wait_for(lambda: len(srv.requests_for("/feed/")) >= 2 and feed_polls_stored(db) == 2)
            masto.fail_next("slow")  # the next status is held until released
            fresh = item(10, title="Ferry timetable changes", published=datetime.now(UTC))
            srv.set("/feed/", rss([fresh, *items]))
            wait_for(lambda: masto.requests_to("POST", "/api/v1/statuses"))
            fill(small_disk)
            masto.release_slow()  # the platform stores the status and answers
            wait_for(lambda: "its outcome could not be recorded" in log_path.read_text()
                     or "left to its lease" in log_path.read_text(), timeout=30)
            assert len(masto.statuses) == 1
            (small_disk / "filler").unlink()
            wait_for(lambda: "database back after" in log_path.read_text(), timeout=30)
            con = sqlite3.connect(db)
            try:
                wait_for(lambda: con.execute("select status from posts").fetchall()
                         == [("published",)], timeout=60)
            finally:
                con.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert len(masto.statuses) == 1, masto.statuses
    log = log_path.read_text()
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log
    assert log.count("publisher.store: database unavailable") == 1, log
    assert log.count("publisher.store: database back after") == 1, log
