"""ui: how far agents have read a conversation (read marks in the widget,
unread marks in the console)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a server default: no table rebuild on SQLite.
    op.add_column(
        "conversations",
        sa.Column("agent_last_read_seq", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("agent_last_read_seq")
