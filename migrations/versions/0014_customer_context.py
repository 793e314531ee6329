"""customers.last_context: the page, browser, language and time zone the
customer's widget last reported

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a customer seen before this has no context yet.
    op.add_column("customers", sa.Column("last_context", sa.JSON()))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("last_context")
