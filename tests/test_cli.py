"""The operator's commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.harness import Server, base_database_url


@pytest.mark.skipif(base_database_url() is not None, reason="checks the embedded SQLite default")
def test_migrate_and_create_admin_on_the_embedded_default(tmp_path: Path) -> None:
    server = Server(tmp_path, {}, None)
    migrated = server.cli("migrate")
    assert migrated.returncode == 0, migrated.stderr
    db = sqlite3.connect(tmp_path / "madoguchi.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"agents", "conversations", "messages", "jobs", "identities"} <= tables

    created = server.cli("create-admin", "--email", "Boss@Example.com", "--password", "long-enough")
    assert created.returncode == 0, created.stderr
    again = server.cli("create-admin", "--email", "boss@example.com", "--password", "long-enough")
    assert again.returncode == 1
    assert "exists" in again.stderr
    short = server.cli("create-admin", "--email", "x@example.com", "--password", "short")
    assert short.returncode == 1
    assert db.execute("SELECT count(*) FROM agents").fetchone()[0] == 1
