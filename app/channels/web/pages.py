"""GET /chat/{widget_key}: a page that opens the widget full screen, for links
in emails and redirect messages."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

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
