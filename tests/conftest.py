"""Shared fixtures.

Store fixtures
--------------
``store``          a migrated ``Store``, parametrized: ``sqlite`` (a file under
                   tmp_path) and ``postgres`` (marked ``postgres``; its own schema).
``sqlite_store``   the SQLite one only.
``pg_url``         a PostgreSQL URL whose ``search_path`` is a fresh, empty schema
                   (dropped after the test); nothing is migrated.
``new_pg_url``     a factory: each call gives another such URL (e.g. two daemons
                   on one database: call it once and share the URL; two separate
                   databases: call it twice).

PostgreSQL comes from ``PUBLISHER_TEST_PG_URL`` (default
``postgresql+psycopg://root@127.0.0.1:5432/test``).  When it cannot be reached
the postgres tests are skipped, unless ``CI`` is set: then they fail.

Isolation
---------
Every test runs in an empty working directory of its own, without the
variables ``Settings`` reads (``DATABASE_URL``, ``PUBLISHER_SCHEDULES``, …) of
the shell that started pytest, and with a configuration cache of the
session's own (``XDG_CACHE_HOME``).  So the relative defaults (``./schedules``,
``./templates``, ``./.env``, ``./var``) never reach the working copy: a user
who has edited its schedules, templates or ``.env`` (as the tutorial says to)
still gets a green run (``tests/e2e/test_isolation.py`` runs tests with them
broken).  Tests that want the shipped templates use
``publisher.render.env.BUNDLED_TEMPLATES`` (package data); the shipped example
schedule is read from ``tests/data/example/`` (kept equal to the committed
``schedules/`` by a test).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from publisher.config import Settings
from publisher.store import Store, open_store, sqlite_url_for

PG_URL = os.environ.get("PUBLISHER_TEST_PG_URL",
                        "postgresql+psycopg://root@127.0.0.1:5432/test")


#: What ``Settings`` and ``load_config`` read from the environment.
_SETTINGS_VARIABLES = frozenset(
    [variable for variable, _default, _convert in Settings.FIELDS.values()]
    + ["PUBLISHER_CACHE_DIR", "XDG_CACHE_HOME"])


@pytest.fixture(scope="session")
def _config_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-cache")


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
              _config_cache: Path) -> Iterator[None]:
    """An empty working directory, none of the shell's settings, the
    session's configuration cache (see the module's docstring), and the
    logging levels as they were."""
    for key in list(os.environ):
        if key.upper() in _SETTINGS_VARIABLES:
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_config_cache))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd", numbered=True))
    # A command run in-process (``publisher run`` through CliRunner) sets up
    # logging for the whole process and quiets httpx & co.; the next test
    # gets the levels back.
    levels = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
              if isinstance(logger, logging.Logger)}
    root_level = logging.root.level
    yield
    logging.root.setLevel(root_level)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(levels.get(name, logging.NOTSET))


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def _pg_admin() -> Iterator[sa.Engine]:
    """An engine on the test database, or skip (fail under CI) when unreachable."""
    url = make_url(PG_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, poolclass=sa.NullPool,
                              connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as e:
        engine.dispose()
        where = url.render_as_string(hide_password=True)
        reason = f"PostgreSQL not reachable at {where}: {str(e.orig or e).splitlines()[0]}"
        if _in_ci():
            pytest.fail(f"{reason} (CI is set: postgres tests must run)", pytrace=False)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def new_pg_url(_pg_admin: sa.Engine) -> Iterator[Callable[[], str]]:
    """A factory of PostgreSQL URLs, each on a fresh schema (first and only
    entry of search_path, so Alembic's version table lands there too)."""
    schemas: list[str] = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with _pg_admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        url = _pg_admin.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield make
    with _pg_admin.begin() as conn:
        conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
        for schema in schemas:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def pg_url(new_pg_url: Callable[[], str]) -> str:
    """A PostgreSQL URL on a fresh, empty schema for this test."""
    return new_pg_url()


def _open(url: str) -> Iterator[Store]:
    store = open_store(url)
    store.upgrade()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path."""
    yield from _open(sqlite_url_for(tmp_path / "var" / "publisher.db"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = sqlite_url_for(tmp_path / "var" / "publisher.db")
    else:
        url = request.getfixturevalue("pg_url")
    yield from _open(url)
