"""customers: merges (recorded, undoable), merge suggestions, erasures, email follow-ups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_When = app.models.base.UTCDateTime


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild on SQLite).
    op.add_column("customers", sa.Column("erased_at", _When(timezone=True), nullable=True))
    op.add_column(
        "conversations",
        sa.Column("customer_emailed_seq", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "customer_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kept_customer_id", sa.Integer(), nullable=False),
        sa.Column("merged_customer_id", sa.Integer(), nullable=False),
        sa.Column("actor_agent_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("created_at", _When(timezone=True), nullable=False),
        sa.Column("undone_at", _When(timezone=True), nullable=True),
        sa.Column("undone_by_agent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["kept_customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merged_customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["undone_by_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_merges_kept_customer_id", "customer_merges", ["kept_customer_id"])
    op.create_index(
        "ix_customer_merges_merged_customer_id", "customer_merges", ["merged_customer_id"]
    )
    op.create_table(
        "merge_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("other_customer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", _When(timezone=True), nullable=False),
        sa.Column("decided_at", _When(timezone=True), nullable=True),
        sa.Column("decided_by_agent_id", sa.Integer(), nullable=True),
        sa.Column("merge_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["decided_by_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["merge_id"], ["customer_merges.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_merge_suggestions_state", "merge_suggestions", ["state", "id"])
    op.create_index(
        "uq_merge_suggestions_pair",
        "merge_suggestions",
        ["customer_id", "other_customer_id"],
        unique=True,
    )
    op.create_table(
        "customer_erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("actor_agent_id", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_at", _When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["actor_agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("customer_erasures")
    op.drop_index("uq_merge_suggestions_pair", table_name="merge_suggestions")
    op.drop_index("ix_merge_suggestions_state", table_name="merge_suggestions")
    op.drop_table("merge_suggestions")
    op.drop_index("ix_customer_merges_merged_customer_id", table_name="customer_merges")
    op.drop_index("ix_customer_merges_kept_customer_id", table_name="customer_merges")
    op.drop_table("customer_merges")
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("customer_emailed_seq")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("erased_at")
