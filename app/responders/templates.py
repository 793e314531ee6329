"""The responders' words: default templates in English and Japanese, the
placeholders an admin's template may use, and the customer's language.

Times are written in the inbox's time zone, named, in the customer's language:
a customer in Osaka reads 「3月2日(月) 9:00 (JST)」, one in Ohio "Monday 2 March,
09:00 (JST)". Only the known placeholders are filled: a template is text, not
code, so `{0.__class__}` or a stray brace stays as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Literal

from app.channels.registry import ChannelRegistry
from app.inboxes.calendar import WEEKDAYS, BusinessHours

Language = Literal["en", "ja"]
LANGUAGES: tuple[Language, ...] = ("en", "ja")


class Responder(StrEnum):
    GREETING = "greeting"
    AWAY = "away"
    ACKNOWLEDGEMENT = "acknowledgement"
    REDIRECT = "redirect"


DEFAULTS: dict[Responder, dict[Language, str]] = {
    Responder.GREETING: {
        "en": "Hi {customer_name}! Thanks for getting in touch. "
        "Someone from our team will be with you shortly.",
        "ja": "{customer_name}様、お問い合わせありがとうございます。"
        "担当者がまもなく対応いたします。少々お待ちください。",
    },
    Responder.AWAY: {
        "en": "Thanks for your message. We're away right now and back at {next_open}. "
        "We'll reply by {expected_reply}.",
        "ja": "メッセージありがとうございます。ただいま営業時間外です。"
        "{next_open}から対応いたします。{expected_reply}までにご返信いたします。",
    },
    Responder.ACKNOWLEDGEMENT: {
        "en": "Hello {customer_name},\n\nThank you for your message: we have received it. "
        "We will reply by {expected_reply}.\n\nOur hours: {hours}.\n\n"
        "This is an automatic reply; there is no need to answer it.",
        "ja": "{customer_name}様\n\nお問い合わせを受け付けました。"
        "{expected_reply}までにご返信いたします。\n\n営業時間：{hours}\n\n"
        "このメールは自動送信です。ご返信は不要です。",
    },
    Responder.REDIRECT: {
        "en": "Thank you for your message. We don't answer messages here; "
        "please reach us on one of these channels:\n{channels}",
        "ja": "メッセージありがとうございます。こちらではお問い合わせを受け付けておりません。"
        "お手数ですが、以下の窓口からご連絡ください。\n{channels}",
    },
}
# The redirect's words when no live channel has a public address to name.
REDIRECT_WITHOUT_CHANNELS: dict[Language, str] = {
    "en": "Thank you for your message. We don't answer messages here.",
    "ja": "メッセージありがとうございます。こちらではお問い合わせを受け付けておりません。",
}
# A name to address the customer by when the channel gave none.
NAMELESS: dict[Language, str] = {"en": "there", "ja": "お客"}
ALWAYS_OPEN: dict[Language, str] = {"en": "around the clock", "ja": "24時間受付"}
CLOSED: dict[Language, str] = {"en": "closed for now", "ja": "休業中"}
NOT_SCHEDULED: dict[Language, str] = {"en": "as soon as we can", "ja": "できるだけ早く"}
_DAY_NAMES: dict[Language, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "ja": ("月", "火", "水", "木", "金", "土", "日"),
}
_SHORT_DAYS: dict[Language, tuple[str, ...]] = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "ja": _DAY_NAMES["ja"],
}
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

PLACEHOLDERS = ("customer_name", "next_open", "expected_reply", "channels", "agent_name", "hours")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
# Hiragana, katakana and the common CJK ideographs: a customer who writes in
# them gets the Japanese text when the channel does not say their language.
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def told_language(told: str | None, text: str) -> Language | None:
    """The customer's language as the channel told it (Accept-Language, a
    platform's language_code, a mail's Content-Language or charset), else by
    Japanese script in what they wrote; None when nothing says."""
    tag = (told or "").strip().lower()
    if tag:
        return "ja" if tag.startswith("ja") else "en"
    return "ja" if text and _JAPANESE.search(text) else None


def language_of(told: str | None, text: str, inbox_language: str | None = None) -> Language:
    """The customer's language, falling back to the inbox's, then English."""
    found = told_language(told, text) or told_language(inbox_language, "")
    return found or "en"


def template_for(
    responders: Mapping[str, object] | None, responder: Responder, language: Language
) -> str | None:
    """The inbox's template for the responder, its default, or None when off
    (null, "" or false)."""
    configured = dict(responders or {})
    if responder.value in configured:
        value = configured[responder.value]
        return value if isinstance(value, str) and value.strip() else None
    return DEFAULTS[responder][language]


def render(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), template).strip()


def moment(t: datetime, hours: BusinessHours | None, language: Language) -> str:
    """A moment in the inbox's time zone (UTC without business hours)."""
    local = t.astimezone(hours.timezone) if hours is not None else t
    zone = local.tzname() or ""
    if language == "ja":
        day = _DAY_NAMES["ja"][local.weekday()]
        return f"{local.month}月{local.day}日({day}) {local.hour}:{local.minute:02d} ({zone})"
    day = _DAY_NAMES["en"][local.weekday()]
    return f"{day} {local.day} {_MONTHS[local.month - 1]}, {local:%H:%M} ({zone})"


def hours_summary(hours: BusinessHours | None, language: Language) -> str:
    """The week in one line: "Mon-Fri 09:00-12:00, 13:00-18:00 (Asia/Tokyo)"."""
    if hours is None:
        return ALWAYS_OPEN[language]
    names = _SHORT_DAYS[language]
    groups: list[tuple[int, int, list[tuple[int, int]]]] = []
    for index in range(len(WEEKDAYS)):
        slots = sorted(hours.weekly.get(index, ()))
        if not slots:
            continue
        if groups and groups[-1][1] == index - 1 and groups[-1][2] == slots:
            groups[-1] = (groups[-1][0], index, slots)
        else:
            groups.append((index, index, slots))
    if not groups:
        return CLOSED[language]
    parts = []
    for first, last, slots in groups:
        days = names[first] if first == last else f"{names[first]}-{names[last]}"
        times = ", ".join(f"{_clock(a)}-{_clock(b)}" for a, b in slots)
        parts.append(f"{days} {times}")
    separator = "、" if language == "ja" else "; "
    return f"{separator.join(parts)} ({hours.timezone.key})"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def channel_lines(
    channels: Sequence[tuple[str, str]],
    language: Language,
    registry: ChannelRegistry,
) -> str:
    """One "- Label: address" line per live channel, each named as its adapter
    labels it."""
    return "\n".join(f"- {registry.label(kind, language)}: {address}" for kind, address in channels)
