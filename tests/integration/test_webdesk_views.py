"""The desk's own queries (``publisher.store.desk_views``) on SQLite and
PostgreSQL: activity counted by the database per local day, the delay from an
article's publication to its post, the week's marks and the queue by due
time with the article's feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.store import Store
from publisher.store.desk_views import DeskViews
from publisher.types import ArticleData, ArticleState, NewPost, PostStatus

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _article(store: Store, n: int, published: datetime, feed: str | None = None) -> int:
    [a] = store.add_articles(feed, [ArticleData(f"g{n}", f"https://n.example/{n}", f"T{n}",
                                                published=published)],
                             state=ArticleState.PLANNED, now=T0)
    return a.id


def test_activity_is_counted_per_day_with_the_delay(store: Store) -> None:
    views = DeskViews(store)
    day = timedelta(days=1)
    bounds = [T0 - 3 * day, T0 - 2 * day, T0 - day, T0]
    made = []
    for n, (channel, status, at, lag) in enumerate([
        ("x", PostStatus.PUBLISHED, T0 - 2.5 * day, timedelta(minutes=4)),
        ("x", PostStatus.PUBLISHED, T0 - 2.4 * day, timedelta(minutes=10)),
        ("x", PostStatus.FAILED, T0 - 0.5 * day, None),
        ("m", PostStatus.PUBLISHED, T0 - 0.2 * day, timedelta(minutes=1)),
        ("m", PostStatus.PUBLISHED, T0 - 5 * day, timedelta(minutes=1)),  # before the window
    ]):
        article = _article(store, n, at - lag) if lag is not None else None
        [pid] = store.add_posts([NewPost(channel, f"p{n}")], article_id=article, now=T0)
        assert store.set_post_status(pid, status, now=at)
        made.append(pid)
    counts = sorted(views.activity_counts(bounds=bounds))
    assert counts == [("m", PostStatus.PUBLISHED, 2, 1), ("x", PostStatus.FAILED, 2, 1),
                      ("x", PostStatus.PUBLISHED, 0, 2)]
    delays = sorted((c, round(s)) for c, s in views.publish_delays(since=bounds[0]))
    assert delays == [("m", 60), ("x", 240), ("x", 600)]


def test_week_marks_and_the_queue_by_due_time(store: Store) -> None:
    views = DeskViews(store)
    a = _article(store, 1, T0, feed="site")
    later = store.add_posts([NewPost("x", "later", not_before=T0 + timedelta(hours=5))],
                            article_id=None, now=T0)[0]
    sooner = store.add_posts([NewPost("x", "sooner", not_before=T0 + timedelta(hours=1),
                                      status=PostStatus.DRAFT)], article_id=a, now=T0)[0]
    beyond = store.add_posts([NewPost("m", "beyond", not_before=T0 + timedelta(days=9))],
                             article_id=None, now=T0)[0]
    marks = views.due_marks(until=T0 + timedelta(days=7))
    assert [(m[0], m[2]) for m in marks] == [(sooner, PostStatus.DRAFT),
                                             (later, PostStatus.QUEUED)]
    queue = views.upcoming(statuses=[PostStatus.DRAFT, PostStatus.QUEUED], channels=None)
    assert [(item.id, feed) for item, feed in queue] == [(sooner, "site"), (later, None),
                                                         (beyond, None)]
    only_site = views.upcoming(statuses=[PostStatus.DRAFT, PostStatus.QUEUED], channels=["x"],
                               feed="site")
    assert [item.id for item, _ in only_site] == [sooner]
