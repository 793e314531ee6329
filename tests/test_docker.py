"""The Docker image and the compose file of the scaled-out setup.

The text checks (the Dockerfile, requirements.lock, compose.yaml's shape) run
everywhere. `docker compose config` runs where the docker client and its
compose plugin are installed; building the image and bringing the services
up run only where a Docker daemon answers `docker info`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
# Building the image installs every dependency from PyPI: minutes, not seconds.
BUILD_TIMEOUT = 1800
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "docker test password"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each Dockerfile line, continuations joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _docker(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def _docker_client_or_skip() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no docker client here: `docker` is not on PATH")


def _daemon_or_skip() -> None:
    _docker_client_or_skip()
    info = _docker("info", "--format", "{{.ServerVersion}}", timeout=60)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no Docker daemon here: `docker info` failed ({reason})")


def _compose_or_skip() -> None:
    _docker_client_or_skip()
    if _docker("compose", "version", timeout=60).returncode != 0:
        pytest.skip("no docker compose plugin here: `docker compose version` failed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the Dockerfile, as text --------------------------------------------------


def test_the_base_image_is_pinned_by_version_and_digest() -> None:
    bases = [args for word, args in _instructions() if word == "FROM"]
    assert len(bases) == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", bases[0]), bases


def test_every_command_reads_the_data_dir_from_the_environment() -> None:
    env = " ".join(args for word, args in _instructions() if word == "ENV")
    assert re.search(r"\bMADOGUCHI_DATA_DIR=/data\b", env)
    assert ("VOLUME", '["/data"]') in _instructions()
    # The command passes no --data-dir of its own: `docker exec ... madoguchi
    # create-admin` must find the same database through the variable.
    assert "--data-dir" not in dict(_instructions())["CMD"]


def test_dependencies_are_installed_before_the_sources_are_copied() -> None:
    steps = _instructions()
    lock_install = next(
        i for i, (word, args) in enumerate(steps) if word == "RUN" and "requirements.lock" in args
    )
    copies = [(i, args) for i, (word, args) in enumerate(steps) if word == "COPY"]
    assert copies[0] == (lock_install - 1, "requirements.lock /tmp/requirements.lock")
    sources = [i for i, args in copies if args.startswith(("app ", "migrations ", "pyproject"))]
    assert sources
    assert min(sources) > lock_install
    project_install = next(
        args for word, args in steps if word == "RUN" and "pip install --no-deps" in args
    )
    assert "--no-deps" in project_install


def test_the_healthcheck_and_the_command_use_the_port_the_image_sets() -> None:
    steps = _instructions()
    env = " ".join(args for word, args in steps if word == "ENV")
    assert re.search(r"\bMADOGUCHI_PORT=8000\b", env)
    health = next(args for word, args in steps if word == "HEALTHCHECK")
    assert "MADOGUCHI_PORT" in health
    assert ":8000" not in health
    command = dict(steps)["CMD"]
    assert '--port \\"$MADOGUCHI_PORT\\"' in command
    assert "exec madoguchi serve" in command


def test_the_image_runs_as_its_own_user() -> None:
    assert ("USER", "madoguchi:madoguchi") in _instructions()


def test_the_build_context_leaves_local_data_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored  # everything out, then only what the image needs back in
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert allowed == {"requirements.lock", "pyproject.toml", "README.md", "app", "migrations"}


def test_requirements_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pinned: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.lock: {line!r} is not pinned with =="
            pinned[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is missing from requirements.lock"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements.lock pins {name}=={pinned[name]}, outside {requirement.specifier}"
        )
    for test_only in ("pytest", "playwright", "ruff", "mypy", "schemathesis"):
        assert test_only not in pinned, f"{test_only} is a test dependency, not a runtime one"


def _documented_docker_lines(text: str) -> list[str]:
    return [
        line.strip().lstrip("#").strip()
        for line in text.splitlines()
        if re.match(r"^\s*#?\s*docker (build|run|exec|compose) ", line)
    ]


def test_readme_operations_and_dockerfile_document_one_way_to_run_the_image() -> None:
    dockerfile = _documented_docker_lines(DOCKERFILE)
    assert dockerfile == [
        "docker build -t madoguchi .",
        "docker run --rm -it -v madoguchi-data:/data madoguchi madoguchi create-admin "
        "--email you@example.com --if-missing",
        "docker run -d --name madoguchi -p 8000:8000 -p 2525:2525 -v madoguchi-data:/data "
        "madoguchi",
    ]
    compose = _documented_docker_lines((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert compose == [
        "docker compose up -d --build --wait",
        "docker compose exec madoguchi madoguchi create-admin --email you@example.com --if-missing",
    ]
    for doc in ("README.md", "docs/operations.md"):
        lines = _documented_docker_lines((ROOT / doc).read_text(encoding="utf-8"))
        assert lines[: len(dockerfile)] == dockerfile, doc
        assert lines[len(dockerfile) : len(dockerfile) + len(compose)] == compose, doc


# --- compose.yaml ---------------------------------------------------------------


def test_compose_runs_two_workers_over_postgres_and_redis() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "redis", "madoguchi"}
    for name in ("postgres", "redis"):
        image = services[name]["image"]
        assert re.fullmatch(rf"{name}:\d+\.\d+[\w.-]*", image), f"{name} is not pinned: {image}"
    app = services["madoguchi"]
    assert app["build"] == "."
    assert "--workers 2" in " ".join(app["command"])
    env = app["environment"]
    assert env["MADOGUCHI_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@postgres:5432/" in env["MADOGUCHI_DATABASE_URL"]
    assert env["MADOGUCHI_REDIS_URL"] == "redis://redis:6379/0"
    assert app["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert "madoguchi-data:/data" in app["volumes"]
    assert "madoguchi-data" in COMPOSE["volumes"]


def test_compose_checks_the_health_of_every_service() -> None:
    for name, service in COMPOSE["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    app_check = " ".join(COMPOSE["services"]["madoguchi"]["healthcheck"]["test"])
    assert "/healthz" in app_check
    assert "MADOGUCHI_PORT" in app_check


def test_docker_compose_config_accepts_the_file() -> None:
    _compose_or_skip()
    result = _docker("compose", "--file", str(ROOT / "compose.yaml"), "config", "--quiet")
    assert result.returncode == 0, result.stderr


# --- the real thing, where a daemon answers --------------------------------------


def _sign_in(base: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["agent"]["role"] == "admin"
    return body


def _healthy(base: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/healthz", timeout=30)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def _wait_healthy(container: str) -> None:
    """Until Docker's own healthcheck (the image's HEALTHCHECK) says healthy;
    bounded by the check's retries, which turn it unhealthy, and by the
    container's exit."""
    # `docker events` streams until killed: read its lines until a verdict.
    command = ["docker", "events", "--since", "0", "--format", "{{.Status}}"]
    command += ["--filter", f"container={container}"]
    command += ["--filter", "event=health_status", "--filter", "event=die"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as events:
        assert events.stdout is not None
        try:
            for line in events.stdout:
                if "unhealthy" in line or line.strip() == "die":
                    logs = _docker("logs", container).stderr
                    pytest.fail(f"the container {line.strip()}:\n{logs[-4000:]}")
                if "healthy" in line:
                    return
        finally:
            events.kill()


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    _daemon_or_skip()
    tag = f"madoguchi-test:{uuid.uuid4().hex[:12]}"
    built = _docker("build", "--tag", tag, str(ROOT), timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr[-4000:]
    yield tag
    _docker("image", "rm", "--force", tag)


def test_the_image_alone_serves_and_create_admin_writes_the_servers_database(
    image: str,
) -> None:
    """The documented lines: create the admin in a throwaway container on the
    volume, then serve from it; `docker exec` in the running one finds the
    same database (not a /data/data of its own)."""
    name = f"madoguchi-test-{uuid.uuid4().hex[:12]}"
    volume = f"{name}-data"
    port = _free_port()
    password = f"MADOGUCHI_ADMIN_PASSWORD={ADMIN_PASSWORD}"
    try:
        created = _docker(
            "run", "--rm", "--env", password, "--volume", f"{volume}:/data", image,
            "madoguchi", "create-admin", "--email", ADMIN_EMAIL, "--if-missing",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith(f"created admin {ADMIN_EMAIL}")
        run = _docker(
            "run", "--detach", "--name", name, "--publish", f"127.0.0.1:{port}:8000",
            "--env", "MADOGUCHI_SMTP_PORT=0", "--volume", f"{volume}:/data",
            # The image's own check, run sooner than its 30 s interval.
            "--health-interval", "2s", image,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        _wait_healthy(name)
        base = f"http://127.0.0.1:{port}"
        assert _healthy(base)["status"] == "ok"
        _sign_in(base)
        again = _docker(
            "exec", "--env", password, name,
            "madoguchi", "create-admin", "--email", ADMIN_EMAIL, "--if-missing",
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "exists" in again.stdout, "docker exec opened another database"
        listing = _docker("exec", name, "ls", "/data")
        assert "madoguchi.db" in listing.stdout.split()
    finally:
        _docker("rm", "--force", "--volumes", name)
        _docker("volume", "rm", "--force", volume)


def test_compose_brings_up_two_workers_over_postgres_and_redis(image: str) -> None:
    _compose_or_skip()
    project = f"madoguchi-test-{uuid.uuid4().hex[:12]}"
    http_port = _free_port()
    env = {
        **os.environ,
        "MADOGUCHI_HTTP_PORT": str(http_port),
        "MADOGUCHI_SMTP_HOST_PORT": str(_free_port()),
        "POSTGRES_PASSWORD": uuid.uuid4().hex,
    }
    compose = ["compose", "--project-name", project, "--file", str(ROOT / "compose.yaml")]
    try:
        # --wait: until every healthcheck passes, in the order depends_on gives.
        up = _docker(
            *compose, "up", "--detach", "--build", "--wait", env=env, timeout=BUILD_TIMEOUT
        )
        logs = _docker(*compose, "logs", env=env).stdout
        assert up.returncode == 0, f"{up.stderr[-2000:]}\n{logs[-4000:]}"
        ps = _docker(*compose, "ps", "--format", "json", env=env)
        # One object a line; compose before 2.21 printed one array.
        text = ps.stdout.strip()
        states = (
            json.loads(text)
            if text.startswith("[")
            else [json.loads(line) for line in text.splitlines()]
        )
        assert {s["Service"]: s["Health"] for s in states} == {
            "postgres": "healthy",
            "redis": "healthy",
            "madoguchi": "healthy",
        }
        base = f"http://127.0.0.1:{http_port}"
        assert _healthy(base)["status"] == "ok"  # "degraded" would mean no Redis
        created = _docker(
            *compose, "exec", "--no-TTY", "--env", f"MADOGUCHI_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            "madoguchi", "madoguchi", "create-admin", "--email", ADMIN_EMAIL, "--if-missing",
            env=env,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        again = _docker(
            *compose, "exec", "--no-TTY", "--env", f"MADOGUCHI_ADMIN_PASSWORD={ADMIN_PASSWORD}",
            "madoguchi", "madoguchi", "create-admin", "--email", ADMIN_EMAIL, "--if-missing",
            env=env,
        )  # fmt: skip
        assert again.returncode == 0, "--if-missing makes the documented command re-runnable"
        token = _sign_in(base)["access_token"]
        # Both workers answer from the same PostgreSQL: every request sees the admin.
        for _ in range(6):
            listing = httpx.get(
                f"{base}/api/v1/agents",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert listing.status_code == 200
            assert ADMIN_EMAIL in [agent["email"] for agent in listing.json()["items"]]
    finally:
        _docker(*compose, "down", "--volumes", "--remove-orphans", env=env, timeout=300)
