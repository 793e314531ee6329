"""Charsets and encoded words: the bytes and headers of a mail read as text
with the charset fallbacks real mail needs, and text made storable. Never
raises: what cannot be decoded is read as the likeliest other charset."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from email.message import Message

# How much of a header's text `header` keeps unless told: forty Message-IDs
# of the longest kept (parsing.MAX_ID_LENGTH, 380), enough for References.
_HEADER_LIMIT = 380 * 40

# Charsets as mail really labels them, read as the superset the sender's
# software actually wrote (Windows' code pages for Shift_JIS and Latin-1).
_CHARSETS: dict[str, tuple[str, ...]] = {
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext", "iso2022_jp_2"),
    "csiso2022jp": ("iso2022_jp", "iso2022_jp_2004", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "cp932": ("cp932",),
    "euc-jp": ("euc_jp", "euc_jis_2004", "cp932"),
    "x-euc-jp": ("euc_jp", "euc_jis_2004"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "us-ascii": ("ascii",),
    "ascii": ("ascii",),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "ks_c_5601-1987": ("cp949",),
    "euc-kr": ("cp949",),
    "big5": ("big5hkscs",),
}
LANGUAGE_OF_CHARSET = {
    "iso-2022-jp": "ja",
    "csiso2022jp": "ja",
    "shift_jis": "ja",
    "shift-jis": "ja",
    "sjis": "ja",
    "x-sjis": "ja",
    "windows-31j": "ja",
    "cp932": "ja",
    "euc-jp": "ja",
    "x-euc-jp": "ja",
    "ks_c_5601-1987": "ko",
    "euc-kr": "ko",
    "gb2312": "zh",
    "gbk": "zh",
    "gb18030": "zh",
    "big5": "zh",
}

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Storable, showable text: no NUL (PostgreSQL refuses it) or other control
    characters, no lone surrogates (what undecodable header bytes become),
    which no database encodes as UTF-8."""
    value = _CONTROL.sub("", value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in the charset the mail named, else the likeliest others; never raises."""
    label = (charset or "").strip().strip('"').lower()
    candidates = list(_CHARSETS.get(label, (label,) if label else ()))
    if b"\x1b$" in data and "iso2022_jp" not in candidates:
        candidates.append("iso2022_jp")  # unlabelled JIS, as old Japanese mailers sent it
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")  # pragma: no cover - cp1252 decodes nearly all


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def decode_words(value: str) -> str:
    """RFC 2047 encoded words decoded with our charset fallbacks: the email
    package reads "=?Shift_JIS?..." with Python's strict Shift_JIS and loses
    what Windows wrote in code page 932 (①, ㈱, IBM extensions)."""
    out: list[str] = []
    last_end = 0
    for word in _ENCODED_WORD.finditer(value):
        between = value[last_end : word.start()]
        if not (last_end and not between.strip()):  # space between two words is dropped
            out.append(between)
        data = word.group(3)
        try:
            if word.group(2) in "bB":
                decoded = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
            else:
                decoded = quopri.decodestring(data.encode("ascii", "replace"), header=True)
        except (binascii.Error, ValueError):
            out.append(data)  # as the email package does: the text, undecoded
        else:
            out.append(decode_bytes(decoded, word.group(1).split("*")[0]))
        last_end = word.end()
    out.append(value[last_end:])
    return "".join(out)


# -- header text -------------------------------------------------------------------


def raw_header(message: Message, name: str) -> str | None:
    """A header's source text, unfolded, without the header registry: parsing
    a header with policy.default costs ~0.4 ms each time it is read, and most
    headers need no structure."""
    wanted = name.lower()
    try:
        for key, value in message.raw_items():
            if key.lower() == wanted:
                return re.sub(r"\r?\n[ \t]", " ", str(value)).strip()
    except Exception:  # noqa: BLE001 - hostile headers
        return None
    return None


def header(message: Message, name: str, *, limit: int = _HEADER_LIMIT) -> str:
    value = raw_header(message, name)
    if not value:
        return ""
    if not value.isascii():
        # Raw 8-bit bytes (undecodable ones arrive as surrogates): UTF-8 or Latin-1.
        value = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    if "=?" in value:
        value = decode_words(value)
    return " ".join(clean_text(value).split())[:limit]


def header_text(message: Message, name: str, charset: str | None) -> str | None:
    """A text header read from its source when the email package would lose
    characters: encoded words (see decode_words) or raw 8-bit bytes, which
    Japanese mailers send in the body's charset. None: the parsed value is right."""
    try:
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    except Exception:  # noqa: BLE001 - hostile headers
        return None
    if not isinstance(raw, str):
        return None
    raw = re.sub(r"\r?\n[ \t]", " ", raw).strip()
    if not raw.isascii():
        # Undecodable bytes arrive as surrogates: get the bytes back.
        raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), charset)
    elif "=?" not in raw:
        return None
    return " ".join(clean_text(decode_words(raw)).split())
