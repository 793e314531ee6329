"""The customer's context: the page their widget is on, their browser, language
and time zone, kept on the customer (the latest only) for the agents who may
see their conversations.

The widget reports it with a `context` frame on each page it opens; the
server names the browser from the socket's User-Agent and adds when it was
seen. A socket stores at most one change per CONTEXT_STORE_SECONDS: a
shopper clicking through a catalogue sends a frame a page, and the agent
needs the page they are on, not each one they passed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from app.contacts import repository as customers_repo
from app.conversations.publishing import conversation_changed
from app.db import Database
from app.kit.text import check_storable

log = logging.getLogger(__name__)

PAGE_URL_MAX_LENGTH = 2000
PAGE_TITLE_MAX_LENGTH = 300
# BCP 47's longest well-formed tags fit in 35 characters (RFC 5646 §4.4.1).
LANGUAGE_MAX_LENGTH = 35
TIME_ZONE_MAX_LENGTH = 64
# A socket's changes are stored at most this often; the latest one in
# between waits for the interval's end, or for the socket's close.
CONTEXT_STORE_SECONDS = 5.0
# An unchanged context is stored again after this long, so `seen_at` says
# the customer is still there without a write for each page view.
CONTEXT_REFRESH_SECONDS = 300.0
# A User-Agent header longer than this names no browser we know of.
_USER_AGENT_MAX_LENGTH = 512

_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


class ContextRefused(ValueError):
    """A field of the frame is not text that may be stored (not a string, a NUL)."""


def _text(frame: dict[str, Any], key: str) -> str | None:
    value = frame.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContextRefused(f'"{key}" must be a string')
    try:
        value = check_storable(value).strip()
    except ValueError as exc:
        raise ContextRefused(f'"{key}": {exc}') from exc
    return value or None


@functools.cache
def _zones() -> frozenset[str]:
    # Read once: a lookup by name would touch the file system on each frame.
    return frozenset(zoneinfo.available_timezones())


def check_context(frame: dict[str, Any]) -> dict[str, str]:
    """The fields of a `context` frame worth keeping. A field that is not text
    refuses the frame (ContextRefused); one that names nothing usable (a
    `javascript:` URL, an unknown zone) is dropped."""
    url, title = _text(frame, "page_url"), _text(frame, "page_title")
    language, zone = _text(frame, "language"), _text(frame, "time_zone")
    context: dict[str, str] = {}
    if url is not None and len(url) <= PAGE_URL_MAX_LENGTH:
        parts = urlsplit(url)
        if parts.scheme.lower() in ("http", "https") and parts.netloc:
            context["page_url"] = url
    if title is not None:
        context["page_title"] = title[:PAGE_TITLE_MAX_LENGTH]
    if (
        language is not None
        and len(language) <= LANGUAGE_MAX_LENGTH
        and _LANGUAGE.fullmatch(language)
    ):
        context["language"] = language
    if zone is not None and len(zone) <= TIME_ZONE_MAX_LENGTH and zone in _zones():
        context["time_zone"] = zone
    return context


_BROWSERS = (
    # Most specific first: Edge, Opera and Samsung's browser say "Chrome" too,
    # and every browser on iOS says "Safari".
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Opera", re.compile(r"\bOPR/(\d+)")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:HeadlessChrome|Chrome|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/")),
)
_SYSTEMS = (
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def browser_name(user_agent: str | None) -> str | None:
    """A short name an agent reads at a glance: "Chrome 131 on macOS". None
    for a User-Agent that names no browser known here."""
    if not user_agent or len(user_agent) > _USER_AGENT_MAX_LENGTH:
        return None
    name = None
    for browser, pattern in _BROWSERS:
        match = pattern.search(user_agent)
        if match is not None:
            name = f"{browser} {match.group(1)}"
            break
    system = next((s for s, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if name is None:
        return None
    return f"{name} on {system}" if system else name


async def store_context(db: Database, customer_id: int, context: dict[str, str]) -> None:
    """Keeps the context on the customer, and tells the agents of their open
    conversations (`conversation.updated`). An erased customer keeps none."""
    async with db.write() as session:
        customer = await customers_repo.get(session, customer_id)
        if customer is None or customer.erased_at is not None:
            return
        customer.last_context = dict(context)
        for conversation_id in await customers_repo.open_conversation_ids(session, customer_id):
            await conversation_changed(session, "updated", conversation_id)


@dataclass(slots=True)
class ContextKeeper:
    """One widget socket's context, stored at most once per CONTEXT_STORE_SECONDS.
    Made on the socket's first `context` frame: an idle socket holds none."""

    db: Database
    customer_id: int
    browser: str | None
    # The fields last stored (without `seen_at`), and when, by the loop's clock.
    stored: dict[str, str] | None = None
    stored_at: float = float("-inf")
    # A change waiting for the interval's end, and the task that stores it.
    waiting: dict[str, str] | None = None
    _later: asyncio.Task[None] | None = field(default=None, repr=False)

    async def offer(self, fields: dict[str, str], seen_at: datetime) -> None:
        context = {**fields, **({"browser": self.browser} if self.browser else {})}
        now = asyncio.get_running_loop().time()
        if context == self.stored and now - self.stored_at < CONTEXT_REFRESH_SECONDS:
            self.waiting = None
            return
        stamped = {**context, "seen_at": seen_at.isoformat()}
        if self._later is None and now - self.stored_at >= CONTEXT_STORE_SECONDS:
            await self._store(stamped)
            return
        self.waiting = stamped
        if self._later is None:
            delay = CONTEXT_STORE_SECONDS - (now - self.stored_at)
            self._later = asyncio.create_task(self._store_later(delay))

    async def close(self) -> None:
        """The socket closed: a change still waiting is stored now."""
        if self._later is not None:
            self._later.cancel()
            self._later = None
        if self.waiting is not None:
            try:
                await self._store(self.waiting)
            except Exception:
                log.exception("customer context not stored")

    async def _store_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._later = None
        if self.waiting is not None:
            try:
                await self._store(self.waiting)
            except Exception:
                log.exception("customer context not stored")

    async def _store(self, stamped: dict[str, str]) -> None:
        self.waiting = None
        self.stored = {k: v for k, v in stamped.items() if k != "seen_at"}
        self.stored_at = asyncio.get_running_loop().time()
        await store_context(self.db, self.customer_id, stamped)
