"""Ingest and planning through the app: feeds served over real HTTP, the real
store (SQLite and PostgreSQL), the real renderer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.types import ArticleState, PostStatus
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def schedule(tmp_path: Path, body: str) -> Settings:
    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "schedules" / "site.toml").write_text(body)
    return Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                    env_file=tmp_path / ".env")


def two_feeds(srv: FeedServer, *, backfill: int = 0, max_age: str = "24h") -> str:
    return f"""
[[feeds]]
name = "main"
url = "{srv.url('/main/')}"
backfill = {backfill}

[[feeds]]
name = "sport"
url = "{srv.url('/sport/')}"

[channels.wire]
type = "jsonl"
max_age = "{max_age}"

[[routes]]
channels = ["wire"]
"""


@pytest.fixture
def build(store, tmp_path):
    """Apps on the test's store; their HTTP clients are closed after the test."""
    built = []

    def make(body: str):
        app = make_app(schedule(tmp_path, body), store=store, environ={})
        built.append(app)
        return app

    yield make
    for app in built:
        app.fetcher.close()
        app.channels.close()


@pytest.fixture
def srv():
    with FeedServer() as server:
        yield server


def now() -> datetime:
    return datetime.now(UTC)


def posts(store):
    return sorted(store.list_posts(), key=lambda p: p.id)


def test_first_poll_seeds_then_new_entries_are_planned(store, srv, build):
    items = [item(n) for n in range(1, 6)]
    srv.set("/main/", rss(items))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv))
    app.sync()
    report = app.poll("main")
    assert (report.status, report.new, report.seen) == ("changed", 0, 5)
    assert app.plan_pending() == []
    # the second poll is a 304 and parses nothing
    report = app.poll("main")
    assert report.status == "not_modified"
    last = srv.requests_for("/main/")[-1]
    assert last.status == 304 and last.header("if-none-match")
    fresh = item(0, title="Dam inspection finds cracks", published=now())
    srv.set("/main/", rss([fresh, *items]))
    assert app.poll("main").new == 1
    [plan] = app.plan_pending()
    [post] = posts(store)
    assert post.id == plan.posts[0] and post.status is PostStatus.QUEUED
    assert post.text.startswith("Dam inspection finds cracks")
    assert post.link == fresh["link"]
    feed = store.get_feed("main")
    assert feed.seeded and feed.etag and feed.error_count == 0


def test_an_article_planned_by_another_daemon_is_quietly_left(store, srv, build, caplog):
    """Daemons sharing a database may both plan a new article; the second
    inserts nothing and says so only at debug level."""
    srv.set("/main/", rss([item(n, published=now()) for n in range(1, 3)]))
    srv.set("/sport/", rss([]))
    first, second = build(two_feeds(srv, backfill=2)), build(two_feeds(srv, backfill=2))
    first.sync()
    first.poll("main")
    [article, _] = store.pending_articles(limit=10)
    first.planner.plan(article)
    with caplog.at_level("DEBUG", logger="publisher.plan"):
        report = second.planner.plan(article)
    assert report.posts == () and len(posts(store)) == 1
    [record] = [r for r in caplog.records if r.name == "publisher.plan"]
    assert record.levelname == "DEBUG" and "already planned" in record.getMessage()


def test_backfill_plans_the_newest_n_and_posts_them_oldest_first(store, srv, build):
    items = [item(n, published=now() - timedelta(hours=n)) for n in range(1, 8)]
    srv.set("/main/", rss(items))  # document order is newest first, as feeds are
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv, backfill=3))
    app.sync()
    assert app.poll("main").new == 3
    app.plan_pending()
    # The newest three, planned oldest first; the dispatcher claims by due time,
    # then id, so they go out oldest first and the timeline reads forwards.
    planned = posts(store)
    assert [p.link for p in planned] == [items[2]["link"], items[1]["link"], items[0]["link"]]
    due = [(p.not_before, p.id) for p in planned]
    assert due == sorted(due)


def test_edited_republished_and_cross_feed_entries_are_never_posted_twice(store, srv, build):
    story = item(1, published=now() - timedelta(minutes=5))
    srv.set("/main/", rss([]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv))
    app.sync()
    app.poll_all()  # seed both feeds
    srv.set("/main/", rss([story]))
    app.poll("main")
    app.plan_pending()
    assert len(posts(store)) == 1
    # edited: same guid, new title; republished: same guid, new date
    edited = dict(story, title="UPDATED: " + story["title"], published=now())
    srv.set("/main/", rss([edited]))
    assert app.poll("main").new == 0
    # the same story in another feed, with another guid and tracking parameters
    copy = dict(story, guid="https://news.example/?p=999999",
                link=story["link"] + "?utm_source=rss&utm_medium=feed#comments")
    srv.set("/sport/", rss([copy]))
    assert app.poll("sport").new == 0
    app.plan_pending()
    assert len(posts(store)) == 1


def test_a_broken_feed_never_stops_the_others(store, srv, build):
    srv.set("/main/", rss([item(1)]))
    srv.fail("/sport/", 503, {"Retry-After": "600"})
    app = build(two_feeds(srv))
    app.sync()
    reports = {r.feed: r for r in app.poll_all()}
    assert reports["main"].status == "changed"
    assert reports["sport"].status == "error" and "503" in reports["sport"].error
    sport = store.get_feed("sport")
    assert sport.error_count == 1 and "503" in sport.last_error
    # Retry-After (600 s) beats the 2 x 60 s backoff
    assert sport.next_poll_at - sport.last_poll_at >= timedelta(seconds=599)
    srv.set("/sport/", b"<html><body>Site maintenance</body></html>",
            content_type="text/html")
    app.poll("sport")
    sport = store.get_feed("sport")
    assert sport.error_count == 2 and "not a feed" in sport.last_error
    srv.set("/sport/", rss([item(2)]))
    app.poll("sport")
    sport = store.get_feed("sport")
    assert sport.error_count == 0 and sport.last_error is None and sport.seeded


def test_many_new_entries_are_planned_oldest_first_and_old_ones_not_at_all(store, srv, build):
    srv.set("/main/", rss([]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv, max_age="6h"))
    app.sync()
    app.poll_all()
    burst = [item(n, published=now() - timedelta(hours=n)) for n in range(10)]
    srv.set("/main/", rss(list(reversed(burst))))
    assert app.poll("main").new == 10
    app.plan_pending()
    planned = [p.link for p in posts(store)]
    # 6 h max_age; planned oldest first, so they go out in the order they were published
    assert planned == [b["link"] for b in reversed(burst[:6])]
    old = store.find_article(burst[8]["link"])
    assert old is not None and old.state is ArticleState.SEEN


def test_a_post_that_cannot_fit_fails_at_planning(store, srv, build):
    srv.set("/main/", rss([]))
    srv.set("/sport/", rss([]))
    body = two_feeds(srv).replace('type = "jsonl"', 'type = "jsonl"\noptions = { max_length = 30 }')
    app = build(body)
    app.sync()
    app.poll_all()
    srv.set("/main/", rss([item(1, published=now())]))
    app.poll("main")
    [report] = app.plan_pending()
    assert report.failed and "too long" in report.failed[0]
    [post] = posts(store)
    assert post.status is PostStatus.FAILED and post.last_error.startswith("too long:")


def wp_post(n: int) -> dict:
    date = (now() - timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "id": n, "date_gmt": date, "modified_gmt": date, "status": "publish",
        "guid": {"rendered": f"https://wp.example/?p={n}"},
        "link": f"https://wp.example/2026/11/story-{n}/",
        "title": {"rendered": f"Library &#8220;reopens&#8221; downtown, story {n}"},
        "excerpt": {"rendered": "<p>After three years of work&hellip;</p>"},
        "_embedded": {
            "author": [{"name": "Ana Ruiz"}],
            "wp:featuredmedia": [{"source_url": f"https://wp.example/img/{n}.jpg",
                                  "alt_text": "The new reading room"}],
            "wp:term": [[{"taxonomy": "category", "name": "Culture"}],
                        [{"taxonomy": "post_tag", "name": "Library"}]],
        },
    }


def test_wordpress_rest_source(store, srv, build):
    srv.set("/wp-json/wp/v2/posts", json.dumps([wp_post(1)]).encode(),
            content_type="application/json")
    body = f"""
[[feeds]]
name = "wp"
url = "{srv.url('/')}"
kind = "wordpress"
backfill = 1

[channels.wire]
type = "jsonl"

[[routes]]
channels = ["wire"]
categories = ["culture"]
"""
    app = build(body)
    app.sync()
    assert app.poll("wp").new == 1
    app.plan_pending()
    [post] = posts(store)
    assert post.text.startswith("Library “reopens” downtown, story 1")
    assert post.image.url == "https://wp.example/img/1.jpg"
    assert post.image.alt == "The new reading room"
    request = srv.requests_for("/wp-json/wp/v2/posts")[0]
    assert "_embed" in request.path and "status=publish" in request.path


FEEDBURNER = ROOT / "tests" / "data" / "feeds" / "feedburner"


@pytest.mark.parametrize(("body", "original", "proxy_host"), [
    ("PaulDixExplainsNothing.xml",
     "http://www.pauldix.net/2009/01/making-a-ruby-c-library-even-faster.html",
     "feeds.feedburner.com"),
    ("TechCrunch.xml",
     "http://techcrunch.com/2011/11/02/angies-list-prices-ipo-at-11-to-13-per-share-"
     "valued-at-over-600m/",
     "feedproxy.google.com"),
])
def test_a_feedburner_story_has_its_own_link_and_is_the_same_story_in_the_sites_feed(
        store, srv, build, body, original, proxy_host):
    """Real FeedBurner bodies (feedjira's sample feeds): the article's URL is the
    feed's feedburner:origLink, so the site's own feed brings nothing new and no
    post carries the proxy's link or its tracking pixel."""
    srv.set("/main/", rss([]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv, max_age="200000h"))
    app.sync()
    app.poll_all()  # seed both feeds
    srv.set("/main/", (FEEDBURNER / body).read_bytes(), content_type="application/xml")
    report = app.poll("main")
    assert report.new == report.entries > 0
    article = store.find_article(original)
    assert article is not None and article.data.url == original
    # the same story in the site's own feed, under another guid
    story = item(1, site="http://example.org", published=now())
    srv.set("/sport/", rss([dict(story, link=original, guid="site-own-guid-1")]))
    assert app.poll("sport").new == 0
    app.plan_pending()
    made = posts(store)
    assert made and all(proxy_host not in (p.text + (p.link or "")) for p in made)
    assert all(p.image is None or "feedburner" not in p.image.url for p in made)
    assert original in {p.link for p in made}


class _StaleFeedState:
    """The store as a second daemon saw it: it read the feed's state before the
    first daemon's seeding committed, and is otherwise the real store."""

    def __init__(self, store, state):
        self._store, self._state = store, state

    def get_feed(self, name):
        return self._state

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_two_daemons_seeding_one_feed_lose_no_story(store, srv, build):
    """Daemon B read "not seeded" just before daemon A seeded the feed; a
    story published in between must be planned by B, not remembered as seen
    (before, B took its poll for a first poll too and the story was lost)."""
    from publisher.services.ingest import poll_feed

    old = [item(n) for n in range(1, 4)]
    srv.set("/main/", rss(old))
    srv.set("/sport/", rss([]))
    a, b = build(two_feeds(srv)), build(two_feeds(srv))
    a.sync()
    before_a_seeded = store.get_feed("main")
    assert not before_a_seeded.seeded
    assert (a.poll("main").new, store.get_feed("main").seeded) == (0, True)
    fresh = item(0, title="Levee breach downtown", published=now())
    srv.set("/main/", rss([fresh, *old]))
    report = poll_feed(b.config.feed("main"), store=_StaleFeedState(store, before_a_seeded),
                       fetcher=b.fetcher, now=now, environ={})
    assert (report.new, report.seen) == (1, 0)
    [pending] = store.pending_articles(limit=10)
    assert pending.data.title == "Levee breach downtown"
    assert pending.state is ArticleState.PENDING


def test_the_first_poll_seeds_and_remembers_in_one_go(store, srv, build):
    """The feed is marked seeded only together with what its first poll saw."""
    srv.set("/main/", rss([item(n) for n in range(1, 4)]))
    srv.set("/sport/", rss([]))
    app = build(two_feeds(srv, backfill=1))
    app.sync()
    report = app.poll("main")
    assert (report.new, report.seen) == (1, 2)
    assert store.seed_feed("main", [], [], now=now()) is None  # already seeded: nothing written
