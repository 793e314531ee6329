"""madoguchi serve | migrate | create-admin | agents"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from app.config import Settings

log = logging.getLogger("madoguchi")


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    overrides: dict[str, Any] = dict(extra)
    if getattr(args, "data_dir", None) is not None:
        overrides["data_dir"] = Path(args.data_dir)
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.kit.logs import configure_logging
    from app.main import create_app
    from app.migrate import upgrade_to_head
    from app.realtime.ws_protocol import DirectSendProtocol

    settings = _settings(args)
    if args.workers > 1:
        return _serve_workers(args, settings)
    # --smtp-port wins over MADOGUCHI_SMTP_PORT; the listener binds --host
    # unless MADOGUCHI_SMTP_HOST names another address.
    settings = settings.model_copy(
        update={
            "smtp_port": settings.smtp_port if args.smtp_port is None else args.smtp_port,
            "smtp_host": settings.smtp_host or args.host,
            "imap_readers": settings.imap_readers and not args.no_imap,
        }
    )
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
    needs one reader."""
    import os

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
    from app.agents import service as agents_service
    from app.agents.schemas import AgentCreate
    from app.auth.roles import Role
    from app.db import Database
    from app.errors import Conflict
    from app.events.bus import MemoryBus
    from app.migrate import upgrade_to_head

    settings = _settings(args)
    upgrade_to_head(settings)
    try:
        data = AgentCreate(
            email=args.email,
            name=args.name or args.email.split("@")[0],
            password=args.password,
            role=Role.ADMIN,
            capacity=10,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1

    async def create() -> int:
        db = Database(settings, MemoryBus())
        try:
            agent = await agents_service.create_agent(db, data)
            print(f"created admin {agent.email} (id {agent.id})")  # noqa: T201
            return 0
        except Conflict as exc:
            print(f"error: {exc.detail}", file=sys.stderr)  # noqa: T201
            return 1
        finally:
            await db.dispose()

    return asyncio.run(create())


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


def _new_password(given: str | None) -> str | None:
    """From --password, else MADOGUCHI_NEW_PASSWORD, else asked twice (not echoed)."""
    import getpass
    import os

    password = given or os.environ.get("MADOGUCHI_NEW_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            print(  # noqa: T201
                "error: give the new password with --password or MADOGUCHI_NEW_PASSWORD",
                file=sys.stderr,
            )
            return None
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)  # noqa: T201
            return None
    if not 8 <= len(password) <= 1024:
        print("error: a password has 8 to 1024 characters", file=sys.stderr)  # noqa: T201
        return None
    return password


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="madoguchi", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run HTTP, WebSocket, SMTP and the workers")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--smtp-port",
        type=int,
        default=None,
        help="inbound SMTP (default 2525, or MADOGUCHI_SMTP_PORT); 0 turns the listener off",
    )
    serve.add_argument("--data-dir", default=None)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes on one port; more than 1 needs PostgreSQL and MADOGUCHI_REDIS_URL",
    )
    # Internal, for the processes of --workers.
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument("--no-imap", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    migrate = sub.add_parser("migrate", help="apply the database migrations")
    migrate.add_argument("--data-dir", default=None)
    migrate.set_defaults(run=_migrate)

    admin = sub.add_parser("create-admin", help="create an admin agent")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.add_argument("--name", default=None)
    admin.add_argument("--data-dir", default=None)
    admin.set_defaults(run=_create_admin)

    agents = sub.add_parser("agents", help="list agents, deactivate one, reset a password")
    actions = agents.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="id, email, name, role and active of every agent")
    listing.add_argument("--data-dir", default=None)
    listing.set_defaults(run=_agents, agent=None, password=None)
    for action, text in (
        ("deactivate", "sign the agent out everywhere and refuse their sign-in"),
        ("activate", "let a deactivated agent sign in again"),
        ("reset-password", "set a new password; every session of the agent ends"),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("agent", help="the agent's email or id")
        command.add_argument("--data-dir", default=None)
        if action == "reset-password":
            command.add_argument(
                "--password", default=None, help="else MADOGUCHI_NEW_PASSWORD, else asked"
            )
            command.set_defaults(run=_agents)
        else:
            command.set_defaults(run=_agents, password=None)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    raise SystemExit(args.run(args))


if __name__ == "__main__":
    main()
