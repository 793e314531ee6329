"""Argon2 runs off the event loop: logins that hash do not stall the server,
and concurrent guesses still meet the login limit."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import StartServer
from tests.harness import ADMIN_EMAIL, Api

LOGINS = 4


async def healthz_among_logins(api: Api) -> list[str]:
    """Sends wrong-password logins, then /healthz once they are all on the wire;
    the order in which the answers came."""
    finished: list[str] = []
    sent = 0
    all_sent = asyncio.Event()

    async def on_trace(event: str, _: dict[str, Any]) -> None:
        nonlocal sent
        if event == "http11.send_request_body.complete":
            sent += 1
            if sent == LOGINS:
                all_sent.set()

    async def wrong_login(attempt: int) -> None:
        r = await api.http.post(
            "/api/v1/auth/token",
            json={"email": ADMIN_EMAIL, "password": f"wrong guess {attempt}"},
            extensions={"trace": on_trace},
        )
        assert r.status_code == 401, r.text
        finished.append("login")

    logins = [asyncio.create_task(wrong_login(i)) for i in range(LOGINS)]
    await asyncio.wait_for(all_sent.wait(), 30)
    assert (await api.http.get("/healthz")).status_code == 200
    finished.append("healthz")
    await asyncio.gather(*logins)
    return finished


async def test_server_answers_while_logins_hash(api: Api) -> None:
    """/healthz, asked once the logins are on the wire, is answered before any
    of them: each login still has a hash (tens of milliseconds) to run, and the
    loop is free meanwhile. On the loop, the first hash would hold /healthz
    until that login had answered."""
    for _ in range(3):
        assert await healthz_among_logins(api) == ["healthz"] + ["login"] * LOGINS


async def test_concurrent_guesses_meet_the_login_limit(start_server: StartServer) -> None:
    """Each is counted before it hashes, so the ones past the limit are
    refused at once: no more than the limit's worth get an answer other than
    429 (tests/auth/test_login_burst.py counts the hashes)."""
    api = await start_server({"MADOGUCHI_RATE_LOGIN": "3"})
    guesses = await asyncio.gather(
        *(
            api.http.post(
                "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": f"guess {i}"}
            )
            for i in range(10)
        )
    )
    statuses = sorted(r.status_code for r in guesses)
    assert statuses == [401] * 3 + [429] * 7
