"""The DNS that test servers see (MADOGUCHI_DNS_RESOLVER, set by the harness
for every server): records from a JSON file the test writes, re-read when it
changes, in the server's own process. No test reaches a real name server.

The file, `MADOGUCHI_TEST_DNS_FILE`, maps a record type to names and their
records' text, as `app.mail.resolver.Resolver` answers them:

    {"TXT": {"example.com": ["v=spf1 ip4:127.0.0.1 -all"]},
     "A": {"mx.example.com": ["127.0.0.1"]},
     "timeout": ["slow.example"]}

Names under "timeout" raise DnsTempError, as a name server that never answers.
What the file does not say comes from the test world (WORLD): every domain
lets 127.0.0.1 send its mail (SPF), none publishes DKIM keys or DMARC, so
ordinary test mail, sent with a MAIL FROM in its From domain, is from a
verified sender. TXT "*" answers any name without an underscore label.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from app.config import Settings
from app.mail.resolver import DnsTempError, RecordType

ENV = "MADOGUCHI_TEST_DNS_FILE"
WORLD: dict[str, Any] = {"TXT": {"*": ["v=spf1 ip4:127.0.0.1 ip6:::1 -all"]}}


class FileResolver:
    def __init__(self, settings: Settings | None = None) -> None:
        path = os.environ.get(ENV)
        self.path = Path(path) if path else None
        self._seen: tuple[float, int] | None = None
        self._records: dict[str, Any] = WORLD

    def _current(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return WORLD
        stat = self.path.stat()
        if self._seen != (stat.st_mtime, stat.st_size):
            self._records = merged(WORLD, json.loads(self.path.read_text()))
            self._seen = (stat.st_mtime, stat.st_size)
        return self._records

    async def query(self, name: str, rdtype: RecordType) -> list[str]:
        records = self._current()
        name = name.lower().rstrip(".")
        if name in records.get("timeout", ()):
            raise DnsTempError(f"{rdtype} {name}: timed out (test DNS)")
        table: dict[str, list[str]] = records.get(rdtype, {})
        if name in table:
            return list(table[name])
        if "*" in table and not any(label.startswith("_") for label in name.split(".")):
            return list(table["*"])
        return []


def merged(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        key: dict(value) if isinstance(value, dict) else list(value) for key, value in base.items()
    }
    for key, value in more.items():
        if isinstance(value, dict):
            out.setdefault(key, {}).update(value)
        else:
            out[key] = sorted({*out.get(key, ()), *value})
    return out


def publish(path: Path, records: dict[str, Any]) -> None:
    """Adds records to the file a running server reads (atomically: the server
    never reads half a file)."""
    current = json.loads(path.read_text()) if path.is_file() else {}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(merged(current, records)))
    # A new size or mtime tells the server to read it again; two writes in one
    # mtime tick differ in size, as records are only ever added.
    temporary.replace(path)
