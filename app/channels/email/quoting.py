"""Separates what a customer wrote from the history their mail client quoted
below it, so agents read the new text first. The whole text is kept apart."""

from __future__ import annotations

import re

# Lines that start the quoted history, as the common clients write them.
_ATTRIBUTION = re.compile(
    r"^\s*("
    r"On\b.{0,200}\bwrote:"  # Gmail, Apple Mail, Thunderbird
    r"|Le\b.{0,200}\ba écrit\s?:"  # French clients
    r"|Am\b.{0,200}\bschrieb\b.{0,100}:"  # German clients
    r"|.{0,200}さんは書きました\s*[:：]"  # Japanese clients
    r"|-{2,}\s*(Original Message|Forwarded message|元のメッセージ|転送されたメッセージ)\s*-{2,}"
    r"|_{20,}"  # Outlook's rule above its header block
    r")\s*$",
    re.IGNORECASE,
)
# Gmail in Japanese: "2026年11月16日(月) 10:00 Support <support@shop.example>:".
# Customers write dates too, so it counts only above quoted lines.
_DATED_ATTRIBUTION = re.compile(r"^\s*\d{4}年\d{1,2}月\d{1,2}日.{0,200}[:：]\s*$")
_OUTLOOK_FROM = re.compile(r"^\s*(From|差出人)\s*[:：]")
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|To|送信日時|宛先)\s*[:：]", re.IGNORECASE)


def split_quoted(text: str) -> tuple[str, str]:
    """(new text, quoted history); the history is "" when none is found."""
    lines = text.split("\n")
    cut = _first_quote_line(lines)
    if cut is None:
        return text.strip(), ""
    new = "\n".join(lines[:cut]).strip()
    if not new:
        # Everything is quoted (a forward, a client we misread): showing
        # nothing would hide the mail.
        return text.strip(), ""
    return new, "\n".join(lines[cut:]).strip()


def _quoted_from(lines: list[str], start: int) -> bool:
    rest = [line for line in lines[start:] if line.strip()]
    return bool(rest) and all(line.startswith(">") for line in rest)


def _first_quote_line(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if _ATTRIBUTION.match(line):
            return index
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _OUTLOOK_FROM.match(line) and _OUTLOOK_NEXT.match(following):
            return index
        if _DATED_ATTRIBUTION.match(line) and _quoted_from(lines, index + 1):
            return index
        # An attribution wrapped over two lines: "On Mon, ... Support <" / "x@y> wrote:".
        if (
            line.strip()
            and not line.startswith(">")
            and _ATTRIBUTION.match(f"{line} {following}")
            and _quoted_from(lines, index + 2)
        ):
            return index
        if line.startswith(">") and _quoted_from(lines, index):
            return index
    return None
