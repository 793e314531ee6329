"""GET and POST /csat/{token}: the one-click rating page a link opens.

GET only shows the page (mail scanners and link previews fetch links, and
must not rate for the customer); one click on a rating posts the form. The
answer is a page too, never JSON: a customer's browser reads it.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.errors import AppError
from app.kit.link_pages import link_page
from app.kit.text import StorableStr, check_storable
from app.reports import csat
from app.runtime import RuntimeDep

router = APIRouter(include_in_schema=False)

LABELS = {1: "Very poor", 2: "Poor", 3: "OK", 4: "Good", 5: "Great"}
STYLE = (
    "button{font-size:1.6em;margin:.2em;padding:.3em .6em;cursor:pointer}"
    "textarea{width:100%;min-height:4em}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return link_page(title, body, style=STYLE, status=status)


def _error_page(exc: AppError) -> HTMLResponse:
    return _page("Rating", f"<p id='result'>{html.escape(exc.detail)}</p>", exc.status)


@router.get("/csat/{token}")
async def rating_page(token: StorableStr, runtime: RuntimeDep) -> HTMLResponse:
    try:
        _, inbox_name = await csat.link_conversation(runtime.db, token)
    except AppError as exc:
        return _error_page(exc)
    buttons = "".join(
        f"<button name='rating' value='{r}' title='{LABELS[r]}'>{r}</button>" for r in range(1, 6)
    )
    return _page(
        "How did we do?",
        f"<h1>How did {html.escape(inbox_name)} do?</h1>"
        "<p>1 is very poor, 5 is great.</p>"
        f"<form method='post'><p><label>Anything to add? (optional)<br>"
        f"<textarea name='comment' maxlength='4000'></textarea></label></p>"
        f"<p>{buttons}</p></form>",
    )


@router.post("/csat/{token}")
async def rate(token: StorableStr, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    form = parse_qs((await request.body()).decode(errors="replace"), max_num_fields=10)
    raw_rating = (form.get("rating") or [""])[0]
    comment = (form.get("comment") or [""])[0][:4000] or None
    if raw_rating not in {"1", "2", "3", "4", "5"}:
        return _page("Rating", "<p id='result'>Choose a rating from 1 to 5.</p>", 422)
    try:
        comment = check_storable(comment) if comment else None
    except ValueError:
        return _page(
            "Rating", "<p id='result'>The comment holds characters we cannot keep.</p>", 422
        )
    try:
        await csat.rate_by_link(runtime.db, token, int(raw_rating), comment)
    except AppError as exc:
        return _error_page(exc)
    return _page("Thank you", "<p id='result'>Thank you for your rating.</p>")
