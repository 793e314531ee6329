"""The embedded database's directory and files, private to the server's user.

The SQLite file holds password hashes and every conversation: under the
common umask 022 it would be created readable by everyone on the host. A data
dir we create is 0700; the database is created 0600 before SQLite opens it,
and SQLite gives its -wal and -shm files the database's own mode. A dir the
operator made is left as it is (they may share it on purpose), but the
database files in it lose any group or other access.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


def ensure_private_dir(path: Path) -> None:
    """Creates `path` 0700 when missing (its missing parents with the usual
    mode); an existing one keeps its mode."""
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        return  # another command made it first
    # mkdir's mode passes through the umask; a umask of 0o777 &c. must not
    # leave us a dir we cannot use, nor a loose one.
    path.chmod(PRIVATE_DIR)


def prepare_sqlite_file(database: Path) -> None:
    """The database's dir (see ensure_private_dir) and the database itself,
    created empty and 0600 when missing (SQLite treats an empty file as a new
    database); an existing database, -wal, -shm or -journal loses group and
    other access."""
    ensure_private_dir(database.parent)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass
    for path in (database, *(database.with_name(database.name + s) for s in SIDE_FILES)):
        tighten(path)


def tighten(path: Path) -> None:
    """Drops group and other access from a file we own, if it exists."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and info.st_uid == os.getuid():
        path.chmod(mode & ~0o077)
