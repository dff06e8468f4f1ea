"""Daemons starting together on one PostgreSQL database sync the same new
feeds at the same moment: each reads them missing and inserts them.  The
first insert wins and the others find the row there; none fails with a
unique violation (``test_several_daemons`` once lost a daemon to
``uq_feeds_name`` at start-up)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from publisher.store import FeedSpec, open_store
from publisher.types import FeedKind

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.postgres
def test_daemons_syncing_the_same_new_feeds_together_all_start(
        new_pg_url: Callable[[], str]) -> None:
    url = new_pg_url()
    stores = [open_store(url) for _ in range(4)]
    stores[0].upgrade()
    failures: list[BaseException] = []
    try:
        for round_ in range(15):
            specs = [FeedSpec(f"site-{round_}-{i}", f"https://news.example/{round_}/{i}/feed/",
                              FeedKind.RSS)
                     for i in range(3)]
            barrier = threading.Barrier(len(stores))

            def sync(store=None, specs=specs, barrier=barrier) -> None:
                try:
                    barrier.wait(timeout=10)
                    store.sync_feeds(specs, now=NOW)
                except BaseException as exc:  # collected: the assertion names it
                    failures.append(exc)

            threads = [threading.Thread(target=sync, kwargs={"store": s}) for s in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert failures == []
            assert {f.name for f in stores[0].list_feeds()} == {s.name for s in specs}
    finally:
        for store in stores:
            store.close()
