"""Timing rules through the dispatcher, the real store and an injected clock
in the site's time zone (America/New_York), across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.types import ArticleData, ArticleState, NewPost, PostStatus, Priority
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]

SCHEDULE = """
[site]
timezone = "America/New_York"

[channels.x]
type = "jsonl"
max_age = "{max_age}"

[channels.x.timing]
{timing}

[[recurring]]
name = "evergreen"
cron = "0 9 * * *"
channels = ["x"]
text = "Sign up for the morning newsletter: https://news.example/newsletter"

[[recurring]]
name = "explainers"
cron = "0 12 * * sat"
channels = ["x"]
urls = ["https://news.example/explainer-a", "https://news.example/explainer-b"]
"""


@pytest.fixture
def build(store, tmp_path):
    apps = []

    def make(timing: str, *, start: datetime, max_age: str = "3d"):
        (tmp_path / "schedules").mkdir(exist_ok=True)
        (tmp_path / "schedules" / "site.toml").write_text(
            SCHEDULE.format(timing=timing, max_age=max_age))
        clock = FakeClock(start)
        channel = ScriptedChannel("x", clock=clock)
        app = make_app(Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                                env_file=tmp_path / ".env"),
                       store=store, environ={}, clock=clock, channels={"x": channel})
        apps.append(app)
        return app, clock, channel

    yield make
    for app in apps:
        app.dispatcher.stop(grace=1)
        app.fetcher.close()


def queue(app, clock, n: int, *, priority=Priority.NORMAL, hours: float = 72) -> list[int]:
    return app.store.add_posts(
        [NewPost(channel="x", text=f"post {i} {priority}", link=f"https://news.example/{i}",
                 priority=priority, expires_at=clock() + timedelta(hours=hours))
         for i in range(n)], article_id=None, now=clock())


def statuses(app, ids):
    return [app.store.get_post(i).status for i in ids]


def test_daily_cap_resets_at_local_midnight_on_a_dst_day(build):
    # 2026-11-01 is the day New York falls back: midnight on the 2nd is 05:00 UTC.
    app, clock, _channel = build("per_day = 2", start=datetime(2026, 11, 1, 20, tzinfo=UTC))
    ids = queue(app, clock, 3)
    app.dispatcher.run_until_idle()
    assert statuses(app, ids).count(PostStatus.PUBLISHED) == 2
    gate = app.gates()["x"]
    assert gate.reason == "daily cap 2/2, next slot Mon 00:00"
    assert gate.until == datetime(2026, 11, 2, 5, tzinfo=UTC)
    clock.set(datetime(2026, 11, 2, 4, 59, tzinfo=UTC))  # 23:59 EST
    app.dispatcher.run_until_idle()
    assert statuses(app, ids).count(PostStatus.PUBLISHED) == 2
    clock.set(datetime(2026, 11, 2, 5, 0, tzinfo=UTC))
    app.dispatcher.run_until_idle()
    assert statuses(app, ids) == [PostStatus.PUBLISHED] * 3


def test_quiet_hours_hold_normal_posts_and_let_breaking_news_through(build):
    app, clock, _channel = build('quiet_hours = ["23:00-06:00"]',
                                start=datetime(2026, 11, 26, 7, tzinfo=UTC))  # 02:00
    [normal] = queue(app, clock, 1)
    [breaking] = queue(app, clock, 1, priority=Priority.BREAKING)
    app.dispatcher.run_until_idle()
    assert app.store.get_post(breaking).status is PostStatus.PUBLISHED
    assert app.store.get_post(normal).status is PostStatus.QUEUED
    assert app.gates()["x"].reason == "quiet hours until 06:00 America/New_York"
    clock.set(datetime(2026, 11, 26, 11, tzinfo=UTC))  # 06:00
    app.dispatcher.run_until_idle()
    assert app.store.get_post(normal).status is PostStatus.PUBLISHED


def test_spacing_releases_one_post_per_slot_newest_first(build):
    app, clock, _channel = build('min_spacing = "10m"\norder = "newest"',
                                start=datetime(2026, 11, 26, 15, tzinfo=UTC))
    ids = queue(app, clock, 1)
    clock.advance(1)
    ids += queue(app, clock, 1)
    clock.advance(1)
    ids += queue(app, clock, 1)
    app.dispatcher.run_until_idle()
    assert statuses(app, ids) == [PostStatus.QUEUED, PostStatus.QUEUED, PostStatus.PUBLISHED]
    clock.advance(599)
    app.dispatcher.run_until_idle()
    assert statuses(app, ids).count(PostStatus.PUBLISHED) == 1
    clock.advance(1)
    app.dispatcher.run_until_idle()
    assert statuses(app, ids) == [PostStatus.QUEUED, PostStatus.PUBLISHED, PostStatus.PUBLISHED]


def test_a_post_that_would_go_out_after_its_max_age_fails_as_stale(build):
    app, clock, _channel = build("per_day = 1", start=datetime(2026, 11, 26, 15, tzinfo=UTC))
    [first] = queue(app, clock, 1)
    app.dispatcher.run_until_idle()
    [late] = queue(app, clock, 1, hours=2)  # the next slot is midnight: too late
    [later] = queue(app, clock, 1, hours=48)
    assert app.dispatcher.expire_stale() == 1
    post = app.store.get_post(late)
    assert post.status is PostStatus.FAILED and post.last_error.startswith("stale")
    assert app.store.get_post(later).status is PostStatus.QUEUED
    assert app.store.get_post(first).status is PostStatus.PUBLISHED


def test_monthly_spend_is_estimated(build):
    app, clock, _channel = build("cost_per_post = 0.01\ncost_per_link_post = 0.2",
                                start=datetime(2026, 11, 26, 15, tzinfo=UTC))
    queue(app, clock, 3)
    app.store.add_posts([NewPost(channel="x", text="no link")], article_id=None, now=clock())
    app.dispatcher.run_until_idle()
    spent = app.spend("x")
    assert (round(spent.today, 2), round(spent.month, 2)) == (0.61, 0.61)


def test_a_recurring_post_fired_twice_in_a_minute_is_queued_once(build):
    app, clock, _channel = build("", start=datetime(2026, 11, 26, 14, tzinfo=UTC))
    first = app.add_recurring("evergreen")
    again = app.add_recurring("evergreen", clock() + timedelta(seconds=20))
    assert len(first) == 1 and again == []
    app.dispatcher.run_until_idle()
    [post] = app.store.list_posts()
    assert post.status is PostStatus.PUBLISHED and post.created_by == "recurring:evergreen"
    assert post.priority is Priority.LOW


def test_a_rotation_of_article_urls_takes_them_in_turn(build):
    app, clock, _channel = build("", start=datetime(2026, 11, 26, 14, tzinfo=UTC))
    app.store.add_articles(None, [
        ArticleData(guid=f"g-{k}", url=f"https://news.example/explainer-{k}",
                    title=f"Explainer {k.upper()}: how the budget works")
        for k in "ab"], state=ArticleState.SEEN, now=clock())
    for _ in range(3):
        assert len(app.add_recurring("explainers")) == 1
        clock.advance(7 * 86400)
    links = [p.link for p in sorted(app.store.list_posts(), key=lambda p: p.id)]
    assert links == ["https://news.example/explainer-a", "https://news.example/explainer-b",
                     "https://news.example/explainer-a"]
