"""Erasure as the erased person's data sees it: their open widget sockets
close, their sessions end, nothing they send afterwards is stored, and no
record elsewhere (merges, jobs) keeps their name, address or phone. Other
customers keep everything of theirs."""

from __future__ import annotations

import asyncio
import random
import uuid
from email.message import EmailMessage
from typing import Any

import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.models import Base
from tests.channels.email.conftest import Sink, create_email_inbox, send_mail
from tests.channels.social.conftest import create_inbox as create_social_inbox
from tests.channels.social.conftest import settled
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import telegram_update, whatsapp_body
from tests.contacts.conftest import get, post, timeline, wait_until
from tests.harness import Api, Socket, base_database_url

POLICY_VIOLATION = 1008

# Messages a customer may still send after the erasure, were the socket left open.
AFTER_ERASE = 600


async def database_tables(api: Api) -> dict[str, str]:
    """Every row of every table, as text: what the database holds, on either engine."""
    settings = Settings(
        data_dir=api.server.data_dir, database_url=api.server.env.get("MADOGUCHI_DATABASE_URL")
    )
    engine = create_async_engine(settings.resolved_database_url())
    try:
        async with engine.connect() as conn:
            tables = {}
            for table in Base.metadata.sorted_tables:
                query = text(f"SELECT * FROM {table.name}")  # noqa: S608 - our own table names
                tables[table.name] = repr((await conn.execute(query)).all())
            return tables
    finally:
        await engine.dispose()


async def assert_held_nowhere(api: Api, *secrets: str) -> None:
    for table, rows in (await database_tables(api)).items():
        for secret in secrets:
            assert secret not in rows, (secret, table)
    if base_database_url() is None:
        # Nor in the SQLite file and its WAL, as free pages or old page images.
        for path in api.server.data_dir.glob("madoguchi.db*"):
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, (secret, path.name)


async def closed_by_server(socket: Socket, timeout: float = 10) -> int | None:
    """Reads until the server closes the socket; its close code."""
    try:
        while True:
            await socket.next(timeout)
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else None


async def erase(api: Api, customer_id: int) -> dict[str, Any]:
    return dict(await post(api, f"/api/v1/customers/{customer_id}/erase"))


async def test_erasing_closes_the_widget_sockets_and_ends_the_session(capi: Api) -> None:
    web = await capi.create_inbox()
    session = await capi.new_session(web, name="Hanako Yamada")
    token, customer_id = session["session_token"], session["customer_id"]
    bystander = await capi.new_session(web, name="Taro Suzuki")
    async with (
        capi.widget(token) as widget,
        capi.widget(token) as other_tab,
        capi.widget(bystander["session_token"]) as neighbour,
    ):
        await widget.send({"type": "message", "client_id": "e-1", "body": "before"})
        ack = await widget.expect("ack")
        await neighbour.send({"type": "message", "client_id": "n-1", "body": "neighbour one"})
        await neighbour.expect("ack")

        await erase(capi, customer_id)
        # Every socket of theirs is closed by the server, as a session that ended.
        assert await closed_by_server(widget) == POLICY_VIOLATION
        assert await closed_by_server(other_tab) == POLICY_VIOLATION
        # Another customer's chat goes on.
        await neighbour.send({"type": "message", "client_id": "n-2", "body": "neighbour two"})
        await neighbour.expect("ack", client_id="n-2")

    # The token is refused everywhere: REST, a new socket, a session resume.
    r = await capi.http.get("/api/v1/widget/conversations", headers=capi.auth(token))
    assert r.status_code == 401, r.text
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with capi.widget(token):
            pass
    assert refused.value.response.status_code == 403
    again = await capi.new_session(web, session_token=token)
    assert again["customer_id"] != customer_id
    assert again["session_token"] != token

    # An agent's reply to the erased conversation is refused, not stored.
    before = await capi.messages(ack["conversation_id"])
    r = await capi.http.post(
        f"/api/v1/conversations/{ack['conversation_id']}/messages",
        json={"body": "Dear Hanako, about your order"},
        headers=capi.auth(capi.admin_token),
    )
    assert (r.status_code, r.json()["error"]) == (409, "customer_erased")
    assert await capi.messages(ack["conversation_id"]) == before
    bodies = [
        m["body"]
        for m in await timeline(capi, bystander["customer_id"])
        if m["author"]["kind"] == "customer"
    ]
    assert bodies == ["neighbour one", "neighbour two"]


async def test_messages_racing_the_erasure_are_never_stored_after_it(capi: Api) -> None:
    marker = uuid.uuid4().hex
    web = await capi.create_inbox()
    session = await capi.new_session(web)
    customer_id = session["customer_id"]
    acked: dict[str, int] = {}
    refused: dict[str, str] = {}
    sent_after_erase: list[str] = []
    erased = asyncio.Event()

    async with capi.widget(session["session_token"]) as widget:

        async def keep_sending() -> None:
            # A customer typing fast through the erasure, until the server
            # closes the socket (or, were it never closed, AFTER_ERASE more).
            n = 0
            try:
                while len(sent_after_erase) < AFTER_ERASE:
                    client_id = f"r-{n}"
                    after = erased.is_set()
                    await widget.send(
                        {"type": "message", "client_id": client_id, "body": f"{marker} {n}"}
                    )
                    if after:
                        sent_after_erase.append(client_id)
                    n += 1
                    await asyncio.sleep(0.003)
            except websockets.ConnectionClosed:
                return

        async def read() -> int | None:
            try:
                while True:
                    frame = await widget.next(8)
                    if frame["type"] == "ack":
                        acked[frame["client_id"]] = frame["id"]
                    elif frame["type"] == "error" and "client_id" in frame:
                        refused[frame["client_id"]] = frame["code"]
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd is not None else None
            except TimeoutError:
                return None

        sending = asyncio.create_task(keep_sending())
        reading = asyncio.create_task(read())
        while len(acked) < 5:
            await asyncio.sleep(0.01)
        record = await erase(capi, customer_id)
        erased.set()
        code = await reading
        await sending

    assert code == POLICY_VIOLATION
    # What was sent once the erasure had committed is never acked as stored.
    assert not set(sent_after_erase) & acked.keys()
    assert set(refused.values()) <= {"customer_erased"}
    # Everything stored was stored before the erasure and erased by it: no
    # message came after (its body would still be there), every ack names one.
    stored = [m for m in await timeline(capi, customer_id) if m["author"]["kind"] == "customer"]
    assert len(stored) == record["counts"]["messages"]
    assert {m["body"] for m in stored} == {""}
    assert set(acked.values()) <= {m["id"] for m in stored}
    await assert_held_nowhere(capi, marker)


async def test_the_same_person_writing_again_elsewhere_is_a_new_customer(
    capi: Api, fake_platforms: FakePlatforms
) -> None:
    telegram = await create_social_inbox(capi, fake_platforms, "telegram")
    user = random.randint(10**8, 10**9)  # noqa: S311 - a test's user id
    first = await telegram.post(telegram_update(user, "my order 1234"))
    assert first.status_code == 200, first.text
    (conversation,) = await telegram.conversations()
    erased_id = conversation["customer_id"]
    # Once more, so the intake knows this sender's customer without a read.
    assert (await telegram.post(telegram_update(user, "still there?"))).status_code == 200
    record = await erase(capi, erased_id)

    again = await telegram.post(telegram_update(user, "hello again"))
    assert again.status_code == 200, again.text

    async def new_customer() -> int | None:
        for item in await telegram.conversations():
            if item["customer_id"] != erased_id:
                return int(item["customer_id"])
        return None

    newcomer = await wait_until(new_customer)
    assert [m["body"] for m in await timeline(capi, newcomer)][0] == "hello again"
    customer = await get(capi, f"/api/v1/customers/{newcomer}")
    assert [i["channel"] for i in customer["identities"]] == ["telegram"]
    assert len(await timeline(capi, erased_id)) == record["counts"]["messages"]


async def test_merge_records_and_job_errors_keep_nothing_of_the_erased(
    capi: Api, relay: Sink, fake_platforms: FakePlatforms
) -> None:
    marker = uuid.uuid4().hex[:12]
    phone = f"8190{random.randint(10**7, 10**8 - 1)}"  # noqa: S311 - a test's number
    email = f"erika-{marker}@example.com"
    web = await capi.create_inbox()

    # The kept customer takes over a folded WhatsApp customer's name and phone,
    # and a folded widget customer's address.
    kept = await capi.new_session(web)
    whatsapp = await create_social_inbox(capi, fake_platforms, "whatsapp")
    r = await whatsapp.post(
        whatsapp_body(whatsapp.config["phone_number_id"], phone, name=f"Erika {marker}")
    )
    assert r.status_code == 200, r.text
    folded_whatsapp = (await whatsapp.only_conversation())["customer_id"]
    folded_web = (await capi.new_session(web, email=email))["customer_id"]
    for folded in (folded_whatsapp, folded_web):
        await post(
            capi, f"/api/v1/customers/{kept['customer_id']}/merge", {"other_customer_id": folded}
        )
    taken_over = await get(capi, f"/api/v1/customers/{kept['customer_id']}")
    assert taken_over["name"] == f"Erika {marker}"

    # The other side: a customer once folded into someone else, then undone;
    # that someone else is not erased and keeps what is theirs.
    other_marker = uuid.uuid4().hex[:12]
    stays = await capi.new_session(web)
    async with capi.widget(stays["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "s-1", "body": f"mine {other_marker}"})
        await widget.expect("ack")
    leaves = await capi.new_session(web, name=f"Dora {marker}")
    merged = await post(
        capi,
        f"/api/v1/customers/{stays['customer_id']}/merge",
        {"other_customer_id": leaves["customer_id"]},
    )
    await post(
        capi,
        f"/api/v1/customers/{stays['customer_id']}/merges/{merged['merge']['id']}/undo",
    )

    # A send to the email customer failed, and its job's error quotes the address.
    inbox = await create_email_inbox(capi)
    to = inbox["config"]["address"]
    mail = EmailMessage()
    mail["From"] = f"Erika <{email}>"
    mail["To"] = to
    mail["Subject"] = "Where is my parcel"
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    mail.set_content("It has not come.")
    await send_mail(capi, mail.as_bytes(), to, mail_from=email)

    async def email_conversation() -> Any:
        page = await get(capi, "/api/v1/conversations", inbox_id=inbox["id"])
        return page["items"][0] if page["items"] else None

    conversation = await wait_until(email_conversation)
    relay.refuse[email] = [f"550 5.1.1 <{email}>: Recipient address rejected"]
    reply = await post(
        capi, f"/api/v1/conversations/{conversation['id']}/messages", {"body": "On its way"}
    )
    failed = await settled(capi, conversation["id"], reply["id"])
    assert failed["delivery_status"] == "failed"
    # What this test is about: the job's error names the address.
    assert email in (await database_tables(capi))["jobs"]

    for customer_id in (kept["customer_id"], conversation["customer_id"], leaves["customer_id"]):
        customer = await get(capi, f"/api/v1/customers/{customer_id}")
        person = customer["merged_into_id"] or customer_id
        if not (await get(capi, f"/api/v1/customers/{person}"))["erased"]:
            await erase(capi, person)

    await assert_held_nowhere(capi, marker, phone, email)
    # What another customer holds stays: their words, their merge's record.
    assert f"mine {other_marker}" in [m["body"] for m in await timeline(capi, stays["customer_id"])]
    merges = await get(capi, f"/api/v1/customers/{stays['customer_id']}/merges")
    ((record,),) = [merges["items"]]
    assert (record["id"], record["fields"]) == (merged["merge"]["id"], ["name"])
    assert record["undone_at"] is not None
