"""One person on email, LINE and a verified widget is one customer with one
timeline; unverified claims only suggest; merges are recorded, undoable and
refused where they make no sense."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.channels.email.conftest import create_email_inbox, mail, send_mail
from tests.channels.social.conftest import create_inbox as create_social_inbox
from tests.channels.social.fake_platforms import FakePlatforms
from tests.channels.social.payloads import line_body, line_event
from tests.contacts.conftest import get, identity_hash, post, timeline, wait_until
from tests.harness import Api


def address() -> str:
    return f"kenji-{uuid.uuid4().hex[:8]}@example.com"


async def email_customer(api: Api, sender: str, body: str = "Order 17 is late") -> int:
    """The customer a mail from `sender` makes, found through the inbox's list."""
    inbox = await create_email_inbox(api)
    await send_mail(
        api,
        mail(inbox["config"]["address"], sender=sender, body=body),
        inbox["config"]["address"],
        mail_from=sender,
    )

    async def found() -> int | None:
        page = await get(api, "/api/v1/conversations", inbox_id=inbox["id"])
        return int(page["items"][0]["customer_id"]) if page["items"] else None

    return int(await wait_until(found))


async def line_customer(api: Api, platforms: FakePlatforms, text: str) -> int:
    line = await create_social_inbox(api, platforms, "line")
    assert (await line.post(line_body(line_event(f"U{uuid.uuid4().hex}", text)))).status_code == 200
    return int((await line.only_conversation())["customer_id"])


async def widget_message(api: Api, session: dict[str, Any], body: str) -> dict[str, Any]:
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": uuid.uuid4().hex, "body": body})
        return await widget.expect("ack")


async def test_email_line_and_verified_widget_are_one_customer_with_one_timeline(
    capi: Api, fake_platforms: FakePlatforms
) -> None:
    kenji = address()
    by_mail = await email_customer(capi, kenji, "Order 17 is late")
    by_line = await line_customer(capi, fake_platforms, "Any news on order 17?")
    web = await capi.create_inbox()
    # The shop vouches for its user and the address (written differently).
    session = await capi.new_session(
        web,
        external_id="user-17",
        identity_hash=identity_hash(web["config"]["identity_secret"], "user-17"),
        email=kenji.upper().replace("@EXAMPLE.COM", "@Example.com"),
    )
    assert session["customer_id"] == by_mail  # a verified email joins its owner
    await widget_message(capi, session, "I'm on the site now")

    supervisor = await capi.create_agent(role="supervisor")
    merged = await post(
        capi,
        f"/api/v1/customers/{by_mail}/merge",
        {"other_customer_id": by_line},
        supervisor["token"],
    )
    assert merged["id"] == by_mail
    assert merged["merge"]["other_customer_id"] == by_line

    customer = await get(capi, f"/api/v1/customers/{by_mail}")
    channels = {i["channel"] for i in customer["identities"]}
    assert {"email", "line", "web"} <= channels
    assert customer["emails"] == [kenji]

    history = await timeline(capi, by_mail)
    assert [(m["channel"], m["body"]) for m in history if m["author"]["kind"] == "customer"] == [
        ("email", "Order 17 is late"),
        ("line", "Any news on order 17?"),
        ("web", "I'm on the site now"),
    ]
    assert len({m["conversation_id"] for m in history}) == 3
    assert [m["sent_at"] for m in history] == sorted(m["sent_at"] for m in history)
    # The folded customer says where it went.
    assert (await get(capi, f"/api/v1/customers/{by_line}"))["merged_into_id"] == by_mail


async def test_an_unverified_email_claim_reveals_nothing_and_only_suggests(capi: Api) -> None:
    owner_address = address()
    owner = await email_customer(capi, owner_address, "My card ends in 4242")
    web = await capi.create_inbox()
    claimant = await capi.new_session(web, email=owner_address, name="Not Kenji")
    assert claimant["customer_id"] != owner
    async with capi.widget(claimant["session_token"]) as widget:
        await widget.expect("status")
        await widget.send({"type": "resume", "after_seq": 0})
        assert all("4242" not in str(f) for f in await widget.quiet(0.5))
    await widget_message(capi, claimant, "hello, it's me")

    agent = await capi.create_agent()
    pending = await get(capi, "/api/v1/merge-suggestions", agent["token"])
    (suggestion,) = [
        s for s in pending["items"] if s["other_customer_id"] == claimant["customer_id"]
    ]
    assert suggestion["customer_id"] == owner
    assert suggestion["reason"] == "claimed_email"
    assert owner_address not in str(suggestion)
    # The claimant's history has only what they wrote themselves.
    bodies = [m["body"] for m in await timeline(capi, claimant["customer_id"])]
    assert bodies == ["hello, it's me"]

    # Accepting is a merge: supervisors only.
    r = await capi.http.post(
        f"/api/v1/merge-suggestions/{suggestion['id']}/accept", headers=capi.auth(agent["token"])
    )
    assert r.status_code == 403
    supervisor = await capi.create_agent(role="supervisor")
    accepted = await post(
        capi, f"/api/v1/merge-suggestions/{suggestion['id']}/accept", None, supervisor["token"]
    )
    assert accepted["state"] == "accepted"
    assert accepted["merge_id"] is not None
    bodies = [m["body"] for m in await timeline(capi, owner)]
    assert "My card ends in 4242" in bodies
    assert "hello, it's me" in bodies
    r = await capi.http.post(
        f"/api/v1/merge-suggestions/{suggestion['id']}/reject", headers=capi.auth(agent["token"])
    )
    assert r.status_code == 409


async def test_an_agent_rejects_a_suggestion_and_the_customers_stay_apart(capi: Api) -> None:
    owner_address = address()
    owner = await email_customer(capi, owner_address)
    web = await capi.create_inbox()
    claimant = await capi.new_session(web, email=owner_address)
    await widget_message(capi, claimant, "hi")
    agent = await capi.create_agent()
    found = await get(capi, f"/api/v1/customers/{owner}/merge-suggestions", agent["token"])
    (suggestion,) = found["items"]
    rejected = await post(
        capi, f"/api/v1/merge-suggestions/{suggestion['id']}/reject", None, agent["token"]
    )
    assert rejected["state"] == "rejected"
    pending = await get(capi, "/api/v1/merge-suggestions", agent["token"])
    assert suggestion["id"] not in [s["id"] for s in pending["items"]]
    assert [m["body"] for m in await timeline(capi, owner)] == ["Order 17 is late"]


async def test_a_wrong_identity_hash_is_refused_and_verifies_nothing(capi: Api) -> None:
    web = await capi.create_inbox()
    anonymous = await capi.new_session(web)
    r = await capi.http.post(
        "/api/v1/widget/sessions",
        json={
            "widget_key": web["widget_key"],
            "session_token": anonymous["session_token"],
            "external_id": "user-1",
            "identity_hash": identity_hash("not the secret", "user-1"),
            "email": address(),
        },
    )
    assert r.status_code == 403
    resumed = await capi.new_session(web, session_token=anonymous["session_token"])
    assert resumed["customer_id"] == anonymous["customer_id"]
    customer = await get(capi, f"/api/v1/customers/{anonymous['customer_id']}")
    assert customer["identities"] == []
    assert customer["emails"] == []


async def test_a_merge_moves_everything_is_recorded_and_undone(capi: Api) -> None:
    web = await capi.create_inbox()
    first = await capi.new_session(web, name="Aiko")
    second = await capi.new_session(
        web,
        external_id="aiko",
        identity_hash=identity_hash(web["config"]["identity_secret"], "aiko"),
    )
    await widget_message(capi, first, "first chat")
    ack = await widget_message(capi, second, "second chat")
    supervisor = await capi.create_agent(role="supervisor")
    async with capi.agent_socket(supervisor["token"]) as console:
        await console.expect("hello")
        merged = await post(
            capi,
            f"/api/v1/customers/{first['customer_id']}/merge",
            {"other_customer_id": second["customer_id"]},
            supervisor["token"],
        )
        # Open consoles learn the conversation's customer changed.
        frame = await console.expect_for("conversation.updated", ack["conversation_id"])
        assert frame["conversation"]["customer_id"] == first["customer_id"]
    record = merged["merge"]
    assert record["conversation_ids"] == [ack["conversation_id"]]
    assert len(record["identity_ids"]) == 1
    # The kept customer's open chat and the folded one's clash in one inbox:
    # the folded one's is resolved, its history kept.
    assert record["resolved_conversation_ids"] == [ack["conversation_id"]]
    assert {"channel": "web", "external_id": "aiko", "verified": True} in merged["identities"]
    assert sorted(m["body"] for m in await timeline(capi, first["customer_id"])) == [
        "first chat",
        "second chat",
    ]
    # The verified user's widget now opens as the kept customer.
    again = await capi.new_session(
        web,
        external_id="aiko",
        identity_hash=identity_hash(web["config"]["identity_secret"], "aiko"),
    )
    assert again["customer_id"] == first["customer_id"]

    listed = await get(
        capi, f"/api/v1/customers/{first['customer_id']}/merges", supervisor["token"]
    )
    assert [m["id"] for m in listed["items"]] == [record["id"]]
    undone = await post(
        capi,
        f"/api/v1/customers/{first['customer_id']}/merges/{record['id']}/undo",
        None,
        supervisor["token"],
    )
    assert undone["undone_at"] is not None
    assert [m["body"] for m in await timeline(capi, first["customer_id"])] == ["first chat"]
    assert [m["body"] for m in await timeline(capi, second["customer_id"])] == ["second chat"]
    back = await get(capi, f"/api/v1/customers/{second['customer_id']}")
    assert back["merged_into_id"] is None
    assert {"channel": "web", "external_id": "aiko", "verified": True} in back["identities"]
    r = await capi.http.post(
        f"/api/v1/customers/{first['customer_id']}/merges/{record['id']}/undo",
        headers=capi.auth(supervisor["token"]),
    )
    assert r.status_code == 409


async def test_merges_that_make_no_sense_are_refused_clearly(capi: Api) -> None:
    web = await capi.create_inbox()
    one = (await capi.new_session(web))["customer_id"]
    two = (await capi.new_session(web))["customer_id"]
    three = (await capi.new_session(web))["customer_id"]
    supervisor = await capi.create_agent(role="supervisor")
    agent = await capi.create_agent()

    async def merge(kept: int, other: Any, token: str) -> Any:
        return await capi.http.post(
            f"/api/v1/customers/{kept}/merge",
            json={"other_customer_id": other},
            headers=capi.auth(token),
        )

    r = await merge(one, one, supervisor["token"])
    assert (r.status_code, r.json()["error"]) == (422, "merge_into_self")
    assert (await merge(one, two, agent["token"])).status_code == 403
    assert (await merge(one, 2**31 - 1, supervisor["token"])).status_code == 404
    assert (await merge(one, "two", supervisor["token"])).status_code == 422
    assert (await merge(one, two, supervisor["token"])).status_code == 200
    r = await merge(three, two, supervisor["token"])
    assert (r.status_code, r.json()["error"]) == (409, "already_merged")
    r = await merge(two, three, supervisor["token"])
    assert r.status_code == 409  # into a customer that is folded itself

    # Two supervisors merging the same pair both ways at once: one wins.
    four = (await capi.new_session(web))["customer_id"]
    five = (await capi.new_session(web))["customer_id"]
    answers = await asyncio.gather(
        merge(four, five, supervisor["token"]), merge(five, four, api_token(capi))
    )
    assert sorted(a.status_code for a in answers) == [200, 409]


def api_token(api: Api) -> str:
    return api.admin_token
