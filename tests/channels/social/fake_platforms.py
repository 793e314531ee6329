"""A local stand-in for the send APIs of Telegram, LINE and Meta's Graph API
(Messenger, Instagram, WhatsApp Cloud).

It checks each request as the platform would: the credential (Telegram's bot
token in the path, LINE's channel token as a Bearer header, a Graph access
token as a Bearer header or `access_token`), the JSON content type, the body's
shape and its required fields; and the platforms' own rules where the tests
lean on them: a LINE reply token is single use, a LINE retry key is accepted
once (then 409), an Instagram comment gets one private reply. It records what
it accepted and answers as the platform does. Failures are queued per
recipient, so tests sharing the fake never meet each other's.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.harness import free_port


@dataclass
class Sent:
    """One request the platform accepted."""

    platform: str  # telegram | line | graph
    endpoint: str  # sendMessage | push | reply | me/messages | {phone_number_id}/messages
    token: str
    body: dict[str, Any]
    headers: dict[str, str]
    # The id the platform gave the sent message in its answer.
    answer_id: str | None = None


@dataclass
class Failure:
    status: int
    body: dict[str, Any]
    retry_after: int | None = None
    # Accept the request, then answer with the failure: the answer was lost.
    accept: bool = False


def telegram_error(status: int, description: str, retry_after: int | None = None) -> Failure:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Failure(status, body)


def line_error(status: int, message: str, *, retry_after: int | None = None) -> Failure:
    return Failure(status, {"message": message}, retry_after)


def graph_error(
    status: int,
    message: str,
    code: int,
    subcode: int | None = None,
    *,
    retry_after: int | None = None,
) -> Failure:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGh",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return Failure(status, {"error": error}, retry_after)


@dataclass
class FakePlatforms:
    port: int = field(default_factory=free_port)
    telegram_tokens: set[str] = field(default_factory=set)
    line_tokens: set[str] = field(default_factory=set)
    # Graph tokens: page tokens (None) or WhatsApp tokens with their number's id.
    graph_tokens: dict[str, str | None] = field(default_factory=dict)
    # LINE reply tokens handed out in webhooks and not used yet.
    reply_tokens: set[str] = field(default_factory=set)
    received: list[Sent] = field(default_factory=list)
    # Every request that reached a send endpoint with a valid credential, by
    # recipient: how many times the adapter tried.
    attempts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, deque[Failure]] = field(default_factory=dict)
    _retry_keys: set[str] = field(default_factory=set)
    # (token, comment id): one private reply per comment, per account.
    _replied_comments: set[tuple[str, str]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, recipient: str, *failures: Failure) -> None:
        self.failures.setdefault(recipient, deque()).extend(failures)

    def sent_with(self, token: str) -> list[Sent]:
        return [s for s in self.received if s.token == token]

    async def wait_for(self, token: str, count: int, timeout: float = 20) -> list[Sent]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sent_with(token)) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"the platform got {len(self.sent_with(token))} of {count} sends"
                )
            await asyncio.sleep(0.05)
        return self.sent_with(token)

    # -- the app -------------------------------------------------------------

    def app(self) -> Starlette:
        ids = itertools.count(7000)
        return Starlette(
            routes=[
                Route("/bot{token}/sendMessage", self._telegram(ids), methods=["POST"]),
                Route("/v2/bot/message/push", self._line_push(ids), methods=["POST"]),
                Route("/v2/bot/message/reply", self._line_reply(ids), methods=["POST"]),
                Route("/{version}/me/messages", self._graph_send(ids), methods=["POST"]),
                Route(
                    "/{version}/{phone_number_id}/messages",
                    self._whatsapp_send(ids),
                    methods=["POST"],
                ),
            ]
        )

    def _failure(self, recipient: str) -> Failure | None:
        self.attempts[recipient] += 1
        pending = self.failures.get(recipient)
        return pending.popleft() if pending else None

    @staticmethod
    def _answer(failure: Failure) -> JSONResponse:
        headers = {"retry-after": str(failure.retry_after)} if failure.retry_after else {}
        return JSONResponse(failure.body, failure.status, headers)

    def _telegram(self, ids: itertools.count[int]) -> Any:
        async def send(request: Request) -> JSONResponse:
            token = request.path_params["token"]
            if token not in self.telegram_tokens:
                return JSONResponse(
                    {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
                )
            body = await _json(request)
            if body is None:
                return self._answer(telegram_error(400, "Bad Request: invalid JSON body"))
            chat_id, text = body.get("chat_id"), body.get("text")
            if isinstance(chat_id, bool) or not isinstance(chat_id, int | str) or chat_id == "":
                return self._answer(telegram_error(400, "Bad Request: chat_id is empty"))
            if not isinstance(text, str) or not text:
                return self._answer(telegram_error(400, "Bad Request: message text is empty"))
            if len(text) > 4096:
                return self._answer(telegram_error(400, "Bad Request: message is too long"))
            failure = self._failure(str(chat_id))
            if failure is not None:
                return self._answer(failure)
            message_id = next(ids)
            self._record("telegram", "sendMessage", token, body, request, str(message_id))
            return JSONResponse(
                {
                    "ok": True,
                    "result": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "text": text,
                    },
                }
            )

        return send

    def _line_auth(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        return token if header.startswith("Bearer ") and token in self.line_tokens else None

    def _line_push(self, ids: itertools.count[int]) -> Any:
        async def push(request: Request) -> JSONResponse:
            token = self._line_auth(request)
            if token is None:
                return self._answer(line_error(401, "Authentication failed."))
            body = await _json(request)
            problem = _line_messages_problem(body)
            if body is None or problem:
                return self._answer(line_error(400, problem or "The request body has 1 error(s)"))
            to = body.get("to")
            if not isinstance(to, str) or not to:
                return self._answer(line_error(400, "The property, 'to', must be specified."))
            retry_key = request.headers.get("x-line-retry-key")
            if retry_key is not None:
                try:
                    uuid.UUID(retry_key)
                except ValueError:
                    return self._answer(line_error(400, "The retry key is not a UUID"))
                if retry_key in self._retry_keys:
                    return JSONResponse(
                        {"message": "The retry key is already accepted"},
                        409,
                        {"x-line-accepted-request-id": "accepted-" + retry_key[:8]},
                    )
            failure = self._failure(to)
            if failure is not None and not failure.accept:
                return self._answer(failure)
            if retry_key is not None:
                self._retry_keys.add(retry_key)
            sent_id = str(next(ids))
            self._record("line", "push", token, body, request, sent_id)
            if failure is not None:
                return self._answer(failure)
            return JSONResponse({"sentMessages": [{"id": sent_id, "quoteToken": "qT"}]})

        return push

    def _line_reply(self, ids: itertools.count[int]) -> Any:
        async def reply(request: Request) -> JSONResponse:
            token = self._line_auth(request)
            if token is None:
                return self._answer(line_error(401, "Authentication failed."))
            if "x-line-retry-key" in request.headers:
                return self._answer(line_error(400, "The retry key is not supported by this API"))
            body = await _json(request)
            problem = _line_messages_problem(body)
            if body is None or problem:
                return self._answer(line_error(400, problem or "The request body has 1 error(s)"))
            reply_token = body.get("replyToken")
            if not isinstance(reply_token, str) or reply_token not in self.reply_tokens:
                return self._answer(line_error(400, "Invalid reply token"))
            failure = self._failure(f"reply:{reply_token}")
            if failure is not None:
                return self._answer(failure)
            self.reply_tokens.discard(reply_token)  # single use
            sent_id = str(next(ids))
            self._record("line", "reply", token, body, request, sent_id)
            return JSONResponse({"sentMessages": [{"id": sent_id, "quoteToken": "qT"}]})

        return reply

    def _graph_token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        token = (
            header.removeprefix("Bearer ")
            if header.startswith("Bearer ")
            else request.query_params.get("access_token", "")
        )
        return token if token in self.graph_tokens else None

    def _graph_send(self, ids: itertools.count[int]) -> Any:
        async def send(request: Request) -> JSONResponse:
            token = self._graph_token(request)
            if token is None:
                return self._answer(graph_error(400, "Invalid OAuth access token.", 190))
            body = await _json(request)
            if body is None:
                return self._answer(graph_error(400, "(#100) Invalid JSON", 100))
            recipient, message = body.get("recipient"), body.get("message")
            if not isinstance(recipient, dict) or len(recipient) != 1:
                return self._answer(graph_error(400, "(#100) param recipient is required", 100))
            if not isinstance(message, dict) or not isinstance(message.get("text"), str):
                return self._answer(graph_error(400, "(#100) param message must be set", 100))
            if not message["text"] or len(message["text"]) > 2000:
                return self._answer(
                    graph_error(400, "(#100) Length of param message[text] must be 1-2000", 100)
                )
            comment_id = recipient.get("comment_id")
            if comment_id is not None:
                if (token, str(comment_id)) in self._replied_comments:
                    return self._answer(
                        graph_error(400, "(#10900) Activity already replied to", 10900)
                    )
                key = str(comment_id)
            else:
                if not isinstance(recipient.get("id"), str) or not recipient["id"]:
                    return self._answer(
                        graph_error(400, "(#100) param recipient[id] is required", 100)
                    )
                if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                    return self._answer(
                        graph_error(400, "(#100) param messaging_type must be set", 100)
                    )
                key = recipient["id"]
            failure = self._failure(key)
            if failure is not None:
                return self._answer(failure)
            if comment_id is not None:
                self._replied_comments.add((token, str(comment_id)))
            mid = f"m_{next(ids)}"
            self._record("graph", "me/messages", token, body, request, mid)
            return JSONResponse({"recipient_id": recipient.get("id") or "1000", "message_id": mid})

        return send

    def _whatsapp_send(self, ids: itertools.count[int]) -> Any:
        async def send(request: Request) -> JSONResponse:
            token = self._graph_token(request)
            number = request.path_params["phone_number_id"]
            if token is None or self.graph_tokens[token] != number:
                return self._answer(graph_error(401, "Invalid OAuth access token.", 190))
            body = await _json(request)
            if body is None or body.get("messaging_product") != "whatsapp":
                return self._answer(
                    graph_error(400, "(#100) The parameter messaging_product is required.", 100)
                )
            to, text = body.get("to"), body.get("text")
            if not isinstance(to, str) or not to:
                return self._answer(graph_error(400, "(#100) The parameter to is required.", 100))
            if body.get("type", "text") != "text" or not isinstance(text, dict):
                return self._answer(graph_error(400, "(#100) The parameter text is required.", 100))
            if not isinstance(text.get("body"), str) or not text["body"]:
                return self._answer(
                    graph_error(400, "(#100) The parameter text['body'] is required.", 100)
                )
            failure = self._failure(to)
            if failure is not None:
                return self._answer(failure)
            wamid = f"wamid.FAKE{next(ids)}"
            self._record("graph", f"{number}/messages", token, body, request, wamid)
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": to, "wa_id": to}],
                    "messages": [{"id": wamid}],
                }
            )

        return send

    def _record(
        self,
        platform: str,
        endpoint: str,
        token: str,
        body: dict[str, Any],
        request: Request,
        answer_id: str,
    ) -> None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Sent(platform, endpoint, token, body, headers, answer_id))


async def _json(request: Request) -> dict[str, Any] | None:
    # Every one of these APIs wants a JSON body, said so in Content-Type.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return None
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _line_messages_problem(body: dict[str, Any] | None) -> str | None:
    if body is None:
        return None
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "The property, 'messages', must be 1 to 5 message objects."
    for message in messages:
        if not isinstance(message, dict) or message.get("type") != "text":
            return "messages[0].type: must be one of the message types"
        text = message.get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= 5000:
            return "messages[0].text: size must be between 1 and 5000"
    return None
