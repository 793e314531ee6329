"""Bad input is a 4xx (or an error frame), never a 500.

Ids and seqs are 32-bit on PostgreSQL, PostgreSQL text holds no NUL, a lone
surrogate is not Unicode, and bodies have a size limit: each is refused at the
edge, the same on SQLite and PostgreSQL, and never reaches the group commit.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import StartServer
from tests.harness import Api

TOO_BIG = [2**31, 2**40, 99999999999999999999]
NUL = "nul \x00 byte"
# JSON can carry it as an escape; json.dumps writes it so (ensure_ascii).
LONE_SURROGATE = "lone \ud800 surrogate"
MAX_BODY = 1024 * 1024  # MADOGUCHI_MAX_BODY_BYTES' default


async def _open(api: Api, inbox: dict[str, Any]) -> int:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "first", "body": "hello"})
        return int((await widget.expect("ack"))["conversation_id"])


def _ascii_json(value: Any) -> bytes:
    """JSON with escapes: httpx's own encoder writes UTF-8, which has no lone surrogate."""
    return json.dumps(value).encode()


def _assert_refused(status: int, text: str, *allowed: int) -> None:
    assert status in allowed, text
    assert "error" in json.loads(text), text


# -- integers --------------------------------------------------------------


@pytest.mark.parametrize("number", TOO_BIG)
async def test_out_of_range_ids_in_paths(api: Api, number: int) -> None:
    h = api.auth(api.admin_token)
    for path in (
        f"/api/v1/conversations/{number}",
        f"/api/v1/conversations/{number}/messages",
        f"/api/v1/customers/{number}",
        f"/api/v1/customers/{number}/timeline",
        f"/api/v1/inboxes/{number}",
        f"/api/v1/inboxes/{number}/availability",
    ):
        r = await api.http.get(path, headers=h)
        _assert_refused(r.status_code, r.text, 404, 422)
    for action in ("resolve", "reopen"):
        r = await api.http.post(f"/api/v1/conversations/{number}/{action}", headers=h)
        _assert_refused(r.status_code, r.text, 404, 422)
    r = await api.http.post(
        f"/api/v1/conversations/{number}/messages", json={"body": "hi"}, headers=h
    )
    _assert_refused(r.status_code, r.text, 404, 422)


@pytest.mark.parametrize("number", TOO_BIG)
async def test_out_of_range_ints_in_queries(api: Api, inbox: dict[str, Any], number: int) -> None:
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    for path, params in (
        (f"/api/v1/conversations/{conversation_id}/messages", {"after_seq": number}),
        ("/api/v1/conversations", {"inbox_id": number}),
        ("/api/v1/conversations", {"assignee": number}),
    ):
        r = await api.http.get(path, params=params, headers=h)
        _assert_refused(r.status_code, r.text, 422)


@pytest.mark.parametrize("number", TOO_BIG)
async def test_out_of_range_ints_in_bodies(api: Api, inbox: dict[str, Any], number: int) -> None:
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    for action in ("assign", "transfer"):
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/{action}",
            json={"agent_id": number},
            headers=h,
        )
        _assert_refused(r.status_code, r.text, 422)
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.json()["assignee_id"] is None


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "resume", "after_seq": 2**31},
        {"type": "resume", "conversation_id": 2**40},
        {"type": "read", "seq": 99999999999999999999},
        {"type": "csat", "rating": 2**64},
    ],
)
async def test_out_of_range_ints_in_widget_frames(
    api: Api, inbox: dict[str, Any], frame: dict[str, Any]
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.expect("status")
        await widget.send(frame)
        assert (await widget.expect("error"))["code"] == "invalid_frame"
        await widget.send({"type": "message", "client_id": "after", "body": "still here"})
        ack = await widget.expect("ack")
    assert [m["body"] for m in await api.messages(ack["conversation_id"])] == ["still here"]


async def test_out_of_range_ints_in_agent_frames(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        for frame in (
            {"type": "watch", "conversation_id": 2**31},
            {"type": "typing", "conversation_id": 2**40},
            {"type": "message", "conversation_id": 2**64, "client_id": "a", "body": "x"},
        ):
            await console.send(frame)
            assert (await console.expect("error"))["code"] == "invalid_frame"
        await console.send(
            {"type": "message", "conversation_id": conversation_id, "client_id": "ok", "body": "hi"}
        )
        assert (await console.expect("ack"))["client_id"] == "ok"


# -- cursors ---------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["²", "٣", "99999999999999999999", "2147483648", "-1", "1e3"])
async def test_bad_cursors(api: Api, inbox: dict[str, Any], cursor: str) -> None:
    conversation_id = await _open(api, inbox)
    customer_id = (
        await api.http.get(
            f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
        )
    ).json()["customer_id"]
    for path in (
        "/api/v1/conversations",
        f"/api/v1/conversations/{conversation_id}/messages",
        f"/api/v1/customers/{customer_id}/timeline",
    ):
        r = await api.http.get(path, params={"cursor": cursor}, headers=api.auth(api.admin_token))
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_request"


async def test_assignee_filter_takes_ascii_digits_only(api: Api) -> None:
    r = await api.http.get(
        "/api/v1/conversations", params={"assignee": "²"}, headers=api.auth(api.admin_token)
    )
    assert r.status_code == 422, r.text


# -- over-long strings -----------------------------------------------------


async def test_team_name_over_its_column_is_refused(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    url = f"/api/v1/conversations/{conversation_id}/transfer"
    r = await api.http.post(url, json={"team": "t" * 101, "note": "over"}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"
    r = await api.http.post(url, json={"team": "t" * 100}, headers=h)
    assert r.status_code == 404, r.text  # fits the column; no such team
    r = await api.http.post(url, json={"team": "sales", "note": "n" * 4001}, headers=h)
    assert r.status_code == 422, r.text
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": "Web", "channel": "web", "teams": ["t" * 101]},
        headers=h,
    )
    assert r.status_code == 422, r.text


# -- text PostgreSQL cannot store ------------------------------------------


@pytest.mark.parametrize("text", [NUL, LONE_SURROGATE])
async def test_unstorable_text_in_rest_bodies(api: Api, inbox: dict[str, Any], text: str) -> None:
    conversation_id = await _open(api, inbox)
    h = {**api.auth(api.admin_token), "content-type": "application/json"}
    for path, body in (
        (f"/api/v1/conversations/{conversation_id}/messages", {"body": text}),
        (f"/api/v1/conversations/{conversation_id}/messages", {"body": "ok", "client_id": text}),
        (f"/api/v1/conversations/{conversation_id}/transfer", {"team": text}),
        (f"/api/v1/conversations/{conversation_id}/transfer", {"team": "x", "note": text}),
        ("/api/v1/inboxes", {"name": text, "channel": "web"}),
        ("/api/v1/inboxes", {"name": "Web", "channel": "web", "teams": [text]}),
        ("/api/v1/auth/token", {"email": text, "password": "whatever1"}),
        ("/api/v1/auth/token", {"email": "a@example.com", "password": text}),
        ("/api/v1/widget/sessions", {"widget_key": inbox["widget_key"], "name": text}),
        ("/api/v1/widget/sessions", {"widget_key": inbox["widget_key"], "external_id": text}),
        ("/api/v1/widget/sessions", {"widget_key": text}),
        (
            "/api/v1/agents",
            {"email": "n@example.com", "name": text, "password": "long enough"},
        ),
    ):
        r = await api.http.post(path, content=_ascii_json(body), headers=h)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["error"] == "invalid_request"
    assert [m["body"] for m in await api.messages(conversation_id)] == ["hello"]


async def test_unstorable_text_in_a_path(api: Api) -> None:
    r = await api.http.get("/chat/abc%00def")
    assert r.status_code in (404, 422), r.text


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"body": NUL}, "invalid_frame"),
        ({"client_id": NUL}, "invalid_frame"),
        # orjson refuses the escape itself: the frame is not JSON it can read.
        ({"body": LONE_SURROGATE}, "invalid_json"),
    ],
)
async def test_unstorable_text_in_a_widget_frame(
    api: Api, inbox: dict[str, Any], frame: dict[str, Any], code: str
) -> None:
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.expect("status")
        await widget.send({"type": "message", "client_id": "bad", "body": "x", **frame})
        assert (await widget.expect("error"))["code"] == code
        await widget.send({"type": "message", "client_id": "after", "body": "still here"})
        ack = await widget.expect("ack")
    assert [m["body"] for m in await api.messages(ack["conversation_id"])] == ["still here"]


async def test_unstorable_text_in_an_agent_frame(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    agent = await api.create_agent()
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        for body, code in ((NUL, "invalid_frame"), (LONE_SURROGATE, "invalid_json")):
            await console.send(
                {
                    "type": "message",
                    "conversation_id": conversation_id,
                    "client_id": f"bad-{code}",
                    "body": body,
                }
            )
            assert (await console.expect("error"))["code"] == code
    assert [m["body"] for m in await api.messages(conversation_id)] == ["hello"]


async def test_bad_text_does_not_harm_the_group_commit(api: Api, inbox: dict[str, Any]) -> None:
    """Bursts from several customers at once, with bad messages among the good:
    every good one is acked and stored, in order, and only the bad are refused."""
    customers, per_customer = 4, 12
    sessions = [await api.new_session(inbox) for _ in range(customers)]

    async def burst(session: dict[str, Any]) -> tuple[int, list[str], list[dict[str, Any]]]:
        good: list[str] = []
        async with api.widget(session["session_token"]) as widget:
            await widget.expect("status")
            for i in range(per_customer):
                client_id = f"m-{i}-{uuid.uuid4().hex[:6]}"
                if i in (3, 7):
                    await widget.send({"type": "message", "client_id": client_id, "body": NUL})
                elif i == 5:
                    body = LONE_SURROGATE
                    await widget.send({"type": "message", "client_id": client_id, "body": body})
                else:
                    good.append(client_id)
                    await widget.send(
                        {"type": "message", "client_id": client_id, "body": client_id}
                    )
            acks = [await widget.expect("ack") for _ in good]
            errors = [f for f in widget.seen if f["type"] == "error"]
            errors += [f for f in await widget.quiet(0.3) if f["type"] == "error"]
        assert [a["client_id"] for a in acks] == good
        codes = sorted(e["code"] for e in errors)
        assert codes == ["invalid_frame", "invalid_frame", "invalid_json"]
        return int(acks[0]["conversation_id"]), good, acks

    results = await asyncio.gather(*(burst(s) for s in sessions))
    for conversation_id, good, acks in results:
        stored = await api.messages(conversation_id)
        assert [m["body"] for m in stored] == good
        assert [m["seq"] for m in stored] == list(range(1, len(good) + 1))
        assert [(m["id"], m["seq"]) for m in stored] == [(a["id"], a["seq"]) for a in acks]


# -- body size -------------------------------------------------------------


async def test_body_over_the_limit_is_413_and_nothing_is_stored(
    api: Api, inbox: dict[str, Any]
) -> None:
    conversation_id = await _open(api, inbox)
    h = api.auth(api.admin_token)
    # Valid but for its size: without the limit the extra field would be ignored.
    payload = {"body": "too big", "pad": "x" * MAX_BODY}
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages", json=payload, headers=h
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    r = await api.http.post(
        "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"], "pad": "x" * MAX_BODY}
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert [m["body"] for m in await api.messages(conversation_id)] == ["hello"]
    # The same connection pool goes on working.
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages", json={"body": "fits"}, headers=h
    )
    assert r.status_code == 201, r.text


async def _chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_chunked_body_over_the_limit_is_413(api: Api, inbox: dict[str, Any]) -> None:
    conversation_id = await _open(api, inbox)
    h = {**api.auth(api.admin_token), "content-type": "application/json"}
    url = f"/api/v1/conversations/{conversation_id}/messages"
    big = json.dumps({"body": "too big", "pad": "x" * MAX_BODY}).encode()
    r = await api.http.post(url, content=_chunks(big), headers=h)
    assert "content-length" not in r.request.headers
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    # A chunked body within the limit reaches the app whole.
    small = json.dumps({"body": "chunked " + "y" * 1000}).encode()
    r = await api.http.post(url, content=_chunks(small, 100), headers=h)
    assert r.status_code == 201, r.text
    bodies = [m["body"] for m in await api.messages(conversation_id)]
    assert bodies == ["hello", "chunked " + "y" * 1000]


async def test_the_body_limit_is_a_setting(start_server: StartServer) -> None:
    api = await start_server({"MADOGUCHI_MAX_BODY_BYTES": "4096"})
    inbox = await api.create_inbox()
    conversation_id = await _open(api, inbox)
    url = f"/api/v1/conversations/{conversation_id}/messages"
    h = api.auth(api.admin_token)
    # Both are valid replies (at most 16,000 characters); only the limit tells them apart.
    r = await api.http.post(url, json={"body": "a" * 5000}, headers=h)
    assert r.status_code == 413, r.text
    r = await api.http.post(url, json={"body": "b" * 3000}, headers=h)
    assert r.status_code == 201, r.text
    assert [m["body"] for m in await api.messages(conversation_id)] == ["hello", "b" * 3000]
