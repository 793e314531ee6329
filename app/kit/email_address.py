"""Email addresses, checked by syntax only.

Self-hosted help desks live on `.test`, `.local`, `.internal`, `.lan` and bare
intranet names, and the mail servers that deliver there do not care; a check
that knows the public DNS (special-use domains, one-label domains) turns real
addresses away. So an address is a local part, "@" and a domain of one or more
labels; nothing is looked up. Agents, customers and inbox addresses (the email
channel's config) all take `EmailAddress`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# RFC 3696's errata: a 64-octet local part, "@" and a 255-octet domain.
MAX_LENGTH = 320

# RFC 5322's atext and dots, and any non-ASCII character (RFC 6531). Dots may
# lead, trail and repeat: Japanese carriers handed out "taro..x.@docomo.ne.jp"
# for years, and their servers still deliver to it.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+")
# Hostname characters, underscores (intranet names have them) or non-ASCII (IDNs).
_LABEL = re.compile(r"[A-Za-z0-9_\-\u0080-\U0010ffff]{1,63}")


def normalise_email(value: str) -> str:
    """The address stripped and with its domain lowercased; ValueError when it
    is not local-part@domain. The local part keeps its case: only its own
    server knows whether case matters there."""
    address = value.strip()
    if len(address) > MAX_LENGTH:
        raise ValueError(f"an email address has at most {MAX_LENGTH} characters")
    local_part, at, domain = address.rpartition("@")
    # isprintable() refuses control characters and every space but " ",
    # which neither pattern allows.
    if (
        not at
        or not address.isprintable()
        or not _LOCAL_PART.fullmatch(local_part)
        or not all(_LABEL.fullmatch(label) for label in domain.split("."))
    ):
        raise ValueError("not an email address: expected local-part@domain")
    return f"{local_part}@{domain.lower()}"


EmailAddress = Annotated[
    str,
    AfterValidator(normalise_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_LENGTH}),
]
