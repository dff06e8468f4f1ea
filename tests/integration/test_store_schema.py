"""Migrations, files, URLs and error mapping of the store."""

from __future__ import annotations

import inspect
import os
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import publisher.store
from publisher.exceptions import StoreError
from publisher.store import Store, StoreAPI, open_store, sqlite_url_for
from publisher.store.db import MIGRATIONS
from publisher.store.migrations import HEAD_REVISION
from publisher.store.schema import metadata
from publisher.types import ArticleData, ArticleState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    store.add_articles(None, [ArticleData("g", "https://u/", "t")],
                       state=ArticleState.SEEN, now=NOW)
    store.upgrade()
    engine = sa.create_engine(store.url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD_REVISION,)]
        assert _tables(engine) == {"alembic_version", "feeds", "articles", "posts", "attempts",
                                   "channels", "workers", "users", "desk_sessions"}
    finally:
        engine.dispose()
    assert store.known(["g"], []) == ({"g"}, set())


def test_migration_matches_schema(store: Store) -> None:
    engine = sa.create_engine(store.url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = [d for d in compare_metadata(ctx, metadata)
                    if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    finally:
        engine.dispose()
    assert diff == []


def test_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS.parent == Path(publisher.store.__file__).resolve().parent
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert (MIGRATIONS / "versions" / "0001_initial.py").is_file()


@pytest.mark.postgres
def test_pg_version_table_lives_in_the_test_schema(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        store.upgrade()
        engine = sa.create_engine(pg_url, poolclass=sa.NullPool)
        try:
            with engine.connect() as conn:
                schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
                rows = conn.execute(sa.text(
                    "SELECT table_schema FROM information_schema.tables "
                    "WHERE table_name = 'alembic_version'")).scalars().all()
        finally:
            engine.dispose()
        assert schema in rows and "public" not in rows
    finally:
        store.close()


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "var" / "publisher.db"
    old = os.umask(0o022)
    try:
        store = open_store(sqlite_url_for(path))
        store.upgrade()
        store.heartbeat("w", now=NOW, host="h", pid=1)
    finally:
        os.umask(old)
    try:
        for name in ("publisher.db", "publisher.db-wal", "publisher.db-shm"):
            f = path.parent / name
            assert f.exists(), name
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, name
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        store.acquire_daemon_lock()
        assert stat.S_IMODE(Path(f"{path}.lock").stat().st_mode) == 0o600
    finally:
        store.close()


def test_sqlite_foreign_keys_are_enforced(sqlite_store: Store) -> None:
    assert sqlite_store._engine  # the pragma is per connection: check on a pooled one
    with sqlite_store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


@pytest.mark.parametrize(("given", "expected"), [
    ("postgres://u:secret@db.example/pub", "postgresql+psycopg://u:***@db.example/pub"),
    ("postgresql://u@db.example/pub", "postgresql+psycopg://u@db.example/pub"),
    ("postgresql+psycopg://u@db.example/pub", "postgresql+psycopg://u@db.example/pub"),
])
def test_postgres_urls_use_psycopg_and_hide_passwords(given: str, expected: str) -> None:
    store = open_store(given)  # no connection is made before the first query
    try:
        assert store.dialect == "postgresql"
        assert store.url == expected
        assert "secret" not in repr(store)
    finally:
        store.close()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:",
                                 "postgresql+psycopg2://u@h/db", "not a url"])
def test_unsupported_urls(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


def test_sqlite_url_for(tmp_path: Path) -> None:
    url = sqlite_url_for(tmp_path / "x.db")
    assert url == f"sqlite:///{tmp_path}/x.db"
    store = open_store(url)
    try:
        assert store.dialect == "sqlite" and store.url == url
    finally:
        store.close()


def test_locked_database_is_a_one_line_store_error(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    open_store(sqlite_url_for(path)).upgrade()
    store = Store(sqlite_url_for(path), busy_timeout=0.1)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError) as err:
            store.heartbeat("w", now=NOW, host="h", pid=1)
        assert str(err.value) == ("database is locked (another process holds a write lock "
                                  "for longer than 0.1 s)")
        assert store.workers() == []  # WAL: readers are not blocked by the writer
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_unreachable_postgres_is_a_one_line_store_error() -> None:
    store = open_store("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StoreError, match=r"^database unavailable: ") as err:
            store.upgrade()
        assert "\n" not in str(err.value)
    finally:
        store.close()


def test_store_implements_the_api() -> None:
    members = [name for name in dir(StoreAPI) if not name.startswith("_")]
    assert members
    for name in members:
        want = inspect.signature(getattr(StoreAPI, name))
        got = inspect.signature(getattr(Store, name))
        assert got == want, name
    hints = StoreAPI.__annotations__
    assert set(hints) == {"url", "dialect"}
