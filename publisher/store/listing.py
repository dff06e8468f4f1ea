"""The outbox's listing: one SQL statement and one row reader, on two kinds
of connection.

``Store.list_posts`` runs ``list_posts_sql`` on its SQLAlchemy connection
and reads each row with ``item_from_row``.  ``open_reader(url)`` runs the
same statement and reader on a connection of the database driver alone
(``sqlite3``, or psycopg for PostgreSQL), read-only, for ``publisher queue
list``: importing SQLAlchemy takes longer than the whole command may.  The
query exists once, here; the two connections differ only in how they are
opened (tests run both on both databases).

``open_reader`` returns ``None`` for anything it does not handle itself (a
SQLite URL with options, another driver, a database at another schema
revision); the caller then uses ``Store``, which handles or reports it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from publisher.exceptions import StoreError
from publisher.store.migrations import HEAD_REVISION
from publisher.types import Image, OutboxItem, PostStatus, Priority

#: Waits this long for a connection (PostgreSQL) or a lock (SQLite).
TIMEOUT_S = 10

#: ``posts`` columns in ``OutboxItem`` order, then the article's title and summary.
_COLUMNS = ("id", "article_id", "channel", "status", "text", "link", "image_url", "image_alt",
            "priority", "idempotency_key", "attempts", "created_at", "not_before",
            "next_attempt_at", "lease_owner", "lease_expires_at", "remote_id", "remote_url",
            "last_error", "template", "created_by", "published_at", "expires_at", "checkpoint",
            "reshare")
_DATES = frozenset({"created_at", "not_before", "next_attempt_at", "lease_expires_at",
                    "published_at", "expires_at"})
_SELECT = (
    "SELECT " + ", ".join(f"p.{c}" for c in _COLUMNS)
    + ", a.title, a.summary FROM posts p LEFT OUTER JOIN articles a ON p.article_id = a.id"
)
#: How SQLAlchemy stores a datetime in SQLite (naive UTC).
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL, else ``None``."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            return Path(url.removeprefix(prefix).split("?", 1)[0]).expanduser()
    return None


def require_file(path: Path) -> None:
    """Refuse a SQLite database file that does not exist yet (reading must
    not create it): ``StoreError`` saying how to make one."""
    if not path.is_file() or path.stat().st_size == 0:
        raise StoreError(f"no database at {path}: start the daemon (publisher run) or "
                         "run `publisher db upgrade` first")


def require_database(url: str) -> None:
    """``require_file`` for the database at ``url`` when it is SQLite."""
    path = sqlite_path(url)
    if path is not None:
        require_file(path)


def _one_line(exc: BaseException, secret: str | None = None) -> str:
    """The first line of an error, without the database password."""
    text = str(exc)
    if secret:
        text = text.replace(secret, "***").replace(unquote(secret), "***")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bind_time(value: datetime, dialect: str) -> Any:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"since={value.isoformat()} is naive; the store takes aware UTC only")
    value = value.astimezone(UTC)
    return value.strftime(_SQLITE_TIME) if dialect == "sqlite" else value


def list_posts_sql(dialect: str, *, statuses: Collection[PostStatus] | None = None,
                   channels: Collection[str] | None = None, since: datetime | None = None,
                   limit: int = 200) -> tuple[str, tuple[Any, ...]] | None:
    """The statement of ``list_posts`` and its parameters in the driver's
    style (``?`` for sqlite3, ``%s`` for psycopg); ``None`` when an empty
    filter means no rows.  Newest (created) first; ``since`` filters on
    created_at."""
    mark = "?" if dialect == "sqlite" else "%s"
    where: list[str] = []
    params: list[Any] = []
    for column, values in (("status", statuses), ("channel", channels)):
        if values is None:
            continue
        if not values:
            return None
        where.append(f"p.{column} IN ({', '.join([mark] * len(values))})")
        params.extend(str(v) for v in values)
    if since is not None:
        where.append(f"p.created_at >= {mark}")
        params.append(_bind_time(since, dialect))
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY p.created_at DESC, p.id DESC LIMIT {mark}"
    params.append(int(limit))
    return sql, tuple(params)


def item_from_row(row: Sequence[Any]) -> OutboxItem:
    """An ``OutboxItem`` from a row of ``list_posts_sql``."""
    m = dict(zip(_COLUMNS, row, strict=False))
    for name in _DATES:
        m[name] = _time(m[name])
    title, summary = row[len(_COLUMNS):]
    url, alt = m.pop("image_url"), m.pop("image_alt")
    image = Image(url, alt or "") if url else None
    return OutboxItem(**{**m, "status": PostStatus(m["status"]),
                         "priority": Priority(m["priority"]), "image": image,
                         "title": title or "", "summary": summary or ""})


class PostReader:
    """``list_posts`` of ``Store``, read-only, on one connection of the driver."""

    def __init__(self, conn: Any, dialect: str):
        self._conn = conn
        self.dialect = dialect

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> PostReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def revision(self) -> str | None:
        try:
            cursor = self._conn.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
        except Exception:  # no such table: never migrated
            return None
        return None if row is None else str(row[0])

    def list_posts(self, *, statuses: Collection[PostStatus] | None = None,
                   channels: Collection[str] | None = None, since: datetime | None = None,
                   limit: int = 200) -> list[OutboxItem]:
        """Newest (created) first; ``since`` filters on created_at."""
        query = list_posts_sql(self.dialect, statuses=statuses, channels=channels, since=since,
                               limit=limit)
        if query is None:
            return []
        try:
            rows = self._conn.execute(*query).fetchall()
        except Exception as exc:  # sqlite3.Error or psycopg.Error
            raise StoreError(f"database error: {_one_line(exc)}") from None
        return [item_from_row(row) for row in rows]


def _open_sqlite(path: Path) -> PostReader:
    try:
        conn = sqlite3.connect(path.resolve(), timeout=TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        raise StoreError(f"database unavailable: {_one_line(exc)}") from None
    return PostReader(conn, "sqlite")


def _open_postgresql(url: str) -> PostReader | None:
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        return None
    try:
        parts = urlsplit(url)
        password, _ = parts.password, parts.port
    except ValueError:  # a malformed port or address: Store says what is wrong
        return None
    try:
        import psycopg
    except ImportError:
        return None
    # Query parameters are libpq's (SQLAlchemy hands them to psycopg the same way).
    timeout: dict[str, Any] = (
        {} if "connect_timeout" in parts.query else {"connect_timeout": TIMEOUT_S})
    try:
        conn = psycopg.connect(f"postgresql://{rest}", autocommit=True, **timeout)
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    except psycopg.OperationalError as exc:
        raise StoreError(f"database unavailable: {_one_line(exc, password)}") from None
    except psycopg.Error:  # a parameter libpq does not know: Store reports it
        return None
    return PostReader(conn, "postgresql")


def open_reader(url: str) -> PostReader | None:
    """A reader for the database at ``url``, or ``None`` when ``Store`` must
    handle it.  Raises ``StoreError`` when the database is missing or down."""
    path = sqlite_path(url)
    if path is not None:
        if "?" in url:
            return None
        require_database(url)
        reader: PostReader | None = _open_sqlite(path)
    elif urlsplit(url).scheme.startswith("postgres"):
        reader = _open_postgresql(url)
    else:
        return None
    if reader is not None and reader.revision() != HEAD_REVISION:
        reader.close()
        return None
    return reader
