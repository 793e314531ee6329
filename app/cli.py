"""madoguchi serve | migrate | create-admin | agents"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import Settings, SettingsInvalid, load_settings

if TYPE_CHECKING:
    from app.db import Database

log = logging.getLogger("madoguchi")

# The version a source checkout reports when the package is not installed.
FALLBACK_VERSION = "0.1.0"
# The command-line option behind each setting it overrides, for errors.
_OPTIONS = {"data_dir": "--data-dir", "smtp_port": "--smtp-port"}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("madoguchi")
    except PackageNotFoundError:
        return FALLBACK_VERSION


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    settings = load_settings(overrides, _OPTIONS)
    try:
        settings.prepare_sqlite()
    except OSError as exc:
        where = exc.filename or settings.data_dir
        raise SettingsInvalid([f"data dir {where}: {exc.strerror or exc}"]) from None
    return settings


def _serve(args: argparse.Namespace) -> int:
    from app.kit.serve_lock import ServeLocked, hold_serve_lock, lock_path

    # --smtp-port wins over MADOGUCHI_SMTP_PORT.
    settings = _settings(args, smtp_port=args.smtp_port)
    if args.workers > 1:
        return _serve_workers(args, settings)
    # The listener binds --host unless MADOGUCHI_SMTP_HOST names another address.
    settings = settings.model_copy(
        update={
            "smtp_host": settings.smtp_host or args.host,
            "imap_readers": settings.imap_readers and not args.no_imap,
        }
    )
    database = settings.sqlite_path()
    lock: int | None = None
    if database is not None:
        try:
            lock = hold_serve_lock(database)
        except ServeLocked as exc:
            hint = "stop it first, or give this one its own --data-dir"
            print(f"error: {exc}; {hint}", file=sys.stderr)  # noqa: T201
            return 1
        except OSError as exc:
            print(f"error: cannot lock {lock_path(database)}: {exc.strerror}", file=sys.stderr)  # noqa: T201
            return 1
    try:
        return _run_server(args, settings)
    finally:
        if lock is not None:
            os.close(lock)


def _run_server(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.kit.logs import configure_logging
    from app.main import create_app
    from app.migrate import upgrade_to_head
    from app.realtime.ws_protocol import DirectSendProtocol

    configure_logging(settings.log_level, settings.log_format, settings.access_log)
    upgrade_to_head(settings)
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=settings.access_log,
        # uvicorn's sans-I/O protocol, plus a direct send for the hub.
        ws=DirectSendProtocol,
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        # Idle widgets are the common case: ping rarely, drop dead peers.
        ws_ping_interval=30,
        ws_ping_timeout=30,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    server = uvicorn.Server(config)
    if args.reuse_port:
        # One of `serve --workers N`'s processes: every one binds the same
        # port and the kernel spreads new connections over them.
        server.run(sockets=[_reuse_port_socket(args.host, args.port)])
    else:
        server.run()
    return 0


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """N processes on one port (SO_REUSEPORT), each a whole `serve`; this one
    migrates, starts them, restarts any that dies and stops them all on
    SIGTERM or SIGINT. Only the first runs the SMTP listener and the IMAP
    readers: one port can be bound once without SO_REUSEPORT, and a mailbox
    needs one reader. No serve lock: it runs on PostgreSQL only."""
    from app.migrate import upgrade_to_head

    if settings.is_sqlite:
        print(  # noqa: T201
            "error: --workers needs PostgreSQL (MADOGUCHI_DATABASE_URL=postgresql+asyncpg://...): "
            "SQLite has one writer, so one process serves it best",
            file=sys.stderr,
        )
        return 2
    if not settings.redis_url:
        print(  # noqa: T201
            "error: --workers needs Redis (MADOGUCHI_REDIS_URL=redis://...): without it each "
            "process would see only its own sockets, presence and rate limits",
            file=sys.stderr,
        )
        return 2
    if not hasattr(socket, "SO_REUSEPORT"):
        print("error: --workers needs SO_REUSEPORT (Linux, BSD, macOS)", file=sys.stderr)  # noqa: T201
        return 2
    upgrade_to_head(settings)

    def command(index: int) -> list[str]:
        cmd = [sys.executable, "-m", "app.cli", "serve", "--host", args.host]
        cmd += ["--port", str(args.port), "--reuse-port"]
        if args.data_dir is not None:
            cmd += ["--data-dir", str(args.data_dir)]
        if index > 0:
            cmd += ["--smtp-port", "0", "--no-imap"]
        elif args.smtp_port is not None:
            cmd += ["--smtp-port", str(args.smtp_port)]
        return cmd

    def spawn(index: int) -> subprocess.Popen[bytes]:
        # Our own interpreter and arguments, no shell. Each learns how many
        # share its Redis: its share of a limit while Redis is down.
        processes = max(settings.server_processes, args.workers)
        env = {**os.environ, "MADOGUCHI_SERVER_PROCESSES": str(processes)}
        return subprocess.Popen(command(index), env=env)  # noqa: S603

    children = {i: spawn(i) for i in range(args.workers)}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        time.sleep(0.5)
        for index, child in list(children.items()):
            if child.poll() is not None and not stopping:
                log.warning("worker %s exited with %s: starting it again", index, child.returncode)
                children[index] = spawn(index)
    for child in children.values():
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from app.migrate import upgrade_to_head

    upgrade_to_head(_settings(args))
    print("database is at the latest migration")  # noqa: T201
    return 0


def _create_admin(args: argparse.Namespace) -> int:
    """Creates an admin. With --if-missing an admin of that email already
    there is success (a setup script may run twice); an agent of that email
    who is not an admin is not what the script asked for: an error."""
    from pydantic import ValidationError

    from app.agents import service as agents_service
    from app.agents.schemas import AgentCreate
    from app.auth.roles import Role
    from app.db import Database
    from app.errors import Conflict
    from app.events.bus import MemoryBus
    from app.kit.email_address import normalise_email
    from app.migrate import upgrade_to_head

    settings = _settings(args)
    try:
        normalise_email(args.email)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    upgrade_to_head(settings)
    if args.if_missing:
        existing = asyncio.run(_existing_agent(settings, args.email))
        if existing is not None:
            return _report_existing(*existing)
    password = _password(args.password, ADMIN_PASSWORD_ENV, f"Password for {args.email}: ")
    if password is None:
        return 1
    try:
        data = AgentCreate(
            email=args.email,
            name=args.name or args.email.split("@")[0],
            password=password,
            role=Role.ADMIN,
            capacity=10,
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        print(f"error: {problems}", file=sys.stderr)  # noqa: T201
        return 1

    async def create() -> int:
        db = Database(settings, MemoryBus())
        try:
            agent = await agents_service.create_agent(db, data)
            print(f"created admin {agent.email} (id {agent.id})")  # noqa: T201
            return 0
        except Conflict as exc:
            if args.if_missing:
                # Another command created it after our look.
                existing = await _find_agent(db, args.email)
                if existing is not None:
                    return _report_existing(*existing)
            print(f"error: {exc.detail}", file=sys.stderr)  # noqa: T201
            return 1
        finally:
            await db.dispose()

    return asyncio.run(create())


async def _existing_agent(settings: Settings, email: str) -> tuple[str, str, bool] | None:
    from app.db import Database
    from app.events.bus import MemoryBus

    db = Database(settings, MemoryBus())
    try:
        return await _find_agent(db, email)
    finally:
        await db.dispose()


async def _find_agent(db: Database, email: str) -> tuple[str, str, bool] | None:
    """(email, role, active) of the agent with this email, if any."""
    from app.agents import repository as agents_repo

    async with db.read() as session:
        agent = await agents_repo.get_by_email(session, email.strip())
        if agent is None:
            return None
        return agent.email, str(agent.role), agent.is_active


def _report_existing(email: str, role: str, active: bool) -> int:
    if role != "admin":
        print(  # noqa: T201
            f"error: {email} exists as {role}, not admin; nothing changed "
            "(an admin can change the role in the console)",
            file=sys.stderr,
        )
        return 1
    print(f"admin {email} exists; nothing changed")  # noqa: T201
    if not active:
        print(  # noqa: T201
            f"note: {email} is deactivated; `madoguchi agents activate {email}` lets them sign in",
            file=sys.stderr,
        )
    return 0


def _agents(args: argparse.Namespace) -> int:
    """`madoguchi agents list|deactivate|activate|reset-password`, on the
    database directly. The server needs no telling: tokens answer 401 at
    once, and its agent sockets close within a few seconds
    (app/realtime/agent_sessions.py)."""
    from app.migrate import upgrade_to_head

    settings = _settings(args)
    upgrade_to_head(settings)
    password = None
    if args.action == "reset-password":
        password = _new_password(args.password)
        if password is None:
            return 1
    return asyncio.run(_agents_action(settings, args.action, args.agent, password))


# The names of the variables the passwords may come in, not passwords.
ADMIN_PASSWORD_ENV = "MADOGUCHI_ADMIN_PASSWORD"  # noqa: S105
NEW_PASSWORD_ENV = "MADOGUCHI_NEW_PASSWORD"  # noqa: S105


def _new_password(given: str | None) -> str | None:
    """From --password, else MADOGUCHI_NEW_PASSWORD, else asked twice (not echoed)."""
    return _password(given, NEW_PASSWORD_ENV, "New password: ")


def _password(given: str | None, env: str, prompt: str) -> str | None:
    """From the option, else `env`, else asked on the terminal; None, with
    the reason on stderr, when there is none or it is unusable."""
    from app.kit.password_input import NoPassword, read_password

    try:
        return read_password(given, env, prompt)
    except NoPassword as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return None


async def _agents_action(
    settings: Settings, action: str, who: str | None, password: str | None
) -> int:
    from app.agents import repository as agents_repo
    from app.agents import service as agents_service
    from app.agents.schemas import AgentUpdate
    from app.auth import service as auth_service
    from app.db import Database
    from app.errors import AppError
    from app.events.bus import MemoryBus

    db = Database(settings, MemoryBus())
    try:
        if action == "list":
            async with db.read() as session:
                agents = await agents_repo.list_all(session)
            print("id\temail\tname\trole\tactive")  # noqa: T201
            for a in agents:
                print(f"{a.id}\t{a.email}\t{a.name}\t{a.role}\t{str(a.is_active).lower()}")  # noqa: T201
            return 0
        async with db.read() as session:
            agent = (
                await agents_repo.get(session, int(who))
                if who is not None and who.isdigit()
                else await agents_repo.get_by_email(session, who or "")
            )
        if agent is None:
            print(f"error: no agent {who}", file=sys.stderr)  # noqa: T201
            return 1
        if action == "reset-password":
            assert password is not None
            await auth_service.reset_password(db, agent.id, password)
            print(f"password of {agent.email} reset; every session of theirs ended")  # noqa: T201
            return 0
        active = action == "activate"
        async with db.write() as session:
            await agents_service.update_agent(session, agent.id, AgentUpdate(active=active))
        print(f"{agent.email} {'activated' if active else 'deactivated'}")  # noqa: T201
        return 0
    except AppError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        await db.dispose()


DATA_DIR_HELP = (
    "where the SQLite database and the server's own secret key live "
    "(default ./data, or MADOGUCHI_DATA_DIR); the database is elsewhere "
    "when MADOGUCHI_DATABASE_URL is set"
)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (got {port})")
    return port


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {number})")
    return number


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="madoguchi",
        description=__doc__,
        epilog="Settings come from MADOGUCHI_* environment variables; docs/settings.md lists them.",
    )
    root.add_argument("--version", action="version", version=f"madoguchi {_version()}")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", metavar="DIR", default=None, help=DATA_DIR_HELP)

    serve = sub.add_parser(
        "serve",
        parents=[data],
        help="run HTTP, WebSocket, SMTP and the workers",
        description="Applies the migrations, then serves HTTP, WebSocket, inbound SMTP and "
        "the background workers in one process. One serve per SQLite database.",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every IPv4 address); "
        "SMTP listens there too unless MADOGUCHI_SMTP_HOST says otherwise",
    )
    serve.add_argument(
        "--port", type=_port, default=8000, help="HTTP and WebSocket port (default 8000)"
    )
    serve.add_argument(
        "--smtp-port",
        type=_port,
        default=None,
        help="inbound SMTP (default 2525, or MADOGUCHI_SMTP_PORT); 0 turns the listener off",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes on one port (default 1); more than 1 needs PostgreSQL "
        "(MADOGUCHI_DATABASE_URL) and Redis (MADOGUCHI_REDIS_URL)",
    )
    # Internal, for the processes of --workers.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--no-imap", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    migrate = sub.add_parser(
        "migrate", parents=[data], help="apply the database migrations (safe beside a server)"
    )
    migrate.set_defaults(run=_migrate)

    admin = sub.add_parser(
        "create-admin",
        parents=[data],
        help="create an admin agent",
        description="Creates an admin agent, migrating the database first if needed.",
    )
    admin.add_argument(
        "--email", required=True, help="the admin's email address, to sign in with (required)"
    )
    admin.add_argument(
        "--password",
        default=None,
        help=f"8 to 1024 characters; else {ADMIN_PASSWORD_ENV}, else asked twice on a "
        "terminal. Given here it shows in `ps` and the shell's history",
    )
    admin.add_argument(
        "--name", default=None, help="the name colleagues see (default: the email before the @)"
    )
    admin.add_argument(
        "--if-missing",
        action="store_true",
        help="when an admin with this email exists, change nothing and exit 0 "
        "(a setup script can run twice); an agent who is not an admin is still an error",
    )
    admin.set_defaults(run=_create_admin)

    agents = sub.add_parser("agents", help="list agents, deactivate one, reset a password")
    actions = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", parents=[data], help="id, email, name, role and active of every agent"
    )
    listing.set_defaults(run=_agents, agent=None, password=None)
    for action, text in (
        ("deactivate", "sign the agent out everywhere and refuse their sign-in"),
        ("activate", "let a deactivated agent sign in again"),
        ("reset-password", "set a new password; every session of the agent ends"),
    ):
        command = actions.add_parser(action, parents=[data], help=text)
        command.add_argument("agent", help="the agent's email or id")
        if action == "reset-password":
            command.add_argument(
                "--password",
                default=None,
                help=f"8 to 1024 characters; else {NEW_PASSWORD_ENV}, else asked twice on a "
                "terminal. Given here it shows in `ps` and the shell's history",
            )
            command.set_defaults(run=_agents)
        else:
            command.set_defaults(run=_agents, password=None)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        status = args.run(args)
    except SettingsInvalid as exc:
        # One line per problem, no traceback: the operator fixes a setting.
        for line in exc.lines:
            print(f"madoguchi: {line}", file=sys.stderr)  # noqa: T201
        status = 2
    raise SystemExit(status)


if __name__ == "__main__":
    main()
