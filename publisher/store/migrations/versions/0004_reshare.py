"""Re-shares (issue 13): ``posts.reshare`` (0: the article's post on the
channel; n > 0: its n-th re-share), and one post per (article, channel,
re-share) instead of one per (article, channel); and
``articles.unpublished_at`` (when the CMS was seen to unpublish it).

Revision ID: 0004_reshare
Revises: 0003_after_post
Create Date: 2026-12-02

Hand-written; must match publisher/store/schema.py (tests compare them).
SQLite cannot drop a constraint: ``batch_alter_table`` recreates the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reshare"
down_revision = "0003_after_post"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("unpublished_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("reshare", sa.Integer, nullable=False,
                                   server_default=sa.text("0")))
        batch.drop_constraint("uq_posts_article_id_channel", type_="unique")
        batch.create_unique_constraint("uq_posts_article_id_channel_reshare",
                                       ["article_id", "channel", "reshare"])


def downgrade() -> None:
    # Re-shares cannot survive the old one-post-per-channel rule.
    op.execute("DELETE FROM attempts WHERE post_id IN (SELECT id FROM posts WHERE reshare > 0)")
    op.execute("DELETE FROM posts WHERE reshare > 0")
    with op.batch_alter_table("posts") as batch:
        batch.drop_constraint("uq_posts_article_id_channel_reshare", type_="unique")
        batch.create_unique_constraint("uq_posts_article_id_channel", ["article_id", "channel"])
        batch.drop_column("reshare")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("unpublished_at")
