"""Logging set-up: one handler, JSON or text, and no secret ever written."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

_SECRETS = (
    # ?token=..., &access_token=..., password=... in URLs and forms
    (
        re.compile(
            r"((?:token|access_token|password|secret|key)=)[^&\s\"']+",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
    # Telegram puts the bot token in the path: /bot123456:AA.../sendMessage
    (re.compile(r"(/bot)[^/\s\"']+"), r"\1[redacted]"),
    # Authorization headers quoted in an error
    (re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE), r"\1[redacted]"),
)


def redact(text: str) -> str:
    """Text with every token, password and secret we know the shape of masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Access logs carry `?token=` of WebSocket URLs; they leave here redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str, access_log: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecrets())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = not access_log
    # httpx logs request URLs, and a Telegram URL carries the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
