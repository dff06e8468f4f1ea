"""Several workers on one database: claims, take-overs, the SQLite daemon lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.exceptions import AlreadyRunning
from publisher.store import Store, open_store
from publisher.types import ArticleData, ArticleState, NewPost

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = 60.0
CHANNELS = ["x", "facebook"]
REPO = Path(__file__).resolve().parents[2]


def plan(store: Store, n: int) -> list[int]:
    """n articles with one post per channel; returns all post ids."""
    items = [ArticleData(f"g{i}", f"https://news.example/{i}", f"T{i}") for i in range(n)]
    ids: list[int] = []
    for a in store.add_articles("f", items, state=ArticleState.PENDING, now=NOW):
        ids += store.save_plan(a.id, [NewPost(channel=c, text="t") for c in CHANNELS], now=NOW)
    return ids


def run_workers(stores: list[Store], work: Callable[[Store, str], list[int]]) -> list[list[int]]:
    """Run ``work`` in one thread per store (all released together)."""
    barrier = threading.Barrier(len(stores))
    results: list[list[int]] = [[] for _ in stores]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(stores[i], f"w{i}")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def claim_all(store: Store, worker: str) -> list[int]:
    got: list[int] = []
    while batch := store.claim_due(now=NOW, worker=worker, lease_seconds=LEASE, limit=7,
                                   channels=CHANNELS):
        got += [p.id for p in batch]
        for p in batch:
            assert p.lease_owner == worker
    return got


def assert_disjoint_cover(results: list[list[int]], ids: list[int]) -> None:
    flat = [i for r in results for i in r]
    assert len(flat) == len(set(flat)), "a post was claimed twice"
    assert sorted(flat) == sorted(ids)


def test_threads_sharing_a_store_never_claim_the_same_post(store: Store) -> None:
    ids = plan(store, 100)
    results = run_workers([store] * 6, claim_all)
    assert_disjoint_cover(results, ids)
    for pid in ids[:5]:
        owner = store.get_post(pid).lease_owner
        assert pid in results[int(owner[1:])]  # type: ignore[index]


def test_separate_stores_never_claim_the_same_post(store: Store) -> None:
    """Two (or four) engines on one database: on PostgreSQL these are separate
    connections racing through FOR UPDATE SKIP LOCKED."""
    ids = plan(store, 100)
    others = [open_store(store.url) for _ in range(3)]
    try:
        results = run_workers([store, *others], claim_all)
    finally:
        for s in others:
            s.close()
    assert_disjoint_cover(results, ids)


def test_concurrent_take_overs_are_disjoint(store: Store) -> None:
    ids = plan(store, 30)
    claim_all(store, "dead")
    later = NOW + timedelta(seconds=LEASE)

    def take(s: Store, worker: str) -> list[int]:
        got: list[int] = []
        while batch := s.take_over_expired(now=later, worker=worker, lease_seconds=LEASE,
                                           limit=4):
            got += [e.post.id for e in batch]
        return got

    other = open_store(store.url)
    try:
        results = run_workers([store, store, other, other], take)
    finally:
        other.close()
    assert_disjoint_cover(results, ids)


@pytest.mark.postgres
def test_pg_claim_skips_rows_locked_by_another_connection(pg_url: str) -> None:
    store = open_store(pg_url)
    store.upgrade()
    raw = sa.create_engine(pg_url, poolclass=sa.NullPool)
    try:
        ids = plan(store, 3)
        with raw.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT id FROM posts WHERE id = :id FOR UPDATE"),
                         {"id": ids[0]})
            got = store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=10,
                                  channels=CHANNELS)
            assert [p.id for p in got] == ids[1:]
        [p] = store.claim_due(now=NOW, worker="w2", lease_seconds=LEASE, limit=10,
                              channels=CHANNELS)
        assert p.id == ids[0]
    finally:
        raw.dispose()
        store.close()


# -- the SQLite daemon lock ----------------------------------------------------

HOLDER = """
import sys, time
from publisher.store import open_store
store = open_store(sys.argv[1])
store.acquire_daemon_lock()
print("locked", flush=True)
time.sleep(600)
"""


def test_daemon_lock_refuses_a_second_holder_until_it_is_killed(sqlite_store: Store) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, sqlite_store.url],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as err:
            sqlite_store.acquire_daemon_lock()
        msg = str(err.value)
        assert f"pid {proc.pid}" in msg and "use PostgreSQL" in msg
        assert sqlite_store.url.removeprefix("sqlite:///") in msg
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    sqlite_store.acquire_daemon_lock()  # the kill freed it: no stale lock
    sqlite_store.release_daemon_lock()


def test_daemon_lock_in_process(store: Store) -> None:
    other = open_store(store.url)
    try:
        store.acquire_daemon_lock()
        store.acquire_daemon_lock()  # idempotent for the holder
        if store.dialect == "sqlite":
            with pytest.raises(AlreadyRunning, match=f"pid {os.getpid()}"):
                other.acquire_daemon_lock()
            store.release_daemon_lock()
            other.acquire_daemon_lock()
            with pytest.raises(AlreadyRunning):
                store.acquire_daemon_lock()
        else:
            other.acquire_daemon_lock()  # PostgreSQL: several daemons share the work
    finally:
        other.close()
        store.release_daemon_lock()
