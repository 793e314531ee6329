"""A real Dovecot IMAP server for the tests: its own config in a temp dir,
plaintext login on 127.0.0.1, a passwd-file of users, Maildir mailboxes.

scripts/test installs `dovecot-imapd`. Without it (or without root, which
Dovecot needs to drop to its own users) the IMAP tests fail in CI and skip
elsewhere, saying why.
"""

from __future__ import annotations

import imaplib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = madoguchi-test-{port}
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
mail_location = maildir:{root}/mail/%u
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"IMAP tests cannot run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Dovecot:
    root: Path
    port: int
    password: str

    def add_user(self, name: str | None = None) -> str:
        """A new mailbox; Dovecot reads the passwd-file again when it changes."""
        name = name or f"user{secrets.token_hex(4)}"
        with (self.root / "users").open("a") as users:
            users.write(f"{name}:{{PLAIN}}{self.password}\n")
        return name

    def client(self, user: str) -> imaplib.IMAP4:
        """A signed-in client. Dovecot notices a changed passwd-file by its
        stat, so a user added a moment ago may be refused once or twice
        (seen under load in CI): tried again for a few seconds, each refused
        connection closed."""
        deadline = time.monotonic() + 10
        while True:
            client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
            try:
                client.login(user, self.password)
                return client
            except imaplib.IMAP4.error:
                client.shutdown()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def append(self, user: str, raw: bytes, *, seen: bool = False, folder: str = "INBOX") -> None:
        client = self.client(user)
        try:
            status, _ = client.append(folder, "(\\Seen)" if seen else None, None, raw)
            assert status == "OK"
        finally:
            client.logout()

    def recreate(self, user: str, folder: str) -> None:
        """Deletes the folder and makes it anew: a new UIDVALIDITY, UIDs from 1."""
        client = self.client(user)
        try:
            client.delete(folder)
            status, _ = client.create(folder)
            assert status == "OK"
        finally:
            client.logout()

    def seen_ids(self, user: str) -> dict[str, bool]:
        """Message-ID → whether the mail is \\Seen, for the user's INBOX."""
        client = self.client(user)
        try:
            client.select("INBOX", readonly=True)
            status, data = client.uid(
                "FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            )
            assert status == "OK"
            found: dict[str, bool] = {}
            for item in data:
                if isinstance(item, tuple):
                    flags, header = item[0], item[1]
                    mid = header.decode().split(":", 1)[1].strip().strip("<>")
                    found[mid] = b"\\Seen" in flags
            return found
        finally:
            client.logout()

    def imap_config(self, user: str, folder: str = "INBOX") -> dict[str, object]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": user,
            "password": self.password,
            "tls": False,
            "folder": folder,
        }


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("dovecot did not start listening")


def _run_dovecot(extra_config: str = "") -> Iterator[Dovecot]:
    if not Path(DOVECOT).exists():
        _unavailable("dovecot is not installed (apt-get install dovecot-imapd)")
    if os.geteuid() != 0:
        _unavailable("dovecot needs root to switch to its own users")
    # Not under pytest's 0700 temp dirs: the dovecot user must reach the mail.
    root = Path(tempfile.mkdtemp(prefix="madoguchi-dovecot-"))
    root.chmod(0o755)
    (root / "mail").mkdir()
    shutil.chown(root / "mail", "dovecot", "dovecot")
    (root / "users").write_text("")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(CONFIG.format(root=root, port=port) + extra_config)
    out = root / "out.log"
    with out.open("wb") as log:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_listening(port, process, out)
        yield Dovecot(root, port, secrets.token_hex(8))
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    yield from _run_dovecot()


@pytest.fixture(scope="session")
def dovecot_without_idle() -> Iterator[Dovecot]:
    """A server that does not offer IDLE, so readers must poll."""
    yield from _run_dovecot(
        "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS\n"
    )
