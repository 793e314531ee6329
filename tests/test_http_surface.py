"""Health, metrics, and the pages a browser loads."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import StartServer
from tests.harness import Api


async def test_health_and_metrics(api: Api, inbox: dict[str, Any]) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    session = await api.new_session(inbox)
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "count me"})
        await widget.expect("ack")
        metrics = (await api.http.get("/metrics")).text
    assert 'madoguchi_websockets{kind="widget"} 1.0' in metrics
    stored = [
        line for line in metrics.splitlines() if line.startswith("madoguchi_messages_stored_total")
    ]
    assert float(stored[0].split()[1]) >= 1


async def test_widget_script_and_console_are_served(api: Api) -> None:
    script = await api.http.get("/widget.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "data-key" in script.text
    console = await api.http.get("/console")
    assert "<title>Madoguchi console</title>" in console.text


async def test_the_home_page_leads_to_the_console_the_demo_and_the_api_docs(
    api: Api, inbox: dict[str, Any]
) -> None:
    home = await api.http.get("/")
    assert home.status_code == 200
    assert home.headers["content-type"].startswith("text/html")
    links = re.findall(r'href="(/[^"]*)"', home.text)
    assert {"/console", "/demo", "/docs"} <= set(links)
    for link in links:  # every link works, its stylesheet included
        assert (await api.http.get(link)).status_code == 200, link


async def test_chat_page_embeds_the_widget(api: Api, inbox: dict[str, Any]) -> None:
    page = await api.http.get(f"/chat/{inbox['widget_key']}")
    assert page.status_code == 200
    assert f'data-key="{inbox["widget_key"]}"' in page.text
    assert (await api.http.get("/chat/no-such-key")).status_code == 404


async def test_availability_is_public(api: Api, inbox: dict[str, Any]) -> None:
    r = await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")
    assert r.status_code == 200
    assert r.json() == {"open": True, "next_open_at": None, "expected_reply_seconds": 300}


async def test_metrics_behind_a_token_and_no_demo_page_when_the_operator_says(
    start_server: StartServer,
) -> None:
    api = await start_server({"MADOGUCHI_METRICS_TOKEN": "scrape-me", "MADOGUCHI_DEMO_PAGE": "0"})
    refused = await api.http.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"] == "not_authenticated"
    wrong = await api.http.get("/metrics", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401
    scraped = await api.http.get("/metrics", headers={"authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200
    assert "madoguchi_websockets" in scraped.text
    assert (await api.http.get("/demo")).status_code == 404
