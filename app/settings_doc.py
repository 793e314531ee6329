"""docs/settings.md, generated from app/config.py: every MADOGUCHI_* setting in one table.

    python -m app.settings_doc            # rewrites docs/settings.md
    python -m app.settings_doc --check    # exit 1 if docs/settings.md is stale

What a setting does comes from its `Field(description=...)` in app/config.py
when it has one, else from DESCRIPTIONS below; the type, the default and the
bounds always come from the field itself, so they cannot drift.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from app.config import Settings

REGENERATE = "python -m app.settings_doc"
DOC = Path("docs") / "settings.md"

# What each setting does, for fields whose Field() carries no description.
DESCRIPTIONS: dict[str, str] = {
    "data_dir": "where the SQLite file (`madoguchi.db`) and the generated secret key live; "
    "`--data-dir` wins over it",
    "database_url": "`postgresql+asyncpg://user:password@host:5432/db` moves the store to "
    "PostgreSQL; every command (`serve`, `migrate`, `create-admin`, `agents`) reads it",
    "redis_url": "`redis://host:6379/0`: events, presence and rate limits shared between "
    "processes; `serve --workers N` needs it (docs/operations.md)",
    "secret_key": "signs chat links; set the same key on every machine that serves "
    "(docs/security.md)",
    "public_url": "the public origin (`https://chat.example.com`) behind a proxy: the console "
    "socket's origin check and the links in redirect answers",
    "smtp_relay": "outbound mail: `smtp://…` or `smtps://…` (docs/operations.md, "
    '"Email"); unset, email replies wait, retried, until it is set',
    "metrics_token": "set: `GET /metrics` answers only `Authorization: Bearer <token>` "
    "(else 401); unset: anyone who reaches it",
    "demo_page": "0: no `/demo` page (404); it embeds the first web inbox's widget",
    "smtp_port": "the inbound SMTP listener (`serve --smtp-port` wins); 0 turns it off",
    "smtp_host": "the address the SMTP listener binds",
    "smtp_max_message_bytes": "the largest mail the SMTP listener takes (announced as EHLO "
    "`SIZE`; larger, or one line that never ends, is refused with 552). Just above Postfix's "
    "default, so what an MTA in front relays passes",
    "smtp_max_sessions": "SMTP sessions open at once in all; past it 421 (0: off)",
    "smtp_max_sessions_per_ip": "SMTP sessions open at once per client (IPv4 address, "
    "IPv6 /64); past it 421 (0: off)",
    "smtp_connections_per_ip_per_minute": "new SMTP sessions per client per minute; past it "
    "421 (0: off)",
    "smtp_trusted_relays": "MTAs or proxies in front of the listener (addresses or networks, "
    "comma-separated): exempt from the per-client cap and rate, not the global one. The list "
    "replaces the default: add your MX if it is on another host, and keep `127.0.0.0/8,::1` "
    "where a local MTA delivers too",
    "email_max_message_bytes": "IMAP only: a larger mail in a mailbox is skipped, not bounced",
    "email_max_attachment_bytes": "larger mail attachments stay in the raw mail only, not "
    "downloadable alone",
    "imap_poll_seconds": "how often a mailbox whose server has no IDLE is polled",
    "imap_rescan_seconds": "how soon a new or changed IMAP inbox gets its reader",
    "imap_readers": "0: this process reads no IMAP mailbox (all but one machine of a "
    "scaled-out setup; `serve --workers N` sets it for its own)",
    "imap_allowed_hosts": "host names, addresses or networks an IMAP inbox may use although "
    "they are not public (a mail server inside the network), comma-separated; every other "
    "IMAP host must resolve to public addresses only",
    "trusted_authserv_ids": "authserv-ids whose `Authentication-Results` header is believed "
    "(the MX in front, an IMAP provider such as `mx.google.com`), comma-separated",
    "dns_resolver": "`module:Class` of another resolver for the SPF, DKIM and DMARC lookups "
    "(tests); unset: the system's (/etc/resolv.conf)",
    "dns_timeout_seconds": "each DNS lookup of the mail checks (SPF, DKIM, DMARC); no answer "
    "in time: the sender is unverified, the mail kept",
    "telegram_api_base": "where Telegram sends go (a test double or a proxy)",
    "line_api_base": "where LINE sends go",
    "graph_api_base": "where Messenger, Instagram and WhatsApp sends go",
    "sqlite_synchronous": "SQLite's `synchronous`: `NORMAL` loses nothing acked when the "
    "process dies; `FULL` also survives power loss, at an fsync per group commit",
    "rate_widget_sessions": "new widget sessions per client address per minute (0: off)",
    "rate_widget_messages": "messages per widget session per minute (0: off)",
    "rate_login": "login attempts per client (IPv4 address, IPv6 /64) and per account per "
    "minute, counted before the hash runs and given back for a right password (0: off)",
    "server_processes": "how many `serve` processes share one Redis: while it is unreachable "
    "each holds a client to 1/N of every rate limit (`serve --workers N` sets it for its own "
    "processes; set the total when several machines share a Redis)",
    "rate_widget_signals": "typing, read and `csat` frames per widget session per minute (0: off)",
    "rate_widget_resumes": "`resume` frames per widget session per minute (each replays "
    "history); past it an "
    "`error` frame `rate_limited` (0: off)",
    "widget_upload_bytes_per_ip_per_hour": "bytes of widget uploads per client (IPv4 "
    "address, IPv6 /64) per hour, shared through Redis; past it 429 with `Retry-After` before "
    "anything is stored (0: off). Keep it above "
    "`MADOGUCHI_ATTACHMENT_MAX_BYTES`",
    "widget_max_sockets_per_session": "open widget sockets per session in each process; past "
    "it the new socket is closed with 1013 (0: off)",
    "presence_grace_seconds": "how long an agent stays online after their last socket closes",
    "presence_heartbeat_seconds": "with Redis: how often a process says it and its agents are "
    "still there; a dead process is noticed four to six beats later",
    "ws_max_frame_bytes": "larger WebSocket frames close the socket with 1009",
    "ws_compression": "permessage-deflate on WebSockets; about 36 KiB more per idle socket",
    "ws_max_queued_frames": "a socket further behind than this is closed with 1013 and "
    "resumes by seq",
    "max_message_chars": "the longest message body",
    "max_body_bytes": "larger HTTP request bodies are refused with 413 (uploads excepted)",
    "attachment_max_bytes": "a larger file uploaded into a chat (widget or console) is refused "
    "with 413; files are stored in the database, with their message",
    "widget_email_follow_up_seconds": "a widget customer who left gets an agent's unread reply "
    "by email after this long (0: off)",
    "chat_link_hours": "how long the signed chat link in redirect answers works",
    "widget_session_idle_days": "a widget session neither resumed nor opened by a socket for "
    "this long is dead (401; a resume opens a new one)",
    "widget_session_rotate_hours": "a resume with a token older than this gets a new token for "
    "the same session",
    "widget_session_overlap_seconds": "how long a replaced widget token keeps working, so "
    "other tabs switch over",
    "default_expected_reply_seconds": "how soon an agent with room answers a new conversation: "
    "the reply time promised when nobody is waiting and no business hours say otherwise "
    "(docs/responders.md)",
    "auto_reply_window_seconds": "at most one automatic reply of each kind per conversation in "
    "this window",
    "auto_reply_agent_quiet_seconds": "no automatic reply this soon after an agent's reply",
    "worker_poll_seconds": "how often the worker looks for jobs falling due; committed jobs "
    "wake it at once",
    "channel_plugins": "extra channel adapters, `module:Class`, comma-separated (docs/channels.md)",
    "log_level": "`debug`, `info`, `warning` or `error`",
    "log_format": "`json`: one object per line",
    "access_log": "the HTTP access log on or off; `?token=` is always redacted",
}

# Defaults that are None in the model but mean something.
UNSET_MEANS: dict[str, str] = {
    "database_url": "SQLite in the data dir",
    "secret_key": "a random key kept in the data dir",
    "smtp_host": "`serve --host`",
}


@dataclass(frozen=True)
class SettingRow:
    name: str
    env: str
    type: str
    default: str
    description: str | None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return " | ".join(_type_name(a) for a in rest)
    if origin is Literal:
        return " | ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type_name(args[0])} (comma-separated)"
    names = {str: "text", int: "integer", float: "number", bool: "bool", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        if isinstance(meta, annotated_types.Ge):
            parts.append(f"≥ {meta.ge}")
        elif isinstance(meta, annotated_types.Gt):
            parts.append(f"> {meta.gt}")
        elif isinstance(meta, annotated_types.Le):
            parts.append(f"≤ {meta.le}")
        elif isinstance(meta, annotated_types.Lt):
            parts.append(f"< {meta.lt}")
    return ", ".join(parts)


def _size(value: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale and value % scale == 0:
            return f" ({value // scale} {unit})"
    return ""


def _default(name: str, field: FieldInfo) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return UNSET_MEANS.get(name, "unset")
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, list):
        return f"`{','.join(map(str, value))}`" if value else "empty"
    if isinstance(value, Path) and not value.is_absolute():
        return f"`./{value}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = f"`{value}`"
    if isinstance(value, int) and "_bytes" in name:
        text += _size(value)
    return text


def rows(settings: type[Settings] = Settings) -> list[SettingRow]:
    prefix = settings.model_config.get("env_prefix", "")
    out = []
    for name, field in settings.model_fields.items():
        kind = _type_name(field.annotation)
        bounds = _bounds(field)
        out.append(
            SettingRow(
                name=name,
                env=f"{prefix}{name}".upper(),
                type=f"{kind}, {bounds}" if bounds else kind,
                default=_default(name, field),
                description=field.description or DESCRIPTIONS.get(name),
            )
        )
    return out


def undocumented(settings: type[Settings] = Settings) -> list[str]:
    """Settings with neither a Field description nor an entry in DESCRIPTIONS."""
    return [row.env for row in rows(settings) if not row.description]


def render(settings: type[Settings] = Settings) -> str:
    lines = [
        "# Settings",
        "",
        f"<!-- Generated from app/config.py by `{REGENERATE}`; do not edit by hand. -->",
        "",
        "Every setting is an environment variable read by every `madoguchi` command",
        "(`serve`, `migrate`, `create-admin`, `agents`). Booleans take `1`/`0` or",
        "`true`/`false`; lists are comma-separated. `madoguchi serve --data-dir`,",
        "`--smtp-port` and `--host` win over `MADOGUCHI_DATA_DIR`, `MADOGUCHI_SMTP_PORT`",
        "and the SMTP host's default. How the settings fit together:",
        "[operations.md](operations.md); what to set before going live:",
        "[security.md](security.md).",
        "",
        "| variable | type | default | what it does |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows(settings):
        cells = [f"`{row.env}`", row.type, row.default, row.description or "*(not described)*"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.settings_doc", description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DOC)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
        if current != text:
            print(f"{args.path} is stale: run `{REGENERATE}`", file=sys.stderr)  # noqa: T201
            return 1
        return 0
    args.path.write_text(text, encoding="utf-8")
    missing = undocumented()
    if missing:
        print(f"not yet described: {', '.join(missing)}", file=sys.stderr)  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
