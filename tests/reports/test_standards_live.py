"""Service standards on a running server: the summary endpoint, an SLA clock
across a crash, and CSAT from the widget and by link."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db import Database
from app.events.bus import MemoryBus
from app.models import CsatResponse
from app.reports.csat import issue_link
from tests.conftest import StartServer
from tests.harness import Api


def server_database(api: Api) -> Database:
    """The server's own database, opened from the test (SQLite in WAL mode
    takes a second reader; PostgreSQL anyway)."""
    settings = Settings(
        data_dir=api.server.data_dir,
        database_url=api.server.env.get("MADOGUCHI_DATABASE_URL"),
    )
    return Database(settings, MemoryBus())


async def _customer_writes(api: Api, inbox: dict[str, Any]) -> tuple[dict[str, Any], int]:
    session = await api.new_session(inbox, name="Hanako")
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": str(uuid.uuid4()), "body": "help"})
        ack = await widget.expect("ack")
    return session, int(ack["conversation_id"])


async def test_summary_is_for_supervisors_and_has_the_contract_shape(api: Api) -> None:
    inbox = await api.create_inbox()
    agent = await api.create_agent()
    supervisor = await api.create_agent("supervisor")
    _, conversation_id = await _customer_writes(api, inbox)
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "hello"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text
    params = {"inbox_id": inbox["id"]}
    assert (await api.http.get("/api/v1/reports/summary", params=params)).status_code == 401
    denied = await api.http.get(
        "/api/v1/reports/summary", params=params, headers=api.auth(agent["token"])
    )
    assert denied.status_code == 403
    r = await api.http.get(
        "/api/v1/reports/summary", params=params, headers=api.auth(supervisor["token"])
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["conversations"] == {"opened": 1, "resolved": 0}
    assert body["first_response"]["count"] == 1
    assert body["first_response"]["median"] >= 0
    assert set(body["first_response"]) == {
        "count",
        "median",
        "p90",
        "business_median",
        "business_p90",
    }
    assert body["resolution"]["median"] is None
    assert body["csat"] == {
        "count": 0,
        "average": None,
        "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0},
    }
    backwards = await api.http.get(
        "/api/v1/reports/summary",
        params={"from": "2026-12-02T00:00:00+09:00", "to": "2026-12-01T00:00:00+09:00"},
        headers=api.auth(supervisor["token"]),
    )
    assert backwards.status_code == 422
    csv = await api.http.get(
        "/api/v1/reports/timeseries.csv", params=params, headers=api.auth(supervisor["token"])
    )
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.splitlines()) >= 8  # the header and a row per day of the week


async def test_an_sla_clock_survives_a_crash_and_fires_once(start_server: StartServer) -> None:
    api = await start_server()
    inbox = await api.create_inbox()
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/service-policy",
        json={"first_response_seconds": 16, "warning_ratio": 0.5},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    supervisor = await api.create_agent("supervisor")
    _, conversation_id = await _customer_writes(api, inbox)
    await asyncio.sleep(1.0)  # the clock is started by the fold, shortly after
    api.server.kill()
    await api.server.start()
    async with api.agent_socket(supervisor["token"]) as console:
        await console.send({"type": "watch", "conversation_id": conversation_id})
        # A slow restart (a loaded machine) may let an alert fire before the
        # watch: that one is read back, the later ones are heard.
        r = await api.http.get(
            f"/api/v1/conversations/{conversation_id}/sla", headers=api.auth(supervisor["token"])
        )
        fired_early = {m["phase"] for m in r.json()["items"]}
        for phase, frame_type in (("warning", "sla.warning"), ("breach", "sla.breached")):
            if phase not in fired_early:
                alert = await console.expect_for(frame_type, conversation_id, timeout=30)
                assert alert["target"] == "first_response"
        again = await console.quiet(3)
    assert not [f for f in again if f.get("type", "").startswith("sla.")]
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}/sla", headers=api.auth(supervisor["token"])
    )
    assert r.status_code == 200
    marks = r.json()
    assert marks["breached"] is True
    assert [(m["target"], m["phase"]) for m in marks["items"]] == [
        ("first_response", "warning"),
        ("first_response", "breach"),
    ]
    summary = await api.http.get(
        "/api/v1/reports/summary",
        params={"inbox_id": inbox["id"]},
        headers=api.auth(supervisor["token"]),
    )
    assert summary.json()["sla"]["breaches"] == 1


async def test_widget_rating_for_a_resolved_conversation_of_ones_own(api: Api) -> None:
    inbox = await api.create_inbox()
    agent = await api.create_agent()
    supervisor = await api.create_agent("supervisor")
    session = await api.new_session(inbox, name="Taro")
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": str(uuid.uuid4()), "body": "hi"})
        conversation_id = (await widget.expect("ack"))["conversation_id"]
        await widget.send({"type": "csat", "rating": 5})
        assert (await widget.expect("error"))["code"] == "not_resolved"
        # Only what a person answered is rated.
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"body": "Hello Taro, all sorted."},
            headers=api.auth(agent["token"]),
        )
        assert r.status_code == 201, r.text
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(agent["token"])
        )
        assert r.status_code == 200, r.text
        asked = await widget.expect("csat_request", timeout=15)
        assert asked["conversation_id"] == conversation_id
        await widget.send({"type": "csat", "rating": 6})
        assert (await widget.expect("error"))["code"] == "invalid_frame"
        await widget.send({"type": "csat", "rating": 4, "comment": "quick, thanks"})
        answer = await widget.expect("csat")
        assert answer == {"type": "csat", "conversation_id": conversation_id, "rating": 4}
        # The customer changes their mind: the rating is replaced, not added.
        await widget.send({"type": "csat", "rating": 3})
        assert (await widget.expect("csat"))["rating"] == 3
    other = await api.new_session(inbox, name="Someone else")
    async with api.widget(other["session_token"]) as stranger:
        await stranger.send({"type": "csat", "rating": 1, "conversation_id": conversation_id})
        assert (await stranger.expect("error"))["code"] == "not_found"
    r = await api.http.get(
        "/api/v1/reports/summary",
        params={"inbox_id": inbox["id"]},
        headers=api.auth(supervisor["token"]),
    )
    assert r.json()["csat"]["count"] == 1
    assert r.json()["csat"]["distribution"]["3"] == 1
    # A link for it is spent: the conversation has its rating.
    db = server_database(api)
    try:
        async with db.write() as session:
            token = await issue_link(session, conversation_id, "email")
    finally:
        await db.dispose()
    assert (await api.http.get(f"/csat/{token}")).status_code == 410
    assert (await api.http.post(f"/csat/{token}", data={"rating": "1"})).status_code == 410


async def test_a_rating_link_works_once_and_only_for_its_conversation(api: Api) -> None:
    inbox = await api.create_inbox()
    agent = await api.create_agent()
    _, first = await _customer_writes(api, inbox)
    _, second = await _customer_writes(api, inbox)
    db = server_database(api)
    try:
        async with db.write() as session:
            token = await issue_link(session, first, "email")
            other_token = await issue_link(session, second, "email")
    finally:
        await db.dispose()
    # Not resolved yet: the page says so, and nothing is stored.
    early = await api.http.post(f"/csat/{token}", data={"rating": "5"})
    assert early.status_code == 422
    for conversation_id in (first, second):
        r = await api.http.post(
            f"/api/v1/conversations/{conversation_id}/resolve", headers=api.auth(agent["token"])
        )
        assert r.status_code == 200
    page = await api.http.get(f"/csat/{token}")
    assert page.status_code == 200
    assert "How did" in page.text
    assert (await api.http.get(f"/csat/{token}")).status_code == 200  # looking rates nothing
    bad = await api.http.post(f"/csat/{token}", data={"rating": "9"})
    assert bad.status_code == 422
    used = await api.http.post(f"/csat/{token}", data={"rating": "2", "comment": "meh"})
    assert used.status_code == 200, used.text
    assert "Thank you" in used.text
    again = await api.http.post(f"/csat/{token}", data={"rating": "5"})
    assert again.status_code == 410
    assert (await api.http.get(f"/csat/{token}")).status_code == 410
    assert (await api.http.get("/csat/not-a-real-token")).status_code == 404
    # The other conversation's link still works, for that conversation only.
    assert (await api.http.post(f"/csat/{other_token}", data={"rating": "5"})).status_code == 200
    rated = {}
    for conversation_id in (first, second):
        db = server_database(api)
        try:
            async with db.read() as session:
                row = (
                    await session.execute(
                        select(CsatResponse).where(CsatResponse.conversation_id == conversation_id)
                    )
                ).scalar_one()
                rated[conversation_id] = (row.rating, row.channel, row.comment)
        finally:
            await db.dispose()
    assert rated == {first: (2, "email", "meh"), second: (5, "email", None)}


async def test_report_periods_are_iso_8601_in_a_known_zone(api: Api) -> None:
    supervisor = await api.create_agent("supervisor")
    h = api.auth(supervisor["token"])

    async def status(**params: str) -> int:
        r = await api.http.get("/api/v1/reports/summary", params=params, headers=h)
        return r.status_code

    # A bare number is no date-time (pydantic would read it as a Unix time).
    assert await status(to="0.5") == 422
    assert await status(**{"from": "1700000000"}) == 422
    assert await status(tz="Mars/Olympus_Mons") == 422
    assert await status(**{"from": "2026-11-16T00:00:00Z", "to": "2026-11-16T00:00:00Z"}) == 422
    assert await status(**{"from": "2026-11-16", "to": "2026-11-17T09:00"}, tz="Asia/Tokyo") == 200
    r = await api.http.get(
        "/api/v1/reports/summary", params={"from": "2026-11-16T00:00:00+09:00"}, headers=h
    )
    assert r.json()["from"] == "2026-11-15T15:00:00+00:00"
    schema = (await api.http.get("/openapi.json")).json()
    csv = schema["paths"]["/api/v1/reports/timeseries.csv"]["get"]["responses"]["200"]
    assert list(csv["content"]) == ["text/csv"]
