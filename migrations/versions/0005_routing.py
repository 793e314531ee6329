"""routing: the queue, assignment timers, skills and per-inbox policies

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_QUEUED = "queued_at IS NOT NULL"


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild on SQLite): every new column is
    # nullable or has a server default.
    for column in (
        sa.Column("queued_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("routing_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("passed_agent_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=20), nullable=True),
        sa.Column("required_skill", sa.String(length=100), nullable=True),
        sa.Column("escalated_to", sa.String(length=20), nullable=True),
    ):
        op.add_column("conversations", column)
    # Conversations waiting before routing existed keep their arrival order
    # (those of redirect inboxes never wait for anyone).
    op.execute(
        "UPDATE conversations SET queued_at = created_at WHERE status <> 'resolved'"
        " AND inbox_id IN (SELECT id FROM inboxes WHERE mode = 'live')"
    )
    op.execute(
        "UPDATE conversations SET assigned_at = updated_at"
        " WHERE assignee_id IS NOT NULL AND status <> 'resolved'"
    )
    op.create_index(
        "ix_conversations_waiting",
        "conversations",
        [
            "status",
            "assignee_id",
            sa.text("priority DESC"),
            "queued_at",
            "id",
            "inbox_id",
            "customer_id",
        ],
        unique=False,
        sqlite_where=sa.text(_QUEUED),
        postgresql_where=sa.text(_QUEUED),
    )
    op.add_column(
        "agents",
        sa.Column("last_routed_at", app.models.base.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("customers", sa.Column("language", sa.String(length=20), nullable=True))
    op.add_column("inboxes", sa.Column("routing", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inboxes") as batch_op:
        batch_op.drop_column("routing")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("language")
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("last_routed_at")
    op.drop_index("ix_conversations_waiting", table_name="conversations")
    with op.batch_alter_table("conversations") as batch_op:
        for name in (
            "escalated_to",
            "required_skill",
            "language",
            "passed_agent_id",
            "routing_attempts",
            "priority",
            "assigned_at",
            "queued_at",
        ):
            batch_op.drop_column(name)
