"""The database fails at the worst moment: after the platform stored the post
and before publisher could record it (SQLite locked by another process, or
the disk full).  The post must be neither lost nor sent twice."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

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


def fill(path: Path) -> None:
    """Write zeros until the filesystem is full."""
    with (path / "filler").open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_a_full_disk_after_the_platform_answered(small_disk, config, caplog):
    clock = FakeClock()
    store = open_store(small_disk)
    [post_id] = store.add_posts([NewPost(channel="a", text="Storm warning",
                                         link="https://news.example/storm",
                                         expires_at=clock() + timedelta(hours=1))],
                                article_id=None, now=clock())
    channel = HookedChannel("a", clock=clock)
    channel.after_store = lambda: fill(small_disk)  # the disk fills up meanwhile
    d = dispatcher(store, config, clock, channel, "w1")
    with contextlib.suppress(StoreError):
        d.run_until_idle()
    d.wait()
    d.stop(grace=1)
    store.close()
    assert channel.count(post_id) == 1
    assert any("database or disk is full" in (r.exc_text or r.getMessage()) or
               (r.exc_info and "full" in str(r.exc_info[1])) for r in caplog.records)

    (small_disk / "filler").unlink()  # space is back
    channel.after_store = lambda: None
    store = open_store(small_disk)
    assert store.get_post(post_id).status is PostStatus.PUBLISHING  # the answer was not kept
    store.close()
    store = restart_and_drain(small_disk, config, clock, channel)
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert channel.count(post_id) == 1
    store.close()
