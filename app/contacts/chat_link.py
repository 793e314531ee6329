"""Signed chat links: a way back into the widget as the customer a message
was sent to, for the redirect answer on a channel the business does not serve
and for the follow-up mail of a reply left unread.

The token is `<customer id>.<expiry, unix seconds>.<nonce>.<hex HMAC-SHA256
of the three>` under the server's secret. It holds no personal detail, only an
id that is useless without the signature.

A link is a bearer credential for a customer's whole history, so:
- it is made only for an address the customer has proven: a verified email,
  or the one-to-one platform chat they wrote from; never for an address they
  merely typed in, and never into a group chat, where everyone reads it;
- it opens one new session as its customer, once: the nonce is recorded in
  `chat_links_used` in the transaction that opens the session, and the table's
  primary key lets only one of two racing requests through;
- it never joins two customers. Presented with a session of another customer
  (or a verified identity that is another customer) it changes nothing but a
  merge suggestion (`reason: "chat_link"`) for an agent to decide.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import Forbidden
from app.kit.clock import clock
from app.kit.crypto import constant_time_equals, hmac_sha256_hex
from app.kit.data_dir import ensure_private_dir
from app.models import ChatLinkUse

# The file name of the generated secret in the data dir (not a secret itself).
_SECRET_FILE = "chat_link_secret"  # noqa: S105
_cache: dict[str, str] = {}

# 96 random bits: a link's identity in `chat_links_used`, never guessed.
_NONCE_BYTES = 12
_NONCE = re.compile(rf"[0-9a-f]{{{_NONCE_BYTES * 2}}}")


class InvalidChatLink(Forbidden):
    code = "invalid_chat_link"


def server_secret(settings: Settings) -> str:
    """MADOGUCHI_SECRET_KEY, or a random one kept in the data dir on first use
    (one process or several on one machine; several machines set the key)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / _SECRET_FILE
    key = str(path)
    if key in _cache:
        return _cache[key]
    ensure_private_dir(path.parent)
    # Written whole and private, then linked into place: a process starting
    # beside us never reads a half-written (or world-readable) key.
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode("ascii"))
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    _cache[key] = path.read_text(encoding="ascii").strip()
    return _cache[key]


@dataclass(frozen=True, slots=True)
class ChatLink:
    customer_id: int
    expires_at: int
    nonce: str


def _signed_part(customer_id: int, expires_at: int, nonce: str) -> str:
    return f"chat-link:{customer_id}:{expires_at}:{nonce}"


def sign(secret: str, customer_id: int, now: datetime, lifetime: timedelta) -> str:
    expires_at = int((now + lifetime).timestamp())
    nonce = secrets.token_hex(_NONCE_BYTES)
    mac = hmac_sha256_hex(secret, _signed_part(customer_id, expires_at, nonce))
    return f"{customer_id}.{expires_at}.{nonce}.{mac}"


def verify(secret: str, token: str, now: datetime) -> ChatLink | None:
    """The link, or None when the token is malformed, forged or expired.
    Whether it was used already is the database's to say (`use`)."""
    parts = token.split(".")
    if len(parts) != 4:
        return None
    customer, expiry, nonce, mac = parts
    if not (customer.isdigit() and expiry.isdigit() and _NONCE.fullmatch(nonce)):
        return None
    if len(customer) > 18 or len(expiry) > 12:
        return None
    customer_id, expires_at = int(customer), int(expiry)
    expected = hmac_sha256_hex(secret, _signed_part(customer_id, expires_at, nonce))
    if not constant_time_equals(expected, mac.lower()):
        return None
    if expires_at < now.timestamp():
        return None
    return ChatLink(customer_id, expires_at, nonce)


async def was_used(session: AsyncSession, link: ChatLink) -> bool:
    return await session.get(ChatLinkUse, link.nonce) is not None


async def use(session: AsyncSession, link: ChatLink) -> None:
    """Records the link as used in the caller's transaction; refused when it
    was used already, here or by a request racing this one (the second insert
    of a nonce fails on SQLite and on PostgreSQL alike)."""
    if await was_used(session, link):
        raise InvalidChatLink("this chat link was used already")
    try:
        async with session.begin_nested():
            session.add(
                ChatLinkUse(
                    nonce=link.nonce,
                    customer_id=link.customer_id,
                    expires_at=datetime.fromtimestamp(link.expires_at, UTC),
                    used_at=clock.now(),
                )
            )
            await session.flush()
    except IntegrityError as exc:
        raise InvalidChatLink("this chat link was used already") from exc
