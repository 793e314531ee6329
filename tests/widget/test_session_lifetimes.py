"""Widget sessions die after days unused and rotate their token after hours:
a stolen or forgotten token stops working, and the customer who keeps using
their session loses nothing."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from websockets.exceptions import InvalidStatus

from app.auth.widget_sessions import SEEN_RESOLUTION
from app.db import Database
from tests.harness import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.widget.conftest import LocalServer, Travel

IDLE = timedelta(days=30)  # widget_session_idle_days
ROTATE = timedelta(hours=24)  # widget_session_rotate_hours
OVERLAP = timedelta(minutes=10)  # widget_session_overlap_seconds


@pytest.fixture
async def api(local: LocalServer) -> Api:
    return local.api


@pytest.fixture
async def inbox(api: Api) -> dict[str, Any]:
    return await api.create_inbox()


async def resume(api: Api, inbox: dict[str, Any], token: str) -> dict[str, Any]:
    return await api.new_session(inbox, session_token=token)


async def conversations(api: Api, token: str) -> tuple[int, list[dict[str, Any]]]:
    r = await api.http.get("/api/v1/widget/conversations", headers=api.auth(token))
    return r.status_code, (r.json()["items"] if r.status_code == 200 else [])


async def chat(api: Api, token: str, body: str) -> dict[str, Any]:
    """Sends a message on a socket opened with `token`; its ack."""
    async with api.widget(token) as ws:
        await ws.expect("status")
        await ws.send({"type": "message", "client_id": body, "body": body})
        return await ws.expect("ack", client_id=body)


async def refused_socket(api: Api, token: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with api.widget(token):
            pass
    return refused.value.response.status_code


# Where a widget session is opened, resumed or checked at a socket's handshake.
WIDGET_CODE = (
    "app/widget/",
    "app/auth/widget_sessions.py",
    "app/realtime/widget_socket.py",
    "app/conversations/customer_chat.py",
)


def _from_the_widget() -> bool:
    return any(
        part in frame.filename for frame in traceback.extract_stack() for part in WIDGET_CODE
    )


@contextlib.contextmanager
def writes(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the widget's session and socket code writes meanwhile: the write
    transactions it opens, and each INSERT, UPDATE or DELETE of a session or
    a customer. The server's background loops (the worker, the reports'
    sweep) write when they will, after a clock jump too: not counted."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE") and (
            "widget_sessions" in statement or "customers" in statement
        ):
            seen.append(statement)

    original = db.write

    @contextlib.asynccontextmanager
    async def counted() -> AsyncIterator[Any]:
        if _from_the_widget():
            seen.append("write transaction")
        async with original() as session:
            yield session

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    monkeypatch.setattr(db, "write", counted)
    try:
        yield seen
    finally:
        monkeypatch.undo()
        event.remove(engine, "before_cursor_execute", on_execute)


async def test_an_idle_session_is_dead_and_its_resume_is_a_new_customer(
    api: Api, inbox: dict[str, Any], travel: Travel
) -> None:
    old = await api.new_session(inbox)
    ack = await chat(api, old["session_token"], "my card number is on the invoice")
    travel(IDLE + timedelta(hours=2))

    # Whoever finds the token later (a shared computer, a copied profile) gets nothing.
    status, _ = await conversations(api, old["session_token"])
    assert status == 401
    assert await refused_socket(api, old["session_token"]) in (401, 403)
    new = await resume(api, inbox, old["session_token"])
    assert new["resumed"] is False
    assert new["session_token"] != old["session_token"]
    assert new["customer_id"] != old["customer_id"]
    assert await conversations(api, new["session_token"]) == (200, [])
    # The token stays dead: resuming with it did not bring it back.
    assert (await conversations(api, old["session_token"]))[0] == 401

    # The old customer's history is still the desk's.
    admin = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)  # the old sign-in expired too
    stored = await api.messages(ack["conversation_id"], admin)
    assert [m["body"] for m in stored] == ["my card number is on the invoice"]


async def test_a_session_used_within_the_idle_time_lives_on(
    api: Api, inbox: dict[str, Any], travel: Travel
) -> None:
    by_resume = await api.new_session(inbox)
    by_socket = await api.new_session(inbox)
    ack = await chat(api, by_socket["session_token"], "hello")
    token = by_resume["session_token"]
    for _ in range(3):
        # Ninety days in all, never thirty without a use.
        travel(IDLE - timedelta(days=1))
        again = await resume(api, inbox, token)
        assert again["resumed"] is True
        assert again["customer_id"] == by_resume["customer_id"]
        token = again["session_token"]
        async with api.widget(by_socket["session_token"]) as ws:
            await ws.expect("status")
    assert (await conversations(api, token))[0] == 200
    status, items = await conversations(api, by_socket["session_token"])
    assert status == 200
    assert [c["id"] for c in items] == [ack["conversation_id"]]


async def test_a_rotated_token_overlaps_the_old_one_then_replaces_it(
    api: Api, inbox: dict[str, Any], travel: Travel
) -> None:
    first = await api.new_session(inbox)
    old = first["session_token"]
    ack = await chat(api, old, "before the rotation")
    travel(ROTATE + timedelta(minutes=1))

    rotated = await resume(api, inbox, old)
    new = rotated["session_token"]
    assert new != old
    assert rotated["resumed"] is True
    assert rotated["customer_id"] == first["customer_id"]
    # Within the overlap both tokens work, and another tab resuming with the
    # old one is handed the new one, not a third.
    assert (await conversations(api, old))[0] == 200
    assert (await conversations(api, new))[0] == 200
    other_tab = await resume(api, inbox, old)
    assert other_tab["session_token"] == new
    assert other_tab["customer_id"] == first["customer_id"]
    assert (await resume(api, inbox, new))["session_token"] == new

    # A socket opened with the old token in time stays open past the overlap:
    # it was authenticated when it opened.
    async with api.widget(old) as open_socket:
        await open_socket.expect("status")
        travel(OVERLAP + timedelta(minutes=1))
        await open_socket.send({"type": "message", "client_id": "late", "body": "still here"})
        late = await open_socket.expect("ack", client_id="late")
        assert late["conversation_id"] == ack["conversation_id"]

    # After the overlap the old token opens nothing.
    assert (await conversations(api, old))[0] == 401
    assert await refused_socket(api, old) in (401, 403)
    stranger = await resume(api, inbox, old)
    assert stranger["resumed"] is False
    assert stranger["customer_id"] != first["customer_id"]
    assert await conversations(api, stranger["session_token"]) == (200, [])

    # The new token has the whole history.
    status, items = await conversations(api, new)
    assert status == 200
    assert [c["id"] for c in items] == [ack["conversation_id"]]
    r = await api.http.get(
        f"/api/v1/widget/conversations/{ack['conversation_id']}/messages", headers=api.auth(new)
    )
    assert r.status_code == 200, r.text
    assert [m["body"] for m in r.json()["items"]] == ["before the rotation", "still here"]
    after = await chat(api, new, "after the rotation")
    assert after["conversation_id"] == ack["conversation_id"]


async def test_a_resume_below_the_rotation_age_writes_nothing(
    local: LocalServer,
    api: Api,
    inbox: dict[str, Any],
    travel: Travel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = await api.new_session(inbox, name="Aiko", email="aiko@example.com", language="ja")
    token = opened["session_token"]
    db = local.runtime.db
    with writes(db, monkeypatch) as written:
        again = await api.new_session(
            inbox, session_token=token, name="Aiko", email="aiko@example.com", language="ja"
        )
    assert written == []
    assert again == opened | {"resumed": True}

    # A use is recorded once an hour at most; the resume after it reads only.
    travel(SEEN_RESOLUTION + timedelta(minutes=1))
    with writes(db, monkeypatch) as written:
        assert (await resume(api, inbox, token))["session_token"] == token
    assert written[0] == "write transaction"
    assert [s.split()[0] for s in written[1:]] == ["UPDATE"]
    travel(timedelta(minutes=5))
    with writes(db, monkeypatch) as written:
        assert (await resume(api, inbox, token))["session_token"] == token
        async with api.widget(token) as ws:
            await ws.expect("status")
    assert written == []

    # Something new to keep is written, as before.
    with writes(db, monkeypatch) as written:
        await api.new_session(inbox, session_token=token, language="fr")
    assert "write transaction" in written
