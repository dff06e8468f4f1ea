"""What the web desk's pages read that no other query gives: the queue by
due time (with the article's feed), and the last days' activity.

``DeskViews(store)`` reads through the store's own transactions (errors are
``StoreError`` like everywhere).  Each query is bounded (``limit``) and runs
on the indexes of the outbox (``due_at``) and of the log (``started_at``), so
a page costs the same with 10,000 posts as with 10.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select

from publisher.store.rows import _aware, _item, _post_select
from publisher.store.schema import articles, attempts, posts
from publisher.types import OutboxItem, Outcome, PostStatus


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

    def activity_counts(self, *, bounds: Sequence[datetime]
                        ) -> list[tuple[str, PostStatus, int, int]]:
        """(channel, status, day, posts) for posts published, failed or
        retracted between ``bounds[0]`` and ``bounds[-1]``; ``day`` is the
        index of the span ``bounds[day] <= t < bounds[day + 1]`` (the caller's
        local days), counted by the database."""
        bounds = [_aware(b, "bounds") for b in bounds]
        ended = [str(PostStatus.FAILED)]
        retracted = getattr(PostStatus, "RETRACTED", None)
        if retracted is not None:
            ended.append(str(retracted))
        at = case((posts.c.status == str(PostStatus.PUBLISHED), posts.c.published_at),
                  else_=posts.c.updated_at)
        day = case(*[(at < b, literal(i - 1)) for i, b in enumerate(bounds[1:], 1)],
                   else_=literal(len(bounds) - 1))
        stmt = (select(posts.c.channel, posts.c.status, day.label("day"),
                       func.count().label("n"))
                .where(or_(
                    and_(posts.c.status == str(PostStatus.PUBLISHED),
                         posts.c.published_at >= bounds[0], posts.c.published_at < bounds[-1]),
                    and_(posts.c.status.in_(ended), posts.c.updated_at >= bounds[0],
                         posts.c.updated_at < bounds[-1])))
                .group_by(posts.c.channel, posts.c.status, day.label("day")))
        with self._store._read() as conn:
            rows = conn.execute(stmt).all()
        return [(r.channel, PostStatus(r.status), int(r.day), int(r.n)) for r in rows]

    def publish_delays(self, *, since: datetime, limit: int = 100_000) -> list[tuple[str, float]]:
        """(channel, seconds from the article's publication to the post) for
        posts published since ``since`` from an article with a publication
        time; computed by the database (no datetime per row in Python)."""
        since = _aware(since, "since")
        if self._store.dialect == "postgresql":
            seconds: Any = func.extract("epoch", posts.c.published_at - articles.c.published)
        else:
            seconds = (func.julianday(posts.c.published_at)
                       - func.julianday(articles.c.published)) * 86400.0
        stmt = (select(posts.c.channel, seconds.label("seconds"))
                .select_from(posts.join(articles, posts.c.article_id == articles.c.id))
                .where(posts.c.status == str(PostStatus.PUBLISHED),
                       posts.c.published_at >= since, articles.c.published.is_not(None))
                .limit(limit))
        with self._store._read() as conn:
            rows = conn.execute(stmt).all()
        return [(r.channel, float(r.seconds)) for r in rows if r.seconds is not None]

    def due_marks(self, *, until: datetime, limit: int = 5000
                  ) -> list[tuple[int, str, PostStatus, datetime]]:
        """(id, channel, status, due at) of drafts, queued and waiting posts
        due before ``until``, soonest first: the week's calendar."""
        stmt = (select(posts.c.id, posts.c.channel, posts.c.status, posts.c.due_at)
                .where(posts.c.status.in_([str(PostStatus.DRAFT), str(PostStatus.QUEUED),
                                           str(PostStatus.WAITING)]),
                       posts.c.due_at < _aware(until, "until"))
                .order_by(posts.c.due_at).limit(limit))
        with self._store._read() as conn:
            rows = conn.execute(stmt).all()
        return [(r.id, r.channel, PostStatus(r.status), r.due_at) for r in rows]

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
