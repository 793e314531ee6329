"""Acknowledgements of mail at a real SMTP relay, the reply time they promise
and whether it was kept, and two responders that cannot keep answering each
other."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.channels.email.conftest import (
    Sink,
    create_email_inbox,
    fixture,
    mail,
    only_conversation,
    readdress,
    send_mail,
)
from tests.conftest import StartServer
from tests.harness import Api
from tests.responders.conftest import FIRST_ANSWER_SECONDS


def _text(sent: EmailMessage) -> str:
    body = sent.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


async def _conversation(api: Api, conversation_id: int) -> dict[str, Any]:
    r = await api.http.get(
        f"/api/v1/conversations/{conversation_id}", headers=api.auth(api.admin_token)
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _reply(api: Api, token: str, conversation_id: int) -> None:
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"body": "Here is your answer."},
        headers=api.auth(token),
    )
    assert r.status_code == 201, r.text


async def _promises(api: Api, inbox: dict[str, Any], token: str | None = None) -> Any:
    return await api.http.get(
        f"/api/v1/inboxes/{inbox['id']}/promises", headers=api.auth(token or api.admin_token)
    )


async def test_an_emailer_gets_a_receipt_with_a_reply_by_time_and_the_promise_is_judged(
    promising_api: Api, sink: Sink
) -> None:
    api = promising_api
    inbox = await create_email_inbox(api, acknowledge=True)
    address = inbox["config"]["address"]
    agent = await api.create_agent(capacity=5)
    # An agent online with room: a person answers in about FIRST_ANSWER_SECONDS.
    async with api.agent_socket(agent["token"]):
        await asyncio.sleep(0.5)
        await send_mail(
            api, mail(address, sender="kept@example.com", message_id="keep@example.com"), address
        )
        (ack,) = await sink.wait_for("kept@example.com")
        assert ack["Auto-Submitted"] == "auto-replied"
        assert ack["In-Reply-To"] == "<keep@example.com>"
        assert "<keep@example.com>" in ack["References"]
        kept = await only_conversation(api, inbox)
        promised = datetime.fromisoformat(kept["promised_reply_by"])
        assert promised - datetime.fromisoformat(kept["created_at"]) < timedelta(
            seconds=FIRST_ANSWER_SECONDS + 2
        )
        text = _text(ack)
        assert "we have received it" in text
        assert f"We will reply by {promised:%A} {promised.day}" in text
        assert f"{promised:%H:%M} (UTC)" in text
        assert "Our hours: around the clock." in text
        await _reply(api, agent["token"], kept["id"])
        assert (await _conversation(api, kept["id"]))["promise_outcome"] == "kept"

        await send_mail(api, mail(address, sender="late@example.com"), address)
        await sink.wait_for("late@example.com")
        late = next(
            c
            for c in (
                await api.http.get(
                    "/api/v1/conversations",
                    params={"inbox_id": inbox["id"]},
                    headers=api.auth(api.admin_token),
                )
            ).json()["items"]
            if c["id"] != kept["id"]
        )
        due = datetime.fromisoformat(late["promised_reply_by"])
        await asyncio.sleep(max(0.0, (due - datetime.now(due.tzinfo)).total_seconds()) + 1)
        # Past due and unanswered: missed already.
        overdue = (await _promises(api, inbox)).json()
        assert (overdue["kept"], overdue["missed"], overdue["pending"]) == (1, 1, 0)
        await _reply(api, agent["token"], late["id"])
        assert (await _conversation(api, late["id"]))["promise_outcome"] == "missed"
    r = await _promises(api, inbox)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "inbox_id": inbox["id"],
        "promised": 2,
        "kept": 1,
        "missed": 1,
        "pending": 0,
        "kept_rate": 0.5,
    }
    # Supervisors and admins see it; an agent does not.
    assert (await _promises(api, inbox, agent["token"])).status_code == 403
    # The reports tell the same for a period holding both due times.
    r = await api.http.get(
        "/api/v1/reports/summary",
        params={
            "from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "to": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "inbox_id": inbox["id"],
        },
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["promises"] == {
        "promised": 2,
        "kept": 1,
        "missed": 1,
        "pending": 0,
        "kept_rate": 0.5,
    }


async def test_automatic_mail_never_triggers_anything(promising_api: Api, sink: Sink) -> None:
    api = promising_api
    inbox = await create_email_inbox(api, acknowledge=True)
    address = inbox["config"]["address"]
    robots = {
        "ooo@example.com": readdress(fixture("auto-reply-out-of-office.eml"), address).replace(
            b"oliver.smith@example.com", b"ooo@example.com"
        ),
        "list@example.com": readdress(fixture("bulk-list-newsletter.eml"), address).replace(
            b"news@lists.example.org", b"list@example.com"
        ),
        "auto@example.com": mail(
            address, sender="auto@example.com", headers={"Auto-Submitted": "auto-generated"}
        ),
        "bulk@example.com": mail(
            address, sender="bulk@example.com", headers={"Precedence": "bulk"}
        ),
    }
    for raw in robots.values():
        await send_mail(api, raw, address)
    await send_mail(api, mail(address, sender="null@example.com"), address, mail_from="")
    # A person's mail after them is acknowledged: the robots' were decided first.
    await send_mail(api, mail(address, sender="person@example.com"), address)
    await sink.wait_for("person@example.com")
    for robot in (*robots, "null@example.com"):
        assert sink.to(robot) == []
    conversations = (
        await api.http.get(
            "/api/v1/conversations",
            params={"inbox_id": inbox["id"]},
            headers=api.auth(api.admin_token),
        )
    ).json()["items"]
    promised = [c for c in conversations if c["promised_reply_by"] is not None]
    assert len(promised) == 1  # only the person was promised anything


_MARKERS = (b"auto-submitted:", b"x-auto-response-suppress:")


@dataclass
class Relay(Sink):
    """The outbound relay of two servers: keeps every mail, and hands mail
    for an address in `routes` to that server's SMTP listener. `strip`
    plays a broken relay that drops the headers marking mail automatic."""

    routes: dict[str, int] = field(default_factory=dict)
    strip: bool = False
    forwarding: set[asyncio.Task[None]] = field(default_factory=set)

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        raw = envelope.original_content or b""
        if self.strip:
            raw = b"\n".join(
                line for line in raw.split(b"\n") if not line.lower().startswith(_MARKERS)
            )
        for rcpt in envelope.rcpt_tos:
            port = self.routes.get(rcpt.lower())
            if port is not None:
                task = asyncio.create_task(
                    asyncio.to_thread(_deliver, port, str(envelope.mail_from), rcpt, raw)
                )
                self.forwarding.add(task)
                task.add_done_callback(self.forwarding.discard)
        return answer


def _deliver(port: int, mail_from: str, rcpt: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [rcpt], raw)


@pytest.fixture(scope="module")
async def relay() -> Any:
    loop = asyncio.get_running_loop()
    keeper = Relay()
    server = await loop.create_server(
        lambda: SMTP(keeper, hostname="relay.test", loop=loop), "127.0.0.1", 0
    )
    keeper.port = int(server.sockets[0].getsockname()[1])
    yield keeper
    server.close()


@pytest.fixture(scope="module")
async def two_servers(start_module_server: StartServer, relay: Relay) -> tuple[Api, Api]:
    env = {"MADOGUCHI_SMTP_RELAY": f"smtp://127.0.0.1:{relay.port}"}
    first, second = await asyncio.gather(
        start_module_server(env, smtp=True), start_module_server(env, smtp=True)
    )
    return first, second


async def _mail_between(relay: Relay, one: Api, two: Api, suffix: str) -> tuple[str, str]:
    a = f"desk-{suffix}@one.example"
    b = f"desk-{suffix}@two.example"
    await create_email_inbox(one, a, acknowledge=True)
    await create_email_inbox(two, b, acknowledge=True)
    relay.routes[a] = one.server.smtp_port
    relay.routes[b] = two.server.smtp_port
    # Someone writes to A as B (a forward, a spoof, a misconfigured rule).
    await send_mail(one, mail(a, sender=b, subject="Ping"), a, mail_from=b)
    return a, b


async def _settled(relay: Relay, seconds: float = 3.0) -> int:
    """How many mails the relay carried once nothing moved for `seconds`."""
    count = -1
    while count != len(relay.received):
        count = len(relay.received)
        await asyncio.sleep(seconds)
    return count


async def test_two_responders_stop_after_one_message(
    two_servers: tuple[Api, Api], relay: Relay
) -> None:
    one, two = two_servers
    a, b = await _mail_between(relay, one, two, "honest")
    await relay.wait_for(b)
    await _settled(relay)
    # A acknowledged; B saw an automatic mail and kept quiet.
    assert len(relay.to(b)) == 1
    assert relay.to(a) == []


async def test_even_through_a_relay_that_drops_the_markers_each_answers_once(
    two_servers: tuple[Api, Api], relay: Relay
) -> None:
    one, two = two_servers
    relay.strip = True
    try:
        a, b = await _mail_between(relay, one, two, "stripped")
        await relay.wait_for(b)
        await relay.wait_for(a)
        await _settled(relay)
    finally:
        relay.strip = False
    # B took A's receipt for a person's mail and acknowledged it once; A's
    # conversation had its acknowledgement already, so B's receipt got none.
    assert len(relay.to(b)) == 1
    assert len(relay.to(a)) == 1
    assert relay.to(a)[0]["In-Reply-To"] == relay.to(b)[0]["Message-ID"]
