"""The widget's anonymous uploads: a budget of bytes per client address and
hour, with IPv6 addresses counted by their /64. One host given a /64 can pick
a fresh address for every session; it still gets one budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.models import Attachment
from tests.conftest import StartServer
from tests.harness import Api

FILE_BYTES = 1000
# Room for two files and a half: the third from the same /64 does not fit.
BUDGET = 2500


def _png(marker: int) -> bytes:
    head = b"\x89PNG\r\n\x1a\n" + marker.to_bytes(4, "big")
    return head + b"\x00" * (FILE_BYTES - len(head))


def _from(address: str) -> dict[str, str]:
    # The test server trusts X-Forwarded-For from 127.0.0.1 (uvicorn's
    # default), as a server behind its proxy does.
    return {"x-forwarded-for": address}


async def _new_session(api: Api, inbox: dict[str, Any], address: str, **headers: str) -> Any:
    return await api.http.post(
        "/api/v1/widget/sessions",
        json={"widget_key": inbox["widget_key"]},
        headers={**_from(address), **headers},
    )


async def _session(api: Api, inbox: dict[str, Any], address: str, **headers: str) -> str:
    r = await _new_session(api, inbox, address, **headers)
    assert r.status_code == 200, r.text
    return str(r.json()["session_token"])


async def _upload(
    api: Api, token: str, address: str, content: bytes, *, chunked: bool = False
) -> Any:
    body: bytes | AsyncIterator[bytes] = content
    if chunked:
        # No Content-Length: the size is known only once the body is read.
        async def chunks() -> AsyncIterator[bytes]:
            yield content[:500]
            yield content[500:]

        body = chunks()
    return await api.http.post(
        "/api/v1/widget/attachments",
        params={"filename": "photo.png", "client_id": f"f-{address}"},
        content=body,
        headers={**api.auth(token), **_from(address), "content-type": "image/png"},
    )


async def _stored_attachments(api: Api) -> int:
    settings = Settings(
        data_dir=api.server.data_dir, database_url=api.server.env.get("MADOGUCHI_DATABASE_URL")
    )
    db = Database(settings, MemoryBus())
    try:
        async with db.read() as session:
            return int((await session.execute(select(func.count(Attachment.id)))).scalar_one())
    finally:
        await db.dispose()


async def test_many_addresses_of_one_ipv6_64_share_one_upload_budget(
    start_server: StartServer,
) -> None:
    api = await start_server({"MADOGUCHI_WIDGET_UPLOAD_BYTES_PER_IP_PER_HOUR": str(BUDGET)})
    inbox = await api.create_inbox()
    accepted: list[tuple[str, dict[str, Any], bytes]] = []

    # Two files from two addresses of one /64 fit the budget.
    for n, address in enumerate(("2001:db8::1", "2001:db8::2")):
        token = await _session(api, inbox, address)
        content = _png(n)
        r = await _upload(api, token, address, content)
        assert r.status_code == 201, r.text
        accepted.append((token, r.json(), content))

    # The attack: fresh sessions from fresh addresses of the same /64, with
    # and without a declared size. Each is refused; none is stored.
    for n, address in enumerate(("2001:db8::3", "2001:db8::ffff:1:2", "2001:db8::4")):
        token = await _session(api, inbox, address)
        r = await _upload(api, token, address, _png(10 + n), chunked=n == 2)
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "rate_limited"
        assert 0 < int(r.headers["retry-after"]) <= 3600
    assert await _stored_attachments(api) == 2

    # Another /64, and an IPv4 client, have budgets of their own.
    for n, address in enumerate(("2001:db8:0:1::1", "203.0.113.9")):
        token = await _session(api, inbox, address)
        content = _png(20 + n)
        r = await _upload(api, token, address, content)
        assert r.status_code == 201, r.text
        accepted.append((token, r.json(), content))
    assert await _stored_attachments(api) == 4

    # What was accepted is whole: each customer downloads their own bytes.
    for token, ack, content in accepted:
        [file] = ack["attachments"]
        assert file["size"] == FILE_BYTES
        r = await api.http.get(file["url"], headers=api.auth(token))
        assert r.status_code == 200
        assert r.content == content


async def test_refused_files_cost_nothing_of_the_budget(start_server: StartServer) -> None:
    """Bytes are counted as they are accepted: a file the checks refuse
    (wrong kind, wrong origin) leaves the budget as it was."""
    api = await start_server({"MADOGUCHI_WIDGET_UPLOAD_BYTES_PER_IP_PER_HOUR": str(BUDGET)})
    inbox = await api.create_inbox({"allowed_origins": ["https://shop.example"]})
    address = "2001:db8:5::1"
    token = await _session(api, inbox, address, origin="https://shop.example")
    markup = b"<!DOCTYPE html>" + b" " * (FILE_BYTES - 15)
    for _ in range(3):
        r = await api.http.post(
            "/api/v1/widget/attachments",
            params={"filename": "a.png", "client_id": "markup"},
            content=markup,
            headers={
                **api.auth(token),
                **_from(address),
                "content-type": "image/png",
                "origin": "https://shop.example",
            },
        )
        assert r.status_code == 415, r.text
    for _ in range(3):
        r = await api.http.post(
            "/api/v1/widget/attachments",
            params={"filename": "a.png", "client_id": "elsewhere"},
            content=_png(1),
            headers={
                **api.auth(token),
                **_from(address),
                "content-type": "image/png",
                "origin": "https://evil.example",
            },
        )
        assert r.status_code == 403, r.text
    for n in range(2):
        r = await api.http.post(
            "/api/v1/widget/attachments",
            params={"filename": "a.png", "client_id": f"ok-{n}"},
            content=_png(n),
            headers={
                **api.auth(token),
                **_from(address),
                "content-type": "image/png",
                "origin": "https://shop.example",
            },
        )
        assert r.status_code == 201, r.text
    assert await _stored_attachments(api) == 2


async def test_new_sessions_are_limited_per_ipv6_64_too(start_server: StartServer) -> None:
    """The per-address limit on new widget sessions uses the same key."""
    api = await start_server({"MADOGUCHI_RATE_WIDGET_SESSIONS": "3"})
    inbox = await api.create_inbox()
    tokens = [await _session(api, inbox, f"2001:db8:7::{n}") for n in range(1, 4)]
    r = await _new_session(api, inbox, "2001:db8:7::ffff")
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) > 0
    # Another /64 opens sessions, and a session already open is resumed.
    await _session(api, inbox, "2001:db8:8::1")
    r = await api.http.post(
        "/api/v1/widget/sessions",
        json={"widget_key": inbox["widget_key"], "session_token": tokens[0]},
        headers=_from("2001:db8:7::ffff"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["session_token"] == tokens[0]
