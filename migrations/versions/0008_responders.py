"""responders: the reply time promised to a customer, and whether it was kept

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_PROMISED = "promised_reply_by IS NOT NULL"


def upgrade() -> None:
    # Plain ADD COLUMNs, nullable: no table rebuild on SQLite.
    op.add_column(
        "conversations",
        sa.Column("promised_reply_by", app.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "conversations", sa.Column("promise_outcome", sa.String(length=10), nullable=True)
    )
    op.create_index(
        "ix_conversations_promises",
        "conversations",
        ["inbox_id", "promise_outcome", "promised_reply_by"],
        unique=False,
        sqlite_where=sa.text(_PROMISED),
        postgresql_where=sa.text(_PROMISED),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_promises", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("promise_outcome")
        batch_op.drop_column("promised_reply_by")
