from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(default=5)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What the agent chose; "online" still needs an open socket to count.
    chosen_status: Mapped[str] = mapped_column(String(20), default="online")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # The last automatic assignment: round-robin serves the longest idle first.
    last_routed_at: Mapped[datetime | None]


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class AgentTeam(Base):
    __tablename__ = "agent_teams"

    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class AccessToken(Base):
    __tablename__ = "access_tokens"
    __table_args__ = (Index("ix_access_tokens_agent_id", "agent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
