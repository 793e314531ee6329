"""Shared plumbing for the benchmarks: processes, CPU pinning, memory, setup.

Everything here talks to 127.0.0.1 only. Every wait is bounded by a deadline,
and every server subprocess started through `ServerProcess` is killed when
the benchmark ends, however it ends (normal exit, exception, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
HOST = "127.0.0.1"

ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-admin-password-1"  # noqa: S105 - throwaway bench data dir

# Turn off what a benchmark must not measure: rate limits and the access log.
BENCH_ENV: dict[str, str] = {
    "MADOGUCHI_RATE_WIDGET_SESSIONS": "0",
    "MADOGUCHI_RATE_WIDGET_MESSAGES": "0",
    "MADOGUCHI_RATE_LOGIN": "0",
    "MADOGUCHI_ACCESS_LOG": "0",
    "MADOGUCHI_LOG_LEVEL": "warning",
}

_LIVE: list[ServerProcess] = []


# --------------------------------------------------------------------------
# CPU and memory


def cpu_count() -> int:
    return os.cpu_count() or 1


def pin_self(core: int) -> bool:
    """Pin the calling process to one core; False where that is not possible."""
    if core < 0 or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        return False
    return True


def raise_nofile(want: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE's soft limit towards `want` (the hard limit caps it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/PID/status (VmRSS)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process (all its threads)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        text = stat.read()
    # The command name may hold spaces; the fields after its ')' are fixed.
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def system_cpu_seconds() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat.

    Lets a benchmark tell how much CPU other processes took during a phase:
    the machine may be shared (tests, builds), and a VM may lose time to steal.
    """
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --------------------------------------------------------------------------
# Processes


def madoguchi_command() -> list[str]:
    """How to start Madoguchi: MADOGUCHI_BENCH_CMD, the console script, or -m app.cli."""
    override = os.environ.get("MADOGUCHI_BENCH_CMD")
    if override:
        return override.split()
    # The console script of the interpreter running the bench (its virtualenv) first.
    beside = Path(sys.executable).with_name("madoguchi")
    if beside.exists():
        return [str(beside)]
    script = shutil.which("madoguchi")
    if script:
        return [script]
    return [sys.executable, "-m", "app.cli"]


def _kill_all_live() -> None:
    for proc in list(_LIVE):
        proc.stop(grace=2.0)


def _on_signal(signum: int, _frame: object) -> None:
    _kill_all_live()
    raise SystemExit(128 + signum)


atexit.register(_kill_all_live)
for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


@dataclass
class ServerProcess:
    """A server subprocess pinned to one core, killed at exit whatever happens."""

    name: str
    argv: list[str]
    port: int
    core: int
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = REPO_DIR
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = None
    owns_log: bool = False  # a temp log made here, removed again by stop()

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        core = self.core

        def pin_child() -> None:
            if core >= 0:
                os.sched_setaffinity(0, {core})

        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"bench-{self.name}-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
            self.owns_log = True
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - argv built by the bench
                self.argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=pin_child,  # noqa: PLW1509 - only sched_setaffinity
                start_new_session=True,
            )
        _LIVE.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://{HOST}:{self.port}{path}"
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.alive():
                    raise RuntimeError(
                        f"{self.name} exited early (rc={self.proc and self.proc.returncode}):\n"
                        + self.log_tail()
                    )
                try:
                    response = await client.get(url)
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; idempotent."""
        if self in _LIVE:
            _LIVE.remove(self)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self.owns_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)


def start_echo_server(
    impl: str, port: int, core: int, agents: int, env: Mapping[str, str] | None = None
) -> ServerProcess:
    argv = [
        sys.executable,
        str(BENCH_DIR / "echo_server.py"),
        "--impl",
        impl,
        "--port",
        str(port),
        "--agents",
        str(agents),
    ]
    server = ServerProcess(f"echo-{impl}", argv, port, core, env=env or {})
    server.start()
    return server


def run_cli(args: Sequence[str], env: Mapping[str, str], timeout: float = 120.0) -> None:
    full_env = dict(os.environ)
    full_env.update(env)
    result = subprocess.run(  # noqa: S603 - argv built by the bench
        [*madoguchi_command(), *args],
        cwd=REPO_DIR,
        env=full_env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"madoguchi {' '.join(args[:1])} failed rc={result.returncode}:\n"
            + result.stdout.decode(errors="replace")[-2000:]
            + result.stderr.decode(errors="replace")[-2000:]
        )


def start_madoguchi(
    port: int,
    core: int,
    data_dir: Path,
    sync: str,
    extra_env: Mapping[str, str] | None = None,
    smtp_port: int = 0,
    extra_args: Sequence[str] = (),
) -> ServerProcess:
    """create-admin, then serve on 127.0.0.1:port with the bench settings."""
    env = dict(BENCH_ENV)
    env["MADOGUCHI_SQLITE_SYNCHRONOUS"] = sync
    env["MADOGUCHI_DATA_DIR"] = str(data_dir)
    env.update(extra_env or {})
    run_cli(
        [
            "create-admin",
            "--email",
            ADMIN_EMAIL,
            "--password",
            ADMIN_PASSWORD,
            "--name",
            "Bench Admin",
            "--data-dir",
            str(data_dir),
        ],
        env,
    )
    argv = [
        *madoguchi_command(),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--smtp-port",
        str(smtp_port),
        "--data-dir",
        str(data_dir),
        *extra_args,
    ]
    server = ServerProcess("madoguchi", argv, port, core, env=env, log_path=data_dir / "server.log")
    server.start()
    return server


# --------------------------------------------------------------------------
# REST setup through the public API


class Api:
    """A thin client for the few REST calls the benchmarks need."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        self.http = httpx.AsyncClient(
            base_url=self.base, trust_env=False, timeout=30.0, limits=limits
        )
        self.token = ""

    async def close(self) -> None:
        await self.http.aclose()

    def _headers(self, token: str | None = None) -> dict[str, str]:
        bearer = token if token is not None else self.token
        return {"Authorization": f"Bearer {bearer}"} if bearer else {}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> Any:
        response = await self.http.request(
            method, path, json=body, headers=self._headers(token), params=params
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        if not response.content:
            return None
        return response.json()

    async def login(self, email: str, password: str) -> str:
        answer = await self.call(
            "POST", "/api/v1/auth/token", {"email": email, "password": password}, token=""
        )
        token: str = answer["access_token"]
        return token

    async def login_admin(self) -> None:
        self.token = await self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    async def create_agent(self, index: int) -> tuple[int, str]:
        email = f"bench-agent-{index}@example.com"
        password = f"bench-agent-password-{index}"
        agent = await self.call(
            "POST",
            "/api/v1/agents",
            {
                "email": email,
                "name": f"Bench Agent {index}",
                "password": password,
                "role": "agent",
                "capacity": 1000,
                "teams": [],
                "skills": [],
            },
        )
        token = await self.login(email, password)
        return int(agent["id"]), token

    async def create_web_inbox(self, responders_off: bool = True) -> tuple[int, str]:
        inbox = await self.call(
            "POST",
            "/api/v1/inboxes",
            {
                "name": "Bench web",
                "channel": "web",
                "mode": "live",
                "config": {},
            },
        )
        inbox_id = int(inbox["id"])
        if responders_off:
            # Greeting/away/acknowledgement are extra messages per conversation;
            # the benchmark measures the customer -> agent path only.
            response = await self.http.put(
                f"/api/v1/inboxes/{inbox_id}/responders",
                json={"greeting": None, "away": None, "acknowledgement": None, "redirect": None},
                headers=self._headers(),
            )
            if response.status_code >= 400:
                print(
                    f"  (could not turn responders off: PUT responders ->"
                    f" {response.status_code}; they stay on)",
                    flush=True,
                )
        return inbox_id, str(inbox["widget_key"])

    async def create_sessions(
        self,
        widget_key: str,
        count: int,
        concurrency: int = 16,
        progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        tokens: list[str] = [""] * count
        next_index = 0

        async def worker() -> None:
            nonlocal next_index
            while next_index < count:
                index = next_index
                next_index += 1
                answer = await self.call(
                    "POST",
                    "/api/v1/widget/sessions",
                    {
                        "widget_key": widget_key,
                        "name": f"Bench Customer {index}",
                    },
                    token="",
                )
                tokens[index] = str(answer["session_token"])
                if progress is not None and index % 1000 == 999:
                    progress(index + 1)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return tokens

    async def unassigned_conversations(self) -> list[int]:
        ids: list[int] = []
        cursor: str | None = None
        for _ in range(1000):  # bounded: 200 per page
            params: dict[str, str | int] = {"assignee": "none", "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = await self.call("GET", "/api/v1/conversations", params=params)
            ids.extend(int(item["id"]) for item in page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return ids

    async def assign(self, conversation_id: int, agent_id: int) -> None:
        await self.call(
            "POST", f"/api/v1/conversations/{conversation_id}/assign", {"agent_id": agent_id}
        )


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy record of the server during the measured window (if py-spy is installed)."""
    # `pip install .[bench]` puts it beside this interpreter, maybe not on PATH.
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("  (py-spy not installed; no profile)")
        return None
    return subprocess.Popen(  # noqa: S603
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def code_version() -> str:
    """The commit the server runs from, and whether app/ differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "migrations", "pyproject.toml"],
            cwd=REPO_DIR,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return f"{commit} (app/ modified since)" if dirty else f"{commit} (clean)"


def new_data_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def install_event_loop() -> str:
    """Use uvloop in the load generator when installed (for every target alike)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# What a first-contact run left in the database, of one inbox or all:
# customers, conversations, the automatic replies stored and how many of
# them were delivered. `{where}` is filled with the inbox filter.
_FIRST_CONTACT_SQL = {
    "conversations": "SELECT count(*) FROM conversations WHERE {where}",
    "customers": "SELECT count(DISTINCT customer_id) FROM conversations WHERE {where}",
    "replies": "SELECT count(*) FROM messages WHERE {where}"
    " AND author_kind <> 'customer' AND delivery_status IS NOT NULL",
    "delivered": "SELECT count(*) FROM messages WHERE {where}"
    " AND author_kind <> 'customer' AND delivery_status IN ('sent', 'delivered', 'read')",
}


def first_contact_counts(data_dir: Path, inbox_id: int | None = None) -> dict[str, int]:
    """`_FIRST_CONTACT_SQL` on the embedded database in `data_dir`."""
    where = "inbox_id = ?" if inbox_id is not None else "1 = 1"
    params = (inbox_id,) if inbox_id is not None else ()
    with sqlite3.connect(data_dir / "madoguchi.db") as db:
        return {
            name: int(db.execute(sql.format(where=where), params).fetchone()[0])
            for name, sql in _FIRST_CONTACT_SQL.items()
        }


@dataclass
class Store:
    """The database a bench's server wrote: the embedded SQLite in its data
    dir, or a PostgreSQL database (`database_url`), read back at the end to
    count what was stored."""

    data_dir: Path
    database_url: str | None = None

    @property
    def name(self) -> str:
        return "PostgreSQL" if self.database_url else "the embedded default (SQLite)"

    def server_env(self) -> dict[str, str]:
        return {"MADOGUCHI_DATABASE_URL": self.database_url} if self.database_url else {}

    async def scalar(self, sql: str, *params: Any) -> int:
        """One number; `?` placeholders on both stores."""
        if self.database_url is None:
            with sqlite3.connect(self.data_dir / "madoguchi.db") as db:
                return int(db.execute(sql, params).fetchone()[0])
        import asyncpg  # noqa: PLC0415 - only the PostgreSQL runs need it

        parts = sql.split("?")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        conn = await asyncpg.connect(_plain_url(self.database_url))
        try:
            return int(await conn.fetchval(numbered, *params))
        finally:
            await conn.close()

    async def first_contact_counts(self, inbox_id: int | None = None) -> dict[str, int]:
        where = "inbox_id = ?" if inbox_id is not None else "1 = 1"
        params = (inbox_id,) if inbox_id is not None else ()
        return {
            name: await self.scalar(sql.format(where=where), *params)
            for name, sql in _FIRST_CONTACT_SQL.items()
        }


def _plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def new_store(data_dir: Path, pg_url: str | None) -> Store:
    """The embedded default, or a fresh database on the PostgreSQL server at
    `pg_url` (any database name in it: a new one is created beside it)."""
    if pg_url is None:
        return Store(data_dir)
    import uuid  # noqa: PLC0415
    from urllib.parse import urlsplit, urlunsplit  # noqa: PLC0415

    import asyncpg  # noqa: PLC0415

    name = f"madoguchi_bench_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(pg_url)
    conn = await asyncpg.connect(_plain_url(urlunsplit(parts._replace(path="/postgres"))))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return Store(data_dir, urlunsplit(parts._replace(path=f"/{name}")))


# --------------------------------------------------------------------------
# CPU of whole process trees and of the services a benchmark talks to
# (issue 32: CPU per message summed over every process of `serve --workers N`,
# Redis and PostgreSQL)


def _children_by_parent() -> dict[int, list[int]]:
    """Each live process's children, from one pass over /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue  # gone meanwhile
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    """pid and every descendant of it (the master of `serve --workers N` and its
    workers; a postmaster and its backends)."""
    children = _children_by_parent()
    tree: list[int] = []
    todo = [pid]
    while todo and len(tree) < 10_000:  # bounded
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by pid and all its live descendants.

    A process that exits between two readings takes its CPU with it, so read it
    around a window in which the tree is steady (after start-up)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            total += cpu_seconds(member)
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total


def listening_pid(port: int, host: str = HOST) -> int | None:
    """The process that listens on host:port over TCP (the topmost one where
    several hold the socket, e.g. a postmaster and not its backends); None if
    no process on this machine does, or /proc does not say."""
    want_addr = "".join(f"{int(part):02X}" for part in reversed(host.split(".")))
    want = f"{want_addr}:{port:04X}"
    any_addr = f"00000000:{port:04X}"
    inodes: set[str] = set()
    try:
        with open("/proc/net/tcp", encoding="ascii") as table:
            next(table, None)
            for line in table:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and fields[1] in (want, any_addr):
                    inodes.add(f"socket:[{fields[9]}]")
    except OSError:
        return None
    if not inodes:
        return None
    holders: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                if os.readlink(f"{fd_dir}/{name}") in inodes:
                    holders.append(int(entry))
                    break
            except OSError:
                continue
    if not holders:
        return None
    # The holder whose parent does not hold the socket too.
    held = set(holders)
    for pid in sorted(holders):
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        if int(text[text.rindex(")") + 2 :].split()[1]) not in held:
            return pid
    return min(holders)
