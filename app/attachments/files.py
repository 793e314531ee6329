"""What an uploaded file is, decided by its bytes, not by what the browser
says: only kinds a help desk needs are taken, and nothing that a browser
would run as a page (HTML, SVG, XML) is taken at all."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from app.channels.content import placeholder
from app.errors import AppError, InvalidRequest


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    status = 413


class UnsupportedFile(AppError):
    code = "unsupported_media_type"
    status = 415


# Leading bytes of the binary kinds taken, and the type each is stored as.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)
# Office documents are ZIP files: a declared one of these keeps its type.
_ZIP_BASED = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}
# Text that starts like markup is refused: served as a page it would run script.
_MARKUP = re.compile(
    rb"^\s*(?:\xef\xbb\xbf)?\s*<(?:!doctype|html|head|body|script|svg|\?xml|iframe)", re.I
)
ACCEPTED = "PNG, JPEG, GIF or WebP images, PDF, plain text, CSV, ZIP and Office documents"


@dataclass(frozen=True, slots=True)
class CheckedFile:
    filename: str
    content_type: str
    content: bytes

    @property
    def label(self) -> str:
        """The message text that stands for the file: `[image: a.png]`, `[file: b.pdf]`."""
        kind = "image" if self.content_type.startswith("image/") else "file"
        return placeholder(kind, self.filename)


def clean_filename(raw: str | None) -> str:
    """The last path part, without control characters, at most 255 characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    return name[:255] or "file"


def check_file(
    content: bytes, filename: str | None, declared: str | None, max_bytes: int
) -> CheckedFile:
    """The upload as it will be stored, or a clear refusal (413, 415, 422)."""
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"the file is larger than {max_bytes} bytes")
    if not content:
        raise InvalidRequest("the file is empty")
    name = clean_filename(filename)
    declared_type = (declared or "").split(";")[0].strip().lower()
    return CheckedFile(name, _content_type(content, name, declared_type), content)


def _content_type(content: bytes, name: str, declared: str) -> str:
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return declared if kind == "application/zip" and declared in _ZIP_BASED else kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if _MARKUP.match(content[:1024]):
        raise UnsupportedFile(f"HTML, SVG and XML files are not accepted; send {ACCEPTED}")
    if b"\x00" not in content:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            csv = declared == "text/csv" or name.lower().endswith(".csv")
            return "text/csv" if csv else "text/plain"
    raise UnsupportedFile(f"this kind of file is not accepted; send {ACCEPTED}")


@dataclass(frozen=True, slots=True)
class NewFiles:
    """Checked uploads ready for the writer: the rows its hook writes, and the
    message's meta that names them (agents download by `url`)."""

    rows: tuple[tuple[str, str, str, bytes], ...]
    meta: list[dict[str, object]]


def new_files(files: Sequence[CheckedFile]) -> NewFiles:
    rows = tuple((uuid.uuid4().hex, f.filename, f.content_type, f.content) for f in files)
    meta: list[dict[str, object]] = [
        {
            "id": file_id,
            "filename": filename,
            "content_type": content_type,
            "size": len(content),
            "url": f"/api/v1/attachments/{file_id}",
        }
        for file_id, filename, content_type, content in rows
    ]
    return NewFiles(rows, meta)
