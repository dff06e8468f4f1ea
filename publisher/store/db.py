"""``Store``: the database behind publisher (SQLite or PostgreSQL).

One instance is shared by the daemon's threads: every public method borrows
a pooled connection for one short transaction.  On SQLite every transaction
that writes starts with ``BEGIN IMMEDIATE`` (taking the write lock up front,
so a read-then-write can never fail half-way with "database is locked"); on
PostgreSQL claims and take-overs lock their rows with ``FOR UPDATE SKIP
LOCKED`` so several daemons can share one database.

Every SQLAlchemy/DBAPI error is mapped to ``StoreError`` here and nowhere
else; nothing SQLAlchemy-shaped leaves the store.

This module holds the plumbing (the engine, transactions, migrations, the
daemon lock, heartbeats); the queries are grouped by aggregate, one mixin
each: ``feeds.FeedQueries``, ``articles.ArticleQueries``,
``posts.PostQueries`` (posts and their attempts: the outbox, the publish log,
the desk's changes) and ``channel_state.ChannelQueries``; ``rows`` holds
what they share (row readers, common selects, aware-UTC checks) and
``listing`` the outbox's listing statement.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, nullcontext, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)

from publisher.exceptions import AlreadyRunning, StoreError
from publisher.store import listing
from publisher.store.after_post import AfterPostQueries
from publisher.store.articles import ArticleQueries
from publisher.store.channel_state import ChannelQueries
from publisher.store.feeds import FeedQueries
from publisher.store.migrations import HEAD_REVISION
from publisher.store.posts import PostQueries
from publisher.store.rows import (
    _MIGRATION_LOCK_KEY,
    _WRITE,
    _aware,
)
from publisher.store.schema import workers
from publisher.types import (
    WorkerInfo,
)

log = logging.getLogger("publisher.store")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: SQLite waits this long for another writer before giving up.
BUSY_TIMEOUT_S = 30

def sqlite_url_for(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite database at ``path`` (made absolute)."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


def open_store(url: str, *, create: bool = True) -> Store:
    """A ``Store`` for ``url`` (``sqlite:///…`` or ``postgresql://…``).
    Nothing is migrated: call ``upgrade()`` before use.  Without ``create``
    a SQLite database that does not exist yet is refused (reading must not
    create it): ``StoreError`` saying how to make one."""
    return Store(url, create=create)


def _normalise_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except ArgumentError:
        raise StoreError("invalid database URL (expected sqlite:///path or "
                         "postgresql://user@host/db)") from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise StoreError(f"unsupported PostgreSQL driver {driver!r}: use postgresql+psycopg")
        return url.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise StoreError(f"unsupported SQLite driver {driver!r}")
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise StoreError("SQLite needs a database file: sqlite:///path/to/publisher.db")
        return url.set(drivername="sqlite")
    raise StoreError(f"unsupported database {backend!r}: use sqlite:///… or postgresql://…")


def _one_line(text_: str) -> str:
    lines = [line.strip() for line in str(text_).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _map_error(exc: SQLAlchemyError, busy_timeout: float = BUSY_TIMEOUT_S) -> Exception:
    """Translate a SQLAlchemy error into a one-line ``StoreError``."""
    orig = getattr(exc, "orig", None)
    if (isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)
            and isinstance(orig, ValueError)):
        return orig  # our own argument check (a naive datetime): a bug, not a database error
    detail = _one_line(str(orig) if orig is not None else str(exc)) or type(exc).__name__
    if "database is locked" in detail:
        return StoreError("database is locked (another process holds a write lock for longer "
                          f"than {busy_timeout:g} s)")
    if isinstance(exc, IntegrityError):
        return StoreError(f"database constraint violated: {detail}")
    if isinstance(exc, OperationalError):
        return StoreError(f"database unavailable: {detail}")
    return StoreError(f"database error: {detail}")


#: SQLite's primary result codes that mean "the database cannot be used now"
#: (BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL), not a bad statement.
_SQLITE_UNAVAILABLE = frozenset({5, 6, 8, 10, 13, 14, 15})


def _unavailable(exc: SQLAlchemyError) -> bool:
    """Whether ``exc`` says the database is away (read-only, locked, full,
    unreachable) rather than that a statement was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_UNAVAILABLE
    return True  # PostgreSQL: psycopg's OperationalError is the connection's failure


def _sqlite_sync(conn: Connection, level: str) -> None:
    """Set ``PRAGMA synchronous`` outside any transaction (the DBAPI connection
    runs in autocommit mode, so this does not BEGIN)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    dbapi.execute(f"PRAGMA synchronous = {level}")


class StoreHealth:
    """Whether the database answers, judged by the store's own transactions:
    an operational error (read-only, locked, full, unreachable) makes it
    unavailable, a committed write makes it available again.  Only the
    changes of state are logged, one line each."""

    def __init__(self, *, on_down: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._on_down = on_down
        self._clock = clock
        self.down_since: float | None = None
        self.reason: str | None = None

    @property
    def available(self) -> bool:
        return self.down_since is None

    def failed(self, error: StoreError) -> None:
        with self._lock:
            changed = self.down_since is None
            if changed:
                self.down_since, self.reason = self._clock(), str(error)
        if changed:
            log.warning("%s", error if str(error).startswith("database unavailable")
                        else f"database unavailable: {error}")
        # At every failure, not only the first: a SQLite connection opened while
        # the file is read-only stays read-only after it is writable again.
        with suppress(Exception):  # dropping dead connections must not raise anew
            self._on_down()

    def succeeded(self) -> None:
        if self.down_since is None:  # the common case, without the lock
            return
        with self._lock:
            since, self.down_since, self.reason = self.down_since, None, None
        if since is not None:
            log.warning("database back after %.0f s", self._clock() - since)


class Store(FeedQueries, ArticleQueries, PostQueries, ChannelQueries, AfterPostQueries):
    """The database: feeds, articles, the outbox, the publish log, channels.

    Implements ``publisher.store.api.StoreAPI``; see there for each method's
    contract.  ``url`` never shows a password.
    """

    def __init__(self, url: str, *, busy_timeout: float = BUSY_TIMEOUT_S, create: bool = True):
        self._busy_timeout = busy_timeout
        self._write_lock = threading.Lock()
        sa_url = _normalise_url(url)
        self.url: str = sa_url.render_as_string(hide_password=True)
        self.dialect: str = "sqlite" if sa_url.get_backend_name() == "sqlite" else "postgresql"
        self._path: Path | None = None
        self._lock_fd: int | None = None
        if self.dialect == "sqlite":
            assert sa_url.database is not None
            self._path = Path(sa_url.database).expanduser().resolve()
            if not create:
                listing.require_file(self._path)
            self._create_sqlite_file(self._path)
            sa_url = sa_url.set(database=str(self._path))
        self._engine = self._make_engine(sa_url)
        # A database that stops answering is one log line, and its pooled
        # connections are dropped: a SQLite connection opened while the file was
        # read-only stays read-only, a PostgreSQL one to a restarted server is dead.
        self.health = StoreHealth(on_down=self._engine.dispose)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # -- plumbing --------------------------------------------------------

    @staticmethod
    def _create_sqlite_file(path: Path) -> None:
        """Create the database file 0600 before SQLite does (it would use the
        umask); SQLite gives its -wal and -shm files the same mode."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as e:
            raise StoreError(f"cannot create the database file {path}: {e.strerror}") from None

    def _make_engine(self, url: URL) -> Engine:
        if self.dialect == "postgresql":
            # Fail in seconds, not after the OS TCP timeout, when the server is gone.
            connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
            return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=20,
                                 connect_args=connect_args)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": self._busy_timeout},
            pool_size=5,
            max_overflow=20,
            pool_timeout=max(self._busy_timeout, 30),
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite (it would BEGIN lazily,
            # and always DEFERRED); the "begin" listener below emits BEGIN itself.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA synchronous = NORMAL")  # see _tx: durable commits are FULL
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get(_WRITE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def _tx(self, *, write: bool, durable: bool = False) -> Iterator[Connection]:
        """One transaction on a pooled connection; SQLAlchemy errors → StoreError.

        SQLite has one writer at a time.  Threads of this process queue for it on
        a Python lock instead of in SQLite's busy handler, which sleeps in steps
        of up to 100 ms and made 16 dispatch threads ~20x slower than one.

        SQLite runs WAL with ``synchronous=NORMAL``: a commit survives a crash
        of the process, and only a power cut or OS crash may lose the last
        ones.  ``durable`` commits (the attempt recorded before a platform is
        called) are synced to disk before they return, and with them every
        commit before them: after a power cut publisher may forget an outcome,
        never an attempt, and an attempt without an outcome is reconciled."""
        serial = self._write_lock if write and self.dialect == "sqlite" else nullcontext()
        try:
            with serial, self._engine.connect() as conn:
                full = durable and self.dialect == "sqlite"
                if full:
                    _sqlite_sync(conn, "FULL")
                try:
                    if write:
                        conn.execution_options(**{_WRITE: True})
                    with conn.begin():
                        yield conn
                finally:
                    if full:
                        _sqlite_sync(conn, "NORMAL")
        except SQLAlchemyError as e:
            mapped = _map_error(e, self._busy_timeout)
            if isinstance(mapped, StoreError) and _unavailable(e):
                self.health.failed(mapped)
            raise mapped from e
        if write:
            self.health.succeeded()

    def _read(self) -> Any:
        return self._tx(write=False)

    def _write(self) -> Any:
        return self._tx(write=True)

    def _insert(self, table: Any) -> Any:
        """The dialect's INSERT (for ON CONFLICT)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            return postgresql.insert(table)
        from sqlalchemy.dialects import sqlite  # imported when used: ~50 ms

        return sqlite.insert(table)

    # -- lifecycle -------------------------------------------------------

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: not migrated yet)."""
        try:
            with self._read() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except StoreError:
            return None

    def upgrade(self, *, fresh_fast: bool = True) -> None:
        """Apply Alembic migrations up to head (creates the SQLite file 0600).

        A database already at ``HEAD_REVISION`` is left alone without loading
        Alembic, which keeps every start of the CLI and the daemon fast.  An
        empty database (no table at all) gets the head schema at once from
        ``schema.metadata`` and is stamped ``HEAD_REVISION`` (Alembic's
        "build an up-to-date database from scratch"): the migrations build
        the same tables, columns, keys, indexes and checks, which
        ``tests/integration/test_store_fresh_schema.py`` compares on both
        backends.  ``fresh_fast=False`` runs the migrations even then."""
        revision = self.schema_revision()
        if revision == HEAD_REVISION:
            self._protect_files()
            return
        if revision is None and fresh_fast and self._create_fresh():
            self._protect_files()
            return
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("path_separator", "os")
        try:
            with self._write() as conn:
                if self.dialect == "postgresql":
                    # Two daemons starting together must not both create the tables.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                 {"key": _MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except CommandError as e:
            raise StoreError(f"cannot migrate the database: {_one_line(str(e))}") from e
        finally:
            cfg.attributes.pop("connection", None)
        self._protect_files()

    def _create_fresh(self) -> bool:
        """The head schema in an empty database, stamped; False (nothing
        written) when the database has any table."""
        from sqlalchemy import inspect

        from publisher.store.schema import metadata

        with self._write() as conn:
            if self.dialect == "postgresql":  # as in upgrade: one creator at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": _MIGRATION_LOCK_KEY})
            if inspect(conn).get_table_names():
                return False  # not empty (or another process just migrated it)
            metadata.create_all(conn)
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) "
                              "NOT NULL, CONSTRAINT alembic_version_pkc "
                              "PRIMARY KEY (version_num))"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": HEAD_REVISION})
        return True

    def _protect_files(self) -> None:
        if self._path is not None:
            for suffix in ("", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    os.chmod(f"{self._path}{suffix}", 0o600)

    def close(self) -> None:
        """Close every pooled connection and release the daemon lock."""
        self.release_daemon_lock()
        self._engine.dispose()

    def acquire_daemon_lock(self) -> None:
        """SQLite: flock ``<db>.lock`` until release or process exit (a killed
        process frees it with its file descriptors). PostgreSQL: no-op."""
        if self._path is None or self._lock_fd is not None:
            return
        lock_path = Path(f"{self._path}.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StoreError(f"cannot open the lock file {lock_path}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            finally:
                os.close(fd)
            raise AlreadyRunning(
                f"another publisher daemon (pid {holder}) is already running on {self._path}; "
                "stop it first or use PostgreSQL to run several") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def release_daemon_lock(self) -> None:
        """Release the lock taken by ``acquire_daemon_lock`` (if any)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def heartbeat(self, worker: str, *, now: datetime, host: str, pid: int,
                  stopping: bool = False, channels: Collection[str] | None = None) -> None:
        """Upsert the worker row; ``stopping`` sets stopped_at; ``channels``:
        the configured channel names it runs with (JSON)."""
        now = _aware(now)
        stopped = now if stopping else None
        names = json.dumps(sorted(channels)) if channels is not None else None
        stmt = self._insert(workers).values(id=worker, host=host, pid=pid, started_at=now,
                                            heartbeat_at=now, stopped_at=stopped,
                                            channels=names)
        stmt = stmt.on_conflict_do_update(
            index_elements=[workers.c.id],
            set_={"host": host, "pid": pid, "heartbeat_at": now, "stopped_at": stopped,
                  "channels": names},
        )
        with self._write() as conn:
            conn.execute(stmt)

    def workers(self) -> list[WorkerInfo]:
        """Every worker that ever sent a heartbeat, latest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(workers).order_by(workers.c.heartbeat_at.desc(), workers.c.id)).all()
        return [WorkerInfo(id=r.id, host=r.host, pid=r.pid, started_at=r.started_at,
                           heartbeat_at=r.heartbeat_at, stopped_at=r.stopped_at,
                           channels=(tuple(json.loads(r.channels))
                                     if r.channels is not None else None),
                           reloaded_at=r.reloaded_at, reload_error=r.reload_error)
                for r in rows]

    def record_reload(self, worker: str, *, now: datetime, error: str | None) -> None:
        """Note the outcome of the worker's reload (``error`` None: it took effect)."""
        with self._write() as conn:
            conn.execute(workers.update().where(workers.c.id == worker)
                         .values(reloaded_at=_aware(now), reload_error=error))
