"""After the post (issue 13): editing/deleting/retracted posts, the
``requested`` outcome, the kind of each log row with who/why/old/new text,
the pending edit of a post, and the retracted flag of an article.

Revision ID: 0003_after_post
Revises: 0002_users
Create Date: 2026-12-02

Hand-written; must match publisher/store/schema.py (tests compare them).
SQLite cannot alter a CHECK constraint: ``batch_alter_table`` recreates the
table there (PostgreSQL alters it in place).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_after_post"
down_revision = "0002_users"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

OLD_POST_STATUSES = ("draft", "queued", "publishing", "waiting", "published", "failed",
                     "cancelled", "needs_review")
POST_STATUSES = (*OLD_POST_STATUSES, "editing", "deleting", "retracted")
OLD_OUTCOMES = ("started", "ok", "retrying", "rate_limited", "failed", "auth_failed",
                "ambiguous", "reconciled", "not_found", "needs_review")
OUTCOMES = (*OLD_OUTCOMES, "requested")
KINDS = ("publish", "delete", "edit", "note")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("retracted", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("retracted_at", TS))
        batch.add_column(sa.Column("retracted_by", sa.Text))
        batch.add_column(sa.Column("retract_reason", sa.Text))
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("pending_text", sa.Text))
        batch.add_column(sa.Column("after_kind", sa.String(10)))
        batch.drop_constraint("ck_posts_status", type_="check")
        batch.create_check_constraint("ck_posts_status", _in("status", POST_STATUSES))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False,
                                   server_default=sa.text("'publish'")))
        batch.add_column(sa.Column("by", sa.Text))
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(sa.Column("old_text", sa.Text))
        batch.add_column(sa.Column("new_text", sa.Text))
        batch.drop_constraint("ck_attempts_outcome", type_="check")
        batch.create_check_constraint("ck_attempts_outcome", _in("outcome", OUTCOMES))
        batch.create_check_constraint("ck_attempts_kind", _in("kind", KINDS))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_constraint("ck_attempts_kind", type_="check")
        batch.drop_constraint("ck_attempts_outcome", type_="check")
        batch.create_check_constraint("ck_attempts_outcome", _in("outcome", OLD_OUTCOMES))
        for name in ("new_text", "old_text", "reason", "by", "kind"):
            batch.drop_column(name)
    with op.batch_alter_table("posts") as batch:
        batch.drop_constraint("ck_posts_status", type_="check")
        batch.create_check_constraint("ck_posts_status", _in("status", OLD_POST_STATUSES))
        batch.drop_column("after_kind")
        batch.drop_column("pending_text")
    with op.batch_alter_table("articles") as batch:
        for name in ("retract_reason", "retracted_by", "retracted_at", "retracted"):
            batch.drop_column(name)
