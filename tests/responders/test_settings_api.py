"""The business-hours and responders endpoints: who may change them, and
bad input refused with a clear error and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Api

WEEK = {
    "timezone": "Asia/Tokyo",
    "weekly": {"mon": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": [["22:00", "02:00"]]},
    "closed_dates": ["2026-12-31"],
    "holiday_calendar": "JP",
}


async def _put(
    api: Api, inbox: dict[str, Any], what: str, body: Any, token: str | None = None
) -> Any:
    return await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/{what}",
        json=body,
        headers=api.auth(token or api.admin_token),
    )


async def test_admins_set_hours_and_templates_and_read_them_back(
    api: Api, inbox: dict[str, Any]
) -> None:
    r = await _put(api, inbox, "business-hours", WEEK)
    assert r.status_code == 200, r.text
    assert r.json()["business_hours"] == WEEK
    r = await _put(api, inbox, "responders", {"away": "Back at {next_open}", "greeting": None})
    assert r.status_code == 200, r.text
    assert r.json()["responders"] == {"away": "Back at {next_open}", "greeting": None}
    shown = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert shown.json()["business_hours"] == WEEK
    # null: open around the clock again.
    r = await _put(api, inbox, "business-hours", None)
    assert r.json()["business_hours"] is None
    availability = await api.http.get(f"/api/v1/inboxes/{inbox['id']}/availability")
    assert availability.json()["open"] is True


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"weekly": {"mon": [["25:00", "26:00"]]}}, "time of day"),
        ({"weekly": {"mon": [["9:00", "18:00"]]}}, "HH:MM"),
        ({"weekly": {"mon": [["09:00", "09:00"]]}}, "empty"),
        ({"weekly": {"mon": [["24:00", "02:00"]]}}, "24:00"),
        ({"weekly": {"funday": [["09:00", "18:00"]]}}, "funday"),
        ({"closed_dates": ["2026-02-30"]}, "date"),
        ({"holiday_calendar": "XX"}, "holiday"),
    ],
)
async def test_bad_hours_are_refused_and_change_nothing(
    api: Api, inbox: dict[str, Any], change: dict[str, Any], word: str
) -> None:
    r = await _put(api, inbox, "business-hours", {**WEEK, **change})
    assert r.status_code == 422, r.text
    assert word.lower() in r.text.lower()
    shown = await api.http.get(f"/api/v1/inboxes/{inbox['id']}", headers=api.auth(api.admin_token))
    assert shown.json()["business_hours"] is None


async def test_only_admins_change_settings(api: Api, inbox: dict[str, Any]) -> None:
    supervisor = await api.create_agent(role="supervisor")
    assert (await _put(api, inbox, "business-hours", WEEK, supervisor["token"])).status_code == 403
    assert (
        await _put(api, inbox, "responders", {"away": "x"}, supervisor["token"])
    ).status_code == 403
    assert (await _put(api, {"id": 99999}, "business-hours", WEEK)).status_code == 404
    assert (await _put(api, inbox, "responders", {"farewell": "bye"})).status_code == 422
    r = await api.http.get(
        f"/api/v1/inboxes/{inbox['id']}/promises", headers=api.auth(supervisor["token"])
    )
    assert r.json() == {
        "inbox_id": inbox["id"],
        "promised": 0,
        "kept": 0,
        "missed": 0,
        "pending": 0,
        "kept_rate": None,
    }
    r = await api.http.get(
        f"/api/v1/inboxes/{inbox['id']}/promises",
        params={"from": "2026-01-01T00:00:00"},
        headers=api.auth(supervisor["token"]),
    )
    assert r.status_code == 422
