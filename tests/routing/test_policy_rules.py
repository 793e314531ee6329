"""The policies and the estimates on their own: pure functions, no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.auth.roles import Role
from app.events.domain import ConversationScope
from app.inboxes.routing_config import RoutingConfig, RoutingPolicy
from app.kit.language import language_of, skill_set
from app.routing.assign import may_take
from app.routing.policies import Candidate, Hold, Waiting
from app.routing.policies.least_loaded import LeastLoaded
from app.routing.policies.round_robin import RoundRobin
from app.routing.policies.skills import SkillMatch
from app.routing.router import expected_wait

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _agent(
    agent_id: int,
    load: int = 0,
    capacity: int = 3,
    *,
    skills: tuple[str, ...] = (),
    teams: tuple[int, ...] = (),
    role: Role = Role.AGENT,
    last: datetime | None = None,
) -> Candidate:
    return Candidate(
        id=agent_id,
        role=role,
        capacity=capacity,
        load=load,
        skills=skill_set(list(skills)),
        team_ids=frozenset(teams),
        last_routed_at=last,
    )


def _waiting(language: str | None = "", **extra: object) -> Waiting:
    values: dict[str, object] = {
        "id": 1,
        "inbox_id": 1,
        "customer_id": 1,
        "team_id": None,
        "priority": 0,
        "queued_at": NOW,
        "language": language,
        "required_skill": None,
        "escalated_to": None,
        "passed_agent_id": None,
    }
    values.update(extra)
    return Waiting(**values)  # type: ignore[arg-type]


def test_least_loaded_prefers_free_room_then_the_longest_idle() -> None:
    config = RoutingConfig()
    busy, roomy = _agent(1, load=2), _agent(2, load=0)
    assert LeastLoaded().pick(_waiting(), [busy, roomy], config, NOW) is roomy
    earlier = _agent(3, load=1, last=NOW - timedelta(minutes=5))
    later = _agent(4, load=1, last=NOW - timedelta(minutes=1))
    assert LeastLoaded().pick(_waiting(), [later, earlier], config, NOW) is earlier


def test_round_robin_takes_the_one_whose_turn_is_oldest() -> None:
    config = RoutingConfig(policy=RoutingPolicy.ROUND_ROBIN)
    never = _agent(5, load=2)
    recent = _agent(1, last=NOW)
    assert RoundRobin().pick(_waiting(), [recent, never], config, NOW) is never


def test_skills_prefer_a_speaker_hold_then_fall_back() -> None:
    config = RoutingConfig(policy=RoutingPolicy.SKILLS, skill_wait_seconds=60)
    english, japanese = _agent(1, skills=("en",)), _agent(2, load=2, skills=("ja-JP",))
    assert SkillMatch().pick(_waiting("ja"), [english, japanese], config, NOW) is japanese
    busy = [_agent(3, load=3, skills=("ja",))]
    held = SkillMatch().pick(_waiting("ja"), [english], config, NOW, busy)
    assert held == Hold(NOW + timedelta(seconds=60))
    later = NOW + timedelta(seconds=61)
    assert SkillMatch().pick(_waiting("ja"), [english], config, later, busy) is english
    assert SkillMatch().pick(_waiting(""), [english], config, NOW, busy) is english
    # No speaker online at all: nobody to wait for.
    assert SkillMatch().pick(_waiting("ja"), [english], config, NOW) is english


def test_who_may_take_a_conversation() -> None:
    scope = ConversationScope(1, 1, 1, None, None, (7,), "open")
    member, outsider = _agent(1, teams=(7,)), _agent(2, teams=(8,))
    boss = _agent(3, role=Role.SUPERVISOR)
    assert may_take(member, _waiting(), scope)
    assert not may_take(outsider, _waiting(), scope)
    # Supervisors outrank team lines only for conversations escalated to them.
    assert not may_take(boss, _waiting(), scope)
    assert may_take(boss, _waiting(escalated_to="supervisor"), scope)
    assert not may_take(member, _waiting(escalated_to="supervisor"), scope)
    assert not may_take(member, _waiting(passed_agent_id=1), scope)
    assert not may_take(member, _waiting(required_skill="refunds"), scope)
    expert = _agent(4, teams=(7,), skills=("Refunds",))
    assert may_take(expert, _waiting(required_skill="refunds"), scope)


@pytest.mark.parametrize(
    ("meta", "customer", "body", "language"),
    [
        ({"sender": {"language": "ja-JP"}}, None, "hello", "ja"),
        (None, "ko", "hello", "ko"),
        (None, None, "注文がまだ届きません", "ja"),
        (None, None, "주문이 아직 안 왔어요", "ko"),
        # Han characters alone could be Chinese or Japanese: unknown.
        (None, None, "订单", ""),
        (None, None, "Where is my order?", ""),
        ({"sender": {"language": "not a tag!"}}, None, "hi", ""),
    ],
)
def test_the_customers_language(
    meta: dict[str, object] | None, customer: str | None, body: str, language: str
) -> None:
    assert language_of(meta, customer, body) == language


def test_expected_wait_grows_with_the_place_and_shrinks_with_agents() -> None:
    assert expected_wait(1, 300, 2) == 150
    assert expected_wait(2, 300, 2) == 300
    assert expected_wait(1, 300, 0) == 300
    assert expected_wait(4, 300, 10) == 120
    # Never less than a step, never from less than a minute's handling.
    assert expected_wait(1, 5, 100) == 30
