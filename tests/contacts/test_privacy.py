"""Export and erase: an admin gets everything held about a customer, or has it
removed from the database and the raw mail store, counts kept."""

from __future__ import annotations

import asyncio
import uuid
from email.message import EmailMessage

from tests.channels.email.conftest import create_email_inbox, send_mail
from tests.contacts.conftest import get, identity_hash, post, timeline, wait_until
from tests.harness import Api, base_database_url


def mail_with_attachment(to: str, sender: str, marker: str) -> bytes:
    built = EmailMessage()
    built["From"] = f"Hanako Yamada <{sender}>"
    built["To"] = to
    built["Subject"] = f"Invoice {marker}"
    built["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    built.set_content(f"My address is {marker}, 1-2-3 Shibuya")
    built.add_attachment(
        f"receipt {marker}".encode(), maintype="text", subtype="plain", filename="receipt.txt"
    )
    return built.as_bytes()


async def customer_with_history(api: Api, marker: str) -> int:
    sender = f"hanako-{uuid.uuid4().hex[:8]}@example.com"
    inbox = await create_email_inbox(api)
    to = inbox["config"]["address"]
    await send_mail(api, mail_with_attachment(to, sender, marker), to, mail_from=sender)

    async def found() -> int | None:
        page = await get(api, "/api/v1/conversations", inbox_id=inbox["id"])
        return int(page["items"][0]["customer_id"]) if page["items"] else None

    customer_id = int(await wait_until(found))
    web = await api.create_inbox()
    session = await api.new_session(
        web,
        external_id=f"hanako-{marker}",
        identity_hash=identity_hash(web["config"]["identity_secret"], f"hanako-{marker}"),
        email=sender,
        name="Hanako Yamada",
    )
    assert session["customer_id"] == customer_id
    async with api.widget(session["session_token"]) as widget:
        await widget.send({"type": "message", "client_id": "p-1", "body": f"call me {marker}"})
        await widget.expect("ack")
    return customer_id


async def test_only_supervisors_and_admins_export_and_erase(capi: Api) -> None:
    web = await capi.create_inbox()
    customer = (await capi.new_session(web))["customer_id"]
    agent = await capi.create_agent()
    supervisor = await capi.create_agent(role="supervisor")
    headers = capi.auth(agent["token"])
    assert (
        await capi.http.get(f"/api/v1/customers/{customer}/export", headers=headers)
    ).status_code == 403
    assert (
        await capi.http.post(f"/api/v1/customers/{customer}/erase", headers=headers)
    ).status_code == 403
    assert (await capi.http.get(f"/api/v1/customers/{customer}/export")).status_code == 401
    headers = capi.auth(supervisor["token"])
    r = await capi.http.get(f"/api/v1/customers/{customer}/export", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["customer"]["id"] == customer
    r = await capi.http.post(f"/api/v1/customers/{customer}/erase", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["customer_id"] == customer


async def test_export_holds_everything_about_the_customer(capi: Api) -> None:
    marker = uuid.uuid4().hex
    customer_id = await customer_with_history(capi, marker)
    exported = await get(capi, f"/api/v1/customers/{customer_id}/export")
    assert exported["customer"]["id"] == customer_id
    assert exported["customer"]["name"] == "Hanako Yamada"
    assert {i["channel"] for i in exported["identities"]} == {"email", "web"}
    bodies = [m["body"] for c in exported["conversations"] for m in c["messages"]]
    assert f"My address is {marker}, 1-2-3 Shibuya" in "\n".join(bodies)
    assert f"call me {marker}" in bodies
    (attachment,) = exported["attachments"]
    assert attachment["filename"] == "receipt.txt"
    assert attachment["size"] == len(f"receipt {marker}")


async def test_erase_removes_the_data_and_keeps_the_counts(capi: Api) -> None:
    marker = uuid.uuid4().hex
    customer_id = await customer_with_history(capi, marker)
    before = await timeline(capi, customer_id)
    erased = await post(capi, f"/api/v1/customers/{customer_id}/erase")
    assert erased["counts"]["messages"] == len(before)
    assert erased["counts"]["mail_sources"] == 1
    assert erased["counts"]["attachments"] == 1

    customer = await get(capi, f"/api/v1/customers/{customer_id}")
    assert customer["name"] is None
    assert customer["identities"] == []
    assert customer["emails"] == []
    assert customer["erased"] is True
    after = await timeline(capi, customer_id)
    assert len(after) == len(before)  # anonymous counts for reports
    assert all(m["body"] == "" for m in after)
    exported = await get(capi, f"/api/v1/customers/{customer_id}/export")
    assert marker not in str(exported)
    assert exported["attachments"] == []
    # The raw mail store: the mail and its attachment are gone.
    mail_message = next(m for m in before if m["channel"] == "email")
    for path in (
        f"/api/v1/messages/{mail_message['id']}/raw",
        f"/api/v1/messages/{mail_message['id']}/email",
        mail_message["attachments"][0]["url"],
    ):
        r = await capi.http.get(path, headers=capi.auth(capi.admin_token))
        assert r.status_code == 404, (path, r.status_code)
    if base_database_url() is None:
        # Gone from the file itself, not just hidden.
        files = list(capi.server.data_dir.glob("madoguchi.db*"))
        assert files
        for path in files:
            assert marker.encode() not in path.read_bytes(), path.name

    # Erased: refused again, and never merged.
    r = await capi.http.post(
        f"/api/v1/customers/{customer_id}/erase", headers=capi.auth(capi.admin_token)
    )
    assert r.status_code == 409
    web = await capi.create_inbox()
    other = (await capi.new_session(web))["customer_id"]
    for kept, folded in ((other, customer_id), (customer_id, other)):
        r = await capi.http.post(
            f"/api/v1/customers/{kept}/merge",
            json={"other_customer_id": folded},
            headers=capi.auth(capi.admin_token),
        )
        assert (r.status_code, r.json()["error"]) == (409, "customer_erased")


async def test_erasing_an_unknown_customer_is_404_and_writes_go_on(capi: Api) -> None:
    """An erase of an id that names nobody once waited for a customer row that
    could never be locked, holding the write lock: every write after it hung."""
    r = await asyncio.wait_for(
        capi.http.post("/api/v1/customers/987654321/erase", headers=capi.auth(capi.admin_token)),
        timeout=30,
    )
    assert r.status_code == 404, r.text
    inbox = await capi.create_inbox()
    session = await asyncio.wait_for(capi.new_session(inbox, name="After"), timeout=30)
    assert session["customer_id"]
