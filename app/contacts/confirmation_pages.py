"""GET and POST /email/confirm/{token}: the page a confirmation request links to.

GET only shows the page with one button (mail scanners and link previews
fetch links and must not confirm for the reader); the button posts the form.
The answers are pages, never JSON: a person's browser reads them.
"""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.contacts import email_confirmation
from app.errors import AppError
from app.kit.link_pages import link_page
from app.kit.text import StorableStr
from app.runtime import RuntimeDep

router = APIRouter(include_in_schema=False)

STYLE = "button{font-size:1.1em;padding:.5em 1em;min-height:44px;cursor:pointer}"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return link_page(title, f"<main>{body}</main>", style=STYLE, status=status)


def _error_page(exc: AppError) -> HTMLResponse:
    detail = f"<p id='result'>{html.escape(exc.detail)}</p>"
    return _page("Confirm your address", detail, exc.status)


@router.get("/email/confirm/{token}")
async def confirmation_page(token: StorableStr, runtime: RuntimeDep) -> HTMLResponse:
    try:
        address = await email_confirmation.pending_address(runtime.db, token)
    except AppError as exc:
        return _error_page(exc)
    return _page(
        "Confirm your address",
        "<h1>Confirm your address</h1>"
        f"<p>Send the answers to this chat to <strong>{html.escape(address)}</strong>?</p>"
        "<form method='post'><button id='confirm'>Yes, mail me the answers</button></form>"
        "<p>If you did not give this address in a chat, close this page: nothing more"
        " will be sent.</p>",
    )


@router.post("/email/confirm/{token}")
async def confirm(token: StorableStr, runtime: RuntimeDep) -> HTMLResponse:
    try:
        await email_confirmation.confirm(runtime.db, token)
    except AppError as exc:
        return _error_page(exc)
    return _page(
        "Address confirmed",
        "<p id='result'>Thank you. The answers to your chat will reach you by mail.</p>",
    )
