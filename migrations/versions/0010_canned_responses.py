"""ui2: canned responses (saved replies, an agent's own or shared)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_When = app.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("owner_agent_id", sa.Integer(), nullable=True),
        sa.Column("shortcut", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _When(timezone=True), nullable=False),
        sa.Column("updated_at", _When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_canned_responses_scope_shortcut",
        "canned_responses",
        ["scope", "shortcut"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_canned_responses_scope_shortcut", table_name="canned_responses")
    op.drop_table("canned_responses")
