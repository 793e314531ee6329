"""email confirmations: a typed-in address is asked before it gets the chat's replies

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_When = app.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "email_confirmations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", _When(timezone=True), nullable=False),
        sa.Column("expires_at", _When(timezone=True), nullable=False),
        sa.Column("confirmed_at", _When(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )
    op.create_index("ix_email_confirmations_customer_id", "email_confirmations", ["customer_id"])
    op.create_index(
        "ix_email_confirmations_address", "email_confirmations", ["address", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_email_confirmations_address", table_name="email_confirmations")
    op.drop_index("ix_email_confirmations_customer_id", table_name="email_confirmations")
    op.drop_table("email_confirmations")
