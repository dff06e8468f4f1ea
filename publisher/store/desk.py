"""Queries for the editors' and ops' desk (the CLI's queue, log and status).

A mixin of ``Store``: methods here use the store's transactions
(``self._read()`` / ``self._write()``) and tables like the rest of it.
Every datetime in and out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select, update

from publisher.exceptions import NotFoundError
from publisher.store.schema import articles, posts
from publisher.types import CLAIMABLE_STATUSES, ArticleData, ArticleState, NewPost, PostStatus

#: Columns an editor's change may set (``edit_post``); ``due_at`` follows them.
EDITABLE = frozenset({"text", "channel", "not_before", "next_attempt_at", "expires_at",
                      "status", "attempts", "last_error", "priority"})
_DATES = frozenset({"not_before", "next_attempt_at", "expires_at"})
_CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}={value.isoformat()} is naive; the store takes aware UTC only")
    return value.astimezone(UTC)


class DeskQueries:
    """Mixed into ``publisher.store.db.Store``."""

    # Provided by Store.
    _read: Any
    _write: Any
    _insert: Any
    _insert_posts: Any

    def add_editor_posts(self, new_posts: Sequence[NewPost], *, now: datetime,
                         article_id: int | None = None,
                         article: ArticleData | None = None) -> tuple[int | None, list[int]]:
        """An editor's posts, in one transaction: with ``article`` (read from
        its page, not stored yet), the article is stored first as PLANNED, so
        a feed bringing it later does not plan it again.  Returns the
        article's id and the ids of the posts (a channel the article already
        has a post for is skipped)."""
        now = _utc(now, "now")
        with self._write() as conn:
            if article is not None:
                found = conn.execute(select(articles.c.id).where(
                    (articles.c.url == article.url) | (articles.c.guid == article.guid))).first()
                if found is not None:
                    article_id = int(found.id)
                else:
                    article_id = int(conn.execute(
                        self._insert(articles).values(
                            feed=None, guid=article.guid, url=article.url, title=article.title,
                            summary=article.summary, author=article.author,
                            categories=list(article.categories), tags=list(article.tags),
                            published=article.published and _utc(article.published, "published"),
                            updated=article.updated and _utc(article.updated, "updated"),
                            image_url=article.image.url if article.image else None,
                            image_alt=article.image.alt if article.image else None,
                            first_seen=now, state=ArticleState.PLANNED.value)
                        .returning(articles.c.id)).scalar_one())
            elif article_id is not None and conn.execute(
                    select(articles.c.id).where(articles.c.id == article_id)).first() is None:
                raise NotFoundError(f"no article with id {article_id}")
            ids = self._insert_posts(conn, new_posts, article_id, now)
        return article_id, ids

    def article_channels(self, article_id: int) -> dict[str, tuple[int, PostStatus]]:
        """The channels an article already has a post on: channel -> (post id, status)."""
        stmt = select(posts.c.channel, posts.c.id, posts.c.status).where(
            posts.c.article_id == article_id)
        with self._read() as conn:
            return {ch: (int(pid), PostStatus(st)) for ch, pid, st in conn.execute(stmt)}

    def edit_post(self, post_id: int, *, expected: Collection[PostStatus], now: datetime,
                  changes: Mapping[str, Any]) -> bool:
        """Compare-and-set an editor's change: only while the post's status is
        in ``expected`` and no worker holds it.  ``changes`` may set the
        columns in ``EDITABLE``; the due time follows not_before and
        next_attempt_at.  Returns whether the post changed; raises
        NotFoundError for an unknown post."""
        unknown = set(changes) - EDITABLE
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key in _DATES and value is not None:
                value = _utc(value, key)
            elif key in ("status", "priority"):
                value = str(value)
            values[key] = value
        not_before = values.get("not_before", posts.c.not_before)
        if "next_attempt_at" in values:
            next_at = values["next_attempt_at"]
            values["due_at"] = not_before if next_at is None else next_at
        elif "not_before" in values:
            values["due_at"] = func.coalesce(posts.c.next_attempt_at, not_before)
        values["updated_at"] = _utc(now, "now")
        stmt = (update(posts)
                .where(posts.c.id == post_id,
                       posts.c.status.in_([str(s) for s in expected]),
                       posts.c.lease_owner.is_(None))
                .values(values))
        with self._write() as conn:
            if conn.execute(stmt).rowcount:
                return True
            if conn.execute(select(posts.c.id).where(posts.c.id == post_id)).first() is None:
                raise NotFoundError(f"no post with id {post_id}")
        return False

    def next_posts(self, *, now: datetime) -> dict[str, tuple[int, datetime]]:
        """Per channel, the post the dispatcher would take next among the
        queued and waiting ones: those due now by priority (breaking first,
        low last) and due time, else the earliest due.  channel -> (post id,
        due at)."""
        now = _utc(now, "now")
        rank = case({"breaking": 0, "normal": 1, "low": 2}, value=posts.c.priority, else_=1)
        later = case((posts.c.due_at > now, 1), else_=0)
        numbered = (select(posts.c.id, posts.c.channel, posts.c.due_at,
                           func.row_number().over(
                               partition_by=posts.c.channel,
                               order_by=(later, rank, posts.c.due_at, posts.c.id)).label("n"))
                    .where(posts.c.status.in_(_CLAIMABLE))
                    .subquery())
        stmt = (select(numbered.c.channel, numbered.c.id, numbered.c.due_at)
                .where(numbered.c.n == 1).order_by(numbered.c.channel))
        with self._read() as conn:
            return {ch: (int(pid), self._aware_out(due)) for ch, pid, due in conn.execute(stmt)}

    def overdue_posts(self, *, before: datetime, limit: int = 500) -> list[tuple[int, str, str,
                                                                                 datetime]]:
        """Queued or waiting posts due at or before ``before``, oldest due first:
        (id, channel, priority, due at)."""
        stmt = (select(posts.c.id, posts.c.channel, posts.c.priority, posts.c.due_at)
                .where(posts.c.status.in_(_CLAIMABLE), posts.c.due_at <= _utc(before, "before"))
                .order_by(posts.c.due_at, posts.c.id).limit(limit))
        with self._read() as conn:
            return [(int(r.id), r.channel, r.priority, self._aware_out(r.due_at))
                    for r in conn.execute(stmt)]

    @staticmethod
    def _aware_out(value: datetime) -> datetime:
        # Row values of plain selects come through UTCDateTime already; a
        # window-function subquery may hand back the raw driver value.
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
