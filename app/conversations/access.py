"""Who may see a conversation: the one rule, asked by REST, the sockets and routing.

An agent *serves* a conversation when it is assigned to them; else, when the
conversation was handed to a team, when they are in that team; else, when
its inbox names teams, when they are in one of them; else every agent does.
Supervisors and admins may *see* every conversation. The SQL filter below is
the same rule for lists; a test holds the two to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.roles import Role
from app.events.domain import ConversationScope
from app.models import Agent, AgentTeam, Conversation, InboxTeam


@dataclass(frozen=True, slots=True)
class Viewer:
    agent_id: int
    role: Role
    team_ids: frozenset[int]

    @property
    def sees_everything(self) -> bool:
        return self.role.includes(Role.SUPERVISOR)


async def viewer_of(session: AsyncSession, agent: Agent) -> Viewer:
    result = await session.execute(select(AgentTeam.team_id).where(AgentTeam.agent_id == agent.id))
    return Viewer(agent.id, Role(agent.role), frozenset(result.scalars()))


def scope_of(conversation: Conversation, inbox_team_ids: tuple[int, ...]) -> ConversationScope:
    return ConversationScope(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        customer_id=conversation.customer_id,
        assignee_id=conversation.assignee_id,
        team_id=conversation.team_id,
        inbox_team_ids=inbox_team_ids,
        status=conversation.status,
    )


def serves(agent_id: int, team_ids: frozenset[int], scope: ConversationScope) -> bool:
    if scope.assignee_id == agent_id:
        return True
    if scope.team_id is not None:
        return scope.team_id in team_ids
    return serves_inbox(team_ids, scope.inbox_team_ids)


def serves_inbox(team_ids: frozenset[int], inbox_team_ids: tuple[int, ...]) -> bool:
    """Whether an agent of these teams serves an inbox's new, unassigned
    conversations: `serves` for a conversation not made yet (routing's
    capacity, starting a conversation with a customer)."""
    return not inbox_team_ids or not team_ids.isdisjoint(inbox_team_ids)


def may_see(viewer: Viewer, scope: ConversationScope) -> bool:
    return viewer.sees_everything or serves(viewer.agent_id, viewer.team_ids, scope)


def team_serves_inbox(team_id: int, inbox_team_ids: tuple[int, ...]) -> bool:
    """A conversation may be handed to a team only if the team serves its inbox."""
    return not inbox_team_ids or team_id in inbox_team_ids


def visible_filter(viewer: Viewer) -> ColumnElement[bool] | None:
    """`may_see` as SQL over `Conversation`; None when the viewer sees everything."""
    if viewer.sees_everything:
        return None
    teams = sorted(viewer.team_ids)
    inbox_has_teams = exists().where(InboxTeam.inbox_id == Conversation.inbox_id)
    in_inbox_team = (
        exists().where(InboxTeam.inbox_id == Conversation.inbox_id, InboxTeam.team_id.in_(teams))
        if teams
        else false()
    )
    in_conversation_team = Conversation.team_id.in_(teams) if teams else false()
    return or_(
        Conversation.assignee_id == viewer.agent_id,
        and_(Conversation.team_id.is_not(None), in_conversation_team),
        and_(Conversation.team_id.is_(None), or_(~inbox_has_teams, in_inbox_team)),
    )
