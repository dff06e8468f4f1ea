"""Shared fixtures.

Store fixtures
--------------
``store``          a migrated ``Store``, parametrized: ``sqlite`` (a file under
                   tmp_path) and ``postgres`` (marked ``postgres``; a schema no
                   other test uses while it runs).
``sqlite_store``   the SQLite one only.
``migrated_pg_url`` a PostgreSQL URL on a migrated schema without rows, this
                   test's alone (what the ``postgres`` store is opened on).
``pg_url``         a PostgreSQL URL whose ``search_path`` is a fresh, empty schema
                   (dropped after the test); nothing is migrated.
``new_pg_url``     a factory: each call gives another such URL (e.g. two daemons
                   on one database: call it once and share the URL; two separate
                   databases: call it twice).

Neither runs Alembic per test.  SQLite: each worker migrates one database
and every test gets a copy of its file.  PostgreSQL: each worker migrates one
schema, hands it to one test at a time and empties it afterwards (every
table truncated, its sequences back at 1; a schema that cannot be emptied,
or whose version a test changed, is dropped and the next test gets a newly
migrated one).  Creating and dropping the tables cost the server ~0.1 s a
test, truncating them ~0.035 s.  ``tests/integration/test_store_template.py`` holds
both equal to a freshly migrated database.

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

import functools
import itertools
import logging
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
import typer.testing
from sqlalchemy.engine import make_url

from publisher.config import Settings
from publisher.store import Store, open_store, sqlite_url_for
from publisher.store.migrations import HEAD_REVISION

PG_URL = os.environ.get("PUBLISHER_TEST_PG_URL",
                        "postgresql+psycopg://root@127.0.0.1:5432/test")


# Typer's CliRunner builds the click command from ``publisher.cli.app`` at
# every invoke (~30 ms: it inspects every command's signature); the desk's
# tests invoke it thousands of times.  Build it once per app: the same
# command ``publisher`` builds at start-up, and a click command keeps no
# state between invocations (each gets a new Context).
if hasattr(typer.testing, "_get_command"):
    typer.testing._get_command = functools.cache(typer.testing._get_command)


#: What ``Settings`` and ``load_config`` read from the environment.
_SETTINGS_VARIABLES = frozenset(
    [variable for variable, _default, _convert in Settings.FIELDS.values()]
    + ["PUBLISHER_CACHE_DIR", "XDG_CACHE_HOME"])


@pytest.fixture(scope="session")
def _config_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("config-cache")


def _new_folders(root: Path) -> Iterator[Path]:
    for n in itertools.count():
        path = root / str(n)
        path.mkdir()
        yield path


@pytest.fixture(scope="session")
def _working_directories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new, empty folder at each ``next()``.  Not ``mktemp(numbered=True)``
    per test: that lists the whole base folder each time (a few ms once a
    worker has made thousands)."""
    return _new_folders(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _isolated(_working_directories: Iterator[Path], monkeypatch: pytest.MonkeyPatch,
              _config_cache: Path) -> Iterator[None]:
    """An empty working directory, none of the shell's settings, the
    session's configuration cache (see the module's docstring), and the
    logging levels as they were."""
    for key in list(os.environ):
        if key.upper() in _SETTINGS_VARIABLES:
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_config_cache))
    monkeypatch.chdir(next(_working_directories))
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


def in_ci() -> bool:
    """Whether CI is set: what a test needs from the machine is then required."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> NoReturn:
    """A test's need the machine cannot meet: a failure under CI, a skip
    (with ``reason``) elsewhere."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this test must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MB filesystem (tmpfs) that the test can fill up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        unavailable(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


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
        unavailable(f"PostgreSQL not reachable at {where}: {str(e.orig or e).splitlines()[0]}")
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
    store.upgrade()  # a no-op on the fixtures' databases: they are at head already
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a migrated SQLite database: migrated once per worker."""
    path = tmp_path_factory.mktemp("sqlite-template") / "publisher.db"
    store = open_store(sqlite_url_for(path))
    store.upgrade()
    store.close()
    with sqlite3.connect(path) as conn:  # everything in the main file, no -wal left
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path.read_bytes()


def _migrated_sqlite(template: bytes, path: Path) -> str:
    """A copy of the migrated template at ``path`` (0600, as the store makes it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(template)
    return sqlite_url_for(path)


class PgSchemas:
    """Migrated PostgreSQL schemas of one worker, each used by one test at a
    time: ``take()`` one (``url()`` is a URL on it), ``give_back()`` empties
    it for the next test (see the module's docstring)."""

    def __init__(self, admin: sa.Engine) -> None:
        # One pooled connection: a new one costs ~5 ms, twice a test.
        self.admin = sa.create_engine(admin.url, pool_size=1, max_overflow=0,
                                      connect_args={"connect_timeout": 5})
        self._free: list[str] = []
        self._all: list[str] = []
        self._empty_sql: dict[str, str] = {}

    def url(self, schema: str) -> str:
        return self.admin.url.update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

    def take(self) -> str:
        """A schema at head with no rows in any table."""
        if self._free:
            return self._free.pop()
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        self._all.append(schema)
        store = open_store(self.url(schema))
        try:
            store.upgrade()
        finally:
            store.close()
        self._empty_sql[schema] = self._emptying(schema)
        return schema

    def _emptying(self, schema: str) -> str:
        """The statements that empty ``schema``: TRUNCATE every table but
        alembic_version (new, empty files, as fresh tables have: a DELETE
        would leave dead rows behind, and rows read without ORDER BY could
        come back in another order than in a new table); every sequence back
        at its start."""
        with self.admin.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s"
                " AND tablename <> 'alembic_version' ORDER BY tablename"),
                {"s": schema}).scalars().all()
            sequences = conn.execute(sa.text(
                "SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = :s"),
                {"s": schema}).all()
        names = ", ".join(f'"{schema}"."{table}"' for table in tables)
        statements = [f"TRUNCATE {names} RESTART IDENTITY"]
        statements += [f"SELECT setval('\"{schema}\".\"{name}\"', {start}, false)"
                       for name, start in sequences]
        return "; ".join(statements)

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` for the next test; drop it when that fails or
        when the test left it at another version."""
        try:
            with self.admin.begin() as conn:
                conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
                version = conn.execute(sa.text(
                    f'SELECT version_num FROM "{schema}".alembic_version')).all()
                if version != [(HEAD_REVISION,)]:
                    raise LookupError(f"schema {schema} left at {version}")
                conn.exec_driver_sql(self._empty_sql[schema])
        except (sa.exc.SQLAlchemyError, LookupError):
            self.drop(schema)
        else:
            self._free.append(schema)

    def drop(self, schema: str) -> None:
        with self.admin.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self._all.remove(schema)
        self._empty_sql.pop(schema, None)

    def close(self) -> None:
        for schema in list(self._all):
            self.drop(schema)
        self._free.clear()
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_schemas(_pg_admin: sa.Engine) -> Iterator[PgSchemas]:
    """This worker's migrated PostgreSQL schemas (dropped at the end)."""
    schemas = PgSchemas(_pg_admin)
    yield schemas
    schemas.close()


@pytest.fixture
def migrated_pg_url(pg_schemas: PgSchemas) -> Iterator[str]:
    """A PostgreSQL URL on a migrated schema with no rows, for this test only."""
    schema = pg_schemas.take()
    yield pg_schemas.url(schema)
    pg_schemas.give_back(schema)


@pytest.fixture
def sqlite_store(tmp_path: Path, _sqlite_template: bytes) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path."""
    yield from _open(_migrated_sqlite(_sqlite_template, tmp_path / "var" / "publisher.db"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        url = _migrated_sqlite(template, tmp_path / "var" / "publisher.db")
    else:
        url = request.getfixturevalue("migrated_pg_url")
    yield from _open(url)
