"""The store's contract: every query the rest of publisher may make.

``Store`` is implemented in ``publisher/store/db.py``; this module fixes the
method names and meanings so services can be written against them.  All
datetimes in and out are timezone-aware UTC.  Every SQLAlchemy error is
mapped to ``StoreError`` inside the store.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from publisher.types import (
    Article,
    ArticleData,
    ArticleState,
    Attempt,
    AttemptKind,
    ChannelState,
    FeedKind,
    FeedState,
    NewPost,
    OutboxItem,
    Outcome,
    PostStatus,
    WorkerInfo,
)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed as configured."""

    name: str
    url: str
    kind: FeedKind


@dataclass(frozen=True, slots=True)
class Expired:
    """A post whose lease ran out, now re-leased to the worker that took it
    over, with its latest attempt (None when no attempt was ever started)."""

    post: OutboxItem
    last_attempt: Attempt | None


@dataclass(frozen=True, slots=True)
class Finish:
    """The outcome of one attempt, for ``finish_attempts``."""

    attempt_id: int
    worker: str
    now: datetime
    outcome: Outcome
    post_status: PostStatus
    next_attempt_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    #: False: the call was never made (the channel's gate closed, a stop), so
    #: the attempt does not count against the post's max_attempts.
    counted: bool = True


@dataclass(frozen=True, slots=True)
class PublishStats:
    """A channel's recent publishing, for caps, spacing and budgets."""

    last_published_at: datetime | None
    last_hour: int
    today: int
    month_with_link: int
    month_without_link: int
    today_with_link: int = 0


class StoreAPI(Protocol):
    url: str
    dialect: str  # "sqlite" or "postgresql"

    # -- lifecycle -------------------------------------------------------
    def upgrade(self, *, fresh_fast: bool = True) -> None:
        """Apply Alembic migrations up to head (creates the SQLite file 0600);
        an empty database gets the head schema at once unless ``fresh_fast``
        is False."""

    def close(self) -> None: ...

    def acquire_daemon_lock(self) -> None:
        """SQLite: take an exclusive lock (flock on ``<db>.lock``) held until
        ``release_daemon_lock``/process exit; raise ``AlreadyRunning`` naming the
        pid of the holder. PostgreSQL: no-op (several daemons share the work)."""

    def release_daemon_lock(self) -> None: ...

    def heartbeat(self, worker: str, *, now: datetime, host: str, pid: int,
                  stopping: bool = False, channels: Collection[str] | None = None) -> None:
        """Upsert the worker row; ``stopping`` sets stopped_at; ``channels``:
        the configured channel names it runs with."""

    def workers(self) -> list[WorkerInfo]: ...

    def record_reload(self, worker: str, *, now: datetime, error: str | None) -> None:
        """Note the outcome of the worker's reload (``error`` None: it took effect)."""

    # -- feeds -----------------------------------------------------------
    def sync_feeds(self, feeds: Sequence[FeedSpec], *, now: datetime) -> None:
        """Insert new feeds (due now), update kind/url of known ones (a changed
        url resets etag/last_modified/body_hash/seeded). Feeds no longer
        configured are kept (their history matters) but never returned by
        ``due_feeds``."""

    def get_feed(self, name: str) -> FeedState:
        """Raise NotFoundError for an unknown feed."""

    def list_feeds(self) -> list[FeedState]:
        """Configured (synced) feeds only, by name."""

    def due_feeds(self, *, now: datetime) -> list[FeedState]:
        """Configured feeds whose next_poll_at is null or <= now."""

    def record_poll_success(self, name: str, *, now: datetime, etag: str | None,
                            last_modified: str | None, body_hash: str | None,
                            next_poll_at: datetime) -> None:
        """Clears last_error and error_count, sets seeded, last_poll_at,
        last_success_at."""

    def record_poll_failure(self, name: str, *, now: datetime, error: str,
                            next_poll_at: datetime) -> int:
        """Stores the error, increments and returns error_count."""

    # -- articles --------------------------------------------------------
    def known(self, guids: Collection[str], urls: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of these guids and canonical urls any stored article has
        (across all feeds, never forgotten). Batched: one or two queries."""

    def add_articles(self, feed: str | None, items: Sequence[ArticleData], *,
                     state: ArticleState, now: datetime) -> list[Article]:
        """Insert the items that are not known by guid or by url, in one
        transaction, and return the inserted ones in the given order.  A
        concurrent insert of the same guid/url by another daemon is skipped,
        not an error (UNIQUE guid, UNIQUE url)."""

    def seed_feed(self, name: str, plan: Sequence[ArticleData], seen: Sequence[ArticleData],
                  *, now: datetime) -> tuple[list[Article], list[Article]] | None:
        """A feed's first poll, in one transaction: mark the feed seeded only
        if nobody has yet, and store ``plan`` as pending and ``seen`` as seen.
        None when another daemon seeded it first (nothing written): the
        caller decides again as for a later poll."""

    def pending_articles(self, *, limit: int = 100) -> list[Article]:
        """Articles in state PENDING, newest published first."""

    def get_article(self, article_id: int) -> Article: ...

    def find_article(self, url: str) -> Article | None:
        """By canonical url."""

    def save_plan(self, article_id: int, posts: Sequence[NewPost], *,
                  now: datetime) -> list[int]:
        """One transaction: insert the posts (a post for a channel the article
        already has is skipped: UNIQUE(article_id, channel)) and set the
        article to PLANNED. Returns the ids of the inserted posts.  Each post
        gets a fresh idempotency key (uuid4 hex), not_before = post.not_before
        or now."""

    def save_plans(self, plans: Sequence[tuple[int, Sequence[NewPost]]], *,
                   now: datetime) -> list[list[int]]:
        """``save_plan`` for several articles in one transaction: per plan
        the ids of its inserted posts.  An unknown article raises
        NotFoundError and nothing is written."""

    def mark_articles(self, article_ids: Collection[int], state: ArticleState) -> None: ...

    # -- the outbox ------------------------------------------------------
    def add_posts(self, posts: Sequence[NewPost], *, article_id: int | None,
                  now: datetime) -> list[int]:
        """Editor-made posts, one transaction."""

    def get_post(self, post_id: int) -> OutboxItem:
        """Raise NotFoundError for an unknown id."""

    def list_posts(self, *, statuses: Collection[PostStatus] | None = None,
                   channels: Collection[str] | None = None, since: datetime | None = None,
                   limit: int = 200) -> list[OutboxItem]:
        """Newest first."""

    def next_due(self, *, channels: Collection[str] | None = None) -> datetime | None:
        """The earliest due time of a claimable post (queued or waiting)."""

    def claim_due(self, *, now: datetime, worker: str, lease_seconds: float, limit: int,
                  channels: Collection[str], newest_first: bool = False,
                  only_breaking: bool = False) -> list[OutboxItem]:
        """Lease up to ``limit`` due posts of these channels: status QUEUED or
        WAITING with coalesce(next_attempt_at, not_before) <= now; breaking
        priority first, then low last, then by due time (or newest created
        first); ``only_breaking`` claims breaking posts only (quiet hours).  PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: one ``BEGIN IMMEDIATE`` transaction.
        Sets status PUBLISHING, lease_owner and lease_expires_at."""

    def start_attempt(self, post_id: int, *, worker: str, now: datetime) -> Attempt | None:
        """Commit an attempt row (STARTED, number = attempts + 1) and increment
        posts.attempts, only while ``worker`` holds the lease; None when the
        lease was lost."""

    def start_attempts(self, post_ids: Sequence[int], *, worker: str,
                       now: datetime) -> dict[int, Attempt]:
        """``start_attempt`` for several posts in one durable commit; posts
        whose lease was lost are missing from the result."""

    def finish_attempt(self, attempt_id: int, *, worker: str, now: datetime,
                       outcome: Outcome, post_status: PostStatus,
                       next_attempt_at: datetime | None = None,
                       http_status: int | None = None, error: str | None = None,
                       remote_id: str | None = None, remote_url: str | None = None) -> bool:
        """One transaction: the attempt's outcome, finished_at, http_status,
        error, remote id/url; and, only while ``worker`` holds the lease, the
        post's new status, next_attempt_at, last_error, remote id/url,
        published_at (when PUBLISHED) and the lease cleared; and the channel's
        health (last_success_at on OK, else last_error).  Returns False
        when the lease was lost (the attempt row is still completed).

        A late answer (a take-over already closed the attempt as AMBIGUOUS)
        is appended as a row of its own.  If it is OK the platform has the
        post, so the post becomes PUBLISHED whoever holds it now: the new
        holder must never send it again (returns True then)."""

    def finish_attempts(self, finishes: Sequence[Finish]) -> list[bool]:
        """``finish_attempt`` for several attempts in one commit."""

    def log_event(self, post_id: int, *, worker: str, now: datetime, outcome: Outcome,
                  error: str | None = None, remote_id: str | None = None,
                  remote_url: str | None = None) -> Attempt:
        """Append a finished row to the publish log that is not a platform
        call of its own (a reconcile result, stale, an editor's resolve).
        Its number is the post's current attempt count."""

    def set_post_status(self, post_id: int, status: PostStatus, *,
                        expected: Collection[PostStatus] | None = None,
                        worker: str | None = None, now: datetime,
                        error: str | None = None, next_attempt_at: datetime | None = None,
                        remote_id: str | None = None, remote_url: str | None = None) -> bool:
        """Compare-and-set: change status only if the current status is in
        ``expected`` (and, when ``worker`` is given, that worker holds the
        lease); clears the lease.  Returns whether it changed."""

    def release(self, post_ids: Collection[int], *, worker: str) -> int:
        """Give back leased posts that no attempt was started for (graceful
        stop): PUBLISHING -> QUEUED (WAITING when next_attempt_at is set)."""

    def take_over_expired(self, *, now: datetime, worker: str,
                          lease_seconds: float, limit: int = 100,
                          expired_before: datetime | None = None) -> list[Expired]:
        """Re-lease posts in PUBLISHING whose lease expired (before
        ``expired_before``, default ``now``) to ``worker`` (SKIP LOCKED on
        PostgreSQL); a STARTED last attempt is marked AMBIGUOUS ("lease
        expired") in the same transaction."""

    def set_checkpoint(self, post_id: int, checkpoint: str, *, worker: str) -> bool:
        """Durably store an adapter's checkpoint (e.g. a Threads container id)
        while ``worker`` holds the post's lease. OutboxItem.checkpoint reads it."""

    # -- channels --------------------------------------------------------
    def channel_states(self) -> dict[str, ChannelState]:
        """Every channel that has a row (rows are created on first write)."""

    def set_paused(self, channel: str, *, paused: bool, now: datetime,
                   reason: str | None = None, by: str | None = None,
                   auth_failed: bool = False) -> None: ...

    def set_rate_limited(self, channel: str, until: datetime | None) -> None:
        """Never moves an existing later ``until`` earlier unless ``until`` is None."""

    def record_channel_result(self, channel: str, *, now: datetime, ok: bool,
                              error: str | None = None) -> None: ...

    # -- the publish log and counts --------------------------------------
    def attempts(self, *, post_id: int | None = None, channel: str | None = None,
                 outcomes: Collection[Outcome] | None = None, since: datetime | None = None,
                 article_url: str | None = None, after_id: int | None = None,
                 limit: int = 200) -> list[Attempt]:
        """Oldest first when after_id is given (for --follow), else newest first."""

    # -- the desk's changes and look-ups (posts) ---------------------------

    def add_editor_posts(self, new_posts: Sequence[NewPost], *, now: datetime,
                         article_id: int | None = None,
                         article: ArticleData | None = None) -> tuple[int | None, list[int]]:
        """An editor's posts in one transaction; a fetched ``article`` is stored
        first as PLANNED so its feed never plans it again. Returns (article id,
        post ids)."""

    def article_channels(self, article_id: int) -> dict[str, tuple[int, PostStatus]]:
        """channel -> (post id, status) for the article's posts."""

    def articles_by_guid(self, guids: Collection[str]) -> dict[str, Article]:
        """The stored articles with these guids: guid -> article."""

    def recent_articles(self, feed: str, *, since: datetime) -> list[Article]:
        """The feed's articles published since ``since``, not retracted nor unpublished."""

    def update_article_text(self, article_id: int, *, title: str, summary: str,
                            updated: datetime | None) -> None:
        """Store the article's new title and summary."""

    def mark_unpublished(self, article_id: int, *, now: datetime) -> bool:
        """Note that the CMS unpublished the article; True the first time."""

    def unpublished_articles(self) -> list[Article]:
        """Unpublished by the CMS, not retracted, with a post still out."""

    def next_reshare(self, article_id: int, channel: str) -> int:
        """The number of the article's next re-share on ``channel`` (0: none there yet)."""

    def edit_post(self, post_id: int, *, expected: Collection[PostStatus], now: datetime,
                  changes: Mapping[str, Any]) -> bool:
        """Compare-and-set an editor's change while the status is in ``expected``
        and no worker holds the post."""

    def next_posts(self, *, now: datetime) -> dict[str, tuple[int, datetime]]:
        """Per channel, the post the dispatcher would take next: (id, due at)."""

    def overdue_posts(self, *, before: datetime,
                      limit: int = 500) -> list[tuple[int, str, str, datetime]]:
        """Queued or waiting posts due at or before ``before``: (id, channel,
        priority, due at), oldest due first."""

    def post_counts(self) -> dict[tuple[str, PostStatus], int]:
        """Number of posts per (channel, status)."""

    def publish_stats(self, channel: str, *, hour_start: datetime, day_start: datetime,
                      month_start: datetime) -> PublishStats:
        """Last publish time, and posts published since each start (the month's
        split by whether they carried a link, for cost)."""

    def count_posts(self, *, channel: str, created_by: str) -> int:
        """How many posts of the channel were made by ``created_by``
        (``recurring:<name>``: where a rotation of URLs has got to)."""

    # -- after the post (issue 13; publisher/store/after_post.py) ---------------------

    def mark_retracted(self, article_id: int, *, by: str, reason: str, now: datetime) -> bool:
        """Flag the article retracted (never planned again); True the first time."""

    def article_posts(self, article_id: int) -> list[OutboxItem]:
        """Every post of the article, oldest first."""

    def request_after(self, post_id: int, kind: AttemptKind, *,
                      expected: Collection[PostStatus], by: str, reason: str | None,
                      now: datetime, old_text: str | None = None,
                      new_text: str | None = None) -> bool:
        """Put a post in DELETING/EDITING (compare-and-set) with a REQUESTED row."""

    def claim_after(self, *, now: datetime, worker: str, lease_seconds: float, limit: int,
                    channels: Collection[str],
                    expired_before: datetime | None = None) -> list[OutboxItem]:
        """Lease due deletes/edits (taking over expired leases)."""

    def after_history(self, post_id: int) -> list[Attempt]:
        """The rows of the current delete/edit, newest first."""

    def start_after_attempt(self, post_id: int, kind: AttemptKind, *, worker: str,
                            now: datetime, old_text: str | None = None,
                            new_text: str | None = None) -> Attempt | None:
        """A durable STARTED row of ``kind`` while the lease is held."""

    def finish_after(self, post_id: int, *, worker: str, now: datetime, kind: AttemptKind,
                     outcome: Outcome | None, status: PostStatus,
                     attempt_id: int | None = None, next_attempt_at: datetime | None = None,
                     error: str | None = None, http_status: int | None = None,
                     remote_id: str | None = None, remote_url: str | None = None,
                     applied_text: str | None = None) -> bool:
        """Close the attempt and set the post's next state, fenced by the lease."""

    def log_after_event(self, post_id: int, kind: AttemptKind, *, worker: str, now: datetime,
                        outcome: Outcome, error: str | None = None, by: str | None = None,
                        reason: str | None = None) -> None:
        """Append a finished row of ``kind`` that is no platform call."""

    def release_after(self, post_ids: Sequence[int], *, worker: str) -> int:
        """Give back leased deletes/edits no attempt was started for."""

    def orphan_after(self, *, now: datetime, worker: str) -> int:
        """Free every delete and edit leased by another worker (start-up,
        no other process alive): STARTED rows closed AMBIGUOUS, leases cleared."""

    def after_counts(self) -> dict[str, int]:
        """Posts deleting, editing and retracted."""
