"""Calling a platform's send API: one pooled client, and the line between a
failure worth retrying and one that never goes through.

Every social adapter posts JSON and reads JSON back. What they share is here:
a transport error or a timeout is retriable (the platform may be down, or
slow), and so are 429 and 5xx, after the platform's Retry-After when it gave
one. What a 4xx means differs per platform, so each adapter decides that.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.channels.base import ChannelRetriableError
from app.kit.clock import clock

# A send that takes longer than this is treated as failed and retried; the
# platforms answer in well under a second when they are well.
SEND_TIMEOUT_SECONDS = 10.0
# The longest Retry-After we honour as given; a longer one falls back to the
# worker's backoff, so one bad header cannot park a reply for a day.
MAX_RETRY_AFTER_SECONDS = 3600.0


class PlatformClient:
    """An httpx client made on first use, inside the running event loop."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self._http: httpx.AsyncClient | None = None

    async def post(
        self,
        url: str,
        payload: dict[str, Any],
        *,
        what: str,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Posts JSON; raises ChannelRetriableError for a transport failure, a
        429 or a 5xx. `what` names the call in errors: never the URL, which may
        carry a token (Telegram's is in the path)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS)
        try:
            response = await self._http.post(url, json=payload, headers=headers)
        except httpx.TransportError as exc:
            raise ChannelRetriableError(
                f"{self.platform} {what}: {exc.__class__.__name__}"
            ) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ChannelRetriableError(
                f"{self.platform} {what}: {response.status_code} {reason_text(response)}".rstrip(),
                retry_after(response, _body_hint(response)),
            )
        return response


def _body_hint(response: httpx.Response) -> object:
    # Telegram says when in the body: {"parameters": {"retry_after": 5}}.
    parameters = json_body(response).get("parameters")
    return parameters.get("retry_after") if isinstance(parameters, dict) else None


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The answer as a JSON object, or {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def reason_text(response: httpx.Response) -> str:
    """The platform's own words for a failure, whatever shape it uses."""
    body = json_body(response)
    error = body.get("error")
    if isinstance(error, dict):  # Graph API
        message = str(error.get("message") or "")
        code = error.get("code")
        subcode = error.get("error_subcode")
        tags = ", ".join(
            f"{name} {value}" for name, value in (("code", code), ("subcode", subcode)) if value
        )
        return f"{message} ({tags})" if tags else message
    for key in ("description", "message"):  # Telegram, LINE
        if isinstance(body.get(key), str):
            return str(body[key])
    return response.reason_phrase or ""


def retry_after(response: httpx.Response, hint: object = None) -> float | None:
    """Seconds to wait, from the Retry-After header (seconds or an HTTP date)
    or a hint from the body (Telegram's parameters.retry_after)."""
    candidates: list[object] = [response.headers.get("retry-after"), hint]
    for value in candidates:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds if seconds <= MAX_RETRY_AFTER_SECONDS else None
    return None


def _seconds(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - clock.now()).total_seconds())
