"""The store's queries, on SQLite and on PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from publisher.exceptions import NotFoundError, StoreError
from publisher.store import FeedSpec, Store
from publisher.store.api import Finish
from publisher.store.schema import UTCDateTime
from publisher.types import (
    ArticleData,
    ArticleState,
    FeedKind,
    Image,
    NewPost,
    Outcome,
    PostStatus,
    Priority,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = 60.0


def art(n: int, **kw: object) -> ArticleData:
    values: dict[str, object] = {
        "guid": f"guid-{n}", "url": f"https://news.example/a/{n}", "title": f"Title {n}",
        "summary": f"Summary {n}", "published": NOW - timedelta(minutes=100 - n),
    }
    values.update(kw)
    return ArticleData(**values)  # type: ignore[arg-type]


def article_id(store: Store, n: int = 1, **kw: object) -> int:
    [a] = store.add_articles("feed", [art(n, **kw)], state=ArticleState.PENDING, now=NOW)
    return a.id


def post(channel: str = "x", **kw: object) -> NewPost:
    return NewPost(channel=channel, text=kw.pop("text", f"text for {channel}"),  # type: ignore[arg-type]
                   **kw)  # type: ignore[arg-type]


def queue(store: Store, channel: str = "x", n: int = 1, **kw: object) -> int:
    """One queued post of a fresh article; returns its id."""
    [pid] = store.save_plan(article_id(store, n), [post(channel, **kw)], now=NOW)
    return pid


# -- datetimes ---------------------------------------------------------------


def test_datetime_round_trip_is_aware_utc(store: Store) -> None:
    cest = timezone(timedelta(hours=2))
    local = datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=cest)
    store.heartbeat("w1", now=local, host="h", pid=1)
    [w] = store.workers()
    assert w.started_at == local
    assert w.started_at.tzinfo is UTC
    assert w.started_at.hour == 12 and w.started_at.microsecond == 123456

    [a] = store.add_articles(None, [art(1, published=local)], state=ArticleState.PENDING,
                             now=local)
    got = store.get_article(a.id)
    assert got.data.published == local and got.data.published.tzinfo is UTC
    assert got.first_seen.tzinfo is UTC
    assert a == got


def test_naive_datetime_raises(store: Store) -> None:
    naive = datetime(2026, 5, 1, 12, 0)
    with pytest.raises(ValueError, match="naive"):
        store.heartbeat("w1", now=naive, host="h", pid=1)
    with pytest.raises(ValueError, match="naive"):
        store.add_articles("f", [art(1, published=naive)], state=ArticleState.PENDING, now=NOW)
    with pytest.raises(ValueError, match="naive"):
        store.due_feeds(now=naive)
    aid = article_id(store)
    with pytest.raises(ValueError, match="naive"):
        store.save_plan(aid, [post(not_before=naive)], now=NOW)
    assert store.known(["guid-1"], []) == ({"guid-1"}, set())


def test_utc_type_rejects_naive_at_bind_time() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    t = UTCDateTime()
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        with pytest.raises(ValueError, match="naive"):
            t.process_bind_param(datetime(2026, 1, 1), dialect)
    stored = t.process_bind_param(datetime(2026, 1, 1, 3, tzinfo=timezone(timedelta(hours=2))),
                                  sqlite.dialect())
    assert stored == datetime(2026, 1, 1, 1)  # naive UTC in SQLite


# -- feeds -------------------------------------------------------------------


def test_feeds_sync_due_success_failure(store: Store) -> None:
    a = FeedSpec("a", "https://news.example/a.rss", FeedKind.RSS)
    b = FeedSpec("b", "https://news.example/wp-json", FeedKind.WORDPRESS)
    store.sync_feeds([a, b], now=NOW)
    assert [f.name for f in store.list_feeds()] == ["a", "b"]
    assert [f.name for f in store.due_feeds(now=NOW)] == ["a", "b"]
    assert store.get_feed("b").kind is FeedKind.WORDPRESS

    store.record_poll_success("a", now=NOW, etag='"e1"', last_modified="Wed, 01 May 2026",
                              body_hash="h1", next_poll_at=NOW + timedelta(minutes=5))
    fa = store.get_feed("a")
    assert (fa.etag, fa.last_modified, fa.body_hash, fa.seeded) == (
        '"e1"', "Wed, 01 May 2026", "h1", True)
    assert fa.last_poll_at == fa.last_success_at == NOW
    assert fa.next_poll_at == NOW + timedelta(minutes=5)
    assert [f.name for f in store.due_feeds(now=NOW + timedelta(minutes=1))] == ["b"]
    assert {f.name for f in store.due_feeds(now=NOW + timedelta(minutes=5))} == {"a", "b"}

    later = NOW + timedelta(minutes=1)
    assert store.record_poll_failure("b", now=later, error="HTTP 503",
                                     next_poll_at=later + timedelta(minutes=2)) == 1
    assert store.record_poll_failure("b", now=later, error="HTTP 502",
                                     next_poll_at=later + timedelta(minutes=4)) == 2
    fb = store.get_feed("b")
    assert (fb.last_error, fb.error_count, fb.last_poll_at, fb.last_success_at) == (
        "HTTP 502", 2, later, None)
    store.record_poll_success("b", now=later, etag=None, last_modified=None, body_hash="x",
                              next_poll_at=later)
    fb = store.get_feed("b")
    assert (fb.last_error, fb.error_count, fb.seeded) == (None, 0, True)

    # kind change keeps state; a url change resets validators and seeding
    store.sync_feeds([FeedSpec("a", a.url, FeedKind.WORDPRESS), b], now=later)
    fa = store.get_feed("a")
    assert fa.kind is FeedKind.WORDPRESS and fa.etag == '"e1"' and fa.seeded
    store.sync_feeds([FeedSpec("a", "https://news.example/new.rss", FeedKind.RSS), b], now=later)
    fa = store.get_feed("a")
    assert (fa.url, fa.etag, fa.last_modified, fa.body_hash, fa.seeded, fa.next_poll_at) == (
        "https://news.example/new.rss", None, None, None, False, later)
    assert fa.last_success_at == NOW  # history stays

    # a feed that leaves the configuration is kept, but neither listed nor due
    store.sync_feeds([b], now=later)
    assert [f.name for f in store.list_feeds()] == ["b"]
    assert "a" not in {f.name for f in store.due_feeds(now=later + timedelta(days=1))}
    assert store.get_feed("a").last_success_at == NOW
    store.sync_feeds([a, b], now=later)
    assert [f.name for f in store.list_feeds()] == ["a", "b"]


def test_unknown_feed(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_feed("nope")
    with pytest.raises(NotFoundError):
        store.record_poll_success("nope", now=NOW, etag=None, last_modified=None,
                                  body_hash=None, next_poll_at=NOW)
    with pytest.raises(NotFoundError):
        store.record_poll_failure("nope", now=NOW, error="x", next_poll_at=NOW)


# -- articles ----------------------------------------------------------------


def test_add_articles_round_trip(store: Store) -> None:
    item = art(1, author="Ana", categories=("Politics", "World"), tags=("eu",),
               updated=NOW, image=Image("https://img.example/1.jpg", "A crowd"))
    [a] = store.add_articles("site", [item], state=ArticleState.PENDING, now=NOW)
    assert a.feed == "site" and a.state is ArticleState.PENDING and a.first_seen == NOW
    assert a.data == item
    assert store.get_article(a.id) == a
    assert store.find_article(item.url) == a
    assert store.find_article("https://news.example/none") is None
    [b] = store.add_articles(None, [art(2)], state=ArticleState.SEEN, now=NOW)
    got = store.get_article(b.id)
    assert got.feed is None and got.data.image is None and got.data.categories == ()
    with pytest.raises(NotFoundError):
        store.get_article(10_000)


def test_known_and_dedupe_by_guid_and_url_across_feeds(store: Store) -> None:
    first = store.add_articles("a", [art(1), art(2)], state=ArticleState.PENDING, now=NOW)
    assert [x.data.guid for x in first] == ["guid-1", "guid-2"]
    assert store.known(["guid-1", "guid-9"], ["https://news.example/a/2", "https://x/"]) == (
        {"guid-1"}, {"https://news.example/a/2"})

    batch = [
        art(3),
        art(1, url="https://news.example/other"),  # same guid, other url
        art(4, url="https://news.example/a/2"),  # other guid, known url
        art(5),
        art(3, guid="guid-3b"),  # repeats art(3)'s url within the batch
        art(5),  # repeated within the batch
    ]
    added = store.add_articles("b", batch, state=ArticleState.PENDING, now=NOW)
    assert [(x.feed, x.data.guid) for x in added] == [("b", "guid-3"), ("b", "guid-5")]
    assert store.add_articles("c", batch, state=ArticleState.PENDING, now=NOW) == []
    assert store.add_articles("c", [], state=ArticleState.PENDING, now=NOW) == []


def test_known_is_batched_over_many(store: Store) -> None:
    items = [art(i) for i in range(1, 1201)]
    added = store.add_articles("a", items, state=ArticleState.SEEN, now=NOW)
    assert [x.data.guid for x in added] == [x.guid for x in items]
    guids, urls = store.known([x.guid for x in items] + ["nope"], [x.url for x in items])
    assert len(guids) == len(urls) == 1200


def test_concurrent_add_inserts_once(store: Store) -> None:
    items = [art(i) for i in range(1, 51)]
    barrier = threading.Barrier(2)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def add(feed: str) -> None:
        try:
            barrier.wait()
            got = store.add_articles(feed, items, state=ArticleState.PENDING, now=NOW)
            results.append([a.data.guid for a in got])
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=add, args=(f,)) for f in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results[0] + results[1]) == sorted(x.guid for x in items)
    assert len(store.pending_articles(limit=1000)) == 50


def test_pending_and_mark(store: Store) -> None:
    older = store.add_articles("a", [art(1)], state=ArticleState.PENDING, now=NOW)[0]
    newer = store.add_articles("a", [art(2)], state=ArticleState.PENDING, now=NOW)[0]
    store.add_articles("a", [art(3)], state=ArticleState.SEEN, now=NOW)
    assert [a.id for a in store.pending_articles()] == [newer.id, older.id]
    assert [a.id for a in store.pending_articles(limit=1)] == [newer.id]
    store.mark_articles([newer.id], ArticleState.SEEN)
    assert [a.id for a in store.pending_articles()] == [older.id]
    assert store.get_article(newer.id).state is ArticleState.SEEN


# -- planning ----------------------------------------------------------------


def test_save_plan_and_unique_article_channel(store: Store) -> None:
    aid = article_id(store)
    later = NOW + timedelta(hours=1)
    ids = store.save_plan(aid, [post("x"), post("facebook", not_before=later,
                                                 priority=Priority.BREAKING,
                                                 image=Image("https://i/1.jpg", "alt"),
                                                 link="https://news.example/a/1")], now=NOW)
    assert len(ids) == 2
    assert store.get_article(aid).state is ArticleState.PLANNED
    x, fb = (store.get_post(i) for i in ids)
    assert (x.channel, x.status, x.not_before, x.attempts, x.article_id) == (
        "x", PostStatus.QUEUED, NOW, 0, aid)
    assert x.title == "Title 1" and x.summary == "Summary 1"
    assert fb.not_before == later and fb.priority is Priority.BREAKING
    assert fb.image == Image("https://i/1.jpg", "alt") and fb.link == "https://news.example/a/1"
    assert len(x.idempotency_key) == 32 and x.idempotency_key != fb.idempotency_key

    # a channel the article already has is skipped, not an error
    again = store.save_plan(aid, [post("x", text="other"), post("mastodon")], now=NOW)
    assert len(again) == 1 and store.get_post(again[0]).channel == "mastodon"
    assert store.get_post(ids[0]).text == "text for x"
    with pytest.raises(NotFoundError):
        store.save_plan(10_000, [post("x")], now=NOW)


def test_save_plan_is_atomic(store: Store) -> None:
    aid = article_id(store)
    bad = NewPost(channel="facebook", text="t", status="bogus")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="constraint"):
        store.save_plan(aid, [post("x"), bad, post("mastodon")], now=NOW)
    assert store.list_posts() == []
    assert store.get_article(aid).state is ArticleState.PENDING
    with pytest.raises(ValueError):
        store.save_plan(aid, [post("x"), post("y", expires_at=datetime(2026, 1, 1))], now=NOW)
    assert store.list_posts() == []
    assert store.get_article(aid).state is ArticleState.PENDING
    assert len(store.save_plan(aid, [post("x"), post("y")], now=NOW)) == 2


def test_add_posts_by_editor(store: Store) -> None:
    [pid] = store.add_posts([post("x", created_by="editor:ana", status=PostStatus.DRAFT,
                                  template="manual")], article_id=None, now=NOW)
    p = store.get_post(pid)
    assert (p.article_id, p.title, p.summary, p.created_by, p.status, p.template) == (
        None, "", "", "editor:ana", PostStatus.DRAFT, "manual")
    # two text-only posts on one channel are fine (no article, no uniqueness)
    assert len(store.add_posts([post("x"), post("x")], article_id=None, now=NOW)) == 2
    aid = article_id(store)
    [withart] = store.add_posts([post("x")], article_id=aid, now=NOW)
    assert store.get_post(withart).title == "Title 1"
    assert store.add_posts([post("x")], article_id=aid, now=NOW) == []
    with pytest.raises(NotFoundError):
        store.add_posts([post("x")], article_id=10_000, now=NOW)
    with pytest.raises(NotFoundError):
        store.get_post(10_000)


def test_list_posts_and_next_due(store: Store) -> None:
    assert store.next_due() is None
    a = queue(store, "x", 1, not_before=NOW + timedelta(minutes=30))
    b = queue(store, "facebook", 2, not_before=NOW + timedelta(minutes=10))
    [c] = store.add_posts([post("x", status=PostStatus.DRAFT)], article_id=None,
                          now=NOW + timedelta(minutes=1))
    assert store.next_due() == NOW + timedelta(minutes=10)
    assert store.next_due(channels=["x"]) == NOW + timedelta(minutes=30)
    assert store.next_due(channels=[]) is None
    assert [p.id for p in store.list_posts()] == [c, b, a]
    assert [p.id for p in store.list_posts(statuses=[PostStatus.QUEUED])] == [b, a]
    assert [p.id for p in store.list_posts(channels=["x"])] == [c, a]
    assert [p.id for p in store.list_posts(since=NOW + timedelta(seconds=30))] == [c]
    assert [p.id for p in store.list_posts(limit=1)] == [c]


# -- claims and attempts -----------------------------------------------------


def test_claim_order_and_filters(store: Store) -> None:
    t = NOW - timedelta(minutes=10)
    low_early = queue(store, "x", 1, not_before=t, priority=Priority.LOW)
    normal_late = queue(store, "x", 2, not_before=t + timedelta(minutes=5))
    normal_early = queue(store, "x", 3, not_before=t + timedelta(minutes=1))
    breaking_late = queue(store, "x", 4, not_before=t + timedelta(minutes=9),
                          priority=Priority.BREAKING)
    future = queue(store, "x", 5, not_before=NOW + timedelta(seconds=1))
    other_channel = queue(store, "facebook", 6, not_before=t)
    store.add_posts([post("x", status=PostStatus.DRAFT)], article_id=None, now=t)

    got = store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=10, channels=["x"])
    assert [p.id for p in got] == [breaking_late, normal_early, normal_late, low_early]
    for p in got:
        assert (p.status, p.lease_owner, p.lease_expires_at) == (
            PostStatus.PUBLISHING, "w1", NOW + timedelta(seconds=LEASE))
        assert store.get_post(p.id) == p
    # leased ones are not claimed again, future and other channels not at all
    assert store.claim_due(now=NOW, worker="w2", lease_seconds=LEASE, limit=10,
                           channels=["x"]) == []
    assert [p.id for p in store.claim_due(now=NOW + timedelta(seconds=1), worker="w2",
                                          lease_seconds=LEASE, limit=10,
                                          channels=["x", "facebook"])] == [other_channel, future]
    assert store.claim_due(now=NOW, worker="w2", lease_seconds=LEASE, limit=10,
                           channels=[]) == []


def test_claim_limit(store: Store) -> None:
    ids = [queue(store, "x", n) for n in range(1, 6)]
    first = store.claim_due(now=NOW, worker="w", lease_seconds=LEASE, limit=2, channels=["x"])
    rest = store.claim_due(now=NOW, worker="w", lease_seconds=LEASE, limit=10, channels=["x"])
    assert [p.id for p in first + rest] == ids


def test_attempt_publish_cycle(store: Store) -> None:
    pid = queue(store, "x", link="https://news.example/a/1")
    [p] = store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None
    assert (att.number, att.outcome, att.post_id, att.channel, att.worker) == (
        1, Outcome.STARTED, pid, "x", "w1")
    assert att.article_url == "https://news.example/a/1"
    assert store.get_post(pid).attempts == 1

    # a transient failure: waiting until next_attempt_at
    retry_at = NOW + timedelta(minutes=2)
    assert store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.RETRYING,
                                post_status=PostStatus.WAITING, next_attempt_at=retry_at,
                                http_status=503, error="HTTP 503")
    p = store.get_post(pid)
    assert (p.status, p.next_attempt_at, p.last_error, p.lease_owner) == (
        PostStatus.WAITING, retry_at, "HTTP 503", None)
    assert store.next_due() == retry_at
    assert store.claim_due(now=NOW + timedelta(minutes=1), worker="w1", lease_seconds=LEASE,
                           limit=5, channels=["x"]) == []

    t2 = retry_at + timedelta(seconds=1)
    [p] = store.claim_due(now=t2, worker="w2", lease_seconds=LEASE, limit=5, channels=["x"])
    att2 = store.start_attempt(pid, worker="w2", now=t2)
    assert att2 is not None and att2.number == 2
    assert store.finish_attempt(att2.id, worker="w2", now=t2, outcome=Outcome.OK,
                                post_status=PostStatus.PUBLISHED, http_status=201,
                                remote_id="123", remote_url="https://x.example/s/123")
    p = store.get_post(pid)
    assert (p.status, p.remote_id, p.remote_url, p.published_at, p.last_error, p.attempts) == (
        PostStatus.PUBLISHED, "123", "https://x.example/s/123", t2, None, 2)
    log = store.attempts(post_id=pid)
    assert [(a.number, a.outcome, a.http_status) for a in log] == [
        (2, Outcome.OK, 201), (1, Outcome.RETRYING, 503)]
    assert log[0].finished_at == t2 and log[0].remote_id == "123"
    def published_since(channel: str, since: datetime) -> int:
        return store.publish_stats(channel, hour_start=since, day_start=since,
                                   month_start=since).last_hour

    assert published_since("x", t2) == 1
    assert published_since("x", t2 + timedelta(seconds=1)) == 0
    assert published_since("facebook", NOW) == 0
    # a finished post cannot start again
    assert store.start_attempt(pid, worker="w2", now=t2) is None


def test_start_attempt_needs_the_lease(store: Store) -> None:
    pid = queue(store)
    assert store.start_attempt(pid, worker="w1", now=NOW) is None  # not claimed
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    assert store.start_attempt(pid, worker="w2", now=NOW) is None  # someone else's
    expired = NOW + timedelta(seconds=LEASE)
    assert store.start_attempt(pid, worker="w1", now=expired) is None  # lease ran out
    assert store.get_post(pid).attempts == 0
    assert store.attempts(post_id=pid) == []


def test_lease_fencing_after_take_over(store: Store) -> None:
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None

    # not expired yet: nothing to take over
    assert store.take_over_expired(now=NOW + timedelta(seconds=30), worker="w2",
                                   lease_seconds=LEASE) == []
    t = NOW + timedelta(seconds=LEASE + 1)
    [exp] = store.take_over_expired(now=t, worker="w2", lease_seconds=LEASE)
    assert exp.post.id == pid and exp.post.lease_owner == "w2"
    assert exp.post.lease_expires_at == t + timedelta(seconds=LEASE)
    assert exp.post.status is PostStatus.PUBLISHING
    assert exp.last_attempt is not None
    assert (exp.last_attempt.id, exp.last_attempt.outcome, exp.last_attempt.error) == (
        att.id, Outcome.AMBIGUOUS, "lease expired")
    assert store.attempts(post_id=pid)[0] == exp.last_attempt
    assert store.get_post(pid) == exp.post

    # the old worker's late failure cannot touch the post...
    assert not store.finish_attempt(att.id, worker="w1", now=t, outcome=Outcome.RETRYING,
                                    post_status=PostStatus.WAITING, error="HTTP 503")
    p = store.get_post(pid)
    assert (p.status, p.lease_owner, p.remote_id, p.published_at) == (
        PostStatus.PUBLISHING, "w2", None, None)
    assert store.start_attempt(pid, worker="w1", now=t) is None
    assert not store.set_post_status(pid, PostStatus.FAILED, worker="w1", now=t)
    # ...and the log keeps the AMBIGUOUS row and appends the late answer
    log = store.attempts(post_id=pid, after_id=0)
    assert [(a.outcome, a.number) for a in log] == [(Outcome.AMBIGUOUS, 1),
                                                     (Outcome.RETRYING, 1)]
    assert "late" in (log[1].error or "")


@pytest.mark.parametrize("holder_status", [PostStatus.PUBLISHING, PostStatus.WAITING,
                                           PostStatus.NEEDS_REVIEW, PostStatus.FAILED])
def test_a_late_ok_publishes_the_post_whoever_holds_it(store: Store,
                                                        holder_status: PostStatus) -> None:
    """The platform answered OK after the lease had passed on: the post is on
    the platform, so the new holder (or whatever it decided meanwhile) must
    not send it again."""
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None
    t = NOW + timedelta(seconds=LEASE + 1)
    [taken] = store.take_over_expired(now=t, worker="w2", lease_seconds=LEASE)
    assert taken.post.lease_owner == "w2"
    if holder_status is not PostStatus.PUBLISHING:
        assert store.set_post_status(pid, holder_status, worker="w2", now=t,
                                     next_attempt_at=t + timedelta(minutes=5)
                                     if holder_status is PostStatus.WAITING else None)
    assert store.finish_attempt(att.id, worker="w1", now=t, outcome=Outcome.OK,
                                post_status=PostStatus.PUBLISHED, remote_id="r1",
                                remote_url="https://x.example/r1")
    p = store.get_post(pid)
    assert (p.status, p.lease_owner, p.remote_id, p.remote_url, p.published_at,
            p.next_attempt_at) == (PostStatus.PUBLISHED, None, "r1", "https://x.example/r1",
                                   t, None)
    assert store.start_attempt(pid, worker="w2", now=t) is None  # w2 cannot send it now
    log = store.attempts(post_id=pid, after_id=0)
    assert [a.outcome for a in log] == [Outcome.AMBIGUOUS, Outcome.OK]
    assert "late" in (log[1].error or "")
    assert store.channel_states()["x"].last_success_at == t


def test_finish_after_lease_lost_to_editor(store: Store) -> None:
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None
    assert store.set_post_status(pid, PostStatus.CANCELLED, now=NOW)  # an editor, no CAS
    assert not store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.FAILED,
                                    post_status=PostStatus.FAILED, error="boom")
    assert store.get_post(pid).status is PostStatus.CANCELLED
    [a] = store.attempts(post_id=pid)
    assert (a.outcome, a.error, a.finished_at) == (Outcome.FAILED, "boom", NOW)
    with pytest.raises(NotFoundError):
        store.finish_attempt(10_000, worker="w1", now=NOW, outcome=Outcome.OK,
                             post_status=PostStatus.PUBLISHED)


def test_take_over_without_attempt(store: Store) -> None:
    queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    t = NOW + timedelta(seconds=LEASE)
    [exp] = store.take_over_expired(now=t, worker="w2", lease_seconds=LEASE)
    assert exp.last_attempt is None and exp.post.lease_owner == "w2"
    assert store.take_over_expired(now=t, worker="w3", lease_seconds=LEASE) == []


def test_take_over_returns_latest_finished_attempt(store: Store) -> None:
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None
    store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.RETRYING,
                         post_status=PostStatus.WAITING, next_attempt_at=NOW)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    t = NOW + timedelta(seconds=LEASE)
    [exp] = store.take_over_expired(now=t, worker="w2", lease_seconds=LEASE, limit=5)
    assert exp.last_attempt is not None and exp.last_attempt.outcome is Outcome.RETRYING


def test_release(store: Store) -> None:
    plain = queue(store, "x", 1)
    waiting = queue(store, "x", 2)
    started = queue(store, "x", 3)
    theirs = queue(store, "facebook", 4)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=10, channels=["x"])
    store.claim_due(now=NOW, worker="w2", lease_seconds=LEASE, limit=10, channels=["facebook"])
    # give "waiting" a retry time: finish an attempt as WAITING, then claim again
    a = store.start_attempt(waiting, worker="w1", now=NOW)
    assert a is not None
    retry = NOW + timedelta(seconds=5)
    store.finish_attempt(a.id, worker="w1", now=NOW, outcome=Outcome.RETRYING,
                         post_status=PostStatus.WAITING, next_attempt_at=retry)
    store.claim_due(now=retry, worker="w1", lease_seconds=LEASE, limit=10, channels=["x"])
    assert store.start_attempt(started, worker="w1", now=NOW) is not None

    assert store.release([plain, waiting, started, theirs], worker="w1") == 2
    assert store.get_post(plain).status is PostStatus.QUEUED
    assert store.get_post(waiting).status is PostStatus.WAITING
    assert store.get_post(plain).lease_owner is None
    assert store.get_post(started).status is PostStatus.PUBLISHING
    assert store.get_post(theirs).lease_owner == "w2"
    assert store.release([], worker="w1") == 0


def test_set_post_status_compare_and_set(store: Store) -> None:
    pid = queue(store, not_before=NOW)
    assert not store.set_post_status(pid, PostStatus.CANCELLED, expected=[PostStatus.DRAFT],
                                     now=NOW)
    assert store.get_post(pid).status is PostStatus.QUEUED
    assert store.set_post_status(pid, PostStatus.CANCELLED,
                                 expected=[PostStatus.QUEUED, PostStatus.WAITING], now=NOW,
                                 error="cancelled by ana")
    p = store.get_post(pid)
    assert (p.status, p.last_error) == (PostStatus.CANCELLED, "cancelled by ana")
    assert not store.set_post_status(pid, PostStatus.CANCELLED, expected=[], now=NOW)
    # retry later: due at next_attempt_at
    later = NOW + timedelta(hours=1)
    assert store.set_post_status(pid, PostStatus.WAITING, expected=[PostStatus.CANCELLED],
                                 now=NOW, next_attempt_at=later)
    assert store.next_due() == later
    assert store.set_post_status(pid, PostStatus.QUEUED, now=NOW)
    assert store.next_due() == NOW
    assert store.get_post(pid).last_error == "cancelled by ana"  # kept when not given
    with pytest.raises(NotFoundError):
        store.set_post_status(10_000, PostStatus.QUEUED, now=NOW)


def test_log_event(store: Store) -> None:
    pid = queue(store)
    ev = store.log_event(pid, worker="editor:ana", now=NOW, outcome=Outcome.FAILED,
                         error="stale")
    assert (ev.number, ev.post_id, ev.channel, ev.started_at, ev.finished_at, ev.error) == (
        0, pid, "x", NOW, NOW, "stale")
    assert ev.article_url == "https://news.example/a/1"
    assert store.attempts() == [ev]
    with pytest.raises(NotFoundError):
        store.log_event(10_000, worker="w", now=NOW, outcome=Outcome.FAILED)


# -- channels ----------------------------------------------------------------


def test_a_group_commit_moves_each_channels_health_once(store: Store) -> None:
    """Outcomes committed together leave each channel's health as if they
    had been committed one by one, in order."""
    ids = [queue(store, ch, n) for n, ch in enumerate(["x", "x", "x", "masto"], start=1)]
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=10, channels=["x", "masto"])
    started = store.start_attempts(ids, worker="w1", now=NOW)
    t = [NOW + timedelta(seconds=s) for s in range(4)]
    store.finish_attempts([
        Finish(started[ids[0]].id, "w1", t[0], Outcome.OK, PostStatus.PUBLISHED, remote_id="1"),
        Finish(started[ids[1]].id, "w1", t[1], Outcome.RETRYING, PostStatus.WAITING,
               next_attempt_at=t[3], error="HTTP 503"),
        Finish(started[ids[2]].id, "w1", t[2], Outcome.OK, PostStatus.PUBLISHED, remote_id="3"),
        Finish(started[ids[3]].id, "w1", t[3], Outcome.FAILED, PostStatus.FAILED,
               error="HTTP 422: too long"),
    ])
    x, masto = store.channel_states()["x"], store.channel_states()["masto"]
    assert (x.last_success_at, x.last_error, x.last_error_at) == (t[2], "HTTP 503", t[1])
    assert (masto.last_success_at, masto.last_error, masto.last_error_at) == (
        None, "HTTP 422: too long", t[3])
    assert [store.get_post(i).status for i in ids] == [
        PostStatus.PUBLISHED, PostStatus.WAITING, PostStatus.PUBLISHED, PostStatus.FAILED]


def test_channel_pause_and_rate_limit(store: Store) -> None:
    assert store.channel_states() == {}
    store.set_paused("x", paused=True, now=NOW, reason="token revoked", by="dispatcher",
                     auth_failed=True)
    x = store.channel_states()["x"]
    assert (x.paused, x.paused_reason, x.paused_by, x.paused_at, x.auth_failed) == (
        True, "token revoked", "dispatcher", NOW, True)
    store.set_paused("x", paused=False, now=NOW)
    x = store.channel_states()["x"]
    assert (x.paused, x.paused_reason, x.auth_failed, x.paused_at) == (False, None, False, None)

    store.set_rate_limited("facebook", NOW + timedelta(minutes=15))
    store.set_rate_limited("facebook", NOW + timedelta(minutes=5))  # never earlier
    assert store.channel_states()["facebook"].rate_limited_until == NOW + timedelta(minutes=15)
    store.set_rate_limited("facebook", NOW + timedelta(minutes=20))
    assert store.channel_states()["facebook"].rate_limited_until == NOW + timedelta(minutes=20)
    store.set_rate_limited("facebook", None)
    assert store.channel_states()["facebook"].rate_limited_until is None
    store.set_rate_limited("facebook", NOW)
    assert store.channel_states()["facebook"].rate_limited_until == NOW

    store.record_channel_result("mastodon", now=NOW, ok=False, error="HTTP 500")
    store.record_channel_result("mastodon", now=NOW + timedelta(minutes=1), ok=True)
    m = store.channel_states()["mastodon"]
    assert (m.last_error, m.last_error_at, m.last_success_at, m.paused) == (
        "HTTP 500", NOW, NOW + timedelta(minutes=1), False)
    assert list(store.channel_states()) == ["facebook", "mastodon", "x"]


def test_heartbeat_and_workers(store: Store) -> None:
    store.heartbeat("w1", now=NOW, host="a", pid=10)
    store.heartbeat("w1", now=NOW + timedelta(seconds=30), host="a", pid=10)
    store.heartbeat("w2", now=NOW + timedelta(seconds=40), host="b", pid=20, stopping=True)
    w2, w1 = store.workers()
    assert (w1.id, w1.started_at, w1.heartbeat_at, w1.stopped_at) == (
        "w1", NOW, NOW + timedelta(seconds=30), None)
    assert (w2.id, w2.host, w2.pid, w2.stopped_at) == ("w2", "b", 20, NOW + timedelta(seconds=40))


# -- the publish log and counts ----------------------------------------------


def test_attempts_filters_and_follow(store: Store) -> None:
    px = queue(store, "x", 1)
    pf = queue(store, "facebook", 2)
    ids = []
    for i, (pid, outcome) in enumerate([(px, Outcome.FAILED), (pf, Outcome.OK),
                                        (px, Outcome.NEEDS_REVIEW), (pf, Outcome.FAILED)]):
        ids.append(store.log_event(pid, worker="w", now=NOW + timedelta(minutes=i),
                                   outcome=outcome).id)
    assert [a.id for a in store.attempts()] == ids[::-1]
    assert [a.id for a in store.attempts(limit=2)] == [ids[3], ids[2]]
    assert [a.id for a in store.attempts(post_id=px)] == [ids[2], ids[0]]
    assert [a.id for a in store.attempts(channel="facebook")] == [ids[3], ids[1]]
    assert [a.id for a in store.attempts(outcomes=[Outcome.FAILED])] == [ids[3], ids[0]]
    assert [a.id for a in store.attempts(since=NOW + timedelta(minutes=2))] == [ids[3], ids[2]]
    assert [a.id for a in store.attempts(article_url="https://news.example/a/2")] == [
        ids[3], ids[1]]
    assert [a.id for a in store.attempts(after_id=ids[0])] == ids[1:]
    assert [a.id for a in store.attempts(after_id=ids[0], limit=1)] == [ids[1]]
    assert store.attempts(after_id=ids[3]) == []
    assert store.attempts(outcomes=[]) == []


def test_post_counts(store: Store) -> None:
    queue(store, "x", 1)
    queue(store, "x", 2)
    queue(store, "facebook", 3)
    store.add_posts([post("x", status=PostStatus.DRAFT)], article_id=None, now=NOW)
    store.claim_due(now=NOW, worker="w", lease_seconds=LEASE, limit=1, channels=["facebook"])
    assert store.post_counts() == {
        ("x", PostStatus.QUEUED): 2, ("x", PostStatus.DRAFT): 1,
        ("facebook", PostStatus.PUBLISHING): 1}


def test_thousand_posts_planned_and_claimed(store: Store) -> None:
    items = [art(i) for i in range(1, 251)]
    added = store.add_articles("a", items, state=ArticleState.PENDING, now=NOW)
    channels = ["x", "facebook", "mastodon", "bluesky"]
    for a in added:
        store.save_plan(a.id, [post(c) for c in channels], now=NOW)
    assert store.pending_articles() == []
    claimed: list[int] = []
    while batch := store.claim_due(now=NOW, worker="w", lease_seconds=LEASE, limit=100,
                                   channels=channels):
        claimed += [p.id for p in batch]
    assert len(claimed) == len(set(claimed)) == 1000
    assert store.post_counts() == {(c, PostStatus.PUBLISHING): 250 for c in channels}


def test_finishing_twice_changes_nothing(store: Store) -> None:
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    assert att is not None
    assert store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.OK,
                                post_status=PostStatus.PUBLISHED, remote_id="r")
    assert not store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.OK,
                                    post_status=PostStatus.PUBLISHED, remote_id="r")
    assert [a.outcome for a in store.attempts(post_id=pid)] == [Outcome.OK]


def test_take_over_with_an_explicit_cutoff_keeps_a_normal_lease(store: Store) -> None:
    """A lone SQLite daemon on start takes every leased post (the lock proves
    their worker is dead) but gives itself an ordinary lease."""
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    far = NOW + timedelta(days=36500)
    [exp] = store.take_over_expired(now=NOW, worker="w2", lease_seconds=LEASE,
                                    expired_before=far)
    assert exp.post.id == pid and exp.post.lease_expires_at == NOW + timedelta(seconds=LEASE)


def test_checkpoint_is_stored_only_under_the_lease(store: Store) -> None:
    pid = queue(store)
    assert store.set_checkpoint(pid, "container-1", worker="w1") is False  # not claimed
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    assert store.set_checkpoint(pid, "container-1", worker="w2") is False
    assert store.set_checkpoint(pid, "container-1", worker="w1") is True
    assert store.get_post(pid).checkpoint == "container-1"


def test_finish_attempt_records_the_channel_health(store: Store) -> None:
    pid = queue(store)
    store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=NOW)
    store.finish_attempt(att.id, worker="w1", now=NOW, outcome=Outcome.RETRYING,
                         post_status=PostStatus.WAITING, next_attempt_at=NOW, error="503")
    state = store.channel_states()["x"]
    assert (state.last_error, state.last_error_at, state.last_success_at) == ("503", NOW, None)
    later = NOW + timedelta(seconds=5)
    store.claim_due(now=later, worker="w1", lease_seconds=LEASE, limit=1, channels=["x"])
    att = store.start_attempt(pid, worker="w1", now=later)
    store.finish_attempt(att.id, worker="w1", now=later, outcome=Outcome.OK,
                         post_status=PostStatus.PUBLISHED, remote_id="1")
    assert store.channel_states()["x"].last_success_at == later


def test_head_revision_constant_matches_the_migrations(store: Store) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from publisher.store.db import MIGRATIONS
    from publisher.store.migrations import HEAD_REVISION

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION
    assert store.schema_revision() == HEAD_REVISION
