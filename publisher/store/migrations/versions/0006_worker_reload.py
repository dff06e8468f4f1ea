"""The outcome of a daemon's last reload (issue 12, SIGHUP / ``publisher
reload``): ``workers.reloaded_at`` and ``workers.reload_error`` (NULL when
it took effect), so ``status`` can say in one line why the running daemon
kept its old configuration, and ``publisher reload`` can wait for the answer.

Revision ID: 0006_worker_reload
Revises: 0005_worker_channels
Create Date: 2026-12-02

Hand-written; must match publisher/store/schema.py (tests compare them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_worker_reload"
down_revision = "0005_worker_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("reloaded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reload_error", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("reload_error")
        batch.drop_column("reloaded_at")
