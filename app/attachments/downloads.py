"""How a stored file leaves the server: always as a download, never as a page
of our origin, whatever it claims to be."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response

from app.models import Attachment

# Types a browser shows without running anything; every other file is served
# as bytes to save. Never text/html, SVG or XML, which run script inline.
SHOWN_AS_IS = {
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
}
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def disposition(filename: str) -> str:
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(found: Attachment) -> Response:
    content_type = found.content_type if found.content_type in SHOWN_AS_IS else None
    media_type = content_type or "application/octet-stream"
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return Response(
        found.content,
        media_type=media_type,
        headers={"Content-Disposition": disposition(found.filename), **DOWNLOAD_HEADERS},
    )
