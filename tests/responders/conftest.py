"""Business hours set around the real clock (the servers run in their own
processes), and a server whose mail goes to a real SMTP sink."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.channels.email.conftest import Sink
from tests.conftest import StartServer
from tests.harness import Api

__all__ = ["Sink", "sink"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def one_slot(start: datetime, end: datetime, tz: str = "UTC") -> dict[str, Any]:
    """Business hours with one slot, from `start` to `end` (whole minutes, less
    than a day apart), on the weekday it starts; every other time is closed."""
    assert end - start < timedelta(days=1)
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    local_start, local_end = start.astimezone(ZoneInfo(tz)), end.astimezone(ZoneInfo(tz))
    return {
        "timezone": tz,
        "weekly": {
            WEEKDAYS[local_start.weekday()]: [
                [f"{local_start:%H:%M}", f"{local_end:%H:%M}"],
            ]
        },
        "closed_dates": [],
        "holiday_calendar": None,
    }


def now() -> datetime:
    return datetime.now(UTC)


async def set_hours(api: Api, inbox: dict[str, Any], hours: dict[str, Any] | None) -> None:
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/business-hours",
        json=hours,
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text


async def set_responders(api: Api, inbox: dict[str, Any], **templates: Any) -> None:
    r = await api.http.put(
        f"/api/v1/inboxes/{inbox['id']}/responders",
        json=templates,
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="session")
async def sink() -> Any:
    import asyncio  # noqa: PLC0415

    from aiosmtpd.smtp import SMTP  # noqa: PLC0415

    loop = asyncio.get_running_loop()
    keeper = Sink()
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="sink.test", loop=loop), "127.0.0.1", 0
    )
    keeper.port = int(server.sockets[0].getsockname()[1])
    yield keeper
    server.close()


# A person answers a conversation they have room for in this long: short, so
# a test can both keep a promise and miss one.
FIRST_ANSWER_SECONDS = 4


@pytest.fixture(scope="session")
async def promising_api(start_session_server: StartServer, sink: Sink) -> Api:
    return await start_session_server(
        {
            "MADOGUCHI_SMTP_RELAY": f"smtp://127.0.0.1:{sink.port}",
            "MADOGUCHI_DEFAULT_EXPECTED_REPLY_SECONDS": str(FIRST_ANSWER_SECONDS),
        },
        smtp=True,
    )
