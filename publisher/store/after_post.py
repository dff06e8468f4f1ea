"""Queries of a post's second life (issue 13): retracting an article,
requesting a delete or an edit of a published post, claiming that work under
a lease, and the publish-log rows it writes (kind, who, why, old/new text).

Mixed into ``publisher.store.db.Store`` like the other query groups.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from publisher.exceptions import NotFoundError
from publisher.store.rows import (
    _attempt,
    _attempt_select,
    _aware,
    _chunks,
    _item,
    _opt_aware,
    _post_select,
)
from publisher.store.schema import articles, attempts, posts
from publisher.types import (
    AFTER_POST_STATUSES,
    Attempt,
    AttemptKind,
    OutboxItem,
    Outcome,
    PostStatus,
)

_AFTER = [s.value for s in AFTER_POST_STATUSES]


class AfterPostQueries:
    """Retract/correct: the article's flag, the request, the claim, the log rows."""

    dialect: str
    _read: Any
    _write: Any
    _tx: Any

    # -- the article ---------------------------------------------------------------

    def mark_retracted(self, article_id: int, *, by: str, reason: str, now: datetime) -> bool:
        """Flag the article retracted (never planned again); True the first time."""
        now = _aware(now)
        with self._write() as conn:
            if conn.execute(select(articles.c.id).where(articles.c.id == article_id)
                            ).first() is None:
                raise NotFoundError(f"no article with id {article_id}")
            return bool(conn.execute(
                update(articles).where(articles.c.id == article_id,
                                       articles.c.retracted.is_(False))
                .values(retracted=True, retracted_at=now, retracted_by=by,
                        retract_reason=reason)).rowcount)

    def article_posts(self, article_id: int) -> list[OutboxItem]:
        """Every post of the article, oldest first."""
        with self._read() as conn:
            rows = conn.execute(_post_select().where(posts.c.article_id == article_id)
                                .order_by(posts.c.id)).all()
        return [_item(r) for r in rows]

    # -- the request -----------------------------------------------------------------

    def request_after(self, post_id: int, kind: AttemptKind, *,
                      expected: Collection[PostStatus], by: str, reason: str | None,
                      now: datetime, old_text: str | None = None,
                      new_text: str | None = None) -> bool:
        """Put a published post in DELETING (kind delete) or EDITING (edit,
        note) while its status is one of ``expected`` and no worker holds it,
        due now with a fresh attempts budget, and append the REQUESTED row
        (who, why, old/new text) in the same commit.  False when the post is
        not in ``expected`` any more."""
        now = _aware(now)
        status = PostStatus.DELETING if kind is AttemptKind.DELETE else PostStatus.EDITING
        with self._write() as conn:
            row = conn.execute(select(posts.c.channel, posts.c.attempts)
                               .where(posts.c.id == post_id)).first()
            if row is None:
                raise NotFoundError(f"no post with id {post_id}")
            changed = conn.execute(
                update(posts).where(posts.c.id == post_id,
                                    posts.c.status.in_([str(s) for s in expected]),
                                    posts.c.lease_owner.is_(None))
                .values(status=status.value, after_kind=kind.value,
                        pending_text=new_text if kind is not AttemptKind.DELETE else None,
                        attempts=0, next_attempt_at=None, due_at=now, updated_at=now,
                        last_error=None)).rowcount
            if not changed:
                return False
            conn.execute(insert(attempts).values(
                post_id=post_id, channel=row.channel, number=0, worker=by, started_at=now,
                finished_at=now, outcome=Outcome.REQUESTED.value, kind=kind.value, by=by,
                reason=reason, old_text=old_text, new_text=new_text))
        return True

    # -- the work ----------------------------------------------------------------------

    def claim_after(self, *, now: datetime, worker: str, lease_seconds: float, limit: int,
                    channels: Collection[str],
                    expired_before: datetime | None = None) -> list[OutboxItem]:
        """Lease up to ``limit`` due deletes and edits of these channels,
        including those whose worker's lease expired (before
        ``expired_before``, default now: a later time takes over leases of a
        process known dead): their STARTED row is closed as AMBIGUOUS ("lease
        expired") in the same transaction (the take-over), so the new holder
        settles it before calling again."""
        now = _aware(now)
        cutoff = _aware(expired_before, "expired_before") if expired_before else now
        if limit <= 0 or not channels:
            return []
        until = now + timedelta(seconds=lease_seconds)
        stmt = (_post_select()
                .where(posts.c.status.in_(_AFTER), posts.c.due_at <= now,
                       posts.c.channel.in_(sorted(set(channels))),
                       or_(posts.c.lease_owner.is_(None), posts.c.lease_expires_at <= cutoff))
                .order_by(posts.c.due_at, posts.c.id).limit(limit))
        if self.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=posts)
        with self._write() as conn:
            rows = conn.execute(stmt).all()
            _take_over(conn, [r.id for r in rows], now=now, owner=worker, until=until)
        return [replace(_item(r), lease_owner=worker, lease_expires_at=until) for r in rows]

    def after_history(self, post_id: int) -> list[Attempt]:
        """The post's log rows since its newest REQUESTED row (that row
        included, last), newest first: the current delete or edit."""
        with self._read() as conn:
            since = conn.execute(
                select(attempts.c.id).where(attempts.c.post_id == post_id,
                                            attempts.c.outcome == Outcome.REQUESTED.value)
                .order_by(attempts.c.id.desc()).limit(1)).scalar()
            if since is None:
                return []
            rows = conn.execute(_attempt_select().where(attempts.c.post_id == post_id,
                                                        attempts.c.id >= since)
                                .order_by(attempts.c.id.desc())).all()
        return [_attempt(r) for r in rows]

    def start_after_attempt(self, post_id: int, kind: AttemptKind, *, worker: str,
                            now: datetime, old_text: str | None = None,
                            new_text: str | None = None) -> Attempt | None:
        """Commit (durably) a STARTED row of ``kind`` and count it, only while
        ``worker`` holds an unexpired lease on the post; None otherwise."""
        now = _aware(now)
        with self._tx(write=True, durable=True) as conn:
            row = conn.execute(
                update(posts).where(posts.c.id == post_id, posts.c.status.in_(_AFTER),
                                    posts.c.lease_owner == worker,
                                    posts.c.lease_expires_at > now)
                .values(attempts=posts.c.attempts + 1, updated_at=now)
                .returning(posts.c.attempts, posts.c.channel)).first()
            if row is None:
                return None
            attempt_id = conn.execute(insert(attempts).values(
                post_id=post_id, channel=row.channel, number=row.attempts, worker=worker,
                started_at=now, outcome=Outcome.STARTED.value, kind=kind.value,
                old_text=old_text, new_text=new_text).returning(attempts.c.id)).scalar_one()
        return Attempt(id=attempt_id, post_id=post_id, channel=row.channel,
                       number=row.attempts, worker=worker, started_at=now,
                       outcome=Outcome.STARTED, kind=kind, old_text=old_text,
                       new_text=new_text)

    def finish_after(self, post_id: int, *, worker: str, now: datetime, kind: AttemptKind,
                     outcome: Outcome | None, status: PostStatus,
                     attempt_id: int | None = None, next_attempt_at: datetime | None = None,
                     error: str | None = None, http_status: int | None = None,
                     remote_id: str | None = None, remote_url: str | None = None,
                     applied_text: str | None = None) -> bool:
        """Close the worker's attempt (or append a row of ``outcome`` when
        there is none) and set the post's next state, fenced by the lease, in
        one commit.  ``applied_text``: an edit that is on the platform (the
        post's text becomes it).  False when the lease was lost (nothing
        written)."""
        now = _aware(now)
        next_attempt_at = _opt_aware(next_attempt_at, "next_attempt_at")
        values: dict[str, Any] = {
            "status": status.value, "lease_owner": None, "lease_expires_at": None,
            "next_attempt_at": next_attempt_at, "updated_at": now,
            "due_at": next_attempt_at if next_attempt_at is not None else now,
        }
        if status in (PostStatus.PUBLISHED, PostStatus.RETRACTED):
            values.update(pending_text=None, after_kind=None)
            values["last_error"] = error
        elif error is not None:
            values["last_error"] = error
        if applied_text is not None:
            values["text"] = applied_text
        with self._write() as conn:
            changed = conn.execute(update(posts).where(
                posts.c.id == post_id, posts.c.lease_owner == worker,
                posts.c.status.in_(_AFTER)).values(values)).rowcount
            if not changed:
                return False
            if attempt_id is not None:
                conn.execute(update(attempts).where(
                    attempts.c.id == attempt_id,
                    attempts.c.outcome == Outcome.STARTED.value).values(
                    outcome=(outcome or Outcome.OK).value, finished_at=now, error=error,
                    http_status=http_status, remote_id=remote_id, remote_url=remote_url))
            elif outcome is not None:
                post = conn.execute(select(posts.c.channel, posts.c.attempts)
                                    .where(posts.c.id == post_id)).one()
                conn.execute(insert(attempts).values(
                    post_id=post_id, channel=post.channel, number=post.attempts,
                    worker=worker, started_at=now, finished_at=now, outcome=outcome.value,
                    kind=kind.value, error=error, remote_id=remote_id, remote_url=remote_url))
        return True

    def log_after_event(self, post_id: int, kind: AttemptKind, *, worker: str, now: datetime,
                        outcome: Outcome, error: str | None = None, by: str | None = None,
                        reason: str | None = None) -> None:
        """Append a finished row of ``kind`` that is no platform call (a read
        back that found the post still there, a post cancelled by a retraction)."""
        now = _aware(now)
        with self._write() as conn:
            post = conn.execute(select(posts.c.channel, posts.c.attempts)
                                .where(posts.c.id == post_id)).first()
            if post is None:
                raise NotFoundError(f"no post with id {post_id}")
            conn.execute(insert(attempts).values(
                post_id=post_id, channel=post.channel, number=post.attempts, worker=worker,
                started_at=now, finished_at=now, outcome=outcome.value, kind=kind.value,
                error=error, by=by, reason=reason))

    def release_after(self, post_ids: Sequence[int], *, worker: str) -> int:
        """Give back leased deletes/edits no attempt was started for."""
        count = 0
        with self._write() as conn:
            for chunk in _chunks(sorted(set(post_ids))):
                count += conn.execute(update(posts).where(
                    posts.c.id.in_(chunk), posts.c.status.in_(_AFTER),
                    posts.c.lease_owner == worker).values(
                    lease_owner=None, lease_expires_at=None)).rowcount
        return count

    def orphan_after(self, *, now: datetime, worker: str) -> int:
        """Free every delete and edit leased by another worker (at start-up,
        under the SQLite daemon lock, when no other process can be alive):
        its STARTED row is closed as AMBIGUOUS ("lease expired") and its
        lease cleared in one transaction, so the next claim takes it and
        reads it back before calling again.  Returns how many."""
        now = _aware(now)
        with self._write() as conn:
            ids = [r.id for r in conn.execute(select(posts.c.id).where(
                posts.c.status.in_(_AFTER), posts.c.lease_owner.is_not(None),
                posts.c.lease_owner != worker))]
            _take_over(conn, ids, now=now, owner=None, until=None)
        return len(ids)

    def after_counts(self) -> dict[str, int]:
        """Posts deleting, editing and retracted (for ``status``)."""
        wanted = [*_AFTER, PostStatus.RETRACTED.value]
        with self._read() as conn:
            rows = conn.execute(select(posts.c.status, func.count()).where(
                posts.c.status.in_(wanted)).group_by(posts.c.status)).all()
        return {r[0]: r[1] for r in rows}


def _take_over(conn: Connection, ids: Sequence[int], *, now: datetime, owner: str | None,
               until: datetime | None) -> None:
    """Deletes/edits change hands: a STARTED row of theirs is closed as
    AMBIGUOUS ("lease expired", so the new holder reads it back before
    calling again), and the lease goes to ``owner`` (None: to nobody)."""
    for chunk in _chunks(ids):
        conn.execute(update(attempts).where(
            attempts.c.post_id.in_(chunk), attempts.c.outcome == Outcome.STARTED.value,
            attempts.c.kind != AttemptKind.PUBLISH.value)
            .values(outcome=Outcome.AMBIGUOUS.value, finished_at=now, error="lease expired"))
        conn.execute(update(posts).where(posts.c.id.in_(chunk)).values(
            lease_owner=owner, lease_expires_at=until, updated_at=now))


__all__ = ["AfterPostQueries"]
