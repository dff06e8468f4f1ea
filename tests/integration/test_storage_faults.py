"""The database fails at the worst moment: after the platform stored the post
and before publisher could record it (SQLite locked by another process, or
the disk full).  The post must be neither lost nor sent twice."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from publisher.config import load_config
from publisher.exceptions import StoreError
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.store import Store, sqlite_url_for
from publisher.types import DeliveryClass, NewPost, Outcome, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock


class HookedChannel(ScriptedChannel):
    """Runs ``after_store`` once the platform holds the post, before answering."""

    after_store = staticmethod(lambda: None)

    def publish(self, request):
        result = super().publish(request)
        self.after_store()
        return result


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "site.toml"
    path.write_text('[channels.a]\ntype = "jsonl"\n\n[[routes]]\nchannels = ["a"]\n'
                    '[[feeds]]\nname = "f"\nurl = "https://news.example/feed"\n')
    return load_config(path)


def open_store(tmp_path: Path, **kw) -> Store:
    store = Store(sqlite_url_for(tmp_path / "var" / "publisher.db"), **kw)
    store.upgrade()
    return store


def dispatcher(store, config, clock, channel, worker) -> Dispatcher:
    return Dispatcher(config=config, store=store,
                      channels=ChannelPool(config, {}, overrides={"a": channel}), now=clock,
                      worker=worker, max_workers=2, lease_seconds=60, rand=lambda: 1.0)


def restart_and_drain(tmp_path, config, clock, channel) -> Store:
    """What the next daemon does: take over every orphaned lease, reconcile."""
    store = open_store(tmp_path)
    d = dispatcher(store, config, clock, channel, "w2")
    d.reap(everything=True)
    d.wait()
    d.run_until_idle()
    d.stop(grace=1)
    return store


@pytest.mark.parametrize("delivery", [DeliveryClass.RECONCILABLE, DeliveryClass.IDEMPOTENT])
def test_a_locked_database_after_the_platform_answered(tmp_path, config, delivery):
    clock = FakeClock()
    store = open_store(tmp_path, busy_timeout=0.5)
    [post_id] = store.add_posts([NewPost(channel="a", text="Bridge closes",
                                         link="https://news.example/bridge",
                                         expires_at=clock() + timedelta(hours=1))],
                                article_id=None, now=clock())
    locker = sqlite3.connect(tmp_path / "var" / "publisher.db", timeout=5,
                             isolation_level=None, check_same_thread=False)
    channel = HookedChannel("a", delivery=delivery, clock=clock)
    channel.after_store = lambda: locker.execute("BEGIN IMMEDIATE")  # another process writes
    d = dispatcher(store, config, clock, channel, "w1")
    with pytest.raises(StoreError, match="database is locked"):
        d.run_until_idle()  # neither the outcome nor the next claim can be written
    d.wait()
    d.stop(grace=1)
    locker.execute("ROLLBACK")
    locker.close()
    assert channel.count(post_id) == 1
    assert store.get_post(post_id).status is PostStatus.PUBLISHING  # nothing lost
    store.close()

    channel.after_store = lambda: None
    store = restart_and_drain(tmp_path, config, clock, channel)
    post = store.get_post(post_id)
    assert post.status is PostStatus.PUBLISHED
    assert channel.count(post_id) == 1  # and nothing doubled
    outcomes = [a.outcome for a in reversed(store.attempts(post_id=post_id))]
    assert outcomes[0] is Outcome.AMBIGUOUS
    store.close()


def test_a_full_disk_after_the_platform_answered(tmp_path, config):
    clock = FakeClock()
    store = open_store(tmp_path)
    [post_id] = store.add_posts([NewPost(channel="a", text="Storm warning",
                                         link="https://news.example/storm",
                                         expires_at=clock() + timedelta(hours=1))],
                                article_id=None, now=clock())
    full = {"on": False}

    @event.listens_for(store._engine, "begin")
    def _disk_full(conn):
        if full["on"]:
            # SQLite reports a full disk as SQLITE_FULL; max_page_count makes
            # the database exactly as full as it is now.
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
            conn.exec_driver_sql(f"PRAGMA max_page_count = {pages}")

    channel = HookedChannel("a", clock=clock)
    channel.after_store = lambda: full.update(on=True)
    d = dispatcher(store, config, clock, channel, "w1")
    d.run_until_idle()
    d.stop(grace=1)
    with pytest.raises(StoreError, match="full"):
        store.log_event(post_id, worker="w1", now=clock(), outcome=Outcome.FAILED,
                        error="x" * 200_000)
    assert store.get_post(post_id).status is PostStatus.PUBLISHING  # the answer was not kept
    store.close()
    assert channel.count(post_id) == 1

    store = restart_and_drain(tmp_path, config, clock, channel)  # space is back
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert channel.count(post_id) == 1
    store.close()
