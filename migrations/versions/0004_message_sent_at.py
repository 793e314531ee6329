"""messages.sent_at: when the customer sent a message, by the platform's clock

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(
            sa.Column("sent_at", app.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    # Before this, a message's only time was when it was stored.
    op.execute("UPDATE messages SET sent_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("sent_at")
