"""GET /console: the agents' web console, static files under a strict
Content-Security-Policy: only our own scripts run, whatever a message says."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The token lives in the page's session storage: no cached copy of a page
    # that could outlive a sign-out matters, but fresh assets after an upgrade do.
    "Cache-Control": "no-cache",
}
ASSETS = {
    "console.js": "text/javascript",
    "console.css": "text/css",
    "reports.js": "text/javascript",
    "reports.css": "text/css",
    "agents.js": "text/javascript",
    "agents.css": "text/css",
    "inboxes.js": "text/javascript",
    "session.js": "text/javascript",
    "inboxes.css": "text/css",
    "home.css": "text/css",
}


@router.get("/console")
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/console/reports")
async def reports_page() -> FileResponse:
    """Service standards for supervisors: figures and charts for a period and inbox."""
    return FileResponse(STATIC / "reports.html", media_type="text/html", headers=HEADERS)


@router.get("/console/agents")
async def agents_page() -> FileResponse:
    """Agents and teams for admins: create, change, deactivate, reset a password."""
    return FileResponse(STATIC / "agents.html", media_type="text/html", headers=HEADERS)


@router.get("/")
async def home() -> FileResponse:
    """Where a new server's address leads: the console, the demo, the API docs."""
    return FileResponse(STATIC / "home.html", media_type="text/html", headers=HEADERS)


@router.get("/console/inboxes")
async def inboxes_page() -> FileResponse:
    """Inboxes for admins: create every kind of channel and set it up."""
    return FileResponse(STATIC / "inboxes.html", media_type="text/html", headers=HEADERS)


@router.get("/console/{asset}")
async def console_asset(asset: str) -> FileResponse:
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(STATIC / asset, media_type=media_type, headers=HEADERS)
