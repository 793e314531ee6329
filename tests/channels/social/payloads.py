"""Webhook bodies of the real shape, from ../shared/fixtures/webhooks, with the
ids and times a test needs, and signed as each platform signs them."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import time
import uuid
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "webhooks"
_numbers = itertools.count(int(time.time()) % 1_000_000 * 1000)


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of a fixture payload."""
    return copy.deepcopy(_load(name))


@cache
def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def raw(name: str) -> bytes:
    """A fixture's bytes exactly as stored."""
    return (FIXTURES / f"{name}.json").read_bytes()


def encode(payload: dict[str, Any]) -> bytes:
    # As the platforms send it: UTF-8, non-ASCII text as is.
    return json.dumps(payload, ensure_ascii=False).encode()


def unique() -> int:
    return next(_numbers)


def now_ms(offset_seconds: float = 0) -> int:
    return int((time.time() + offset_seconds) * 1000)


# -- signatures ---------------------------------------------------------------


def line_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def hub_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_headers(channel: str, config: dict[str, Any], body: bytes) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if channel == "telegram":
        headers["x-telegram-bot-api-secret-token"] = config["secret_token"]
    elif channel == "line":
        headers["x-line-signature"] = line_signature(config["channel_secret"], body)
    else:
        headers["x-hub-signature-256"] = hub_signature(config["app_secret"], body)
    return headers


# -- Telegram -------------------------------------------------------------------


def telegram_update(
    user_id: int,
    text: str | None = "こんにちは。返品の手続きについて教えてください。",
    *,
    message_id: int | None = None,
    update_id: int | None = None,
    date: int | None = None,
    **content: Any,
) -> dict[str, Any]:
    update = fixture("telegram-text-message")
    message = update["message"]
    update["update_id"] = update_id or unique()
    message["message_id"] = message_id or unique()
    message["from"]["id"] = message["chat"]["id"] = user_id
    message["date"] = date or int(time.time())
    if text is None:
        del message["text"]
    else:
        message["text"] = text
    message.update(content)
    return update


# -- LINE ---------------------------------------------------------------------


def line_event(
    user_id: str,
    text: str = "注文した商品の配送状況を知りたいです",
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
    reply_token: str | None = None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = fixture("line-text-message")["events"][0]
    event["source"]["userId"] = user_id
    event["webhookEventId"] = event_id or f"01J{uuid.uuid4().hex[:23].upper()}"
    event["timestamp"] = timestamp or now_ms()
    event["replyToken"] = reply_token or uuid.uuid4().hex
    event["message"]["id"] = str(unique())
    event["message"]["text"] = text
    if message is not None:
        event["message"] = {"id": str(unique()), **message}
    return event


def line_body(*events: dict[str, Any]) -> dict[str, Any]:
    body = fixture("line-text-message")
    body["events"] = list(events)
    return body


# -- Messenger and Instagram ----------------------------------------------------------


def messaging_body(
    kind: str,
    owner_id: str,
    sender_id: str,
    text: str | None = "Hi! Is the blue jacket back in stock?",
    *,
    mid: str | None = None,
    timestamp: int | None = None,
    **message: Any,
) -> dict[str, Any]:
    """A Messenger (`kind="messenger"`) or Instagram DM webhook."""
    name = "messenger-text-message" if kind == "messenger" else "instagram-direct-message"
    body = fixture(name)
    entry = body["entry"][0]
    entry["id"] = owner_id
    entry["time"] = now_ms()
    event = entry["messaging"][0]
    event["sender"]["id"] = sender_id
    event["recipient"]["id"] = owner_id
    event["timestamp"] = timestamp or now_ms()
    event["message"]["mid"] = mid or f"m_{uuid.uuid4().hex}"
    if text is None:
        del event["message"]["text"]
    else:
        event["message"]["text"] = text
    event["message"].update(message)
    return body


def instagram_comment(
    account_id: str, author_id: str, text: str, *, comment_id: str | None = None
) -> dict[str, Any]:
    body = fixture("instagram-comment")
    entry = body["entry"][0]
    entry["id"] = account_id
    entry["time"] = now_ms()
    value = entry["changes"][0]["value"]
    value["from"]["id"] = author_id
    value["id"] = comment_id or str(unique())
    value["text"] = text
    return body


# -- WhatsApp ---------------------------------------------------------------------------


def whatsapp_body(
    phone_number_id: str,
    wa_id: str,
    text: str = "Hi, I need to change my delivery address.",
    *,
    name: str = "Kerry Fisher",
    wamid: str | None = None,
    timestamp: int | None = None,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = fixture("whatsapp-text-message")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    value["contacts"][0]["wa_id"] = wa_id
    value["contacts"][0]["profile"]["name"] = name
    item = value["messages"][0]
    item["from"] = wa_id
    item["id"] = wamid or f"wamid.{uuid.uuid4().hex}"
    item["timestamp"] = str(timestamp or int(time.time()))
    item["text"]["body"] = text
    if message is not None:
        del item["text"]
        item.update(message)
    return body


def whatsapp_status(
    phone_number_id: str,
    wamid: str,
    status: str,
    *,
    recipient: str = "16505551234",
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body = fixture("whatsapp-status-update")
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = phone_number_id
    item = value["statuses"][0]
    item.update(
        {
            "id": wamid,
            "status": status,
            "recipient_id": recipient,
            "timestamp": str(int(time.time())),
        }
    )
    if errors is not None:
        item["errors"] = errors
    return body
