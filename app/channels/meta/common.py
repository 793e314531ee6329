"""What Messenger, Instagram and WhatsApp share: Meta's webhook checks, the
24-hour window, and what a Graph API error means.

Meta signs the raw body of every POST: `X-Hub-Signature-256` is `sha256=`
and the hex HMAC-SHA256 of it under the app secret. Subscribing a callback
URL is a GET that must echo `hub.challenge` when `hub.verify_token` is ours.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx

from app.channels.base import (
    ChannelError,
    ChannelParseError,
    ChannelPermanentError,
    ChannelRetriableError,
    ChannelVerificationError,
    InboundRequest,
    WebhookAnswer,
)
from app.channels.platform_http import json_body, reason_text, retry_after

SIGNATURE_HEADER = "x-hub-signature-256"
# Meta lets a business answer freely for 24 hours after the customer's last
# message; after that only templates (WhatsApp) or tagged messages may go.
REPLY_WINDOW = timedelta(hours=24)

# Graph error codes worth another try: rate limits (4 app, 17 user, 32 page,
# 613 calls per hour, 80007 WhatsApp account, 130429 throughput, 131056 pair
# rate), and the platform's own temporary trouble (1 unknown, 2 service,
# 131000 something went wrong, 131016 service unavailable, 133004 server
# unavailable). Everything else (10/2018278 outside the window, 551 the
# person is unavailable, 131047 re-engagement needed, 190 a bad token) fails
# the same way again.
_RETRIABLE_CODES = frozenset({1, 2, 4, 17, 32, 613, 80007, 130429, 131000, 131016, 131056, 133004})


def hub_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify(app_secret: str, verify_token: str, request: InboundRequest) -> WebhookAnswer | None:
    if request.method == "GET":
        given = request.query.get("hub.verify_token", "")
        if request.query.get("hub.mode") != "subscribe" or not hmac.compare_digest(
            given.encode(), verify_token.encode()
        ):
            raise ChannelVerificationError("wrong hub.mode or hub.verify_token", status=403)
        return WebhookAnswer(200, request.query.get("hub.challenge", ""))
    given = request.headers.get(SIGNATURE_HEADER, "")
    expected = hub_signature(app_secret, request.body)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ChannelVerificationError("bad or missing X-Hub-Signature-256")
    return None


def entries(request: InboundRequest, object_name: str) -> list[dict[str, Any]]:
    """The `entry` list of a webhook for `object_name`; none for another object
    (one app's callback may be shared by its products)."""
    try:
        payload = json.loads(request.body)
    except ValueError as exc:
        raise ChannelParseError("not JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise ChannelParseError("not a Meta webhook")
    if payload.get("object") != object_name:
        return []
    return [e for e in payload["entry"] if isinstance(e, dict)]


def dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def send_error(platform: str, what: str, response: httpx.Response) -> ChannelError:
    """A Graph API failure as the worker should treat it."""
    error = json_body(response).get("error")
    reason = f"{platform} {what}: {response.status_code} {reason_text(response)}"
    if isinstance(error, dict) and (
        error.get("code") in _RETRIABLE_CODES or error.get("is_transient") is True
    ):
        return ChannelRetriableError(reason, retry_after(response))
    return ChannelPermanentError(reason)


def auth(token: str) -> dict[str, str]:
    # A header, not ?access_token=: URLs end up in logs and error texts.
    return {"authorization": f"Bearer {token}"}
