"""The small pages a link in a mail opens (a rating, a confirmation).

Served to whoever follows the link, so they run no script, load nothing from
elsewhere, post only back to us, are never cached and leak no URL (the
token is in it) to another site.
"""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
BASE_STYLE = "body{font:16px system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em}"


def link_page(title: str, body: str, *, style: str = "", status: int = 200) -> HTMLResponse:
    """`body` is HTML the caller built, every value in it escaped."""
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{BASE_STYLE}{style}</style></head>"
        f"<body>{body}</body></html>",
        status_code=status,
        headers=HEADERS,
    )
