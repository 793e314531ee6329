"""HTML mail made safe to show, and read as plain text when it is all there is."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import nh3

# Remote images are tracking pixels as often as not, and they would fetch
# from an agent's browser; inline (cid:) images do not resolve outside the
# mail anyway. Links keep working, without opener or referrer.
_TAGS = set(nh3.ALLOWED_TAGS) - {"img"}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
# What is converted to text at most: a bigger HTML part is noise or an attack,
# and html.parser is pure Python.
MAX_HTML_TO_TEXT = 2 * 1024 * 1024


def sanitise(markup: str) -> str:
    """The HTML with scripts, handlers, styles and unsafe URLs removed (nh3)."""
    return nh3.clean(
        markup,
        tags=_TAGS,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_BLOCKS = {
    "p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "pre", "hr", "section", "article", "header", "footer", "ul", "ol",
}  # fmt: skip
_SKIPPED = {"script", "style", "head", "title", "template", "noscript"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def to_text(markup: str) -> str:
    """Readable text of an HTML part: blocks become lines, scripts and styles vanish."""
    collector = _TextCollector()
    try:
        collector.feed(markup[:MAX_HTML_TO_TEXT])
        collector.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup
        pass
    text = html.unescape("".join(collector.parts))
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
