"""What the social adapters make of content that is not plain text.

An image, a sticker, a file or a location becomes an `Attachment` (with the
platform's URL when it gives a usable one) and a readable line in the
message's text, so an agent always sees that something arrived and what it
was, and no content type is ever an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.channels.base import Attachment

# Kinds of content the platforms send, and what an agent reads for each.
_LABELS = {
    "image": "image",
    "photo": "image",
    "sticker": "sticker",
    "video": "video",
    "video_note": "video",
    "animation": "animation",
    "audio": "audio",
    "voice": "voice message",
    "file": "file",
    "document": "file",
    "contact": "contact",
    "location": "location",
    "share": "shared post",
    "story_mention": "story mention",
    "ig_reel": "reel",
    "reel": "reel",
    "fallback": "link",
    "template": "template",
}

_CONTENT_TYPES = {
    "image": "image/*",
    "sticker": "image/*",
    "video": "video/*",
    "audio": "audio/*",
    "voice message": "audio/*",
    "animation": "video/*",
}


def label(kind: str) -> str:
    return _LABELS.get(kind, kind.replace("_", " ") or "attachment")


def placeholder(kind: str, detail: str | None = None) -> str:
    """`[image]`, `[file: invoice.pdf]`, `[sticker: 😀]`."""
    name = label(kind)
    return f"[{name}: {detail}]" if detail else f"[{name}]"


def location_text(latitude: object, longitude: object, name: object = None) -> str:
    where = f"{_coordinate(latitude)}, {_coordinate(longitude)}"
    return placeholder("location", f"{name} ({where})" if name else where)


def _coordinate(value: object) -> str:
    try:
        return f"{float(str(value)):.5f}".rstrip("0").rstrip(".")
    except ValueError:
        return "?"


def attachment(
    kind: str,
    *,
    url: str | None = None,
    filename: str | None = None,
    content_type: str | None = None,
    size: object = 0,
) -> Attachment:
    name = label(kind)
    try:
        size_bytes = max(0, int(str(size or 0)))
    except ValueError:
        size_bytes = 0
    return Attachment(
        filename=filename or name.replace(" ", "-"),
        content_type=content_type or _CONTENT_TYPES.get(name, "application/octet-stream"),
        size=size_bytes,
        url=url if isinstance(url, str) and url.startswith("https://") else None,
    )


def joined(*parts: str | None) -> str:
    """The non-empty parts, one per line: a caption under its placeholder."""
    return "\n".join(p for p in parts if p)


def from_epoch_seconds(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_epoch_millis(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(str(value)) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
