"""The posts and their attempts: the outbox (planned and editors' posts, the claim
and its lease, take-overs), the publish log (attempts started and finished),
the desk's changes, and the counts the timing rules and ``status`` read.

Every datetime in and out is aware UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    exists,
    func,
    insert,
    select,
    update,
)

from publisher.exceptions import NotFoundError
from publisher.store import listing
from publisher.store.api import Expired, Finish, PublishStats
from publisher.store.finishing import finish_usual
from publisher.store.rows import (
    _CLAIMABLE,
    _PRIORITY_RANK,
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
    ArticleData,
    ArticleState,
    Attempt,
    NewPost,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
)

#: Columns an editor's change may set (``edit_post``); ``due_at`` follows them.
EDITABLE = frozenset({"text", "channel", "not_before", "next_attempt_at", "expires_at",
                      "status", "attempts", "last_error", "priority"})
_DATES = frozenset({"not_before", "next_attempt_at", "expires_at"})


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}={value.isoformat()} is naive; the store takes aware UTC only")
    return value.astimezone(UTC)




class PostQueries:
    """Mixed into ``publisher.store.db.Store``, which provides the transactions."""

    _read: Any
    _write: Any
    _insert: Any
    _tx: Any
    _channel_upsert: Any
    dialect: str

    def _insert_posts(self, conn: Connection, new_posts: Sequence[NewPost],
                      article_id: int | None, now: datetime) -> list[int]:
        """Insert the posts of one article; the ids of those inserted."""
        return [i for i in self._insert_rows(conn, [(article_id, p) for p in new_posts], now)
                if i is not None]

    def _insert_rows(self, conn: Connection, rows: Sequence[tuple[int | None, NewPost]],
                     now: datetime) -> list[int | None]:
        """Insert posts (of any articles) with a few multi-row INSERTs; per
        row its id, or None when it was skipped (its idempotency key, or its
        article and channel, already taken)."""
        made: list[dict[str, Any]] = []
        for article_id, post in rows:
            not_before = _aware(post.not_before, "not_before") if post.not_before else now
            made.append({
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
                "created_at": now, "updated_at": now, "reshare": post.reshare,
            })
        # A post with a key of its own conflicts on that key, the others on
        # their article and channel: one statement per kind and 200 rows.
        keyed = [v for (_, p), v in zip(rows, made, strict=True) if p.idempotency_key]
        plain = [v for (_, p), v in zip(rows, made, strict=True) if not p.idempotency_key]
        ids: dict[str, int] = {}  # idempotency key -> id
        for values, unique in ((keyed, [posts.c.idempotency_key]),
                               (plain, [posts.c.article_id, posts.c.channel, posts.c.reshare])):
            for chunk in _chunks(values, 200):
                stmt = (self._insert(posts).values(list(chunk))
                        .on_conflict_do_nothing(index_elements=unique)
                        .returning(posts.c.id, posts.c.idempotency_key))
                ids.update((key, int(i)) for i, key in conn.execute(stmt))
        out: list[int | None] = []
        for v in made:  # a key given twice in one call: the first row has it
            out.append(ids.pop(v["idempotency_key"], None))
        return out

    @staticmethod
    def _require_article(conn: Connection, article_id: int) -> None:
        if conn.execute(select(articles.c.id).where(articles.c.id == article_id)).first() is None:
            raise NotFoundError(f"no article with id {article_id}")

    def save_plan(self, article_id: int, posts: Sequence[NewPost], *,
                  now: datetime) -> list[int]:
        """One transaction: insert the posts (skipping channels the article
        already has a post for) and set the article PLANNED. Returns the ids
        of the inserted posts."""
        return self.save_plans([(article_id, posts)], now=now)[0]

    def save_plans(self, plans: Sequence[tuple[int, Sequence[NewPost]]], *,
                   now: datetime) -> list[list[int]]:
        """``save_plan`` for several articles in one transaction (the
        planner's batch): per plan the ids of its inserted posts.  An
        unknown article raises NotFoundError and nothing is written."""
        now = _aware(now)
        if not plans:
            return []
        wanted = {article_id for article_id, _ in plans}
        with self._write() as conn:
            found: set[int] = set()
            for chunk in _chunks(sorted(wanted)):
                found.update(conn.execute(
                    update(articles).where(articles.c.id.in_(chunk))
                    .values(state=ArticleState.PLANNED.value)
                    .returning(articles.c.id)).scalars())
            if missing := wanted - found:
                raise NotFoundError(f"no article with id {min(missing)}")
            ids = self._insert_rows(
                conn, [(article_id, post) for article_id, new in plans for post in new], now)
        out: list[list[int]] = []
        flat = iter(ids)
        for _article_id, new in plans:
            out.append([i for i in (next(flat) for _ in new) if i is not None])
        return out

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
            held = []  # the posts this worker still holds, their attempts counted
            for chunk in _chunks(list(post_ids)):
                held += conn.execute(
                    update(posts)
                    .where(posts.c.id.in_(chunk),
                           posts.c.status == PostStatus.PUBLISHING.value,
                           posts.c.lease_owner == worker,
                           posts.c.lease_expires_at > now)
                    .values(attempts=posts.c.attempts + 1, updated_at=now)
                    .returning(posts.c.id, posts.c.attempts, posts.c.channel,
                               posts.c.article_id)).all()
            if not held:
                return started
            order = {post_id: i for i, post_id in enumerate(post_ids)}
            held.sort(key=lambda r: order[r.id])  # attempt ids follow the claim's order
            ids = dict(conn.execute(insert(attempts).values([
                {"post_id": r.id, "channel": r.channel, "number": r.attempts,
                 "worker": worker, "started_at": now, "outcome": Outcome.STARTED.value}
                for r in held]).returning(attempts.c.post_id, attempts.c.id)).all())
            urls = self._article_urls(conn, {r.article_id for r in held} - {None})
        for row in held:
            started[row.id] = Attempt(
                id=ids[row.id], post_id=row.id, channel=row.channel, number=row.attempts,
                worker=worker, started_at=now, outcome=Outcome.STARTED,
                article_url=urls.get(row.article_id))
        return started

    @staticmethod
    def _article_urls(conn: Connection, article_ids: Collection[int]) -> dict[int, str]:
        urls: dict[int, str] = {}
        for chunk in _chunks(sorted(article_ids)):
            urls.update(conn.execute(select(articles.c.id, articles.c.url)
                                     .where(articles.c.id.in_(chunk))).all())
        return urls

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
            usual = finish_usual(conn, finishes) if len(finishes) > 1 else [None]
            for f, done in zip(finishes, usual, strict=True):
                if done is None:
                    results.append(self._finish(conn, f, health))
                    continue
                results.append(done[0])
                health.setdefault(done[1], {}).update(
                    {"last_success_at": _aware(f.now)} if f.outcome == Outcome.OK
                    else {"last_error": f.error, "last_error_at": _aware(f.now)})
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
        result = {"finished_at": now, "outcome": outcome.value, "http_status": f.http_status,
                  "error": error, "remote_id": f.remote_id, "remote_url": f.remote_url}
        # The usual case in one statement: the STARTED row is closed.
        att = conn.execute(
            update(attempts)
            .where(attempts.c.id == f.attempt_id,
                   attempts.c.outcome == Outcome.STARTED.value)
            .values(result)
            .returning(attempts.c.post_id, attempts.c.channel)).first()
        closed = att is not None
        if att is None:
            att = conn.execute(select(attempts).where(attempts.c.id == f.attempt_id)).first()
            if att is None:
                raise NotFoundError(f"no attempt with id {f.attempt_id}")
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

    # -- the desk's changes and look-ups --------------------------------

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
        """The channels an article already has a post on: channel -> (post id,
        status) of its newest post there (a re-share, when there is one)."""
        stmt = (select(posts.c.channel, posts.c.id, posts.c.status)
                .where(posts.c.article_id == article_id).order_by(posts.c.reshare))
        with self._read() as conn:
            return {ch: (int(pid), PostStatus(st)) for ch, pid, st in conn.execute(stmt)}

    def next_reshare(self, article_id: int, channel: str) -> int:
        """The number the article's next re-share on ``channel`` takes (1 for
        the first; 0 when the article has no post there yet)."""
        stmt = select(func.max(posts.c.reshare)).where(posts.c.article_id == article_id,
                                                       posts.c.channel == channel)
        with self._read() as conn:
            top = conn.execute(stmt).scalar()
        return 0 if top is None else int(top) + 1

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
