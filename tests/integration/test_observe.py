"""The timings the /metrics histograms are fed: every feed poll and every
platform call reports its duration through publisher.services.observe."""

from __future__ import annotations

import pytest

from publisher.services import observe
from tests.fakes.feeds import item, rss
from tests.integration import test_ingest as ingest_tests
from tests.integration.test_ingest import now, two_feeds

build = ingest_tests.build  # the fixtures, shared
srv = ingest_tests.srv


@pytest.fixture
def heard():
    calls: list[tuple[str, float]] = []
    polls: list[tuple[str, str, float]] = []

    def on_call(channel: str, seconds: float) -> None:
        calls.append((channel, seconds))

    def on_poll(feed: str, result: str, seconds: float) -> None:
        polls.append((feed, result, seconds))

    observe.on_call(on_call)
    observe.on_poll(on_poll)
    yield calls, polls
    observe._calls.remove(on_call)
    observe._polls.remove(on_poll)


def test_every_poll_and_every_platform_call_reports_its_duration(store, srv, build, heard):
    calls, polls = heard
    srv.set("/main/", rss([item(n, published=now()) for n in range(1, 3)]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv, backfill=2))
    app.run_once()
    assert sorted((feed, result) for feed, result, _ in polls) == [
        ("main", "changed"), ("sport", "changed")]
    assert [channel for channel, _ in calls] == ["wire", "wire"]
    assert all(seconds >= 0 for *_, seconds in polls + [(c, s) for c, s in calls])
    app.run_once()
    assert [result for feed, result, _ in polls[2:]] == ["not_modified", "not_modified"]
    assert len(calls) == 2  # nothing new: no platform call
