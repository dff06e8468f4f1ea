"""The web desk's people and their sign-in sessions.

``UserStore(store)`` keeps the ``users`` and ``desk_sessions`` tables
(migration ``0002_users``) through the store's own transactions, so every
SQLAlchemy error becomes a one-line ``StoreError`` as everywhere else.  A
session is kept by the sha256 of its cookie's token, never the token; a
user's password only as its argon2 hash (``publisher.services.users``
hashes).  Every datetime in and out is aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from publisher.exceptions import InputError, NotFoundError
from publisher.store.rows import _aware
from publisher.store.schema import desk_sessions, users


class Role(StrEnum):
    """What a person may do at the desk (``services.users.may`` decides)."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OPS = "ops"


@dataclass(frozen=True, slots=True)
class User:
    """A person of the desk.  ``password_hash`` is an argon2 PHC string."""

    id: int
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    password_changed_at: datetime
    password_hash: str = ""

    def __repr__(self) -> str:  # the hash never reaches a log line
        return f"User(id={self.id}, name={self.name!r}, role={self.role}, " \
               f"disabled={self.disabled})"


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A signed-in session and its person."""

    user: User
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime


def _user(r: Any) -> User:
    return User(id=r.id, name=r.name, role=Role(r.role), disabled=bool(r.disabled),
                created_at=_aware(r.created_at),
                password_changed_at=_aware(r.password_changed_at),
                password_hash=r.password_hash)


class UserStore:
    """People and sessions, in ``store``'s database (a ``publisher.store.Store``)."""

    def __init__(self, store: Any):
        self._store = store

    # -- people ------------------------------------------------------------

    def add_user(self, name: str, role: Role, password_hash: str, *, now: datetime) -> User:
        """A new person; ``InputError`` when the name is taken."""
        now = _aware(now)
        with self._store._write() as conn:
            if conn.execute(select(users.c.id).where(users.c.name == name)).first():
                raise InputError(f'user "{name}" exists already')
            conn.execute(insert(users).values(
                name=name, role=str(role), password_hash=password_hash, disabled=False,
                created_at=now, password_changed_at=now))
            row = conn.execute(select(users).where(users.c.name == name)).one()
        return _user(row)

    def get_user(self, name: str) -> User | None:
        with self._store._read() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with self._store._read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [_user(r) for r in rows]

    def count_active(self) -> int:
        """People who can sign in (the desk is off while there are none)."""
        with self._store._read() as conn:
            return int(conn.execute(select(func.count()).select_from(users)
                                    .where(users.c.disabled.is_(False))).scalar_one())

    def set_password(self, name: str, password_hash: str, *, now: datetime) -> None:
        """A new password; every session of that person ends."""
        now = _aware(now)
        with self._store._write() as conn:
            user_id = self._id(conn, name)
            conn.execute(update(users).where(users.c.id == user_id).values(
                password_hash=password_hash, password_changed_at=now))
            conn.execute(delete(desk_sessions).where(desk_sessions.c.user_id == user_id))

    def set_role(self, name: str, role: Role) -> None:
        with self._store._write() as conn:
            user_id = self._id(conn, name)
            conn.execute(update(users).where(users.c.id == user_id).values(role=str(role)))

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable (every session ends at once) or enable a person."""
        with self._store._write() as conn:
            user_id = self._id(conn, name)
            conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
            if disabled:
                conn.execute(delete(desk_sessions).where(desk_sessions.c.user_id == user_id))

    @staticmethod
    def _id(conn: Any, name: str) -> int:
        user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if user_id is None:
            raise NotFoundError(f'no user "{name}" (see `publisher users list`)')
        return int(user_id)

    # -- sessions ----------------------------------------------------------

    def add_session(self, token_hash: str, user_id: int, *, now: datetime,
                    expires_at: datetime) -> None:
        now = _aware(now)
        with self._store._write() as conn:
            conn.execute(insert(desk_sessions).values(
                token_hash=token_hash, user_id=user_id, created_at=now,
                expires_at=_aware(expires_at), last_seen_at=now))

    def session(self, token_hash: str) -> SessionRow | None:
        """The session kept under ``token_hash`` with its person (expired or
        not: ``services.users.session_verdict`` decides)."""
        stmt = (select(desk_sessions, users)
                .join(users, users.c.id == desk_sessions.c.user_id)
                .where(desk_sessions.c.token_hash == token_hash))
        with self._store._read() as conn:
            r = conn.execute(stmt).first()
        if r is None:
            return None
        return SessionRow(user=_user(r), created_at=_aware(r.created_at),
                          expires_at=_aware(r.expires_at),
                          last_seen_at=_aware(r.last_seen_at))

    def touch_session(self, token_hash: str, *, now: datetime, expires_at: datetime) -> None:
        with self._store._write() as conn:
            conn.execute(update(desk_sessions)
                         .where(desk_sessions.c.token_hash == token_hash)
                         .values(last_seen_at=_aware(now), expires_at=_aware(expires_at)))

    def end_session(self, token_hash: str) -> None:
        with self._store._write() as conn:
            conn.execute(delete(desk_sessions).where(desk_sessions.c.token_hash == token_hash))

    def purge_sessions(self, *, now: datetime) -> int:
        """Forget expired sessions; how many."""
        with self._store._write() as conn:
            result = conn.execute(delete(desk_sessions)
                                  .where(desk_sessions.c.expires_at <= _aware(now)))
        return int(result.rowcount or 0)
