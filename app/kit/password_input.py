"""A password for a shell command, kept out of `ps` and the shell's history
when the operator wants: the option, else an environment variable, else
asked twice without echo on the terminal."""

from __future__ import annotations

import getpass
import os
import sys

MIN_LENGTH = 8
MAX_LENGTH = 1024


class NoPassword(Exception):
    """Why no usable password came; one line for the operator."""


def read_password(given: str | None, env: str, prompt: str) -> str:
    password = given or os.environ.get(env)
    if not password:
        if not sys.stdin.isatty():
            raise NoPassword(
                f"no password: give it with --password or {env}, "
                "or run the command in a terminal to be asked"
            )
        try:
            password = getpass.getpass(prompt)
            again = getpass.getpass("Again: ")
        except (EOFError, KeyboardInterrupt):
            raise NoPassword("no password given") from None
        if again != password:
            raise NoPassword("the two passwords differ")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise NoPassword(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    return password
