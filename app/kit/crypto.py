"""Tokens, token digests and HMAC checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets

# 32 bytes = 256 random bits, well over the 128 the threat model asks for.
TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """Tokens are stored only as digests, so a leaked database leaks no live token."""
    return hashlib.sha256(token.encode()).hexdigest()


def hmac_sha256_hex(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
