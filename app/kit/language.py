"""A customer's language as a primary subtag ("ja"): what routing matches skills by.

What the channel says wins (a platform's language code, the widget's), then
the script of what the customer wrote: kana can only be Japanese and hangul
only Korean. Anything else is unknown ("") rather than guessed: a wrong guess
would hold a conversation back for a speaker it does not need.
"""

from __future__ import annotations

import re
from typing import Any

_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")


def primary_subtag(tag: str | None) -> str:
    """ "ja-JP" → "ja"; "" for anything that is not a language tag."""
    if not tag or not _TAG.match(tag.strip()):
        return ""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def skill_set(skills: list[str]) -> frozenset[str]:
    """An agent's skills as routing matches them: lower case, and a language
    skill also as its primary subtag ("ja-JP" speaks "ja")."""
    out: set[str] = set()
    for skill in skills:
        lowered = skill.strip().lower()
        out.add(lowered)
        primary = primary_subtag(lowered)
        if primary:
            out.add(primary)
    return frozenset(out)


def from_script(text: str) -> str:
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    return ""


def language_of(meta: dict[str, Any] | None, customer_language: str | None, body: str) -> str:
    """The language of a conversation from its first customer message."""
    sender = (meta or {}).get("sender") or {}
    said = sender.get("language") if isinstance(sender, dict) else None
    return (
        primary_subtag(said if isinstance(said, str) else None)
        or primary_subtag(customer_language)
        or from_script(body)
    )
