"""The daemon's feed job: polls at the feed's interval, and ten times less
often while a WebSub hub pushes the feed (polling stays the safety net)."""

from __future__ import annotations

from publisher.config import FeedConfig
from publisher.daemon import Daemon
from publisher.web.websub import poll_interval
from tests.fakes.feeds import item, rss
from tests.integration import test_ingest as ingest_tests
from tests.integration.test_ingest import two_feeds

build = ingest_tests.build  # the fixtures, shared
srv = ingest_tests.srv


class _Face:
    """What the daemon asks the attached web face: is a hub pushing this feed?"""

    def __init__(self, confirmed: set[str]):
        self.confirmed = confirmed

    def poll_interval(self, feed: FeedConfig) -> float:
        return poll_interval(feed.poll_interval, feed.name in self.confirmed)


def test_a_feed_a_hub_pushes_is_polled_ten_times_less_often(store, srv, build):
    srv.set("/main/", rss([item(1)]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv))
    app.sync()
    daemon = Daemon(app)
    daemon._face = _Face({"main"})  # type: ignore[assignment]
    daemon._poll("main")
    daemon._poll("sport")
    assert len(srv.requests_for("/main/")) == 1
    assert len(srv.requests_for("/sport/")) == 1
    # An interval later (the feeds' own next_poll_at is due), only the feed
    # without a hub is polled again; the pushed one waits for 10 intervals.
    for name in ("main", "sport"):
        state = store.get_feed(name)
        store.record_poll_success(name, now=state.last_poll_at, etag=None, last_modified=None,
                                  body_hash=None, next_poll_at=state.last_poll_at)
    daemon._poll("main")
    daemon._poll("sport")
    assert len(srv.requests_for("/main/")) == 1
    assert len(srv.requests_for("/sport/")) == 2
    daemon._face = _Face(set())  # the subscription lapsed: back to the feed's interval
    daemon._poll("main")
    assert len(srv.requests_for("/main/")) == 2
