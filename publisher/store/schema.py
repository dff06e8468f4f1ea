"""The tables, as SQLAlchemy Core.

``migrations/versions/`` creates exactly these (a test compares the two).
Statuses are plain strings mirrored by CHECK constraints on the ``StrEnum``
values of ``publisher.types``; every datetime is a ``UTCDateTime``.

Constraint and index names are spelled out so the hand-written migrations
can name them too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator

from publisher.types import ArticleState, AttemptKind, FeedKind, Outcome, PostStatus, Priority


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime.

    Stored as naive UTC in SQLite and as ``timestamptz`` in PostgreSQL; always
    read back aware in UTC.  A naive datetime is a bug in the caller (its
    time zone is a guess), so it raises ``ValueError`` instead of being stored.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the store; "
                             "every datetime must be timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_check(column: str, enum: type[StrEnum], name: str) -> CheckConstraint:
    """CHECK(column IN (…the enum's values…))."""
    values = ", ".join(f"'{member.value}'" for member in enum)
    return CheckConstraint(f"{column} IN ({values})", name=name)


metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    # False once the feed left the configuration: kept for its history.
    Column("configured", Boolean, nullable=False, server_default=false()),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", Text),
    Column("seeded", Boolean, nullable=False, server_default=false()),
    Column("next_poll_at", UTCDateTime),
    Column("last_poll_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("name", name="uq_feeds_name"),
    enum_check("kind", FeedKind, "ck_feeds_kind"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed", Text),  # the feed's name; NULL when added by hand
    Column("guid", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("tags", JSON, nullable=False),
    Column("published", UTCDateTime),
    Column("updated", UTCDateTime),
    Column("image_url", Text),
    Column("image_alt", Text),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("state", String(20), nullable=False),
    # Retracted (issue 13): never planned again; who, when and why.
    Column("retracted", Boolean, nullable=False, server_default=false()),
    Column("retracted_at", UTCDateTime),
    Column("retracted_by", Text),
    Column("retract_reason", Text),
    # When the CMS was seen to unpublish it (issue 13; WordPress only).
    Column("unpublished_at", UTCDateTime),
    UniqueConstraint("guid", name="uq_articles_guid"),
    UniqueConstraint("url", name="uq_articles_url"),
    enum_check("state", ArticleState, "ck_articles_state"),
    Index("ix_articles_state", "state"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", name="fk_posts_article_id")),
    Column("channel", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("text", Text, nullable=False),
    Column("link", Text),
    Column("image_url", Text),
    Column("image_alt", Text),
    Column("priority", String(20), nullable=False),
    Column("template", Text, nullable=False),
    Column("not_before", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    # coalesce(next_attempt_at, not_before), kept by the store on every write so
    # that the claim is a range scan of ix_posts_status_due_at.
    Column("due_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", Text),
    Column("lease_expires_at", UTCDateTime),
    Column("idempotency_key", String(64), nullable=False),
    Column("remote_id", Text),
    Column("remote_url", Text),
    Column("last_error", Text),
    # What a two-step adapter saved between its steps (a Threads container id).
    Column("checkpoint", Text),
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("published_at", UTCDateTime),
    # An edit or a correction note in progress (status editing): the new text
    # and "edit" or "note"; deleting: "delete".
    Column("pending_text", Text),
    Column("after_kind", String(10)),
    # 0: the article's post on the channel; n > 0: its n-th re-share (an
    # editor's `queue add --url … --again`): one post per (article, channel,
    # re-share) makes double-planning impossible and a re-share possible.
    Column("reshare", Integer, nullable=False, server_default=text("0")),
    UniqueConstraint("article_id", "channel", "reshare",
                     name="uq_posts_article_id_channel_reshare"),
    UniqueConstraint("idempotency_key", name="uq_posts_idempotency_key"),
    enum_check("status", PostStatus, "ck_posts_status"),
    enum_check("priority", Priority, "ck_posts_priority"),
    Index("ix_posts_status_due_at", "status", "due_at"),
    Index("ix_posts_channel_published_at", "channel", "published_at"),
    Index("ix_posts_created_at", "created_at"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id", name="fk_attempts_post_id"),
           nullable=False),
    Column("channel", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(20), nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("remote_id", Text),
    Column("remote_url", Text),
    # After the post: what the row is about, who asked, why, the text before/after.
    Column("kind", String(10), nullable=False, server_default=text("'publish'")),
    Column("by", Text),
    Column("reason", Text),
    Column("old_text", Text),
    Column("new_text", Text),
    enum_check("outcome", Outcome, "ck_attempts_outcome"),
    enum_check("kind", AttemptKind, "ck_attempts_kind"),
    Index("ix_attempts_post_id", "post_id"),
    Index("ix_attempts_started_at", "started_at"),
    Index("ix_attempts_channel", "channel"),
)

channels = Table(
    "channels",
    metadata,
    Column("name", Text, primary_key=True),
    Column("paused", Boolean, nullable=False, server_default=false()),
    Column("paused_reason", Text),
    Column("paused_by", Text),
    Column("paused_at", UTCDateTime),
    Column("auth_failed", Boolean, nullable=False, server_default=false()),
    Column("rate_limited_until", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
)

workers = Table(
    "workers",
    metadata,
    Column("id", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    # The configured channel names the worker runs with, a JSON list (0005).
    Column("channels", Text),
    # Its last reload (0006): when, and why it failed (NULL: it took effect).
    Column("reloaded_at", UTCDateTime),
    Column("reload_error", Text),
)

# -- the web desk's people and their sessions (migration 0002_users) ------------------

USER_ROLES = ("viewer", "editor", "ops")

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    # An argon2id PHC string ("$argon2id$v=19$…"); never the password.
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    UniqueConstraint("name", name="uq_users_name"),
    CheckConstraint("role IN ('viewer', 'editor', 'ops')", name="ck_users_role"),
)

desk_sessions = Table(
    "desk_sessions",
    metadata,
    # sha256 of the cookie's token: a copy of the database signs no one in.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", name="fk_desk_sessions_user_id",
                                          ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Index("ix_desk_sessions_user_id", "user_id"),
)
