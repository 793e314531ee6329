"""reports: measurements, SLA policies and clocks' marks, CSAT links

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import app.models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UTC_TIME = app.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_conversations_created_at", "conversations", ["created_at"])
    op.create_index(
        "ix_messages_report_counts",
        "messages",
        ["created_at", "author_kind", "private", "inbox_id"],
    )
    op.add_column("csat_responses", sa.Column("channel", sa.String(length=20), nullable=True))
    op.add_column("csat_responses", sa.Column("customer_id", sa.Integer(), nullable=True))
    op.create_table(
        "report_cursors",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("awaiting_since", UTC_TIME, nullable=True),
        sa.Column("responded", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", UTC_TIME, nullable=True),
        sa.Column("queued_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_report_cursors_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_report_cursors")),
    )
    op.create_table(
        "report_measurements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=False),
        sa.Column("wall_seconds", sa.Float(), nullable=False),
        sa.Column("business_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_report_measurements_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_measurements")),
        sa.UniqueConstraint(
            "conversation_id", "kind", "ended_at", name="uq_report_measurements_once"
        ),
    )
    op.create_index("ix_report_measurements_ended_at", "report_measurements", ["ended_at", "kind"])
    op.create_index(
        "ix_report_measurements_inbox_id_ended_at",
        "report_measurements",
        ["inbox_id", "ended_at"],
    )
    op.create_table(
        "service_policies",
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("next_response_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Integer(), nullable=True),
        sa.Column("warning_ratio", sa.Float(), nullable=False),
        sa.Column("csat_enabled", sa.Boolean(), nullable=False),
        sa.Column("follow_up_seconds", sa.Integer(), nullable=True),
        sa.Column("follow_up_message", sa.Text(), nullable=True),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_service_policies_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inbox_id", name=op.f("pk_service_policies")),
    )
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("fired_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_sla_events_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
        sa.UniqueConstraint(
            "conversation_id", "target", "phase", "started_at", name="uq_sla_events_once"
        ),
    )
    op.create_index("ix_sla_events_fired_at", "sla_events", ["fired_at"])
    op.create_table(
        "csat_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("used_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_requests_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat_requests")),
        sa.UniqueConstraint("digest", name=op.f("uq_csat_requests_digest")),
    )
    op.create_index("ix_csat_requests_conversation_id", "csat_requests", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_csat_requests_conversation_id", table_name="csat_requests")
    op.drop_table("csat_requests")
    op.drop_index("ix_sla_events_fired_at", table_name="sla_events")
    op.drop_table("sla_events")
    op.drop_table("service_policies")
    op.drop_index("ix_report_measurements_inbox_id_ended_at", table_name="report_measurements")
    op.drop_index("ix_report_measurements_ended_at", table_name="report_measurements")
    op.drop_table("report_measurements")
    op.drop_table("report_cursors")
    with op.batch_alter_table("csat_responses") as batch_op:
        batch_op.drop_column("customer_id")
        batch_op.drop_column("channel")
    op.drop_index("ix_messages_report_counts", table_name="messages")
    op.drop_index("ix_conversations_created_at", table_name="conversations")
