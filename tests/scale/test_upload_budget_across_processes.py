"""The widget's upload budget is one per client /64 over every process:
spreading uploads over processes gets no more bytes in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.models import Attachment
from tests.harness import Api
from tests.scale.conftest import Cluster

FILE_BYTES = 1000
BUDGET = 2500


def _png(marker: int) -> bytes:
    head = b"\x89PNG\r\n\x1a\n" + marker.to_bytes(4, "big")
    return head + b"\x00" * (FILE_BYTES - len(head))


async def _upload(api: Api, inbox: dict[str, Any], address: str, marker: int) -> Any:
    # The servers trust X-Forwarded-For from 127.0.0.1, as behind a proxy.
    forwarded = {"x-forwarded-for": address}
    r = await api.http.post(
        "/api/v1/widget/sessions", json={"widget_key": inbox["widget_key"]}, headers=forwarded
    )
    assert r.status_code == 200, r.text
    return await api.http.post(
        "/api/v1/widget/attachments",
        params={"filename": "photo.png", "client_id": f"f-{marker}"},
        content=_png(marker),
        headers={
            **api.auth(r.json()["session_token"]),
            **forwarded,
            "content-type": "image/png",
        },
    )


async def _stored_attachments(database_url: str) -> int:
    db = Database(Settings(database_url=database_url), MemoryBus())
    try:
        async with db.read() as session:
            return int((await session.execute(select(func.count(Attachment.id)))).scalar_one())
    finally:
        await db.dispose()


async def test_one_64_spread_over_two_processes_has_one_budget(cluster: Cluster) -> None:
    a, b = await cluster.start(2, {"MADOGUCHI_WIDGET_UPLOAD_BYTES_PER_IP_PER_HOUR": str(BUDGET)})
    inbox = await a.create_inbox()
    assert (await _upload(a, inbox, "2001:db8::1", 1)).status_code == 201
    assert (await _upload(b, inbox, "2001:db8::2", 2)).status_code == 201
    for n, (api, address) in enumerate(((a, "2001:db8::3"), (b, "2001:db8::4"))):
        r = await _upload(api, inbox, address, 10 + n)
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) > 0
    r = await _upload(b, inbox, "2001:db8:0:1::1", 20)
    assert r.status_code == 201, r.text
    assert await _stored_attachments(cluster.database_url) == 3
