"""madoguchi serve | migrate | create-admin"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
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

    settings = _settings(args)
    # --smtp-port wins over MADOGUCHI_SMTP_PORT; the listener binds --host
    # unless MADOGUCHI_SMTP_HOST names another address.
    settings = settings.model_copy(
        update={
            "smtp_port": settings.smtp_port if args.smtp_port is None else args.smtp_port,
            "smtp_host": settings.smtp_host or args.host,
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
        ws="websockets-sansio",
        ws_max_size=settings.ws_max_frame_bytes,
        ws_per_message_deflate=settings.ws_compression,
        # Idle widgets are the common case: ping rarely, drop dead peers.
        ws_ping_interval=30,
        ws_ping_timeout=30,
        timeout_graceful_shutdown=10,
        server_header=False,
    )
    uvicorn.Server(config).run()
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
    from app.migrate import upgrade_to_head
    from app.realtime.bus import MemoryBus

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
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    raise SystemExit(args.run(args))


if __name__ == "__main__":
    main()
