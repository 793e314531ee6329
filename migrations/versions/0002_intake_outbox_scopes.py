"""one intake, outbox delivery, scoped identities

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("identities") as batch_op:
        batch_op.add_column(
            sa.Column("namespace", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.drop_constraint("uq_identities_channel_external_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_identities_channel_namespace_external_id", ["channel", "namespace", "external_id"]
        )
    # Widget user ids verified before this migration belong to the inbox that
    # verified them: the sessions say which.
    op.execute(
        "UPDATE identities SET namespace = 'inbox:' || CAST(("
        " SELECT MIN(ws.inbox_id) FROM widget_sessions AS ws"
        " WHERE ws.customer_id = identities.customer_id) AS VARCHAR(20))"
        " WHERE channel = 'web' AND EXISTS ("
        " SELECT 1 FROM widget_sessions AS ws WHERE ws.customer_id = identities.customer_id)"
    )
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("claimed_email", sa.String(length=320), nullable=True))
    # Emails typed into the pre-chat form were stored as if verified: they are claims.
    op.execute(
        "UPDATE customers SET claimed_email = email, email = NULL WHERE email IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM identities AS i WHERE i.customer_id = customers.id"
        " AND i.channel = 'email' AND i.external_id = customers.email AND i.verified)"
    )
    with op.batch_alter_table("widget_sessions") as batch_op:
        batch_op.add_column(sa.Column("verified_external_id", sa.String(length=320), nullable=True))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("delivered_external_id", sa.String(length=400), nullable=True)
        )
        batch_op.create_index(
            "ix_messages_inbox_id_delivered_external_id",
            ["inbox_id", "delivered_external_id"],
            unique=False,
        )
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("lease_token", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("lease_token")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_inbox_id_delivered_external_id")
        batch_op.drop_column("delivered_external_id")
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery_status")
    with op.batch_alter_table("widget_sessions") as batch_op:
        batch_op.drop_column("verified_external_id")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("claimed_email")
    with op.batch_alter_table("identities") as batch_op:
        batch_op.drop_constraint("uq_identities_channel_namespace_external_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_identities_channel_external_id", ["channel", "external_id"]
        )
        batch_op.drop_column("namespace")
