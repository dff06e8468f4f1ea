"""An empty database gets the head schema at once (``schema.metadata`` and a
stamp) instead of running every migration: both ways must build the same
database, on SQLite and on PostgreSQL.  Compared through SQLAlchemy's
inspector: tables, columns in order (type, nullability, server default),
primary keys, indexes, unique constraints, foreign keys (with their
ON DELETE) and CHECK constraints, and the Alembic version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.exceptions import StoreError
from publisher.store import open_store, sqlite_url_for
from publisher.store.migrations import HEAD_REVISION


def _describe(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        insp = sa.inspect(engine)
        out: dict[str, Any] = {}
        for t in sorted(insp.get_table_names()):
            out[t] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                            for c in insp.get_columns(t)],
                "pk": insp.get_pk_constraint(t)["constrained_columns"],
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in insp.get_indexes(t)),
                "unique": sorted(tuple(u["column_names"])
                                 for u in insp.get_unique_constraints(t)),
                "foreign": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                                   tuple(f["referred_columns"]), str(f.get("options")))
                                  for f in insp.get_foreign_keys(t)),
                "checks": sorted("".join(c["sqltext"].split())
                                 for c in insp.get_check_constraints(t)),
            }
        with engine.connect() as conn:
            out["version"] = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        return out
    finally:
        engine.dispose()


def _build(url: str, *, fresh_fast: bool) -> str:
    store = open_store(url)
    try:
        store.upgrade(fresh_fast=fresh_fast)
    finally:
        store.close()
    return url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres",
                                                            marks=pytest.mark.postgres)])
def test_a_fresh_database_equals_a_migrated_one(backend: str, tmp_path: Path,
                                                request: pytest.FixtureRequest) -> None:
    if backend == "sqlite":
        urls = [sqlite_url_for(tmp_path / f"{n}.db") for n in ("migrated", "fresh")]
    else:
        new_pg_url: Callable[[], str] = request.getfixturevalue("new_pg_url")
        urls = [new_pg_url(), new_pg_url()]
    migrated = _describe(_build(urls[0], fresh_fast=False))
    fresh = _describe(_build(urls[1], fresh_fast=True))
    assert fresh["version"] == [(HEAD_REVISION,)]
    assert set(fresh) == set(migrated)
    for table in sorted(migrated):
        assert fresh[table] == migrated[table], table


def test_a_database_with_tables_but_no_version_is_not_created_over(tmp_path: Path) -> None:
    """Only an empty database takes the short way: one holding any table
    goes through Alembic, which refuses what it cannot migrate."""
    url = sqlite_url_for(tmp_path / "other.db")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE posts (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    store = open_store(url)
    try:
        with pytest.raises(StoreError, match="already exists"):
            store.upgrade()
    finally:
        store.close()
    assert _describe_tables(url) == {"posts"}


def _describe_tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
