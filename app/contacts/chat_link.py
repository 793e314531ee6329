"""Signed chat links: the redirect answer on a channel the business does not
serve links to the chat page with a token that names the customer it answered.
Following it opens the widget as that customer, so the chat continues the
history instead of starting a stranger's.

The token is `<customer id>.<expiry, unix seconds>.<hex HMAC-SHA256 of both>`
under the server's secret. It holds no personal detail (the link is posted on
a public channel's thread), only an id that is useless without the signature.
Whoever holds the link within its lifetime is treated as that customer: it was
sent only to them, on the platform they wrote from.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from app.config import Settings
from app.kit.crypto import constant_time_equals, hmac_sha256_hex

# The file name of the generated secret in the data dir (not a secret itself).
_SECRET_FILE = "chat_link_secret"  # noqa: S105
_cache: dict[str, str] = {}


def server_secret(settings: Settings) -> str:
    """MADOGUCHI_SECRET_KEY, or a random one kept in the data dir on first use
    (one process or several on one machine; several machines set the key)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / _SECRET_FILE
    key = str(path)
    if key in _cache:
        return _cache[key]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32))
        path.chmod(0o600)
    except FileExistsError:
        pass
    _cache[key] = path.read_text(encoding="ascii").strip()
    return _cache[key]


@dataclass(frozen=True, slots=True)
class ChatLink:
    customer_id: int
    expires_at: int


def _signed_part(customer_id: int, expires_at: int) -> str:
    return f"chat-link:{customer_id}:{expires_at}"


def sign(secret: str, customer_id: int, now: datetime, lifetime: timedelta) -> str:
    expires_at = int((now + lifetime).timestamp())
    mac = hmac_sha256_hex(secret, _signed_part(customer_id, expires_at))
    return f"{customer_id}.{expires_at}.{mac}"


def verify(secret: str, token: str, now: datetime) -> ChatLink | None:
    """The link's customer, or None when the token is malformed, forged or expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    customer_id, expires_at = int(parts[0]), int(parts[1])
    if len(parts[0]) > 18 or len(parts[1]) > 12:
        return None
    expected = hmac_sha256_hex(secret, _signed_part(customer_id, expires_at))
    if not constant_time_equals(expected, parts[2].lower()):
        return None
    if expires_at < now.timestamp():
        return None
    return ChatLink(customer_id, expires_at)
