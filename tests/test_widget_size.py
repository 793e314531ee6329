"""The widget is what every shop page downloads: it stays under its budget of
40 KB gzipped (docs/performance.md, "The widget's size"). It is one file: its
CSS is a string inside it, and it loads nothing else but the API."""

from __future__ import annotations

import gzip
from pathlib import Path

WIDGET = Path(__file__).resolve().parent.parent / "app" / "widget" / "widget.js"
BUDGET = 40_000


def gzipped_size(path: Path) -> int:
    """Near `gzip -9 -c FILE | wc -c`: zlib's level 9 comes out about 1% larger
    than GNU gzip's, so the budget is checked on the larger figure."""
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def test_the_widget_stays_under_40_kb_gzipped() -> None:
    size = gzipped_size(WIDGET)
    assert size <= BUDGET, f"app/widget/widget.js is {size} bytes gzipped, over {BUDGET}"


def test_the_widget_loads_no_other_script_or_stylesheet() -> None:
    # The budget counts one file: an import, a <link> or a second <script> would
    # be a download it does not count.
    text = WIDGET.read_text(encoding="utf-8")
    for sign in ("import(", 'createElement("link")', 'createElement("script")', "@import"):
        assert sign not in text, sign
