"""What the web desk's pages read that no other query gives: the queue by
due time (with the article's feed), and the last days' activity.

``DeskViews(store)`` reads through the store's own transactions (errors are
``StoreError`` like everywhere).  Each query is bounded (``limit``) and runs
on the indexes of the outbox (``due_at``) and of the log (``started_at``), so
a page costs the same with 10,000 posts as with 10.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from publisher.store.rows import _aware, _item, _post_select
from publisher.store.schema import articles, attempts, posts
from publisher.types import OutboxItem, Outcome, PostStatus


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One post's part in the activity picture."""

    channel: str
    status: PostStatus
    #: When it went out (published), or when it ended otherwise (its last change).
    at: datetime
    #: The article's publication time, for the delay to the post.
    article_published: datetime | None


class DeskViews:
    def __init__(self, store: Any):
        self._store = store

    def upcoming(self, *, statuses: Collection[PostStatus], channels: Collection[str] | None,
                 feed: str | None = None, until: datetime | None = None,
                 limit: int = 200) -> list[tuple[OutboxItem, str | None]]:
        """Posts in ``statuses`` by due time (soonest first), with their
        article's feed; due no later than ``until`` when given."""
        stmt = _post_select().add_columns(articles.c.feed.label("article_feed")).where(
            posts.c.status.in_([str(s) for s in statuses]))
        if channels:
            stmt = stmt.where(posts.c.channel.in_(list(channels)))
        if feed:
            stmt = stmt.where(articles.c.feed == feed)
        if until is not None:
            stmt = stmt.where(posts.c.due_at <= _aware(until, "until"))
        stmt = stmt.order_by(posts.c.due_at, posts.c.id).limit(limit)
        with self._store._read() as conn:
            rows = conn.execute(stmt).all()
        return [(_item(r), r._mapping["article_feed"]) for r in rows]

    def activity(self, *, since: datetime, limit: int = 100_000) -> list[ActivityRow]:
        """Posts published since ``since``, and posts that failed (or were
        retracted) since then."""
        since = _aware(since, "since")
        ended = [str(PostStatus.FAILED)]
        retracted = getattr(PostStatus, "RETRACTED", None)
        if retracted is not None:
            ended.append(str(retracted))
        stmt = (select(posts.c.channel, posts.c.status, posts.c.published_at,
                       posts.c.updated_at, articles.c.published)
                .select_from(posts.outerjoin(articles, posts.c.article_id == articles.c.id))
                .where(or_(
                    and_(posts.c.status == str(PostStatus.PUBLISHED),
                         posts.c.published_at >= since),
                    and_(posts.c.status.in_(ended), posts.c.updated_at >= since)))
                .limit(limit))
        with self._store._read() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for r in rows:
            status = PostStatus(r.status)
            at = r.published_at if status is PostStatus.PUBLISHED else r.updated_at
            out.append(ActivityRow(r.channel, status, at, r.published))
        return out

    def last_attempt_id(self) -> int:
        """The newest publish-log row's id (0: none), for live updates."""
        with self._store._read() as conn:
            value = conn.execute(select(attempts.c.id).order_by(attempts.c.id.desc())
                                 .limit(1)).scalar()
        return int(value or 0)

    def failures_since(self, since: datetime) -> int:
        with self._store._read() as conn:
            rows = conn.execute(select(attempts.c.id).where(
                attempts.c.outcome == str(Outcome.FAILED),
                attempts.c.started_at >= _aware(since, "since")).limit(1000)).all()
        return len(rows)
