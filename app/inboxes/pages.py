"""GET /chat/{widget_key}: a page that opens the widget full screen, for links
in emails and redirect messages."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.errors import NotFound
from app.inboxes import repository as inboxes_repo
from app.inboxes import service as inboxes_service
from app.kit.text import StorableStr
from app.runtime import RuntimeDep

router = APIRouter(include_in_schema=False)


@router.get("/chat/{widget_key}")
async def chat_page(
    widget_key: StorableStr, runtime: RuntimeDep, link: StorableStr | None = None
) -> HTMLResponse:
    async with runtime.db.read() as session:
        inbox = await inboxes_service.web_inbox_by_key(session, widget_key)
    key = html.escape(widget_key, quote=True)
    # A signed chat link (app/contacts/chat_link.py) rides on to the widget,
    # which checks nothing: the session endpoint does.
    linked = f' data-link="{html.escape(link[:128], quote=True)}"' if link else ""
    title = html.escape(inbox.name)
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head>
<body><h1 style="font:600 18px system-ui;margin:16px">{title}</h1>
<script src="/widget.js" data-key="{key}" data-fullscreen="1"{linked}></script>
</body></html>""",
        headers={"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'"},
    )


@router.get("/demo")
async def demo_page(runtime: RuntimeDep) -> HTMLResponse:
    """A page that embeds the widget of the first live web inbox: open it next
    to /console and chat with yourself. Off with MADOGUCHI_DEMO_PAGE=0."""
    if not runtime.settings.demo_page:
        raise NotFound("no demo page here")
    async with runtime.db.read() as session:
        inboxes = await inboxes_repo.list_all(session)
    inbox = next(
        (i for i in inboxes if i.channel == "web" and i.mode == "live" and i.widget_key), None
    )
    if inbox is None:
        body = """<p>No web inbox yet. Sign in to <a href="/console">the console</a> as an admin
and choose <b>Create a web inbox</b> (or <code>POST /api/v1/inboxes</code> with
<code>{"name": "Website", "channel": "web", "mode": "live", "config": {}}</code>),
then reload.</p>"""
    else:
        key = html.escape(inbox.widget_key or "", quote=True)
        body = f"""<p>This page plays a shop's web site with the chat widget of the inbox
<b>{html.escape(inbox.name)}</b>. Open <a href="/console" target="_blank">the console</a>
in another tab, sign in, and answer yourself.</p>
<script src="/widget.js" data-key="{key}" async></script>"""
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Madoguchi demo</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em">
<h1>Madoguchi demo shop</h1>
{body}
</body></html>""",
        headers={"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'"},
    )
