"""The package as `pip install .` leaves it: a wheel installed into a fresh
virtualenv, run from outside the source tree, serves the widget, the chat page
and the console."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Api, Server, base_database_url

REPO = Path(__file__).resolve().parents[1]
ADMIN = "admin@support.test"
PASSWORD = "installed and running"
# Building the wheel and installing its dependencies: seconds with a warm pip
# cache, minutes with a cold one on a slow mirror.
INSTALL_TIMEOUT = 900
# Left out of the copy the wheel is built from, as .dockerignore leaves them
# out of the image's build context.
TOP_LEVEL_LEFT_OUT = {".git", ".venv", "venv", "build", "dist", "data"}
LEFT_OUT_ANYWHERE = shutil.ignore_patterns(
    "__pycache__", "*.py[cod]", "*.egg-info", ".*_cache", "node_modules"
)

pytestmark = pytest.mark.skipif(
    base_database_url() is not None,
    reason="tests the package, not the store: runs once, in the SQLite run",
)


def outside_env() -> dict[str, str]:
    """The environment of an operator's shell: nothing points into the source tree."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MADOGUCHI_")
        and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    env.update(
        PYTHONNOUSERSITE="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        # CI runs as root; pip's warning about it is noise here.
        PIP_ROOT_USER_ACTION="ignore",
        MADOGUCHI_RATE_LOGIN="0",
    )
    return env


def run(*command: str | Path, cwd: Path, timeout: float) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=outside_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def left_out_of_build(folder: str, names: list[str]) -> set[str]:
    left_out = set(LEFT_OUT_ANYWHERE(folder, names))
    if Path(folder) == REPO:
        left_out |= TOP_LEVEL_LEFT_OUT.intersection(names)
    return left_out


def build_and_install(work: Path) -> Path:
    """Builds the wheel from a copy of the tree (a build in place would read
    stale build/ and *.egg-info/ left by earlier ones) and installs it."""
    source = work / "source"
    shutil.copytree(REPO, source, ignore=left_out_of_build)
    wheels = work / "wheels"
    pip_wheel = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet")
    run(*pip_wheel, "--wheel-dir", wheels, source, cwd=work, timeout=INSTALL_TIMEOUT)
    [wheel] = wheels.glob("madoguchi-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    in_tree = {
        path.relative_to(source).as_posix()
        for package in ("app", "migrations")
        for path in (source / package).rglob("*")
        if path.is_file()
    }
    assert in_tree - shipped == set(), "files of the package left out of the wheel"

    venv = work / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=work, timeout=INSTALL_TIMEOUT)
    pip_install = (venv / "bin" / "python", "-m", "pip", "install", "--quiet")
    run(*pip_install, wheel, cwd=work, timeout=INSTALL_TIMEOUT)
    return venv


class InstalledServer(Server):
    """The venv's `madoguchi`, started from a folder outside the source tree."""

    def __init__(self, venv: Path, home: Path) -> None:
        data_dir = home / "data"
        data_dir.mkdir(parents=True)
        super().__init__(data_dir, {}, None)
        self.home = home
        self.command = venv / "bin" / "madoguchi"
        self.env = outside_env()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.command), *args, "--data-dir", str(self.data_dir)],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def _spawn(self, log: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                str(self.command),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--smtp-port",
                "0",
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=self.home,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


async def test_installed_wheel_serves_widget_chat_page_and_console(tmp_path: Path) -> None:
    venv = await asyncio.to_thread(build_and_install, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    imported = run(
        venv / "bin" / "python",
        "-c",
        "import app, migrations; print(app.__file__); print(migrations.__file__)",
        cwd=home,
        timeout=60,
    )
    for module_file in imported.split():
        assert Path(module_file).resolve().is_relative_to(venv.resolve()), module_file

    server = InstalledServer(venv, home)
    created = server.cli("create-admin", "--email", ADMIN, "--password", PASSWORD)
    assert created.returncode == 0, created.stderr
    api = Api(server, "")
    try:
        await server.start()
        api.admin_token = await api.login(ADMIN, PASSWORD)
        inbox = await api.create_inbox()

        widget = await api.http.get("/widget.js")
        assert widget.status_code == 200, server.log_text()[-3000:]
        assert media_type(widget.headers["content-type"]) == "text/javascript"
        assert widget.content == (REPO / "app" / "widget" / "widget.js").read_bytes()

        chat = await api.http.get(f"/chat/{inbox['widget_key']}")
        assert chat.status_code == 200, server.log_text()[-3000:]
        assert media_type(chat.headers["content-type"]) == "text/html"
        assert f'src="/widget.js" data-key="{inbox["widget_key"]}"' in chat.text

        console = await api.http.get("/console")
        assert console.status_code == 200, server.log_text()[-3000:]
        assert media_type(console.headers["content-type"]) == "text/html"
        index = REPO / "app" / "console" / "static" / "index.html"
        assert console.content == index.read_bytes()
    finally:
        await api.http.aclose()
        server.stop()
    # The venv is a few hundred MiB; pytest keeps its last temp dirs around.
    shutil.rmtree(venv, ignore_errors=True)
