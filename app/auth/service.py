"""Agent login, access tokens and logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import repository as agents_repo
from app.auth.passwords import hash_password, verify_password
from app.db import publish_after_commit
from app.errors import NotAuthenticated
from app.kit.clock import clock
from app.kit.crypto import new_token, token_digest
from app.kit.ratelimit import RateLimiter
from app.models import AccessToken, Agent
from app.realtime.events import CloseAgentSockets

TOKEN_LIFETIME = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    agent: Agent


async def login(
    session: AsyncSession, email: str, password: str, client_address: str, limiter: RateLimiter
) -> IssuedToken:
    """Failed attempts count per address and per account, so neither a single
    host nor a botnet aimed at one account can guess for long."""
    email = email.lower()
    address_key, account_key = f"addr:{client_address}", f"acct:{email}"
    limiter.check(address_key)
    limiter.check(account_key)
    agent = await agents_repo.get_by_email(session, email)
    if not verify_password(agent.password_hash if agent else None, password) or agent is None:
        limiter.hit(address_key)
        limiter.hit(account_key)
        raise NotAuthenticated("wrong email or password")
    if not agent.is_active:
        raise NotAuthenticated("this account is disabled")
    token = new_token()
    now = clock.now()
    await agents_repo.add_token(
        session,
        AccessToken(
            agent_id=agent.id,
            digest=token_digest(token),
            created_at=now,
            expires_at=now + TOKEN_LIFETIME,
        ),
    )
    return IssuedToken(token=token, agent=agent)


async def authenticate(session: AsyncSession, token: str) -> Agent:
    agent = await agents_repo.get_by_token_digest(session, token_digest(token), clock.now())
    if agent is None:
        raise NotAuthenticated("invalid or expired access token")
    return agent


async def logout(session: AsyncSession, agent: Agent, token: str) -> None:
    digest = token_digest(token)
    await agents_repo.delete_token(session, digest)
    publish_after_commit(session, CloseAgentSockets(agent.id, digest, "logged out"))


async def change_password(
    session: AsyncSession, agent: Agent, current: str, new: str
) -> IssuedToken:
    """Every token of the agent dies with the old password; a fresh one is issued."""
    if not verify_password(agent.password_hash, current):
        raise NotAuthenticated("current password is wrong")
    agent.password_hash = hash_password(new)
    await agents_repo.delete_tokens_of(session, agent.id)
    publish_after_commit(session, CloseAgentSockets(agent.id, None, "password changed"))
    token = new_token()
    now = clock.now()
    await agents_repo.add_token(
        session,
        AccessToken(
            agent_id=agent.id,
            digest=token_digest(token),
            created_at=now,
            expires_at=now + TOKEN_LIFETIME,
        ),
    )
    return IssuedToken(token=token, agent=agent)
