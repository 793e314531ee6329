"""Applies the Alembic migrations; used by `madoguchi migrate` and at start-up."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from app.config import Settings


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    # ConfigParser would read "%" in a password as interpolation.
    config.set_main_option("sqlalchemy.url", settings.resolved_database_url().replace("%", "%%"))
    return config


def upgrade_to_head(settings: Settings) -> None:
    """Migrations run one at a time: a `serve` and a `create-admin` started
    together on a new database would both create the tables. On SQLite a
    blocking flock beside the file; on PostgreSQL an advisory lock taken in
    the migration's transaction (migrations/env.py)."""
    settings.prepare_sqlite()
    path = settings.sqlite_path()
    if path is None:
        command.upgrade(alembic_config(settings), "head")
        return
    fd = os.open(path.with_name(path.name + ".migrate.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        command.upgrade(alembic_config(settings), "head")
    finally:
        os.close(fd)
