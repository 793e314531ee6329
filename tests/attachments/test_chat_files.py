"""Files in a chat: the customer's upload from the widget and an agent's from
the console; who may fetch them, and how they are served."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartServer
from tests.harness import Api

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _upload(
    api: Api,
    token: str,
    content: bytes,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
    client_id: str = "f-1",
) -> Any:
    return await api.http.post(
        "/api/v1/widget/attachments",
        params={"filename": filename, "client_id": client_id},
        content=content,
        headers={**api.auth(token), "content-type": content_type},
    )


async def test_a_customers_file_reaches_the_agent_and_only_the_two_of_them(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent()
    session = await api.new_session(inbox, name="Mei")
    token = session["session_token"]
    async with api.agent_socket(agent["token"]) as console:
        await console.expect("hello")
        r = await _upload(api, token, PNG, filename="../../etc/broken screen.png")
        assert r.status_code == 201, r.text
        ack = r.json()
        assert ack["type"] == "ack"
        assert ack["client_id"] == "f-1"
        assert ack["seq"] == 1
        [mine] = ack["attachments"]
        assert mine["filename"] == "broken screen.png"
        assert mine["content_type"] == "image/png"
        assert mine["size"] == len(PNG)
        created = await console.expect_for("message.created", ack["conversation_id"])
    [seen] = created["message"]["attachments"]
    assert created["message"]["body"] == "[image: broken screen.png]"
    assert seen["url"] == f"/api/v1/attachments/{mine['id']}"

    # The agent downloads it through the access-checked endpoint.
    r = await api.http.get(seen["url"], headers=api.auth(agent["token"]))
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    # The customer with their session token, under the widget's path.
    r = await api.http.get(mine["url"], headers=api.auth(token))
    assert r.status_code == 200
    assert r.content == PNG
    assert r.headers["content-disposition"].startswith("attachment;")
    # Nobody else: no token, another customer, the agent's token on the widget path.
    stranger = (await api.new_session(inbox))["session_token"]
    assert (await api.http.get(mine["url"])).status_code == 401
    assert (await api.http.get(mine["url"], headers=api.auth(stranger))).status_code == 404
    assert (await api.http.get(mine["url"], headers=api.auth(agent["token"]))).status_code == 401
    # An agent of a team that does not serve the inbox.
    other_inbox = await api.create_inbox(teams=["billing"])
    outsider = await api.create_agent(teams=["sales"])
    outsider_session = await api.new_session(other_inbox)
    r = await _upload(
        api,
        outsider_session["session_token"],
        PDF,
        filename="a.pdf",
        content_type="application/pdf",
    )
    assert r.status_code == 201, r.text
    hidden = f"/api/v1/attachments/{r.json()['attachments'][0]['id']}"
    assert (await api.http.get(hidden, headers=api.auth(outsider["token"]))).status_code == 404
    assert (await api.http.get(hidden, headers=api.auth(api.admin_token))).status_code == 200


async def test_the_same_client_id_stores_one_message_with_the_first_file(
    api: Api, inbox: dict[str, Any]
) -> None:
    token = (await api.new_session(inbox))["session_token"]
    first = await _upload(api, token, PNG, client_id="same")
    again = await _upload(api, token, PNG, client_id="same")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["attachments"] == first.json()["attachments"]
    messages = await api.messages(first.json()["conversation_id"])
    assert [m["body"] for m in messages] == ["[image: photo.png]"]


async def test_uploads_are_checked_by_size_and_by_what_the_bytes_are(
    start_server: StartServer,
) -> None:
    api = await start_server({"MADOGUCHI_ATTACHMENT_MAX_BYTES": "2048"})
    inbox = await api.create_inbox()
    token = (await api.new_session(inbox))["session_token"]
    r = await _upload(api, token, PNG + b"\x00" * 4096)
    assert r.status_code == 413
    assert r.json()["error"] == "payload_too_large"
    for markup in (
        b"<!DOCTYPE html><script>alert(1)</script>",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b"\xef\xbb\xbf  <?xml version='1.0'?><x/>",
    ):
        r = await _upload(api, token, markup, filename="cute.png", content_type="image/png")
        assert r.status_code == 415, r.text
        assert r.json()["error"] == "unsupported_media_type"
    r = await _upload(
        api,
        token,
        b"MZ\x90\x00\x03\x00\x00\x00",
        filename="setup.exe",
        content_type="application/octet-stream",
    )
    assert r.status_code == 415
    r = await _upload(api, token, b"", filename="empty.txt", content_type="text/plain")
    assert r.status_code == 422
    # Declared as an image, it is text: stored and served as what it is.
    r = await _upload(
        api,
        token,
        "注文番号 1234\n".encode(),
        filename="note.png",
        content_type="image/png",
        client_id="t",
    )
    assert r.status_code == 201, r.text
    [file] = r.json()["attachments"]
    assert file["content_type"] == "text/plain"
    r = await api.http.get(file["url"], headers=api.auth(token))
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    # Nothing refused was stored.
    conversation_id = (await _upload(api, token, PNG, client_id="ok")).json()["conversation_id"]
    bodies = [m["body"] for m in await api.messages(conversation_id)]
    assert bodies == ["[file: note.png]", "[image: photo.png]"]


async def test_an_agents_file_reaches_the_widget_and_a_private_one_does_not(
    api: Api, inbox: dict[str, Any]
) -> None:
    agent = await api.create_agent()
    token = (await api.new_session(inbox))["session_token"]
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "c-1", "body": "the invoice?"})
        ack = await widget.expect("ack")
        conversation_id = ack["conversation_id"]
        url = f"/api/v1/conversations/{conversation_id}/attachments"
        note = await api.http.post(
            url,
            params={"filename": "internal.pdf", "private": "true"},
            content=PDF,
            headers={**api.auth(agent["token"]), "content-type": "application/pdf"},
        )
        assert note.status_code == 201, note.text
        sent = await api.http.post(
            url,
            params={"filename": "invoice.pdf", "client_id": "a-1"},
            content=PDF,
            headers={**api.auth(agent["token"]), "content-type": "application/pdf"},
        )
        assert sent.status_code == 201, sent.text
        frame = await widget.expect("message")
    assert frame["body"] == "[file: invoice.pdf]"
    [file] = frame["attachments"]
    assert file["url"].startswith("/api/v1/widget/attachments/")
    r = await api.http.get(file["url"], headers=api.auth(token))
    assert r.status_code == 200
    assert r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    # The private note's file: agents only, even with the id in hand.
    private_id = note.json()["attachments"][0]["id"]
    r = await api.http.get(f"/api/v1/widget/attachments/{private_id}", headers=api.auth(token))
    assert r.status_code == 404
    # The history the widget fetches names the agent's file too.
    r = await api.http.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=api.auth(token)
    )
    assert [m.get("attachments", [{}])[0].get("filename") for m in r.json()["items"]] == [
        None,
        "invoice.pdf",
    ]


async def test_an_agents_file_on_a_channel_that_cannot_carry_it_is_refused(
    api: Api,
) -> None:
    r = await api.http.post(
        "/api/v1/inboxes",
        json={"name": "Mail", "channel": "email", "config": {"address": "files@shop.test"}},
        headers=api.auth(api.admin_token),
    )
    assert r.status_code == 201, r.text
    email_inbox = r.json()
    agent = await api.create_agent()
    web = await api.create_inbox()
    token = (await api.new_session(web, email="kim@example.com"))["session_token"]
    async with api.widget(token) as widget:
        await widget.send({"type": "message", "client_id": "c", "body": "hi"})
        ack = await widget.expect("ack")
    customer = (
        await api.http.get(
            f"/api/v1/conversations/{ack['conversation_id']}", headers=api.auth(agent["token"])
        )
    ).json()["customer_id"]
    r = await api.http.post(
        f"/api/v1/customers/{customer}/conversations",
        json={"inbox_id": email_inbox["id"], "body": "About your order"},
        headers=api.auth(agent["token"]),
    )
    assert r.status_code == 201, r.text
    conversation_id = r.json()["conversation"]["id"]
    r = await api.http.post(
        f"/api/v1/conversations/{conversation_id}/attachments",
        params={"filename": "invoice.pdf"},
        content=PDF,
        headers={**api.auth(agent["token"]), "content-type": "application/pdf"},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "files_not_sent_on_channel"
    assert len(await api.messages(conversation_id)) == 1
