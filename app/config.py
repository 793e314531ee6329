"""One Settings object for every MADOGUCHI_* environment variable."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError
from sqlalchemy.engine import make_url

from app.kit.data_dir import ensure_private_dir, prepare_sqlite_file


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MADOGUCHI_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    secret_key: str | None = None
    public_url: str | None = None
    smtp_relay: str | None = None
    # Set: `GET /metrics` answers only `Authorization: Bearer <token>` (the
    # counters say how busy the desk is); unset, anyone who reaches it reads
    # them, so keep it behind the proxy (docs/security.md).
    metrics_token: str | None = None
    # False: no `/demo` page (it embeds the first web inbox's widget).
    demo_page: bool = True

    # The email channel (docs/channels.md, docs/operations.md). The listener
    # binds `smtp_host` (default: `serve --host`); 0 turns it off.
    smtp_port: int = Field(default=2525, ge=0, le=65535)
    smtp_host: str | None = None
    # The listener's largest mail, announced in EHLO as SIZE; larger is
    # refused with 552, which the sender sees as a bounce. 10 MiB is just over
    # Postfix's default (10,240,000), so mail an MTA in front relays passes;
    # it also bounds memory: each open session may hold one mail.
    smtp_max_message_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Sessions open at once, all told and per client (an IPv4 address or an
    # IPv6 /64), and new sessions a minute per client: past one, 421 (the
    # sender retries later). 200 sessions of 10 MiB bound the buffered mail
    # at 2 GiB; an MTA delivering a queue opens a few. 0 turns one off.
    smtp_max_sessions: int = Field(default=200, ge=0)
    smtp_max_sessions_per_ip: int = Field(default=20, ge=0)
    smtp_connections_per_ip_per_minute: int = Field(default=60, ge=0)
    # Relays in front of the listener (addresses or networks, comma-separated),
    # e.g. an MTA on the same host through which all mail comes from one
    # address: held to smtp_max_sessions only. Loopback by default: whatever
    # connects from this host (the local MTA, a TCP proxy) speaks for many
    # senders, and a per-client cap on it would let one of them starve the rest.
    smtp_trusted_relays: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1"]
    )
    # IMAP mailboxes: 25 MB is what Gmail and Microsoft 365 accept, and a mail
    # the mailbox already holds is skipped, not bounced, past it.
    email_max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    # Attachments above this are kept in the raw mail only, not as downloads.
    email_max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    # IMAP mailboxes: how often a server without IDLE is polled, and how often
    # the inboxes are re-read to start readers for new or changed mailboxes.
    imap_poll_seconds: float = Field(default=60, gt=0)
    imap_rescan_seconds: float = Field(default=15, gt=0)
    # Off in all but one process of `serve --workers N` (one reader per mailbox).
    imap_readers: bool = True
    # An inbox's IMAP host must resolve to public addresses only (no loopback,
    # private, link-local or metadata address: an admin's config must not reach
    # the services beside us). Exempt: these host names, addresses or networks
    # (CIDR), comma-separated, for a mail server inside the network.
    imap_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Mail senders are authenticated (SPF, DKIM, DMARC) by the listener itself;
    # an upstream Authentication-Results header is believed only from these
    # authserv-ids (the MX in front of the listener, an IMAP mailbox's
    # provider), comma-separated. docs/operations.md.
    trusted_authserv_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # The DNS those checks read: `module:Class` of another resolver, else the
    # system's. Each lookup gives up after the timeout (a temperror: the mail
    # is kept, its sender unverified).
    dns_resolver: str | None = None
    dns_timeout_seconds: float = Field(default=5, gt=0, le=60)

    telegram_api_base: str = "https://api.telegram.org"
    line_api_base: str = "https://api.line.me"
    graph_api_base: str = "https://graph.facebook.com/v21.0"

    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "NORMAL"

    # Per-minute limits; 0 turns one off.
    rate_widget_sessions: int = Field(default=30, ge=0)
    rate_widget_messages: int = Field(default=120, ge=0)
    rate_login: int = Field(default=10, ge=0)
    # The `serve` processes that share one Redis (`serve --workers N` sets it
    # for its own): while Redis is unreachable each holds a client to its
    # share (1/N) of every rate_* limit, so together they allow about one.
    server_processes: int = Field(default=1, ge=1)
    # Typing and read frames per widget session: each costs a database round trip.
    rate_widget_signals: int = Field(default=120, ge=0)
    # Resume frames per widget session: each replays a conversation's history.
    # A page sends one per socket it opens, so tabs and reconnects stay far below.
    rate_widget_resumes: int = Field(default=30, ge=0)
    # What the widget's anonymous uploads may add to the database per client
    # address and hour (IPv6 counted by /64); 0 turns it off. 20 files of the
    # largest size: far above a chat's needs, far below a disk filling up.
    widget_upload_bytes_per_ip_per_hour: int = Field(default=200 * 1024 * 1024, ge=0)
    # Open widget sockets per widget session, in each process: a tab each.
    widget_max_sockets_per_session: int = Field(default=10, ge=0)

    presence_grace_seconds: float = Field(default=30, ge=0)
    # With Redis: how often a process says it and its agents are still here.
    # A dead process's agents go offline a grace period and two heartbeats
    # later; the other processes resync their sockets four to six beats later.
    presence_heartbeat_seconds: float = Field(default=5, gt=0)
    ws_max_frame_bytes: int = Field(default=64 * 1024, ge=1024)
    ws_compression: bool = False
    # A socket that cannot drain this many frames is too slow: closed with 1013.
    ws_max_queued_frames: int = Field(default=1000, ge=16)
    max_message_chars: int = Field(default=16_000, ge=1)
    # Every HTTP request body; the largest legitimate one (a 16,000-character
    # reply, JSON-escaped) is well under 200 KiB.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A file a customer or an agent uploads into a chat (the one body allowed
    # past max_body_bytes); larger is refused with 413.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # A widget customer who left gets an agent's unread reply by email after
    # this long (0 turns it off); the signed chat link in redirect answers lives
    # this many hours.
    widget_email_follow_up_seconds: float = Field(default=300, ge=0)
    chat_link_hours: float = Field(default=72, gt=0)
    # A widget session not resumed and no socket opened with it for this many
    # days is dead (401; a resume with it opens a new session). A resume with a
    # token older than the rotation age gets a new token for the same session;
    # the old one keeps working for the overlap, while the page's other tabs
    # and sockets switch over.
    widget_session_idle_days: float = Field(default=30, gt=0)
    widget_session_rotate_hours: float = Field(default=24, gt=0)
    widget_session_overlap_seconds: float = Field(default=600, ge=0)
    # What a web inbox promises when no business hours say otherwise.
    default_expected_reply_seconds: int = Field(default=300, ge=0)
    # Responders: at most one automatic reply of each kind per conversation
    # within this window, and none while an agent replied this recently.
    auto_reply_window_seconds: int = Field(default=24 * 3600, ge=1)
    auto_reply_agent_quiet_seconds: int = Field(default=300, ge=0)

    # How often the worker looks for jobs that fell due; committed jobs wake it at once.
    worker_poll_seconds: float = Field(default=1.0, gt=0)

    # Extra channel adapters, `module:Class` separated by commas (docs/channels.md).
    channel_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True

    @field_validator(
        "channel_plugins",
        "trusted_authserv_ids",
        "smtp_trusted_relays",
        "imap_allowed_hosts",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'madoguchi.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url().startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        """The SQLite database's file; None for PostgreSQL or an in-memory one."""
        if not self.is_sqlite:
            return None
        database = make_url(self.resolved_database_url()).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database)

    def prepare_sqlite(self) -> None:
        """The data dir and the SQLite file, private (app/kit/data_dir.py);
        nothing for PostgreSQL."""
        if not self.is_sqlite:
            return
        ensure_private_dir(self.data_dir)
        path = self.sqlite_path()
        if path is not None:
            prepare_sqlite_file(path)


ENV_PREFIX = "MADOGUCHI_"
# Never echoed back in an error: they may hold a password or a token.
_SECRET_WORDS = ("secret", "token", "password", "url", "relay")


class SettingsInvalid(Exception):
    """Settings that do not validate, one readable line per problem: an
    operator reads them on a terminal, not pydantic's report."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_settings(
    overrides: Mapping[str, Any] | None = None, options: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the environment and `overrides` (command-line values);
    `options` names the option each override came from (`smtp_port` ->
    `--smtp-port`), so an error points at what the operator typed."""
    overrides = dict(overrides or {})
    options = options or {}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            if field in overrides and field in options:
                where = f"option {options[field]}"
            else:
                where = f"setting {ENV_PREFIX}{field.upper()}"
            line = f"{where}: {_problem(error)}"
            if not any(word in field for word in _SECRET_WORDS):
                line += f" (got {error['input']})"
            lines.append(line)
        raise SettingsInvalid(lines) from None
    except SourceError as exc:
        # pydantic-settings' own words name the field and the source.
        raise SettingsInvalid([str(exc).splitlines()[0]]) from None


def _problem(error: Any) -> str:
    ctx = error.get("ctx") or {}
    match error["type"]:
        case "less_than_equal":
            return f"must be at most {ctx['le']}"
        case "less_than":
            return f"must be less than {ctx['lt']}"
        case "greater_than_equal":
            return f"must be at least {ctx['ge']}"
        case "greater_than":
            return f"must be more than {ctx['gt']}"
        case "int_parsing" | "int_from_float" | "int_type":
            return "must be a whole number"
        case "float_parsing" | "float_type":
            return "must be a number"
        case "bool_parsing" | "bool_type":
            return "must be true or false (1/0, yes/no, on/off)"
        case "literal_error":
            return f"must be {ctx['expected']}"
    message = str(error["msg"]).splitlines()[0]
    message = message.removeprefix("Value error, ").removeprefix("Input should be ")
    return message[:1].lower() + message[1:]


@lru_cache
def get_settings() -> Settings:
    return Settings()
