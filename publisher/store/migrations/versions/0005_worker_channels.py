"""The channels a daemon runs with (issue 12): ``workers.channels``, the
configured channel names as a JSON list, written with each heartbeat, so
``status`` can tell a channel the running daemon does not know (the
schedules changed and it was not reloaded).

Revision ID: 0005_worker_channels
Revises: 0004_reshare
Create Date: 2026-12-02

Hand-written; must match publisher/store/schema.py (tests compare them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_worker_channels"
down_revision = "0004_reshare"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("channels", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("channels")
