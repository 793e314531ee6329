"""widget session lifetimes: last seen (idle expiry) and token rotation

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_When = app.models.base.UTCDateTime


def upgrade() -> None:
    # Nullable first, filled from created_at (a session in use before this
    # counts as seen when it was opened), then required: on SQLite the last
    # step rebuilds the table, once.
    op.add_column("widget_sessions", sa.Column("token_issued_at", _When(timezone=True)))
    op.add_column("widget_sessions", sa.Column("last_seen_at", _When(timezone=True)))
    op.add_column("widget_sessions", sa.Column("previous_digest", sa.String(length=64)))
    op.add_column("widget_sessions", sa.Column("previous_until", _When(timezone=True)))
    op.execute("UPDATE widget_sessions SET token_issued_at = created_at, last_seen_at = created_at")
    with op.batch_alter_table("widget_sessions") as batch:
        batch.alter_column("token_issued_at", existing_type=_When(timezone=True), nullable=False)
        batch.alter_column("last_seen_at", existing_type=_When(timezone=True), nullable=False)
        batch.create_unique_constraint(
            op.f("uq_widget_sessions_previous_digest"), ["previous_digest"]
        )


def downgrade() -> None:
    with op.batch_alter_table("widget_sessions") as batch:
        batch.drop_constraint(op.f("uq_widget_sessions_previous_digest"), type_="unique")
        batch.drop_column("previous_until")
        batch.drop_column("previous_digest")
        batch.drop_column("last_seen_at")
        batch.drop_column("token_issued_at")
