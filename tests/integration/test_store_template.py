"""The store fixtures do not migrate per test (tests/conftest.py): SQLite
stores are copies of one migrated file, PostgreSQL stores are migrated
schemas emptied between tests.  Each must be what a fresh migration gives:
the same tables, columns, keys, indexes and constraints, the Alembic version
at head, no rows, and every sequence where a new one starts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.store import Store, open_store, sqlite_url_for
from publisher.store.migrations import HEAD_REVISION
from publisher.types import NewPost
from tests.conftest import PgSchemas
from tests.integration.test_store_fresh_schema import _build, _describe

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _migrated(url: str) -> str:
    """``url`` after Alembic's migrations, one by one."""
    return _build(url, fresh_fast=False)


def _contents(url: str) -> dict[str, Any]:
    """Rows per table and where each sequence stands."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            out: dict[str, Any] = {
                table: conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
                for table in tables if table != "alembic_version"}
            if engine.dialect.name == "postgresql":
                for name in conn.execute(sa.text(
                        "SELECT sequencename FROM pg_sequences"
                        " WHERE schemaname = current_schema()")).scalars():
                    out[f"sequence {name}"] = tuple(conn.execute(sa.text(
                        f'SELECT last_value, is_called FROM "{name}"')).one())
            else:
                out["sqlite_sequence"] = conn.execute(sa.text(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'")).scalar()
        return out
    finally:
        engine.dispose()


def _assert_same(url: str, fresh_url: str) -> None:
    got, want = _describe(url), _describe(fresh_url)
    assert got["version"] == [(HEAD_REVISION,)]
    assert set(got) == set(want)
    for table in sorted(want):
        assert got[table] == want[table], table
    assert _contents(url) == _contents(fresh_url)


def _post(store: Store) -> int:
    [post_id] = store.add_posts([NewPost(channel="archive", text="Hello",
                                         expires_at=NOW + timedelta(hours=1))],
                                article_id=None, now=NOW)
    return post_id


def test_the_sqlite_store_is_a_migrated_database(sqlite_store: Store, tmp_path: Path) -> None:
    fresh = _migrated(sqlite_url_for(tmp_path / "fresh.db"))
    _assert_same(sqlite_store.url, fresh)
    path = tmp_path / "var" / "publisher.db"
    assert path.stat().st_mode & 0o777 == 0o600
    assert _post(sqlite_store) == 1


@pytest.mark.postgres
def test_the_postgres_store_is_a_migrated_schema(migrated_pg_url: str, pg_url: str) -> None:
    _assert_same(migrated_pg_url, _migrated(pg_url))


@pytest.mark.postgres
def test_a_schema_given_back_is_emptied_to_a_migrated_one(
        pg_schemas: PgSchemas, new_pg_url: Callable[[], str]) -> None:
    schema = pg_schemas.take()
    try:
        store = open_store(pg_schemas.url(schema))
        try:
            assert [_post(store) for _ in range(3)] == [1, 2, 3]
            with store._engine.begin() as conn:
                conn.execute(sa.text(
                    "INSERT INTO users (name, role, password_hash, created_at,"
                    " password_changed_at) VALUES ('ann', 'editor', 'x', now(), now())"))
        finally:
            store.close()
    finally:
        pg_schemas.give_back(schema)
    again = pg_schemas.take()
    try:
        assert again == schema  # the same schema, emptied
        _assert_same(pg_schemas.url(again), _migrated(new_pg_url()))
        store = open_store(pg_schemas.url(again))
        try:
            assert _post(store) == 1
        finally:
            store.close()
    finally:
        pg_schemas.give_back(again)


@pytest.mark.postgres
def test_a_schema_left_at_another_version_is_dropped(pg_schemas: PgSchemas,
                                                     _pg_admin: sa.Engine) -> None:
    schema = pg_schemas.take()
    with _pg_admin.begin() as conn:
        conn.execute(sa.text(f'UPDATE "{schema}".alembic_version SET version_num = :v'),
                     {"v": "0001"})
    pg_schemas.give_back(schema)
    with _pg_admin.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                            {"s": schema}).scalar() == 0
    other = pg_schemas.take()
    try:
        assert other != schema
    finally:
        pg_schemas.give_back(other)
