"""``Store``: the database behind publisher (SQLite or PostgreSQL).

One instance is shared by the daemon's threads: every public method borrows
a pooled connection for one short transaction.  On SQLite every transaction
that writes starts with ``BEGIN IMMEDIATE`` (taking the write lock up front,
so a read-then-write can never fail half-way with "database is locked"); on
PostgreSQL claims and take-overs lock their rows with ``FOR UPDATE SKIP
LOCKED`` so several daemons can share one database.

Every SQLAlchemy/DBAPI error is mapped to ``StoreError`` here and nowhere
else; nothing SQLAlchemy-shaped leaves this module.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    and_,
    case,
    create_engine,
    event,
    exists,
    func,
    insert,
    select,
    text,
    update,
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

from publisher.exceptions import AlreadyRunning, NotFoundError, StoreError
from publisher.store import listing, schema
from publisher.store.api import Expired, FeedSpec, Finish, PublishStats
from publisher.store.desk import DeskQueries
from publisher.store.migrations import HEAD_REVISION
from publisher.store.schema import articles, attempts, channels, feeds, posts, workers
from publisher.types import (
    CLAIMABLE_STATUSES,
    Article,
    ArticleData,
    ArticleState,
    Attempt,
    ChannelState,
    FeedKind,
    FeedState,
    Image,
    NewPost,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    WorkerInfo,
)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: SQLite waits this long for another writer before giving up.
BUSY_TIMEOUT_S = 30

#: IN lists are cut to this size (SQLite's and PostgreSQL's parameter limits).
CHUNK = 500

#: PostgreSQL advisory lock key serialising concurrent ``upgrade()`` calls.
_MIGRATION_LOCK_KEY = 0x7075626C  # "publ"

#: Connection execution option: this transaction writes (SQLite: BEGIN IMMEDIATE).
_WRITE = "publisher_write"

_PRIORITY_RANK = case(
    {Priority.BREAKING.value: 0, Priority.NORMAL.value: 1, Priority.LOW.value: 2},
    value=posts.c.priority,
    else_=1,
)
_CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]

T = TypeVar("T")


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


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _aware(value: datetime, name: str = "now") -> datetime:
    """Reject naive datetimes (a bug) and normalise to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}={value.isoformat()} is naive; the store takes aware UTC only")
    return value.astimezone(UTC)


def _opt_aware(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else _aware(value, name)


def _image(url: str | None, alt: str | None) -> Image | None:
    return Image(url, alt or "") if url else None


def _article(row: Row[Any]) -> Article:
    m = row._mapping
    data = ArticleData(
        guid=m["guid"], url=m["url"], title=m["title"], summary=m["summary"],
        author=m["author"], categories=tuple(m["categories"] or ()),
        tags=tuple(m["tags"] or ()), published=m["published"], updated=m["updated"],
        image=_image(m["image_url"], m["image_alt"]),
    )
    return Article(id=m["id"], feed=m["feed"], data=data, first_seen=m["first_seen"],
                   state=ArticleState(m["state"]))


def _feed(row: Row[Any]) -> FeedState:
    m = row._mapping
    return FeedState(
        name=m["name"], url=m["url"], kind=FeedKind(m["kind"]), etag=m["etag"],
        last_modified=m["last_modified"], body_hash=m["body_hash"], seeded=bool(m["seeded"]),
        next_poll_at=m["next_poll_at"], last_poll_at=m["last_poll_at"],
        last_success_at=m["last_success_at"], last_error=m["last_error"],
        error_count=m["error_count"],
    )


def _item(row: Row[Any]) -> OutboxItem:
    m = row._mapping
    return OutboxItem(
        id=m["id"], article_id=m["article_id"], channel=m["channel"],
        status=PostStatus(m["status"]), text=m["text"], link=m["link"],
        image=_image(m["image_url"], m["image_alt"]), priority=Priority(m["priority"]),
        idempotency_key=m["idempotency_key"], attempts=m["attempts"],
        created_at=m["created_at"], not_before=m["not_before"],
        next_attempt_at=m["next_attempt_at"], lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"], remote_id=m["remote_id"],
        remote_url=m["remote_url"], last_error=m["last_error"], template=m["template"],
        created_by=m["created_by"], published_at=m["published_at"],
        expires_at=m["expires_at"], checkpoint=m["checkpoint"],
        title=m["article_title"] or "",
        summary=m["article_summary"] or "",
    )


def _attempt(row: Row[Any]) -> Attempt:
    m = row._mapping
    return Attempt(
        id=m["id"], post_id=m["post_id"], channel=m["channel"], number=m["number"],
        worker=m["worker"], started_at=m["started_at"], outcome=Outcome(m["outcome"]),
        finished_at=m["finished_at"], http_status=m["http_status"], error=m["error"],
        remote_id=m["remote_id"], remote_url=m["remote_url"], article_url=m["article_url"],
    )


def _channel(row: Row[Any]) -> ChannelState:
    m = row._mapping
    return ChannelState(
        name=m["name"], paused=bool(m["paused"]), paused_reason=m["paused_reason"],
        paused_by=m["paused_by"], paused_at=m["paused_at"], auth_failed=bool(m["auth_failed"]),
        rate_limited_until=m["rate_limited_until"], last_success_at=m["last_success_at"],
        last_error=m["last_error"], last_error_at=m["last_error_at"],
    )


def _post_select() -> Select[Any]:
    """Posts with the title and summary of their article (for link cards)."""
    return select(
        posts,
        articles.c.title.label("article_title"),
        articles.c.summary.label("article_summary"),
    ).select_from(posts.outerjoin(articles, posts.c.article_id == articles.c.id))


def _attempt_select() -> Select[Any]:
    """Publish-log rows with the url of their post's article."""
    return select(attempts, articles.c.url.label("article_url")).select_from(
        attempts.join(posts, attempts.c.post_id == posts.c.id)
        .outerjoin(articles, posts.c.article_id == articles.c.id)
    )


def _data_utc(item: ArticleData) -> ArticleData:
    return replace(item, published=_opt_aware(item.published, "published"),
                   updated=_opt_aware(item.updated, "updated"))


def _sqlite_sync(conn: Connection, level: str) -> None:
    """Set ``PRAGMA synchronous`` outside any transaction (the DBAPI connection
    runs in autocommit mode, so this does not BEGIN)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    dbapi.execute(f"PRAGMA synchronous = {level}")


class Store(DeskQueries):
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
            raise _map_error(e, self._busy_timeout) from e

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

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head (creates the SQLite file 0600).

        A database already at ``HEAD_REVISION`` is left alone without loading
        Alembic, which keeps every start of the CLI and the daemon fast."""
        if self.schema_revision() == HEAD_REVISION:
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
                  stopping: bool = False) -> None:
        """Upsert the worker row; ``stopping`` sets stopped_at."""
        now = _aware(now)
        stopped = now if stopping else None
        stmt = self._insert(workers).values(id=worker, host=host, pid=pid, started_at=now,
                                            heartbeat_at=now, stopped_at=stopped)
        stmt = stmt.on_conflict_do_update(
            index_elements=[workers.c.id],
            set_={"host": host, "pid": pid, "heartbeat_at": now, "stopped_at": stopped},
        )
        with self._write() as conn:
            conn.execute(stmt)

    def workers(self) -> list[WorkerInfo]:
        """Every worker that ever sent a heartbeat, latest first."""
        with self._read() as conn:
            rows = conn.execute(
                select(workers).order_by(workers.c.heartbeat_at.desc(), workers.c.id)).all()
        return [WorkerInfo(id=r.id, host=r.host, pid=r.pid, started_at=r.started_at,
                           heartbeat_at=r.heartbeat_at, stopped_at=r.stopped_at) for r in rows]

    # -- feeds -----------------------------------------------------------

    def sync_feeds(self, feeds: Sequence[FeedSpec], *, now: datetime) -> None:
        """Insert new feeds (due now), update kind/url of known ones (a changed
        url resets etag/last_modified/body_hash/seeded and makes it due now).
        Feeds no longer configured are kept but marked unconfigured."""
        now = _aware(now)
        table = schema.feeds  # the parameter `feeds` shadows the table
        wanted = {spec.name: spec for spec in feeds}
        with self._write() as conn:
            known = {r.name: r for r in conn.execute(
                select(table.c.name, table.c.url, table.c.kind, table.c.configured))}
            for spec in wanted.values():
                kind = FeedKind(spec.kind).value
                row = known.get(spec.name)
                if row is None:
                    conn.execute(insert(table).values(
                        name=spec.name, url=spec.url, kind=kind, configured=True,
                        seeded=False, next_poll_at=now, error_count=0))
                    continue
                values: dict[str, Any] = {}
                if row.kind != kind:
                    values["kind"] = kind
                if not row.configured:
                    values["configured"] = True
                if row.url != spec.url:
                    values.update(url=spec.url, etag=None, last_modified=None, body_hash=None,
                                  seeded=False, next_poll_at=now)
                if values:
                    conn.execute(update(table).where(table.c.name == spec.name).values(values))
            gone = [name for name, row in known.items() if name not in wanted and row.configured]
            for chunk in _chunks(gone):
                conn.execute(update(table).where(table.c.name.in_(chunk)).values(configured=False))

    def get_feed(self, name: str) -> FeedState:
        """Raise NotFoundError for an unknown feed (configured or not)."""
        with self._read() as conn:
            row = conn.execute(select(feeds).where(feeds.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no feed named {name!r}")
        return _feed(row)

    def list_feeds(self) -> list[FeedState]:
        """Configured (synced) feeds only, by name."""
        with self._read() as conn:
            rows = conn.execute(
                select(feeds).where(feeds.c.configured.is_(True)).order_by(feeds.c.name)).all()
        return [_feed(r) for r in rows]

    def due_feeds(self, *, now: datetime) -> list[FeedState]:
        """Configured feeds whose next_poll_at is null or <= now, most overdue first."""
        now = _aware(now)
        stmt = (select(feeds)
                .where(feeds.c.configured.is_(True),
                       (feeds.c.next_poll_at.is_(None)) | (feeds.c.next_poll_at <= now))
                .order_by(feeds.c.next_poll_at.is_not(None), feeds.c.next_poll_at, feeds.c.name))
        with self._read() as conn:
            rows = conn.execute(stmt).all()
        return [_feed(r) for r in rows]

    def record_poll_success(self, name: str, *, now: datetime, etag: str | None,
                            last_modified: str | None, body_hash: str | None,
                            next_poll_at: datetime) -> None:
        """Clears last_error and error_count, sets seeded, last_poll_at,
        last_success_at, the validators and next_poll_at."""
        now = _aware(now)
        stmt = update(feeds).where(feeds.c.name == name).values(
            etag=etag, last_modified=last_modified, body_hash=body_hash,
            next_poll_at=_aware(next_poll_at, "next_poll_at"), last_poll_at=now,
            last_success_at=now, last_error=None, error_count=0, seeded=True)
        with self._write() as conn:
            if conn.execute(stmt).rowcount == 0:
                raise NotFoundError(f"no feed named {name!r}")

    def record_poll_failure(self, name: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """Stores the error, increments and returns error_count."""
        now = _aware(now)
        stmt = (update(feeds).where(feeds.c.name == name)
                .values(last_error=error, last_poll_at=now,
                        next_poll_at=_aware(next_poll_at, "next_poll_at"),
                        error_count=feeds.c.error_count + 1)
                .returning(feeds.c.error_count))
        with self._write() as conn:
            count = conn.execute(stmt).scalar()
        if count is None:
            raise NotFoundError(f"no feed named {name!r}")
        return int(count)

    # -- articles --------------------------------------------------------

    @staticmethod
    def _known(conn: Connection, guids: Iterable[str],
               urls: Iterable[str]) -> tuple[set[str], set[str]]:
        found_guids: set[str] = set()
        found_urls: set[str] = set()
        for chunk in _chunks(sorted(set(guids))):
            found_guids.update(conn.execute(
                select(articles.c.guid).where(articles.c.guid.in_(chunk))).scalars())
        for chunk in _chunks(sorted(set(urls))):
            found_urls.update(conn.execute(
                select(articles.c.url).where(articles.c.url.in_(chunk))).scalars())
        return found_guids, found_urls

    def known(self, guids: Collection[str], urls: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of these guids and canonical urls any stored article has
        (across all feeds, never forgotten)."""
        with self._read() as conn:
            return self._known(conn, guids, urls)

    def add_articles(self, feed: str | None, items: Sequence[ArticleData], *,
                     state: ArticleState, now: datetime) -> list[Article]:
        """Insert the items not known by guid or by url (nor repeated earlier
        in ``items``), in one transaction; return the inserted ones in order.
        A concurrent insert of the same guid/url is skipped, not an error."""
        now = _aware(now)
        state = ArticleState(state)
        fresh: list[ArticleData] = []
        seen_guids: set[str] = set()
        seen_urls: set[str] = set()
        for item in items:
            if item.guid in seen_guids or item.url in seen_urls:
                continue
            seen_guids.add(item.guid)
            seen_urls.add(item.url)
            fresh.append(_data_utc(item))
        if not fresh:
            return []
        ids: dict[str, int] = {}
        with self._write() as conn:
            known_guids, known_urls = self._known(conn, seen_guids, seen_urls)
            fresh = [it for it in fresh if it.guid not in known_guids and it.url not in known_urls]
            for chunk in _chunks(fresh, 200):
                rows = [{
                    "feed": feed, "guid": it.guid, "url": it.url, "title": it.title,
                    "summary": it.summary, "author": it.author,
                    "categories": list(it.categories), "tags": list(it.tags),
                    "published": it.published, "updated": it.updated,
                    "image_url": it.image.url if it.image else None,
                    "image_alt": it.image.alt if it.image else None,
                    "first_seen": now, "state": state.value,
                } for it in chunk]
                # ON CONFLICT DO NOTHING (no target): another daemon may have
                # inserted the same guid or url since we looked.  Executed as
                # "many" so the statement compiles once, whatever the batch size.
                stmt = (self._insert(articles).on_conflict_do_nothing()
                        .returning(articles.c.id, articles.c.guid))
                ids.update({guid: id_ for id_, guid in conn.execute(stmt, rows)})
        return [Article(id=ids[it.guid], feed=feed, data=it, first_seen=now, state=state)
                for it in fresh if it.guid in ids]

    def pending_articles(self, *, limit: int = 100) -> list[Article]:
        """Articles in state PENDING, newest published first (first_seen when
        there is no published date)."""
        stmt = (select(articles).where(articles.c.state == ArticleState.PENDING.value)
                .order_by(func.coalesce(articles.c.published, articles.c.first_seen).desc(),
                          articles.c.id.desc())
                .limit(limit))
        with self._read() as conn:
            return [_article(r) for r in conn.execute(stmt)]

    def get_article(self, article_id: int) -> Article:
        """Raise NotFoundError for an unknown id."""
        with self._read() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).first()
        if row is None:
            raise NotFoundError(f"no article with id {article_id}")
        return _article(row)

    def find_article(self, url: str) -> Article | None:
        """By canonical url."""
        with self._read() as conn:
            row = conn.execute(select(articles).where(articles.c.url == url)).first()
        return None if row is None else _article(row)

    def _insert_posts(self, conn: Connection, new_posts: Sequence[NewPost],
                      article_id: int | None, now: datetime) -> list[int]:
        ids: list[int] = []
        for post in new_posts:
            not_before = _aware(post.not_before, "not_before") if post.not_before else now
            values = {
                "article_id": article_id, "channel": post.channel,
                # Not coerced through the enums: the CHECK constraints are the guard.
                "status": str(post.status), "priority": str(post.priority),
                "text": post.text, "link": post.link,
                "image_url": post.image.url if post.image else None,
                "image_alt": post.image.alt if post.image else None,
                "template": post.template, "not_before": not_before, "next_attempt_at": None,
                "due_at": not_before, "expires_at": _opt_aware(post.expires_at, "expires_at"),
                "attempts": 0, "idempotency_key": post.idempotency_key or uuid.uuid4().hex,
                "last_error": post.last_error, "created_by": post.created_by,
                "created_at": now, "updated_at": now,
            }
            unique = ([posts.c.idempotency_key] if post.idempotency_key
                      else [posts.c.article_id, posts.c.channel])
            stmt = (self._insert(posts).values(values)
                    .on_conflict_do_nothing(index_elements=unique)
                    .returning(posts.c.id))
            post_id = conn.execute(stmt).scalar()
            if post_id is not None:
                ids.append(int(post_id))
        return ids

    @staticmethod
    def _require_article(conn: Connection, article_id: int) -> None:
        if conn.execute(select(articles.c.id).where(articles.c.id == article_id)).first() is None:
            raise NotFoundError(f"no article with id {article_id}")

    def save_plan(self, article_id: int, posts: Sequence[NewPost], *,
                  now: datetime) -> list[int]:
        """One transaction: insert the posts (skipping channels the article
        already has a post for) and set the article PLANNED. Returns the ids
        of the inserted posts."""
        now = _aware(now)
        with self._write() as conn:
            self._require_article(conn, article_id)
            ids = self._insert_posts(conn, posts, article_id, now)
            conn.execute(update(articles).where(articles.c.id == article_id)
                         .values(state=ArticleState.PLANNED.value))
        return ids

    def mark_articles(self, article_ids: Collection[int], state: ArticleState) -> None:
        """Set the state of these articles."""
        state = ArticleState(state)
        ids = sorted(set(article_ids))
        with self._write() as conn:
            for chunk in _chunks(ids):
                conn.execute(update(articles).where(articles.c.id.in_(chunk))
                             .values(state=state.value))

    # -- the outbox ------------------------------------------------------

    def add_posts(self, posts: Sequence[NewPost], *, article_id: int | None,
                  now: datetime) -> list[int]:
        """Editor-made posts, one transaction.  A channel the article already
        has a post for is skipped (its id is missing from the result)."""
        now = _aware(now)
        with self._write() as conn:
            if article_id is not None:
                self._require_article(conn, article_id)
            return self._insert_posts(conn, posts, article_id, now)

    def get_post(self, post_id: int) -> OutboxItem:
        """Raise NotFoundError for an unknown id."""
        with self._read() as conn:
            row = conn.execute(_post_select().where(posts.c.id == post_id)).first()
        if row is None:
            raise NotFoundError(f"no post with id {post_id}")
        return _item(row)

    def list_posts(self, *, statuses: Collection[PostStatus] | None = None,
                   channels: Collection[str] | None = None, since: datetime | None = None,
                   limit: int = 200) -> list[OutboxItem]:
        """Newest (created) first; ``since`` filters on created_at.  The
        statement is ``publisher.store.listing``'s, which ``queue list`` also
        runs through the driver alone."""
        query = listing.list_posts_sql(self.dialect, statuses=statuses, channels=channels,
                                       since=_aware(since, "since") if since else None,
                                       limit=limit)
        if query is None:
            return []
        with self._read() as conn:
            return [listing.item_from_row(r) for r in conn.exec_driver_sql(*query)]

    def next_due(self, *, channels: Collection[str] | None = None) -> datetime | None:
        """The earliest due time of a claimable post (queued or waiting)."""
        stmt = select(func.min(posts.c.due_at)).where(posts.c.status.in_(_CLAIMABLE))
        if channels is not None:
            if not channels:
                return None
            stmt = stmt.where(posts.c.channel.in_(list(channels)))
        with self._read() as conn:
            value = conn.execute(stmt).scalar()
        return value

    def claim_due(self, *, now: datetime, worker: str, lease_seconds: float, limit: int,
                  channels: Collection[str], newest_first: bool = False,
                  only_breaking: bool = False) -> list[OutboxItem]:
        """Lease up to ``limit`` due posts of these channels: breaking first,
        low last, then by due time (or newest created first).  One SELECT
        (FOR UPDATE SKIP LOCKED on PostgreSQL, inside BEGIN IMMEDIATE on
        SQLite) and one UPDATE."""
        now = _aware(now)
        if limit <= 0 or not channels:
            return []
        lease_until = now + timedelta(seconds=lease_seconds)
        order = ((posts.c.created_at.desc(), posts.c.id.desc()) if newest_first
                 else (posts.c.due_at, posts.c.id))
        stmt = (_post_select()
                .where(posts.c.status.in_(_CLAIMABLE), posts.c.due_at <= now,
                       posts.c.channel.in_(sorted(set(channels))))
                .order_by(_PRIORITY_RANK, *order)
                .limit(limit))
        if only_breaking:
            stmt = stmt.where(posts.c.priority == Priority.BREAKING.value)
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=posts)
        with self._write() as conn:
            rows = conn.execute(stmt).all()
            ids = [r.id for r in rows]
            for chunk in _chunks(ids):
                conn.execute(update(posts).where(posts.c.id.in_(chunk)).values(
                    status=PostStatus.PUBLISHING.value, lease_owner=worker,
                    lease_expires_at=lease_until, updated_at=now))
        return [replace(_item(r), status=PostStatus.PUBLISHING, lease_owner=worker,
                        lease_expires_at=lease_until) for r in rows]

    @staticmethod
    def _article_url(conn: Connection, article_id: int | None) -> str | None:
        if article_id is None:
            return None
        return conn.execute(
            select(articles.c.url).where(articles.c.id == article_id)).scalar()

    def start_attempt(self, post_id: int, *, worker: str, now: datetime) -> Attempt | None:
        """Commit a STARTED attempt (number = attempts + 1) and count it, only
        while ``worker`` holds an unexpired lease on the post; None otherwise."""
        return self.start_attempts([post_id], worker=worker, now=now).get(post_id)

    def start_attempts(self, post_ids: Sequence[int], *, worker: str,
                       now: datetime) -> dict[int, Attempt]:
        """``start_attempt`` for several posts in one durable commit (what the
        dispatcher does for a batch it just claimed)."""
        now = _aware(now)
        started: dict[int, Attempt] = {}
        if not post_ids:
            return started
        with self._tx(write=True, durable=True) as conn:
            for post_id in post_ids:
                held = (update(posts)
                        .where(posts.c.id == post_id,
                               posts.c.status == PostStatus.PUBLISHING.value,
                               posts.c.lease_owner == worker,
                               posts.c.lease_expires_at > now)
                        .values(attempts=posts.c.attempts + 1, updated_at=now)
                        .returning(posts.c.attempts, posts.c.channel, posts.c.article_id))
                row = conn.execute(held).first()
                if row is None:
                    continue
                attempt_id = conn.execute(
                    insert(attempts).values(post_id=post_id, channel=row.channel,
                                            number=row.attempts, worker=worker, started_at=now,
                                            outcome=Outcome.STARTED.value)
                    .returning(attempts.c.id)).scalar_one()
                started[post_id] = Attempt(
                    id=attempt_id, post_id=post_id, channel=row.channel, number=row.attempts,
                    worker=worker, started_at=now, outcome=Outcome.STARTED,
                    article_url=self._article_url(conn, row.article_id))
        return started

    def finish_attempt(self, attempt_id: int, *, worker: str, now: datetime,
                       outcome: Outcome, post_status: PostStatus,
                       next_attempt_at: datetime | None = None,
                       http_status: int | None = None, error: str | None = None,
                       remote_id: str | None = None, remote_url: str | None = None) -> bool:
        """Record the attempt's outcome and, only while ``worker`` holds the
        lease, the post's new state (lease cleared).  Returns False when the
        lease was lost.

        The log stays append-only: if a take-over already closed the STARTED
        row as AMBIGUOUS, that row is kept and this late answer is appended
        as a row of its own (same number and started_at), and an OK late
        answer publishes the post whoever holds it now.  Finishing an
        attempt that is already finished otherwise changes no log row (so a
        retried call is harmless)."""
        [changed] = self.finish_attempts([Finish(
            attempt_id=attempt_id, worker=worker, now=now, outcome=outcome,
            post_status=post_status, next_attempt_at=next_attempt_at,
            http_status=http_status, error=error, remote_id=remote_id,
            remote_url=remote_url)])
        return changed

    def finish_attempts(self, finishes: Sequence[Finish]) -> list[bool]:
        """``finish_attempt`` for several attempts in one commit (the
        dispatcher's group commit); one bool each."""
        results: list[bool] = []
        health: dict[str, dict[str, Any]] = {}
        with self._write() as conn:
            for f in finishes:
                results.append(self._finish(conn, f, health))
            # Each channel's health once per commit, last: on PostgreSQL its
            # row is shared by every daemon, so its lock is held briefly.
            for channel in sorted(health):
                conn.execute(self._channel_upsert(channel, health[channel]))
        return results

    def _finish(self, conn: Connection, f: Finish, health: dict[str, dict[str, Any]]) -> bool:
        """One attempt's outcome; the channel's health goes into ``health``."""
        now = _aware(f.now)
        next_attempt_at = _opt_aware(f.next_attempt_at, "next_attempt_at")
        outcome = Outcome(f.outcome)
        error = f.error
        att = conn.execute(select(attempts).where(attempts.c.id == f.attempt_id)).first()
        if att is None:
            raise NotFoundError(f"no attempt with id {f.attempt_id}")
        result = {"finished_at": now, "outcome": outcome.value, "http_status": f.http_status,
                  "error": error, "remote_id": f.remote_id, "remote_url": f.remote_url}
        closed = conn.execute(
            update(attempts)
            .where(attempts.c.id == f.attempt_id,
                   attempts.c.outcome == Outcome.STARTED.value)
            .values(result)).rowcount
        if not closed and att.outcome == Outcome.AMBIGUOUS.value:
            late = "late answer after the lease expired"
            conn.execute(insert(attempts).values({
                **result, "post_id": att.post_id, "channel": att.channel,
                "number": att.number, "worker": f.worker, "started_at": att.started_at,
                "error": f"{late}: {error}" if error else late}))
            if outcome == Outcome.OK:
                # The platform has the post.  Another worker holds it now (or
                # decided its fate): whatever it was about to do, the post is
                # published and must not be sent again.
                published = conn.execute(
                    update(posts)
                    .where(posts.c.id == att.post_id,
                           posts.c.status != PostStatus.PUBLISHED.value)
                    .values(status=PostStatus.PUBLISHED.value, remote_id=f.remote_id,
                            remote_url=f.remote_url, published_at=now, last_error=None,
                            next_attempt_at=None, due_at=posts.c.not_before,
                            lease_owner=None, lease_expires_at=None, updated_at=now)).rowcount
                health.setdefault(att.channel, {})["last_success_at"] = now
                return bool(published)
        values: dict[str, Any] = {
            "status": str(f.post_status), "next_attempt_at": next_attempt_at,
            "due_at": next_attempt_at if next_attempt_at is not None else posts.c.not_before,
            "last_error": error, "lease_owner": None, "lease_expires_at": None,
            "updated_at": now,
        }
        if f.remote_id is not None:
            values["remote_id"] = f.remote_id
        if f.remote_url is not None:
            values["remote_url"] = f.remote_url
        if f.post_status == PostStatus.PUBLISHED:
            values["published_at"] = now
        if not f.counted:
            values["attempts"] = posts.c.attempts - 1
        changed = conn.execute(
            update(posts)
            .where(posts.c.id == att.post_id,
                   posts.c.status == PostStatus.PUBLISHING.value,
                   posts.c.lease_owner == f.worker)
            .values(values)).rowcount
        # The channel's health moves with its posts, in the same commit.
        health.setdefault(att.channel, {}).update(
            {"last_success_at": now} if outcome == Outcome.OK
            else {"last_error": error, "last_error_at": now})
        return bool(changed)

    def log_event(self, post_id: int, *, worker: str, now: datetime, outcome: Outcome,
                  error: str | None = None, remote_id: str | None = None,
                  remote_url: str | None = None) -> Attempt:
        """Append a finished publish-log row that is no platform call of its
        own; its number is the post's current attempt count."""
        now = _aware(now)
        outcome = Outcome(outcome)
        with self._write() as conn:
            post = conn.execute(select(posts.c.attempts, posts.c.channel, posts.c.article_id)
                                .where(posts.c.id == post_id)).first()
            if post is None:
                raise NotFoundError(f"no post with id {post_id}")
            attempt_id = conn.execute(
                insert(attempts).values(
                    post_id=post_id, channel=post.channel, number=post.attempts, worker=worker,
                    started_at=now, finished_at=now, outcome=outcome.value, error=error,
                    remote_id=remote_id, remote_url=remote_url)
                .returning(attempts.c.id)).scalar_one()
            article_url = self._article_url(conn, post.article_id)
        return Attempt(id=attempt_id, post_id=post_id, channel=post.channel,
                       number=post.attempts, worker=worker, started_at=now, outcome=outcome,
                       finished_at=now, error=error, remote_id=remote_id,
                       remote_url=remote_url, article_url=article_url)

    def set_post_status(self, post_id: int, status: PostStatus, *,
                        expected: Collection[PostStatus] | None = None,
                        worker: str | None = None, now: datetime,
                        error: str | None = None, next_attempt_at: datetime | None = None,
                        remote_id: str | None = None, remote_url: str | None = None) -> bool:
        """Compare-and-set the status (when it is in ``expected``, and ``worker``
        holds the lease if given); clears the lease.  ``error``, ``remote_id``
        and ``remote_url`` are written only when given; next_attempt_at always.
        Raises NotFoundError for an unknown post."""
        now = _aware(now)
        next_attempt_at = _opt_aware(next_attempt_at, "next_attempt_at")
        values: dict[str, Any] = {
            "status": str(status), "next_attempt_at": next_attempt_at,
            "due_at": next_attempt_at if next_attempt_at is not None else posts.c.not_before,
            "lease_owner": None, "lease_expires_at": None, "updated_at": now,
        }
        if error is not None:
            values["last_error"] = error
        if remote_id is not None:
            values["remote_id"] = remote_id
        if remote_url is not None:
            values["remote_url"] = remote_url
        if status == PostStatus.PUBLISHED:
            values["published_at"] = now
        stmt = update(posts).where(posts.c.id == post_id).values(values)
        if expected is not None:
            stmt = stmt.where(posts.c.status.in_([str(s) for s in expected]))
        if worker is not None:
            stmt = stmt.where(posts.c.lease_owner == worker)
        with self._write() as conn:
            if conn.execute(stmt).rowcount:
                return True
            if conn.execute(select(posts.c.id).where(posts.c.id == post_id)).first() is None:
                raise NotFoundError(f"no post with id {post_id}")
        return False

    def set_checkpoint(self, post_id: int, checkpoint: str, *, worker: str) -> bool:
        """Store an adapter's checkpoint for the post while ``worker`` holds its
        lease; committed before it returns."""
        stmt = (update(posts)
                .where(posts.c.id == post_id, posts.c.lease_owner == worker,
                       posts.c.status == PostStatus.PUBLISHING.value)
                .values(checkpoint=checkpoint))
        with self._write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def release(self, post_ids: Collection[int], *, worker: str) -> int:
        """Give back leased posts that no attempt was started for (graceful
        stop): PUBLISHING -> QUEUED (WAITING when next_attempt_at is set).
        Returns how many were given back."""
        started = exists().where(attempts.c.post_id == posts.c.id,
                                 attempts.c.outcome == Outcome.STARTED.value)
        back = case((posts.c.next_attempt_at.is_not(None), PostStatus.WAITING.value),
                    else_=PostStatus.QUEUED.value)
        count = 0
        with self._write() as conn:
            for chunk in _chunks(sorted(set(post_ids))):
                count += conn.execute(
                    update(posts)
                    .where(posts.c.id.in_(chunk),
                           posts.c.status == PostStatus.PUBLISHING.value,
                           posts.c.lease_owner == worker, ~started)
                    .values(status=back, lease_owner=None, lease_expires_at=None)).rowcount
        return count

    def take_over_expired(self, *, now: datetime, worker: str,
                          lease_seconds: float, limit: int = 100,
                          expired_before: datetime | None = None) -> list[Expired]:
        """Re-lease to ``worker`` the posts in PUBLISHING whose lease expired
        (lease_expires_at <= ``expired_before``, default now); a STARTED last
        attempt is closed as AMBIGUOUS ("lease expired") in the same transaction."""
        now = _aware(now)
        cutoff = _aware(expired_before) if expired_before is not None else now
        if limit <= 0:
            return []
        lease_until = now + timedelta(seconds=lease_seconds)
        stmt = (_post_select()
                .where(posts.c.status == PostStatus.PUBLISHING.value,
                       posts.c.lease_expires_at <= cutoff)
                .order_by(posts.c.lease_expires_at, posts.c.id)
                .limit(limit))
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=posts)
        expired: list[Expired] = []
        with self._write() as conn:
            rows = conn.execute(stmt).all()
            ids = [r.id for r in rows]
            last: dict[int, Attempt] = {}
            for chunk in _chunks(ids):
                latest = (select(func.max(attempts.c.id)).where(attempts.c.post_id.in_(chunk))
                          .group_by(attempts.c.post_id))
                for a in conn.execute(_attempt_select().where(attempts.c.id.in_(latest))):
                    last[a.post_id] = _attempt(a)
            ambiguous = [a.id for a in last.values() if a.outcome == Outcome.STARTED]
            for chunk in _chunks(ambiguous):
                conn.execute(update(attempts)
                             .where(attempts.c.id.in_(chunk),
                                    attempts.c.outcome == Outcome.STARTED.value)
                             .values(outcome=Outcome.AMBIGUOUS.value, finished_at=now,
                                     error="lease expired"))
            for chunk in _chunks(ids):
                conn.execute(update(posts).where(posts.c.id.in_(chunk)).values(
                    lease_owner=worker, lease_expires_at=lease_until, updated_at=now))
        for r in rows:
            attempt = last.get(r.id)
            if attempt is not None and attempt.outcome == Outcome.STARTED:
                attempt = replace(attempt, outcome=Outcome.AMBIGUOUS, finished_at=now,
                                  error="lease expired")
            post = replace(_item(r), lease_owner=worker, lease_expires_at=lease_until)
            expired.append(Expired(post=post, last_attempt=attempt))
        return expired

    # -- channels --------------------------------------------------------

    def channel_states(self) -> dict[str, ChannelState]:
        """Every channel that has a row (rows are created on first write)."""
        with self._read() as conn:
            rows = conn.execute(select(channels).order_by(channels.c.name)).all()
        return {r.name: _channel(r) for r in rows}

    def _channel_upsert(self, name: str, values: dict[str, Any],
                        on_conflict: dict[str, Any] | None = None) -> Any:
        stmt = self._insert(channels).values(name=name, **values)
        return stmt.on_conflict_do_update(index_elements=[channels.c.name],
                                          set_=on_conflict if on_conflict is not None else values)

    def _upsert_channel(self, name: str, values: dict[str, Any],
                        on_conflict: dict[str, Any] | None = None) -> None:
        with self._write() as conn:
            conn.execute(self._channel_upsert(name, values, on_conflict))

    def set_paused(self, channel: str, *, paused: bool, now: datetime,
                   reason: str | None = None, by: str | None = None,
                   auth_failed: bool = False) -> None:
        """Pause (with reason, who, when, whether for failed credentials) or
        resume (clears all of those) a channel."""
        now = _aware(now)
        if paused:
            values = {"paused": True, "paused_reason": reason, "paused_by": by,
                      "paused_at": now, "auth_failed": auth_failed}
        else:
            values = {"paused": False, "paused_reason": None, "paused_by": None,
                      "paused_at": None, "auth_failed": False}
        self._upsert_channel(channel, values)

    def set_rate_limited(self, channel: str, until: datetime | None) -> None:
        """Never moves an existing later ``until`` earlier unless ``until`` is None."""
        if until is None:
            self._upsert_channel(channel, {"rate_limited_until": None})
            return
        until = _aware(until, "until")
        stmt = self._insert(channels).values(name=channel, rate_limited_until=until)
        current = channels.c.rate_limited_until
        later = case((current > stmt.excluded.rate_limited_until, current),
                     else_=stmt.excluded.rate_limited_until)
        stmt = stmt.on_conflict_do_update(index_elements=[channels.c.name],
                                          set_={"rate_limited_until": later})
        with self._write() as conn:
            conn.execute(stmt)

    def record_channel_result(self, channel: str, *, now: datetime, ok: bool,
                              error: str | None = None) -> None:
        """ok: last_success_at = now; else last_error and last_error_at."""
        now = _aware(now)
        if ok:
            values: dict[str, Any] = {"last_success_at": now}
        else:
            values = {"last_error": error, "last_error_at": now}
        self._upsert_channel(channel, values)

    # -- the publish log and counts --------------------------------------

    def attempts(self, *, post_id: int | None = None, channel: str | None = None,
                 outcomes: Collection[Outcome] | None = None, since: datetime | None = None,
                 article_url: str | None = None, after_id: int | None = None,
                 limit: int = 200) -> list[Attempt]:
        """Oldest first when after_id is given (for --follow), else newest first.
        ``since`` filters on started_at."""
        stmt = _attempt_select()
        if post_id is not None:
            stmt = stmt.where(attempts.c.post_id == post_id)
        if channel is not None:
            stmt = stmt.where(attempts.c.channel == channel)
        if outcomes is not None:
            stmt = stmt.where(attempts.c.outcome.in_([str(o) for o in outcomes]))
        if since is not None:
            stmt = stmt.where(attempts.c.started_at >= _aware(since, "since"))
        if article_url is not None:
            stmt = stmt.where(articles.c.url == article_url)
        if after_id is not None:
            stmt = stmt.where(attempts.c.id > after_id).order_by(attempts.c.id)
        else:
            stmt = stmt.order_by(attempts.c.id.desc())
        with self._read() as conn:
            return [_attempt(r) for r in conn.execute(stmt.limit(limit))]

    def post_counts(self) -> dict[tuple[str, PostStatus], int]:
        """Number of posts per (channel, status)."""
        stmt = (select(posts.c.channel, posts.c.status, func.count())
                .group_by(posts.c.channel, posts.c.status))
        with self._read() as conn:
            return {(ch, PostStatus(st)): n for ch, st, n in conn.execute(stmt)}

    def publish_stats(self, channel: str, *, hour_start: datetime, day_start: datetime,
                      month_start: datetime) -> PublishStats:
        """What the timing rules need to know about a channel, in one query."""
        p = posts.c
        published = p.published_at
        link = p.link.is_not(None)

        def since(start: datetime, *extra: Any) -> Any:
            return func.coalesce(func.sum(case(
                (and_(published >= _aware(start), *extra), 1), else_=0)), 0)

        stmt = select(
            func.max(published), since(hour_start), since(day_start),
            since(month_start, link), since(month_start, ~link), since(day_start, link),
        ).where(p.channel == channel, p.status == PostStatus.PUBLISHED.value,
                published >= _aware(min(hour_start, day_start, month_start)))
        last_stmt = select(func.max(published)).where(
            p.channel == channel, p.status == PostStatus.PUBLISHED.value)
        with self._read() as conn:
            row = conn.execute(stmt).one()
            last = conn.execute(last_stmt).scalar()
        return PublishStats(last_published_at=last, last_hour=int(row[1]), today=int(row[2]),
                            month_with_link=int(row[3]), month_without_link=int(row[4]),
                            today_with_link=int(row[5]))

    def count_posts(self, *, channel: str, created_by: str) -> int:
        """How many posts of the channel were made by ``created_by``."""
        stmt = select(func.count()).select_from(posts).where(
            posts.c.channel == channel, posts.c.created_by == created_by)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())
