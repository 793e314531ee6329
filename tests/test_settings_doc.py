"""docs/settings.md is the table app/settings_doc.py generates from app/config.py."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings
from app.settings_doc import REGENERATE, render, rows, undocumented

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_docs_settings_md_is_what_the_generator_writes() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        f"docs/settings.md is stale: run `.venv/bin/{REGENERATE}` from the repository root"
    )


def test_every_setting_is_in_the_table_under_its_environment_variable() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"| `MADOGUCHI_{name.upper()}` |" in text, name


def test_every_setting_says_what_it_does() -> None:
    assert not undocumented(), (
        "settings with no description: give their Field() a description= in app/config.py "
        f"or add them to DESCRIPTIONS in app/settings_doc.py, then run `{REGENERATE}`"
    )


def test_the_table_shows_the_real_defaults_and_bounds() -> None:
    by_env = {row.env: row for row in rows()}
    assert by_env["MADOGUCHI_SMTP_PORT"].default == "`2525`"
    assert by_env["MADOGUCHI_SMTP_PORT"].type == "integer, ≥ 0, ≤ 65535"
    assert by_env["MADOGUCHI_DATA_DIR"].default == "`./data`"
    assert by_env["MADOGUCHI_DEMO_PAGE"].default == "`1`"
    assert by_env["MADOGUCHI_SMTP_TRUSTED_RELAYS"].default == "`127.0.0.0/8,::1`"
    assert by_env["MADOGUCHI_LOG_FORMAT"].type == "`text` | `json`"
