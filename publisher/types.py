"""Plain domain types shared by every stage.

Everything here is a frozen dataclass or a ``StrEnum`` and imports nothing
from the package, so any module may depend on it.  Values handed from one
stage to the next are named for their role:

- ``ArticleData``: what a source made of a feed entry (not stored yet).
- ``Article``: an article as the store knows it.
- ``RenderedPost``: a post's text as rendering produced it for one channel.
- ``NewPost``: what the planner asks the store to put in the outbox.
- ``OutboxItem``: a post in the outbox, as read back from the store.
- ``PublishRequest`` / ``PublishResult``: what a channel adapter is given
  and what it answers when a post went out.
- ``Attempt``: one row of the publish log.

Every datetime is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PostStatus(StrEnum):
    """Where a post is in its life (see DESIGN.md, "A post's life")."""

    DRAFT = "draft"  # waits for an editor's approval
    QUEUED = "queued"  # due at not_before
    PUBLISHING = "publishing"  # claimed by a worker under a lease
    WAITING = "waiting"  # retry or rate limit: due again at next_attempt_at
    PUBLISHED = "published"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NEEDS_REVIEW = "needs_review"  # ambiguous on a review-class channel
    # After the post (issue 13): a published post being corrected or taken down.
    EDITING = "editing"  # an edit or a correction note is due (pending_text)
    DELETING = "deleting"  # its article was retracted: the delete is due
    RETRACTED = "retracted"  # taken down from the platform

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset({PostStatus.PUBLISHED, PostStatus.FAILED, PostStatus.CANCELLED,
                             PostStatus.RETRACTED})

#: Statuses of a published post's second life, worked by the dispatcher.
AFTER_POST_STATUSES = (PostStatus.EDITING, PostStatus.DELETING)

#: Statuses a worker may claim when due.
CLAIMABLE_STATUSES = (PostStatus.QUEUED, PostStatus.WAITING)


class Outcome(StrEnum):
    """The outcome of one attempt in the publish log."""

    STARTED = "started"  # recorded before the platform call; no answer yet
    OK = "ok"
    RETRYING = "retrying"  # transient failure, another attempt is scheduled
    RATE_LIMITED = "rate_limited"
    FAILED = "failed"  # permanent, attempts used up, or stale
    AUTH_FAILED = "auth_failed"
    AMBIGUOUS = "ambiguous"  # may or may not have reached the platform
    RECONCILED = "reconciled"  # an ambiguous attempt found published on the platform
    NOT_FOUND = "not_found"  # an ambiguous attempt found absent: retried
    NEEDS_REVIEW = "needs_review"  # ambiguous on a channel that cannot tell
    REQUESTED = "requested"  # an editor (or the daemon) asked for a delete or an edit


class AttemptKind(StrEnum):
    """What a row of the publish log is about (issue 13)."""

    PUBLISH = "publish"
    DELETE = "delete"
    EDIT = "edit"
    NOTE = "note"  # a correction note: a reply to the original


class DeliveryClass(StrEnum):
    """What a channel can tell us after an ambiguous attempt (DESIGN.md)."""

    IDEMPOTENT = "idempotent"  # retry with the same key; the platform drops the copy
    RECONCILABLE = "reconcilable"  # read recent posts to find it
    REVIEW = "review"  # an editor decides


class Priority(StrEnum):
    BREAKING = "breaking"
    NORMAL = "normal"
    LOW = "low"


class FeedKind(StrEnum):
    RSS = "rss"  # RSS or Atom, parsed by feedparser
    WORDPRESS = "wordpress"  # the WordPress REST API


class ArticleState(StrEnum):
    """Whether the planner has turned an article into posts."""

    PENDING = "pending"  # waiting for the planner
    PLANNED = "planned"
    SEEN = "seen"  # known but never to be posted (first poll, too old, no route)


@dataclass(frozen=True, slots=True)
class Image:
    """An image to attach: where it is and its alt text from the CMS."""

    url: str
    alt: str = ""


@dataclass(frozen=True, slots=True)
class ArticleData:
    """An article as a source read it, normalised, before it is stored."""

    guid: str
    url: str  # absolute, canonical, tracking parameters dropped
    title: str  # plain text
    summary: str = ""  # plain text
    author: str = ""
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    image: Image | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """An article as the store knows it."""

    id: int
    feed: str | None  # name of the feed it came from; None when added by hand
    data: ArticleData
    first_seen: datetime
    state: ArticleState
    #: Retracted (issue 13): its posts were taken down; never planned again.
    retracted: bool = False
    #: When its CMS was seen to unpublish it (WordPress: no longer ``publish``).
    unpublished_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    name: str
    url: str
    kind: FeedKind
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    seeded: bool = False  # the first successful poll happened
    next_poll_at: datetime | None = None
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0


@dataclass(frozen=True, slots=True)
class RenderedPost:
    """A post's text as rendered for one channel, already within its limit."""

    text: str
    length: int  # as the platform counts it
    limit: int
    shortened: tuple[str, ...] = ()  # what was cut to fit, e.g. ("summary",)


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post the planner (or an editor) asks the store to put in the outbox."""

    channel: str
    text: str
    link: str | None = None
    image: Image | None = None
    priority: Priority = Priority.NORMAL
    not_before: datetime | None = None  # None: due now
    status: PostStatus = PostStatus.QUEUED  # or DRAFT, or FAILED when it cannot fit
    last_error: str | None = None
    template: str = "default"
    created_by: str = "planner"
    #: After this the post is stale and fails instead of going out late.
    expires_at: datetime | None = None
    #: A key derived by the caller (recurring posts: name + firing time), so
    #: that planning the same post twice inserts it once; None: a fresh one.
    idempotency_key: str | None = None
    #: 0: the article's post on the channel; n > 0: its n-th re-share
    #: (``queue add --url … --again``), a post of its own with its own key.
    reshare: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A post in the outbox."""

    id: int
    article_id: int | None
    channel: str
    status: PostStatus
    text: str
    link: str | None
    image: Image | None
    priority: Priority
    idempotency_key: str
    attempts: int
    created_at: datetime
    not_before: datetime
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    last_error: str | None = None
    template: str = "default"
    created_by: str = "planner"
    published_at: datetime | None = None
    expires_at: datetime | None = None
    checkpoint: str | None = None
    #: Article fields a channel may want for a link card.
    title: str = ""
    summary: str = ""
    #: An edit or a correction note in progress (status EDITING): its text and kind.
    pending_text: str | None = None
    after_kind: str | None = None
    #: 0: the article's post on the channel; n > 0: its n-th re-share.
    reshare: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One row of the publish log."""

    id: int
    post_id: int
    channel: str
    number: int
    worker: str
    started_at: datetime
    outcome: Outcome
    finished_at: datetime | None = None
    http_status: int | None = None
    error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    article_url: str | None = None
    #: After the post: what the row is about, who asked and why, the text
    #: before and after (an edit or a note).
    kind: AttemptKind = AttemptKind.PUBLISH
    by: str | None = None
    reason: str | None = None
    old_text: str | None = None
    new_text: str | None = None
    #: The post is a re-share (its number on the channel; 0: not one).
    reshare: int = 0


@dataclass(frozen=True, slots=True)
class ChannelState:
    """What the store remembers about a channel: pause, rate limit, health."""

    name: str
    paused: bool = False
    paused_reason: str | None = None
    paused_by: str | None = None
    paused_at: datetime | None = None
    auth_failed: bool = False  # paused because the platform refused the credentials
    rate_limited_until: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A daemon process as the store sees it."""

    id: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None = None
    #: The channels it runs with (None: not recorded).
    channels: tuple[str, ...] | None = None
    #: Its last reload (None: never reloaded) and why it failed (None: it took effect).
    reloaded_at: datetime | None = None
    reload_error: str | None = None


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """What a channel adapter is asked to publish."""

    post_id: int
    idempotency_key: str  # one per post, the same on every attempt
    text: str
    link: str | None = None
    image: Image | None = None
    title: str = ""  # for link cards
    summary: str = ""
    attempt: int = 1
    #: True when an earlier attempt of this post was ambiguous (it may be there).
    after_ambiguous: bool = False
    #: What an earlier attempt of this post saved with ``save_checkpoint``
    #: (e.g. a Threads container id), so a retry can resume instead of redo.
    checkpoint: str | None = None
    #: Durably stores a checkpoint for this post (committed before it returns).
    #: Adapters with a two-step publish call it between the steps.
    save_checkpoint: Callable[[str], None] | None = field(default=None, compare=False,
                                                          repr=False)


@dataclass(frozen=True, slots=True)
class PublishResult:
    """A channel's answer when the post is on the platform."""

    remote_id: str
    remote_url: str | None = None
    http_status: int | None = None
    notes: tuple[str, ...] = field(default=())  # e.g. ("image skipped: too large",)
