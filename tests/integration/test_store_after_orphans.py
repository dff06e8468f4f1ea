"""At start-up under the SQLite daemon lock, deletes and edits a dead
process held are freed at once (``orphan_after``), all of them: not only
those the first claim happens to reach.  A regression test: the take-over
used to ride on the first claim, whose LIMIT (the channels' room, ordered
by due time) could leave later orphans leased for the whole lease, five
minutes, while the retraction looked stuck (found by
``tests/e2e/test_retract_kill.py`` with PUBLISHER_CRASH_SEED=722214991)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.store import Store
from publisher.store.api import Finish
from publisher.types import ArticleData, ArticleState, AttemptKind, NewPost, Outcome, PostStatus

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _published(store: Store, n: int) -> list[int]:
    arts = store.add_articles("feed", [ArticleData(f"g{i}", f"https://news.example/{i}", f"T{i}")
                                       for i in range(n)], state=ArticleState.PENDING, now=NOW)
    ids = [i for ids in store.save_plans([(a.id, [NewPost(channel="x", text=f"t{a.id}")])
                                          for a in arts], now=NOW) for i in ids]
    store.claim_due(now=NOW, worker="old", lease_seconds=60, limit=n, channels=["x"])
    started = store.start_attempts(ids, worker="old", now=NOW)
    store.finish_attempts([Finish(a.id, "old", NOW, Outcome.OK, PostStatus.PUBLISHED,
                                  remote_id=f"r{a.post_id}") for a in started.values()])
    return ids


def test_every_orphaned_delete_is_freed_and_left_to_be_read_back(store: Store) -> None:
    ids = _published(store, 30)
    later = NOW + timedelta(minutes=1)
    for post_id in ids:
        assert store.request_after(post_id, AttemptKind.DELETE, expected=[PostStatus.PUBLISHED],
                                   by="desk", reason="pulled", now=later)
    # The dead daemon held the last ten (the newest due) with a call on the wire,
    # and this daemon holds one of its own.
    dead = store.claim_after(now=later, worker="dead", lease_seconds=300, limit=30,
                             channels=["x"])
    assert len(dead) == 30
    store.release_after(ids[:19], worker="dead")
    for post_id in ids[20:]:
        assert store.start_after_attempt(post_id, AttemptKind.DELETE, worker="dead", now=later)
    [mine] = store.claim_after(now=later, worker="me", lease_seconds=300, limit=1,
                               channels=["x"])

    freed = store.orphan_after(now=later, worker="me")

    assert freed == 11  # the ten with a call on the wire and one held without
    by_id = {p.id: p for p in store.list_posts(limit=100)}
    assert by_id[mine.id].lease_owner == "me"
    assert all(by_id[i].lease_owner is None and by_id[i].status is PostStatus.DELETING
               for i in ids if i != mine.id)
    for post_id in ids[20:]:  # in doubt: read back before any new call
        [last, *_] = store.after_history(post_id)
        assert (last.outcome, last.error) == (Outcome.AMBIGUOUS, "lease expired")
    # A plain claim now reaches every one of them.
    taken = store.claim_after(now=later, worker="me", lease_seconds=300, limit=100,
                              channels=["x"])
    assert {p.id for p in taken} == set(ids) - {mine.id}
    # The publish log of the posts is untouched.
    assert all(a.outcome is Outcome.OK for a in store.attempts(limit=1000)
               if a.kind is AttemptKind.PUBLISH)
