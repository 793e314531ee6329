"""Agent login, access tokens and logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import repository as tokens_repo
from app.auth.passwords import HashingBusy, hash_password, verify_password
from app.db import Database
from app.errors import AppError, NotAuthenticated, NotFound
from app.events.bus import publish_after_commit
from app.events.domain import CloseAgentSockets
from app.kit.client_key import rate_key_of
from app.kit.clock import clock
from app.kit.crypto import new_token, token_digest
from app.kit.ratelimit import RateLimiter
from app.models import AccessToken, Agent

TOKEN_LIFETIME = timedelta(days=30)


class WrongPassword(AppError):
    """The current password given to change it is wrong. Not 401: the session
    is valid, and a client that hears 401 takes it for dead and logs out."""

    code = "wrong_password"
    status = 403


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    agent: Agent


async def login(
    db: Database, email: str, password: str, client_address: str, limiter: RateLimiter
) -> IssuedToken:
    """Failed attempts count per client (an IPv4 address, an IPv6 /64) and per
    account, so neither a single host nor a botnet aimed at one account can
    guess for long.

    Each attempt is counted before its hash runs and given back only when the
    password was right: a burst of guesses that arrives while the first ones
    hash is refused at once (429) instead of all passing the check together,
    so no more than the limit's worth of hashes ever run per key and window.

    The password is checked between transactions: a hash inside the write
    transaction would hold SQLite's write lock, and every other writer, for
    its whole length."""
    email = email.lower()
    # A wrong password stays counted, and so does an attempt cut short while
    # it hashed (the client gone): it cost what a guess costs.
    attempt = limiter.reserve(rate_key_of(client_address), f"acct:{email}")
    async with db.read() as session:
        agent = await tokens_repo.agent_by_email(session, email)
    try:
        matches = await verify_password(agent.password_hash if agent else None, password)
    except HashingBusy:
        attempt.release()  # refused before any hash: no guess was made
        raise
    if not matches or agent is None:
        raise NotAuthenticated("wrong email or password")
    attempt.release()
    if not agent.is_active:
        raise NotAuthenticated("this account is disabled")
    async with db.write() as session:
        current = await session.get(Agent, agent.id)
        if current is None or not current.is_active or current.password_hash != agent.password_hash:
            # Changed while the password was checked: it was checked against the old one.
            raise NotAuthenticated("wrong email or password")
        token = await _issue_token(session, current)
    return IssuedToken(token=token, agent=current)


async def authenticate(session: AsyncSession, token: str) -> Agent:
    return await agent_of_digest(session, token_digest(token))


async def agent_of_digest(session: AsyncSession, digest: str) -> Agent:
    """The agent a token (by its digest) signs in, as stored now: a socket asks
    again before each frame that acts, so a new role or a deactivation counts
    from the next frame."""
    agent = await tokens_repo.get_by_token_digest(session, digest, clock.now())
    if agent is None:
        raise NotAuthenticated("invalid or expired access token")
    return agent


async def logout(session: AsyncSession, agent: Agent, token: str) -> None:
    digest = token_digest(token)
    await tokens_repo.delete_token(session, digest)
    publish_after_commit(session, CloseAgentSockets(agent.id, digest, "logged out"))


async def change_password(db: Database, agent: Agent, current: str, new: str) -> IssuedToken:
    """Every token of the agent dies with the old password; a fresh one is issued.
    Both hashes run before the write transaction, as in `login`."""
    verified_hash = agent.password_hash
    if not await verify_password(verified_hash, current):
        raise WrongPassword("current password is wrong")
    new_hash = await hash_password(new)
    async with db.write() as session:
        stored = await session.get(Agent, agent.id)
        if stored is None or stored.password_hash != verified_hash:
            # Another change won the race: `current` is no longer the password.
            raise WrongPassword("current password is wrong")
        stored.password_hash = new_hash
        await tokens_repo.delete_tokens_of(session, stored.id)
        publish_after_commit(session, CloseAgentSockets(stored.id, None, "password changed"))
        token = await _issue_token(session, stored)
    return IssuedToken(token=token, agent=stored)


async def reset_password(db: Database, agent_id: int, new: str) -> None:
    """An admin sets the password: every session of the agent ends (tokens
    deleted, sockets closed), and nothing is issued to the admin."""
    new_hash = await hash_password(new)
    async with db.write() as session:
        stored = await session.get(Agent, agent_id)
        if stored is None:
            raise NotFound("no such agent")
        stored.password_hash = new_hash
        await end_sessions(session, stored.id, "password reset")


async def end_sessions(session: AsyncSession, agent_id: int, reason: str) -> None:
    """Deletes every token of the agent; once committed, the agent's sockets in
    every process close (1008). A process that misses the event finds the
    tokens gone within SESSION_CHECK_SECONDS (app/realtime/agent_sessions.py)."""
    await tokens_repo.delete_tokens_of(session, agent_id)
    publish_after_commit(session, CloseAgentSockets(agent_id, None, reason))


async def _issue_token(session: AsyncSession, agent: Agent) -> str:
    token = new_token()
    now = clock.now()
    await tokens_repo.add_token(
        session,
        AccessToken(
            agent_id=agent.id,
            digest=token_digest(token),
            created_at=now,
            expires_at=now + TOKEN_LIFETIME,
        ),
    )
    return token
