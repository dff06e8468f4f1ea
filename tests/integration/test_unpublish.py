"""Notice from the CMS (issue 13, parts 2 and 3): a WordPress site served by
FakeWordPress over real HTTP, a Mastodon account by FakeMastodon, the app
polling, planning and dispatching as the daemon does.

- an article moved to draft (or trash) is noticed with one ``include=``
  request: its unsent posts are cancelled and the log names it
  ("article N unpublished on the site; `publisher retract N` …"); with
  ``on_unpublish = "retract"`` it is retracted (its Mastodon status deleted);
- an article whose title changes (``modified_gmt`` moves on) is stored with
  its new title and its posts corrected per channel ``on_update``;
- an RSS item whose guid stays and whose title changes is a correction too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.app import App, make_app
from publisher.config import Settings
from publisher.services.desk_status import status
from publisher.types import ArticleState, PostStatus
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.wordpress_server import FakeWordPress
from tests.shipped import TEMPLATES

TOKEN = "masto-token-unpublish-5521"


@pytest.fixture
def wp() -> Iterator[FakeWordPress]:
    fake = FakeWordPress()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def masto() -> Iterator[FakeMastodon]:
    fake = FakeMastodon(access_token=TOKEN)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def build(store: Any, tmp_path: Path) -> Iterator[Any]:
    built: list[App] = []

    def make(feed: str, masto: FakeMastodon, *, on_update: str = "edit") -> App:
        (tmp_path / "schedules").mkdir(exist_ok=True)
        (tmp_path / "schedules" / "site.toml").write_text(f"""
{feed}

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[channels.masto]
type = "mastodon"
base_url = "{masto.base_url}"
on_update = "{on_update}"
credentials = {{ access_token = "MASTODON_TOKEN" }}

[[routes]]
channels = ["wire", "masto"]
""")
        app = make_app(Settings(schedules=tmp_path / "schedules", templates=TEMPLATES,
                                env_file=tmp_path / ".env"),
                       store=store, environ={"MASTODON_TOKEN": TOKEN})
        built.append(app)
        return app

    yield make
    for app in built:
        app.close()


def wp_feed(wp: FakeWordPress, on_unpublish: str | None = None) -> str:
    extra = f'on_unpublish = "{on_unpublish}"' if on_unpublish else ""
    return f"""
[[feeds]]
name = "wp"
url = "{wp.site_url}"
kind = "wordpress"
backfill = 5
{extra}
"""


def _by_guid(app: App, guid: str) -> Any:
    return app.store.articles_by_guid([guid])[guid]


def _published(app: App, wp: FakeWordPress) -> None:
    """Two stories, polled, planned and sent."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    wp.put(1, "Bridge reopens", date=now)
    wp.put(2, "Council votes", date=now + timedelta(seconds=1))
    app.sync()
    assert app.poll("wp").new == 2
    app.plan_pending()
    app.dispatcher.run_until_idle()
    statuses = {p.status for p in app.store.list_posts()}
    assert statuses == {PostStatus.PUBLISHED}, app.store.list_posts()


def _requests(wp: FakeWordPress) -> int:
    return len([r for r in wp.requests if r.method == "GET"])


def test_an_article_moved_to_draft_is_noticed_once(build, wp, masto, caplog) -> None:
    app = build(wp_feed(wp), masto)
    _published(app, wp)
    assert _requests(wp) == 1  # every recent article listed: no extra request
    two = _by_guid(app, f"{wp.base_url}/?p=2")
    with wp.lock:
        wp.posts[2]["status"] = "draft"
    with caplog.at_level(logging.WARNING, logger="publisher.ingest"):
        report = app.poll("wp")
    assert report.unpublished == (two.id,)
    assert _requests(wp) == 3  # the list, and one include= request for the one missing
    assert (f"article {two.id} unpublished on the site; `publisher retract {two.id}` to take "
            "its posts down") in caplog.text
    assert _by_guid(app, f"{wp.base_url}/?p=2").unpublished_at is not None
    assert not _by_guid(app, f"{wp.base_url}/?p=2").retracted  # a notice only
    assert len(masto.statuses) == 2 and masto.deleted == []
    notice = (f"article {two.id} unpublished on the site; `publisher retract {two.id}` to take "
              "its posts down")
    assert notice in status(app).problems
    # noticed once: the next poll asks nothing more
    wp.put(3, "Third story")
    app.poll("wp")
    assert _requests(wp) == 4


def test_unsent_posts_of_an_unpublished_article_are_cancelled(build, wp, masto,
                                                               caplog) -> None:
    app = build(wp_feed(wp), masto)
    now = datetime.now(UTC) - timedelta(minutes=5)
    wp.put(1, "Bridge reopens", date=now)
    app.sync()
    app.poll("wp")
    app.plan_pending()  # planned, not sent
    with wp.lock:
        wp.posts[1]["status"] = "trash"
    wp.put(2, "Another story", date=now + timedelta(seconds=5))  # the list changes too
    with caplog.at_level(logging.WARNING, logger="publisher.ingest"):
        report = app.poll("wp")
    one = _by_guid(app, f"{wp.base_url}/?p=1")
    assert report.unpublished == (one.id,)
    assert {p.status for p in app.store.article_posts(one.id)} == {PostStatus.CANCELLED}
    assert (f"article {one.id} unpublished on the site: none of its posts was out; 2 cancelled"
            in caplog.text)
    assert "publisher retract" not in caplog.text


def test_an_article_never_posted_is_noticed_quietly(build, wp, masto, caplog) -> None:
    app = build(wp_feed(wp).replace("backfill = 5", "backfill = 0"), masto)
    wp.put(1, "Seen on the first poll", date=datetime.now(UTC) - timedelta(minutes=5))
    app.sync()
    assert app.poll("wp").seen == 1  # the first poll only remembers it
    with wp.lock:
        wp.posts[1]["status"] = "private"
    wp.put(2, "Another story")
    with caplog.at_level(logging.WARNING, logger="publisher.ingest"):
        report = app.poll("wp")
    assert len(report.unpublished) == 1
    assert "unpublished" not in caplog.text


def test_on_unpublish_retract_takes_the_posts_down(build, wp, masto) -> None:
    app = build(wp_feed(wp, "retract"), masto)
    _published(app, wp)
    with wp.lock:
        del wp.posts[1]  # deleted for good: the REST API has it no more
    report = app.poll("wp")
    one = _by_guid(app, f"{wp.base_url}/?p=1")
    assert report.unpublished == (one.id,)
    assert one.retracted
    app.dispatcher.run_until_idle()
    assert [s.text for s in masto.deleted] and "Bridge reopens" in masto.deleted[0].text
    assert [s.text for s in masto.statuses if "Council votes" in s.text]
    statuses = {p.channel: p.status for p in app.store.article_posts(one.id)}
    assert statuses["masto"] is PostStatus.RETRACTED
    assert not [p for p in status(app).problems if "unpublished" in p]


def test_a_changed_title_is_stored_and_the_post_edited(build, wp, masto) -> None:
    app = build(wp_feed(wp), masto)
    _published(app, wp)
    with wp.lock:
        post = wp.posts[1]
        post["title"] = {"rendered": "Bridge reopens on Monday"}
        post["modified_gmt"] = (datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    report = app.poll("wp")
    one = _by_guid(app, f"{wp.base_url}/?p=1")
    assert report.changed == (one.id,) and report.unpublished == ()
    assert one.data.title == "Bridge reopens on Monday"
    app.dispatcher.run_until_idle()
    [edited] = [s for s in masto.statuses if "Bridge" in s.text]
    assert "Bridge reopens on Monday" in edited.text and edited.edited_at is not None
    [untouched] = [s for s in masto.statuses if "Council" in s.text]
    assert untouched.edited_at is None


def test_a_change_is_ignored_by_channels_set_to_ignore(build, wp, masto) -> None:
    app = build(wp_feed(wp), masto, on_update="ignore")
    _published(app, wp)
    with wp.lock:
        wp.posts[1]["title"] = {"rendered": "Bridge reopens on Monday"}
        wp.posts[1]["modified_gmt"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert app.poll("wp").changed
    app.dispatcher.run_until_idle()
    assert all(s.edited_at is None for s in masto.statuses)
    assert _by_guid(app, f"{wp.base_url}/?p=1").data.title == "Bridge reopens on Monday"


def test_an_rss_item_whose_title_changes_is_a_correction(build, masto) -> None:
    with FeedServer() as srv:
        feed = f'[[feeds]]\nname = "rss"\nurl = "{srv.url("/feed")}"\nbackfill = 5\n'
        app = build(feed, masto)
        when = datetime.now(UTC) - timedelta(minutes=5)
        srv.set("/feed", rss([item(1, title="Bridge reopens", published=when)]))
        app.sync()
        assert app.poll("rss").new == 1
        app.plan_pending()
        app.dispatcher.run_until_idle()
        srv.set("/feed", rss([item(1, title="Bridge reopens on Monday", published=when)]))
        report = app.poll("rss")
        assert len(report.changed) == 1 and report.unpublished == ()
        article = app.store.get_article(report.changed[0])
        assert article.data.title == "Bridge reopens on Monday"
        assert article.state is ArticleState.PLANNED
        app.dispatcher.run_until_idle()
        [status] = masto.statuses
        assert "Bridge reopens on Monday" in status.text
        # an RSS feed that drops the item says nothing: no notice, nothing cancelled
        srv.set("/feed", rss([]))
        assert app.poll("rss").unpublished == ()
