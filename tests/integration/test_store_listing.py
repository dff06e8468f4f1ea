"""``publisher.store.listing``: the outbox's one listing statement gives
what its filters say (checked against every post read one by one), and
gives it alike through ``Store`` (SQLAlchemy's connection) and
``PostReader`` (the driver alone), on SQLite and PostgreSQL; the reader
never writes and never creates a database."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from publisher.exceptions import StoreError
from publisher.store import Store
from publisher.store.api import Finish
from publisher.store.listing import PostReader, open_reader, sqlite_path
from publisher.store.migrations import HEAD_REVISION
from publisher.types import ArticleData, ArticleState, Image, NewPost, Outcome, PostStatus, Priority

NOW = datetime(2026, 3, 29, 0, 30, 0, 123456, tzinfo=UTC)  # the night Europe's clocks change


def fill(store: Store) -> None:
    """Posts in every status, on three channels, created over two days, with
    and without article, image, error, lease, checkpoint and remote URL."""
    [art] = store.add_articles("site", [ArticleData(
        guid="g1", url="https://news.example/a/1", title="Bridge reopens",
        summary="The crossing is open again — finally.", image=None)],
        state=ArticleState.PLANNED, now=NOW)
    statuses = [PostStatus.QUEUED, PostStatus.DRAFT, PostStatus.FAILED, PostStatus.QUEUED]
    ids = []
    for n in range(24):
        when = NOW - timedelta(hours=2 * n, microseconds=n)
        channel = ("x", "mastodon", "archive")[n % 3]
        ids += store.add_posts([NewPost(
            channel=channel, text=f"Post {n} ✓ «{channel}»\nsecond line",
            link=f"https://news.example/{n}" if n % 2 else None,
            image=Image(f"https://news.example/{n}.jpg", "alt" if n % 4 else "")
            if n % 3 == 1 else None,
            priority=(Priority.BREAKING, Priority.NORMAL, Priority.LOW)[n % 3],
            not_before=when + timedelta(minutes=n),
            status=statuses[n % 4],
            last_error="over quota" if n % 5 == 0 else None,
            template="breaking" if n % 7 == 0 else "default",
            created_by="editor:ana" if n % 2 else "planner",
            expires_at=when + timedelta(hours=24) if n % 2 else None,
        )], article_id=art.id if n == 3 else None, now=when)
    assert store.edit_post(ids[7], expected=[PostStatus.QUEUED], now=NOW,
                           changes={"status": PostStatus.CANCELLED})
    # Three claimed: one published (remote URL), one waiting to retry (error,
    # HTTP status), one still publishing with a checkpoint.
    claimed = store.claim_due(now=NOW, worker="w1", lease_seconds=60, limit=3,
                              channels=["x", "mastodon", "archive"])
    started = store.start_attempts([p.id for p in claimed], worker="w1", now=NOW)
    first, second, _ = (started[p.id] for p in claimed)
    assert store.set_checkpoint(claimed[2].id, '{"container": "17"}', worker="w1")
    store.finish_attempts([
        Finish(first.id, "w1", NOW, Outcome.OK, PostStatus.PUBLISHED,
               remote_id="991", remote_url="https://x.example/s/991"),
        Finish(second.id, "w1", NOW, Outcome.RETRYING, PostStatus.WAITING,
               next_attempt_at=NOW + timedelta(minutes=5), http_status=503,
               error="HTTP 503: try later"),
    ])


def filters() -> list[dict[str, object]]:
    statuses = [None, [], [PostStatus.QUEUED], [PostStatus.PUBLISHING, PostStatus.WAITING],
                list(PostStatus)]
    channels = [None, [], ["x"], ["mastodon", "archive", "gone"]]
    sinces = [None, NOW - timedelta(hours=10), NOW - timedelta(hours=10, microseconds=5),
              NOW + timedelta(days=1), (NOW - timedelta(hours=20)).astimezone(
                  __import__("zoneinfo").ZoneInfo("America/New_York"))]
    limits = [1, 7, 200]
    return [{"statuses": s, "channels": c, "since": t, "limit": n}
            for s, c, t, n in itertools.product(statuses, channels, sinces, limits)]


def test_reads_what_the_store_reads(store: Store) -> None:
    fill(store)
    reader = open_reader(_url(store))
    assert reader is not None
    with reader:
        assert reader.dialect == store.dialect
        everything = store.list_posts(limit=1000)
        assert len(everything) == 24
        assert {p.status for p in everything} >= {
            PostStatus.PUBLISHED, PostStatus.WAITING, PostStatus.PUBLISHING, PostStatus.QUEUED,
            PostStatus.DRAFT, PostStatus.FAILED, PostStatus.CANCELLED}
        for kw in filters():
            assert reader.list_posts(**kw) == store.list_posts(**kw), kw  # type: ignore[arg-type]


def test_the_listing_is_what_its_filters_say(store: Store) -> None:
    """An oracle apart from the SQL: every post read by id, filtered and
    ordered in Python."""
    fill(store)
    ids = [p.id for p in store.list_posts(limit=1000)]
    every = [store.get_post(i) for i in sorted(ids)]
    assert len(every) == 24
    for kw in filters():
        statuses, channels = kw["statuses"], kw["channels"]
        since, limit = kw["since"], kw["limit"]
        wanted = [p for p in every
                  if (statuses is None or p.status in statuses)  # type: ignore[operator]
                  and (channels is None or p.channel in channels)  # type: ignore[operator]
                  and (since is None or p.created_at >= since)]  # type: ignore[operator]
        wanted.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        got = store.list_posts(**kw)  # type: ignore[arg-type]
        assert [p.id for p in got] == [p.id for p in wanted[:limit]], kw  # type: ignore[misc]
        assert got == wanted[:limit]  # type: ignore[misc]


def test_the_store_refuses_to_create_a_database_it_should_only_read(tmp_path: Path) -> None:
    from publisher.store import open_store

    path = tmp_path / "none" / "publisher.db"
    with pytest.raises(StoreError, match="publisher db upgrade"):
        open_store(f"sqlite:///{path}", create=False)
    assert not path.parent.exists()
    open_store(f"sqlite:///{path}").close()  # the daemon's store creates it
    assert path.is_file()


def test_a_naive_since_is_refused(store: Store) -> None:
    reader = open_reader(_url(store))
    assert reader is not None
    with reader, pytest.raises(ValueError, match="naive"):
        reader.list_posts(since=datetime(2026, 1, 1))


def _url(store: Store) -> str:
    """The store's URL with its password (the test PostgreSQL has none)."""
    return store.url


def test_it_never_writes_sqlite(sqlite_store: Store) -> None:
    reader = open_reader(sqlite_store.url)
    assert reader is not None
    with reader, pytest.raises(sqlite3.OperationalError, match=r"readonly|query_only"):
        reader._conn.execute("DELETE FROM posts")


@pytest.mark.postgres
def test_it_never_writes_postgresql(pg_url: str) -> None:
    from publisher.store import open_store

    store = open_store(pg_url)
    store.upgrade()
    store.close()
    reader = open_reader(pg_url)
    assert reader is not None
    with reader, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader._conn.execute("DELETE FROM posts")


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "none" / "publisher.db"
    with pytest.raises(StoreError, match="publisher db upgrade"):
        open_reader(f"sqlite:///{path}")
    assert not path.parent.exists()
    path.parent.mkdir()
    path.touch()  # an empty file is not a database either
    with pytest.raises(StoreError, match="no database"):
        open_reader(f"sqlite:///{path}")


def test_what_it_leaves_to_the_store(sqlite_store: Store, tmp_path: Path) -> None:
    url = sqlite_store.url
    assert open_reader(url + "?timeout=5") is None
    assert open_reader("mysql://root@127.0.0.1/test") is None
    assert open_reader("postgresql+psycopg2://u@127.0.0.1/test") is None
    assert open_reader("postgresql://u@127.0.0.1:notaport/test") is None
    # A database never migrated, or at another revision: the store decides.
    bare = tmp_path / "bare.db"
    sqlite3.connect(bare).execute("CREATE TABLE t (x)").connection.commit()
    assert open_reader(f"sqlite:///{bare}") is None
    sqlite_store._engine.dispose()
    conn = sqlite3.connect(sqlite_path(url))  # type: ignore[arg-type]
    conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    conn.commit()
    conn.close()
    assert open_reader(url) is None
    assert HEAD_REVISION != "ffff"


def test_postgresql_down_is_one_line_without_the_password() -> None:
    url = "postgresql+psycopg://ana:s3cr%40t-pw@127.0.0.1:1/news?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        open_reader(url)
    message = str(info.value)
    assert message.startswith("database unavailable: ") and "\n" not in message
    assert "s3cr" not in message


def test_reader_type() -> None:
    assert sqlite_path("sqlite:///~/db.sqlite?x=1") == Path("~/db.sqlite").expanduser()
    assert sqlite_path("postgresql://x/y") is None
    assert PostReader.__doc__
