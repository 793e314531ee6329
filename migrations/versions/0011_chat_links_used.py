"""chat links used: a signed chat link opens one session, once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_When = app.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "chat_links_used",
        sa.Column("nonce", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", _When(timezone=True), nullable=False),
        sa.Column("used_at", _When(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("nonce"),
    )


def downgrade() -> None:
    op.drop_table("chat_links_used")
