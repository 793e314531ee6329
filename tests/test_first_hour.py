"""An operator's first hour with the command line: the README's first line run
twice, passwords kept out of `ps`, --version and --help, a bad setting, a
second server on the same database, and who may read the database file."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import parser
from tests.harness import Api, Server, base_database_url, free_port

embedded_only = pytest.mark.skipif(
    base_database_url() is not None, reason="checks the embedded SQLite default"
)
FIRST_LINE = ("create-admin", "--email", "you@example.com", "--if-missing")


def _madoguchi(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@embedded_only
async def test_the_readme_first_line_runs_twice_and_one_server_holds_the_database(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    database = data / "madoguchi.db"
    env = {"MADOGUCHI_ADMIN_PASSWORD": "change me please"}
    server = Server(data, env, None)

    first = server.cli(*FIRST_LINE)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created admin you@example.com")
    again = server.cli(*FIRST_LINE)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "admin you@example.com exists; nothing changed"
    # Without --if-missing the contract's error stands.
    plain = server.cli("create-admin", "--email", "you@example.com", "--password", "long-enough")
    assert plain.returncode == 1
    assert "exists" in plain.stderr

    # A dir we made is ours alone, and so is the database (hashes, chats).
    assert _mode(data) == 0o700
    assert _mode(database) == 0o600

    await server.start()
    second = Server(data, env, None)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            r = await http.post(
                "/api/v1/auth/token",
                json={"email": "you@example.com", "password": "change me please"},
            )
            assert r.status_code == 200, r.text
        # WAL mode: the server has its -wal and -shm beside the database.
        for name in ("madoguchi.db", "madoguchi.db-wal", "madoguchi.db-shm"):
            assert _mode(data / name) == 0o600, name

        refused = server.cli("serve", "--port", str(free_port()), "--smtp-port", "0")
        assert refused.returncode == 1
        assert server.process is not None
        assert (
            f"another madoguchi serve is using {database} (pid {server.process.pid})"
            in refused.stderr
        )
        # The commands documented to run beside a server still do.
        for command in (("migrate",), ("agents", "list"), FIRST_LINE):
            beside = server.cli(*command)
            assert beside.returncode == 0, (command, beside.stderr)

        # Killed outright, it holds nothing: the next server starts.
        server.kill()
        await second.start()
    finally:
        server.stop()
        second.stop()


async def test_if_missing_refuses_an_agent_who_is_not_an_admin(api: Api) -> None:
    agent = await api.create_agent()
    done = await asyncio.to_thread(
        api.server.cli, "create-admin", "--email", agent["email"], "--if-missing"
    )
    assert done.returncode == 1
    assert f"{agent['email']} exists as agent, not admin; nothing changed" in done.stderr
    assert await api.login(agent["email"], "agent-password")


@embedded_only
def test_a_password_comes_from_the_environment_or_is_asked_on_a_terminal(
    tmp_path: Path,
) -> None:
    server = Server(tmp_path, {}, None)
    # Neither option, nor variable, nor terminal: a clear error, nothing made.
    nothing = server.cli("create-admin", "--email", "a@example.com")
    assert nothing.returncode == 1
    assert "MADOGUCHI_ADMIN_PASSWORD" in nothing.stderr

    server.env["MADOGUCHI_ADMIN_PASSWORD"] = "from-the-env"
    from_env = server.cli("create-admin", "--email", "b@example.com")
    assert from_env.returncode == 0, from_env.stderr
    del server.env["MADOGUCHI_ADMIN_PASSWORD"]

    with _terminal(server, "create-admin", "--email", "c@example.com") as (process, master):
        _answer(master, "Password for c@example.com: ", "typed-twice")
        _answer(master, "Again: ", "typed-twice")
        assert process.wait(120) == 0
    with _terminal(server, "create-admin", "--email", "d@example.com") as (process, master):
        _answer(master, "Password for d@example.com: ", "typed-once")
        _answer(master, "Again: ", "typed-otherwise")
        assert process.wait(120) == 1

    listed = server.cli("agents", "list")
    emails = [line.split("\t")[1] for line in listed.stdout.splitlines()[1:]]
    assert emails == ["b@example.com", "c@example.com"]


@contextmanager
def _terminal(server: Server, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The command with a pty as its terminal; yields it and the pty's master."""
    master, slave = pty.openpty()
    # A session of its own: no controlling terminal, so getpass asks on the
    # pty given as stdin and never on the terminal running the tests.
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args, "--data-dir", str(server.data_dir)],
        env=server.env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield process, master
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(master)


def _answer(master: int, prompt: str, text: str) -> None:
    """Waits for `prompt` (getpass flushes what was typed before it), then types."""
    seen = b""
    while prompt.encode() not in seen:
        chunk = os.read(master, 1024)  # EIO, and the test fails, if the command ended
        seen += chunk
    os.write(master, f"{text}\n".encode())


def test_version_names_the_installed_package() -> None:
    done = _madoguchi("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"madoguchi {version('madoguchi')}"


def _parsers(root: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield root.prog, root
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_option_of_every_command_says_what_it_does_and_its_default() -> None:
    seen = set()
    for prog, command in _parsers(parser()):
        command.format_help()  # renders: no stray % in a help text
        for action in command._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            seen.add((prog, name))
            assert action.help, (prog, name)
            if action.default not in (None, False, argparse.SUPPRESS):
                assert str(action.default) in action.help, (prog, name)
    commands = {prog for prog, _ in seen}
    assert {
        "madoguchi serve",
        "madoguchi migrate",
        "madoguchi create-admin",
        "madoguchi agents list",
        "madoguchi agents reset-password",
    } <= commands
    for prog in commands - {"madoguchi", "madoguchi agents"}:
        assert (prog, "--data-dir") in seen, prog

    serve = _madoguchi("serve", "--help")
    assert serve.returncode == 0, serve.stderr
    for words in ("MADOGUCHI_DATA_DIR", "./data", "MADOGUCHI_SMTP_PORT", "2525", "8000"):
        assert words in serve.stdout, words
    admin = _madoguchi("create-admin", "--help")
    assert "MADOGUCHI_ADMIN_PASSWORD" in admin.stdout
    assert "--if-missing" in admin.stdout


def test_a_bad_setting_is_one_readable_line(tmp_path: Path) -> None:
    done = _madoguchi("migrate", "--data-dir", str(tmp_path), env={"MADOGUCHI_SMTP_PORT": "70000"})
    assert done.returncode == 2
    assert done.stderr == (
        "madoguchi: setting MADOGUCHI_SMTP_PORT: must be at most 65535 (got 70000)\n"
    )
    two = _madoguchi(
        "serve",
        "--data-dir",
        str(tmp_path),
        env={"MADOGUCHI_ACCESS_LOG": "maybe", "MADOGUCHI_SQLITE_SYNCHRONOUS": "fast"},
    )
    assert two.returncode == 2
    assert two.stderr.splitlines() == [
        "madoguchi: setting MADOGUCHI_SQLITE_SYNCHRONOUS: "
        "must be 'OFF', 'NORMAL', 'FULL' or 'EXTRA' (got fast)",
        "madoguchi: setting MADOGUCHI_ACCESS_LOG: "
        "must be true or false (1/0, yes/no, on/off) (got maybe)",
    ]
    # The options that feed settings are checked where they are parsed.
    option = _madoguchi("serve", "--smtp-port", "70000", "--data-dir", str(tmp_path))
    assert option.returncode == 2
    assert "argument --smtp-port: a port is 0 to 65535 (got 70000)" in option.stderr
    assert "Traceback" not in option.stderr
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    blocked = _madoguchi("migrate", "--data-dir", str(not_a_dir))
    assert blocked.returncode == 2
    assert blocked.stderr.startswith(f"madoguchi: data dir {not_a_dir}")
    assert len(blocked.stderr.splitlines()) == 1


@embedded_only
def test_a_dir_the_operator_made_keeps_its_mode_but_the_database_is_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(0o755)
    # An older version's database, readable by everyone.
    database = data / "madoguchi.db"
    database.touch()
    database.chmod(0o644)
    done = _madoguchi("migrate", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert _mode(data) == 0o755
    assert _mode(database) == 0o600


@embedded_only
def test_commands_started_together_on_a_new_database_migrate_once(tmp_path: Path) -> None:
    """`serve` and `create-admin` started at once both migrate a new database:
    one waits for the other instead of both creating the tables."""
    data = tmp_path / "data"
    env = {**os.environ, "MADOGUCHI_ADMIN_PASSWORD": "change me please"}
    commands = [
        [sys.executable, "-m", "app.cli", "migrate", "--data-dir", str(data)] for _ in range(3)
    ]
    commands.append(
        [sys.executable, "-m", "app.cli", *FIRST_LINE, "--data-dir", str(data)],
    )
    processes = [
        subprocess.Popen(  # noqa: S603 - our own command
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in commands
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    listed = _madoguchi("agents", "list", "--data-dir", str(data))
    assert listed.returncode == 0, listed.stderr
    assert "you@example.com" in listed.stdout


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "first-hour.md"
GUIDE_CURL = re.compile(
    r"curl -s (?:-X (?P<method>[A-Z]+) )?(?:\")?http://127\.0\.0\.1:8000(?P<path>/[^\s\"]*)"
    r".*?-d '(?P<body>\{.*?\})'",
    re.DOTALL,
)


def _guide_calls() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) of every call to the server in docs/first-hour.md,
    in the guide's order, shell continuations joined."""
    text = GUIDE.read_text().replace("\\\n", " ")
    return [
        (m["method"] or "POST", m["path"], json.loads(m["body"])) for m in GUIDE_CURL.finditer(text)
    ]


@embedded_only
async def test_the_first_hour_guide_reaches_a_customer_chatting_with_an_agent(
    tmp_path: Path,
) -> None:
    """docs/first-hour.md as a newcomer runs it: its first line, then its own
    API calls as written, then a customer on the web inbox it created talks
    with the non-admin agent it created."""
    calls = _guide_calls()
    paths = [path for _, path, _ in calls]
    assert paths[:3] == ["/api/v1/auth/token", "/api/v1/inboxes", "/api/v1/agents"], paths
    env = {"MADOGUCHI_ADMIN_PASSWORD": "change me please"}
    server = Server(tmp_path / "data", env, None)
    assert server.cli(*FIRST_LINE).returncode == 0
    await server.start()
    api = Api(server, "")
    try:
        made: dict[str, dict[str, Any]] = {}
        for method, path, body in calls:
            if path == "/api/v1/agents/1":  # "the first admin's id is 1"
                r = await api.http.get("/api/v1/agents/me", headers=api.auth(api.admin_token))
                assert r.json()["id"] == 1
            headers = api.auth(api.admin_token) if api.admin_token else {}
            r = await api.http.request(method, path, json=body, headers=headers)
            assert r.is_success, f"{method} {path}: {r.status_code} {r.text}"
            if path == "/api/v1/auth/token":
                api.admin_token = r.json()["access_token"]
            made[body.get("channel") or body.get("email") or path] = r.json()

        aiko = made["aiko@example.com"]
        assert aiko["role"] == "agent"
        token = await api.login("aiko@example.com", "a long agent password")
        async with api.agent_socket(token) as console:
            await console.expect("hello")
            session = await api.new_session(made["web"], name="First customer")
            async with api.widget(session["session_token"]) as widget:
                await widget.send({"type": "message", "client_id": "1", "body": "Is it in stock?"})
                await widget.expect("ack")
                assigned = await console.expect("conversation.assigned")
                conversation = assigned["conversation"]
                assert conversation["assignee"]["id"] == aiko["id"]
                r = await api.http.post(
                    f"/api/v1/conversations/{conversation['id']}/messages",
                    json={"body": "Yes, two left."},
                    headers=api.auth(token),
                )
                assert r.status_code == 201, r.text
                # Automatic messages (a greeting) may come first.
                reply = await widget.expect("message", body="Yes, two left.")
                assert reply["author"]["kind"] == "agent"
                assert reply["author"]["id"] == aiko["id"]
    finally:
        await api.http.aclose()
        server.stop()
