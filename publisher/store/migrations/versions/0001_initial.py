"""The initial schema: feeds, articles, posts (the outbox), attempts (the
publish log), channels, workers.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Hand-written; must match publisher/store/schema.py (tests compare them).
The CHECK lists are spelled out here on purpose: a later change of the
enums needs a migration of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

POST_STATUSES = ("draft", "queued", "publishing", "waiting", "published", "failed",
                 "cancelled", "needs_review")
OUTCOMES = ("started", "ok", "retrying", "rate_limited", "failed", "auth_failed", "ambiguous",
            "reconciled", "not_found", "needs_review")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("configured", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("body_hash", sa.Text),
        sa.Column("seeded", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("next_poll_at", TS),
        sa.Column("last_poll_at", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
        sa.CheckConstraint(_in("kind", ("rss", "wordpress")), name="ck_feeds_kind"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("feed", sa.Text),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("published", TS),
        sa.Column("updated", TS),
        sa.Column("image_url", sa.Text),
        sa.Column("image_alt", sa.Text),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.UniqueConstraint("guid", name="uq_articles_guid"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
        sa.CheckConstraint(_in("state", ("pending", "planned", "seen")),
                           name="ck_articles_state"),
    )
    op.create_index("ix_articles_state", "articles", ["state"])
    op.create_table(
        "posts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("article_id", sa.Integer,
                  sa.ForeignKey("articles.id", name="fk_posts_article_id")),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("image_url", sa.Text),
        sa.Column("image_alt", sa.Text),
        sa.Column("priority", sa.String(20), nullable=False),
        sa.Column("template", sa.Text, nullable=False),
        sa.Column("not_before", TS, nullable=False),
        sa.Column("next_attempt_at", TS),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("lease_owner", sa.Text),
        sa.Column("lease_expires_at", TS),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("remote_id", sa.Text),
        sa.Column("remote_url", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("checkpoint", sa.Text),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("published_at", TS),
        sa.UniqueConstraint("article_id", "channel", name="uq_posts_article_id_channel"),
        sa.UniqueConstraint("idempotency_key", name="uq_posts_idempotency_key"),
        sa.CheckConstraint(_in("status", POST_STATUSES), name="ck_posts_status"),
        sa.CheckConstraint(_in("priority", ("breaking", "normal", "low")),
                           name="ck_posts_priority"),
    )
    op.create_index("ix_posts_status_due_at", "posts", ["status", "due_at"])
    op.create_index("ix_posts_channel_published_at", "posts", ["channel", "published_at"])
    op.create_index("ix_posts_created_at", "posts", ["created_at"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("post_id", sa.Integer, sa.ForeignKey("posts.id", name="fk_attempts_post_id"),
                  nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("worker", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("remote_id", sa.Text),
        sa.Column("remote_url", sa.Text),
        sa.CheckConstraint(_in("outcome", OUTCOMES), name="ck_attempts_outcome"),
    )
    op.create_index("ix_attempts_post_id", "attempts", ["post_id"])
    op.create_index("ix_attempts_started_at", "attempts", ["started_at"])
    op.create_index("ix_attempts_channel", "attempts", ["channel"])
    op.create_table(
        "channels",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paused_reason", sa.Text),
        sa.Column("paused_by", sa.Text),
        sa.Column("paused_at", TS),
        sa.Column("auth_failed", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("rate_limited_until", TS),
        sa.Column("last_success_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", TS),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("stopped_at", TS),
    )


def downgrade() -> None:
    for table in ("workers", "channels", "attempts", "posts", "articles", "feeds"):
        op.drop_table(table)
