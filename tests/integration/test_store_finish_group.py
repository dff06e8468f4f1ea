"""A group of outcomes recorded in one commit (``finish_attempts`` of many,
the dispatcher's group commit) writes exactly what recording them one by
one writes: the same posts, the same publish log, the same answers.

Both stores get the same posts, claims, started attempts, take-overs (late
answers), finished attempts and lost leases; one records a random group of
outcomes at once, the other one ``finish_attempts([f])`` at a time.  Seeded
tables of mixed groups, on SQLite and on PostgreSQL (the ``store`` fixture;
the second store is its twin on the same backend).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.exceptions import NotFoundError
from publisher.store import Store, open_store, sqlite_url_for
from publisher.store.api import Finish
from publisher.types import ArticleData, ArticleState, NewPost, Outcome, PostStatus

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEASE = 60.0


@pytest.fixture
def twin(store: Store, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A second, empty, migrated store on the same backend as ``store``."""
    if store.dialect == "sqlite":
        url = sqlite_url_for(tmp_path / "twin" / "publisher.db")
    else:
        url = request.getfixturevalue("new_pg_url")()
    other = open_store(url)
    other.upgrade()
    try:
        yield other
    finally:
        other.close()


def _setup(store: Store, rng: random.Random, n: int,
           fates: tuple[str, ...] = ("usual", "usual", "usual", "taken", "finished", "lost"),
           ) -> list[tuple[int, int, str]]:
    """n posts, claimed by w1 with a started attempt each; some then taken
    over by w2 (their attempt closed AMBIGUOUS: a late answer), some already
    finished.  Returns (attempt id, post id, what happened) per post."""
    arts = store.add_articles("feed", [
        ArticleData(f"g{i}", f"https://news.example/a/{i}", f"T{i}",
                    published=NOW - timedelta(minutes=i)) for i in range(n)],
        state=ArticleState.PENDING, now=NOW)
    channels = ["x", "mastodon", "bluesky"]
    plans = [(a.id, [NewPost(channel=channels[i % 3], text=f"text {i}")])
             for i, a in enumerate(arts)]
    store.save_plans(plans, now=NOW)
    items = store.claim_due(now=NOW, worker="w1", lease_seconds=LEASE, limit=n,
                            channels=channels)
    started = store.start_attempts([i.id for i in items], worker="w1", now=NOW)
    every = [fates[i % len(fates)] for i in range(n)]  # each fate once n allows
    rng.shuffle(every)
    out = [(started[item.id].id, item.id, fate)
           for item, fate in zip(sorted(items, key=lambda i: i.id), every, strict=True)]
    later = NOW + timedelta(seconds=LEASE + 1)
    for att_id, post_id, fate in out:
        if fate == "finished":
            store.finish_attempts([Finish(att_id, "w1", NOW + timedelta(seconds=1),
                                          Outcome.RETRYING, PostStatus.WAITING,
                                          next_attempt_at=NOW + timedelta(seconds=30),
                                          error="503")])
        elif fate == "lost":  # another worker holds the post; its attempt still STARTED
            with store._engine.begin() as conn:  # the test stages a lost lease
                conn.execute(sa.text("UPDATE posts SET lease_owner = 'w3' WHERE id = :id"),
                             {"id": post_id})
    if any(fate == "taken" for *_, fate in out):
        taken = [post_id for _, post_id, fate in out if fate == "taken"]
        with store._engine.begin() as conn:  # only these leases expire
            conn.execute(sa.text("UPDATE posts SET lease_expires_at = :t WHERE id IN :ids")
                         .bindparams(sa.bindparam("ids", expanding=True)),
                         {"t": NOW - timedelta(seconds=1), "ids": taken})
        store.take_over_expired(now=later, worker="w2", lease_seconds=LEASE,
                                expired_before=NOW)
    return out


def _finishes(rng: random.Random, staged: list[tuple[int, int, str]]) -> list[Finish]:
    when = NOW + timedelta(seconds=5)
    out = []
    for att_id, _post_id, _fate in staged:
        kind = rng.choice(["ok", "ok_no_url", "transient", "permanent", "ambiguous",
                           "uncounted"])
        at = when + timedelta(microseconds=rng.randrange(1_000_000))
        if kind == "ok":
            f = Finish(att_id, "w1", at, Outcome.OK, PostStatus.PUBLISHED, http_status=200,
                       remote_id=f"r{att_id}", remote_url=f"https://p.example/{att_id}")
        elif kind == "ok_no_url":
            f = Finish(att_id, "w1", at, Outcome.OK, PostStatus.PUBLISHED, remote_id=f"r{att_id}")
        elif kind == "transient":
            f = Finish(att_id, "w1", at, Outcome.RETRYING, PostStatus.WAITING,
                       next_attempt_at=at + timedelta(seconds=rng.randrange(1, 90)),
                       http_status=503, error="Mastodon answered 503")
        elif kind == "permanent":
            f = Finish(att_id, "w1", at, Outcome.FAILED, PostStatus.FAILED, http_status=422,
                       error="refused")
        elif kind == "ambiguous":
            f = Finish(att_id, "w1", at, Outcome.AMBIGUOUS, PostStatus.WAITING,
                       next_attempt_at=at + timedelta(seconds=10), error="no answer")
        else:
            f = Finish(att_id, "w1", at, Outcome.RATE_LIMITED, PostStatus.QUEUED,
                       error="gate closed", counted=False)
        out.append(f)
    rng.shuffle(out)
    if out and rng.random() < 0.3:
        out.append(rng.choice(out))  # the same outcome handed over twice
    return out


def _dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store._engine.connect() as conn:  # the whole tables, compared
        return {
            "posts": [tuple(r) for r in conn.execute(sa.text(
                "SELECT id, status, attempts, next_attempt_at, due_at, lease_owner,"
                " lease_expires_at, remote_id, remote_url, last_error, published_at,"
                " updated_at FROM posts ORDER BY id"))],
            "attempts": [tuple(r) for r in conn.execute(sa.text(
                "SELECT id, post_id, channel, number, worker, started_at, finished_at,"
                " outcome, http_status, error, remote_id, remote_url FROM attempts"
                " ORDER BY id"))],
            "channels": [tuple(r) for r in conn.execute(sa.text(
                "SELECT name, last_success_at, last_error, last_error_at FROM channels"
                " ORDER BY name"))],
        }


@pytest.mark.parametrize("seed", range(6))
def test_a_group_writes_what_one_by_one_writes(store: Store, twin: Store, seed: int) -> None:
    n = 3 + seed * 4
    staged_a = _setup(store, random.Random(seed), n)
    staged_b = _setup(twin, random.Random(seed), n)
    assert staged_a == staged_b
    assert _dump(store) == _dump(twin)
    finishes = _finishes(random.Random(1000 + seed), staged_a)

    together = store.finish_attempts(finishes)
    apart = [twin.finish_attempts([f])[0] for f in finishes]

    assert together == apart
    assert _dump(store) == _dump(twin)
    if n >= 6:  # the table covers late answers, finished attempts and lost leases
        assert {fate for *_, fate in staged_a} == {"usual", "taken", "finished", "lost"}


def test_a_lost_lease_in_a_group_is_reported_and_leaves_the_post_alone(store: Store) -> None:
    staged = _setup(store, random.Random(3), 6, fates=("usual",))
    _attempt, lost_post, _ = staged[0]
    with store._engine.begin() as conn:  # another worker holds it now
        conn.execute(sa.text("UPDATE posts SET lease_owner = 'w9' WHERE id = :id"),
                     {"id": lost_post})
    before = store.get_post(lost_post)
    results = store.finish_attempts([
        Finish(att, "w1", NOW + timedelta(seconds=2), Outcome.OK, PostStatus.PUBLISHED,
               remote_id=f"r{att}") for att, _p, _f in staged])
    assert results[0] is False
    after = store.get_post(lost_post)
    assert (after.status, after.lease_owner) == (before.status, "w9")


# -- the planner's batch: save_plans is save_plan for many, in one commit ------------------


def _articles(store: Store, n: int) -> list[int]:
    return [a.id for a in store.add_articles("feed", [
        ArticleData(f"p{i}", f"https://news.example/p/{i}", f"P{i}") for i in range(n)],
        state=ArticleState.PENDING, now=NOW)]


def test_save_plans_is_save_plan_one_by_one(store: Store, twin: Store) -> None:
    def plans(ids: list[int]) -> list[tuple[int, list[NewPost]]]:
        return [(a, [NewPost(channel="x", text=f"x {a}"), NewPost(channel="mastodon", text="m"),
                     NewPost(channel="x", text="the second x of one article is skipped")])
                for a in ids] + [(ids[0], [NewPost(channel="bluesky", text="b"),
                                           NewPost(channel="x", text="already planned")])]

    together = store.save_plans(plans(_articles(store, 5)), now=NOW)
    apart = [twin.save_plan(a, p, now=NOW) for a, p in plans(_articles(twin, 5))]
    assert together == apart
    assert [len(ids) for ids in together] == [2, 2, 2, 2, 2, 1]
    keys = ("id", "article_id", "channel", "status", "text", "not_before")
    assert ([[getattr(p, k) for k in keys] for p in store.list_posts()]
            == [[getattr(p, k) for k in keys] for p in twin.list_posts()])
    assert {store.get_article(a).state for a in range(1, 6)} == {ArticleState.PLANNED}


def test_save_plans_with_an_unknown_article_writes_nothing(store: Store) -> None:
    ids = _articles(store, 2)
    with pytest.raises(NotFoundError, match="no article with id 999"):
        store.save_plans([(ids[0], [NewPost(channel="x", text="t")]),
                          (999, [NewPost(channel="x", text="t")])], now=NOW)
    assert store.list_posts() == []
    assert store.get_article(ids[0]).state is ArticleState.PENDING
