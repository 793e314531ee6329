"""DMARC (RFC 7489): the From domain's policy record, its organizational
domain, and whether an SPF- or DKIM-authenticated domain is aligned with it.

The organizational domain comes from the Public Suffix List that the
`publicsuffixlist` package ships (updated with its releases): `mail.example.co.uk`
belongs to `example.co.uk`. A name under a suffix the list does not know
(`shop.example`) is its own registrable domain, as the list's default rule says.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from publicsuffixlist import PublicSuffixList

from app.mail.resolver import Resolver

Alignment = Literal["r", "s"]


@dataclass(frozen=True, slots=True)
class Policy:
    """A DMARC record as it applies to one From domain."""

    # none | quarantine | reject: what the domain asks receivers to do with
    # mail that fails (the subdomain policy where the From domain is a subdomain).
    action: str
    adkim: Alignment = "r"
    aspf: Alignment = "r"


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def load_suffix_list() -> None:
    """Reads the list now (~0.1 s, at start-up) rather than on the first mail."""
    _suffixes()


def organizational_domain(domain: str) -> str:
    domain = normalise_domain(domain)
    return _suffixes().privatesuffix(domain) or domain


def normalise_domain(domain: str) -> str:
    """Lowercased, without the root's dot, internationalised names in their
    ASCII form: the form DNS and SPF use, whatever form the From had."""
    domain = domain.strip().lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def aligned(authenticated: str, author: str, mode: Alignment) -> bool:
    """Whether a domain that SPF or DKIM authenticated speaks for the From domain."""
    authenticated = normalise_domain(authenticated)
    author = normalise_domain(author)
    if not authenticated or not author:
        return False
    if mode == "s":
        return authenticated == author
    return organizational_domain(authenticated) == organizational_domain(author)


def parse_record(text: str) -> dict[str, str] | None:
    """A DMARC record's tags; None when `text` is not one."""
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not eq:
            if part.strip():
                return None
            continue
        tags.setdefault(name.strip().lower(), value.strip())
    # "v=DMARC1" must come first and exactly so (RFC 7489 6.4).
    if not text.lstrip().startswith("v") or tags.get("v") != "DMARC1":
        return None
    return tags


def _policy(tags: dict[str, str], subdomain: bool) -> Policy:
    action = tags.get("p", "").lower()
    if subdomain and tags.get("sp", "").lower() in ("none", "quarantine", "reject"):
        action = tags["sp"].lower()
    if action not in ("none", "quarantine", "reject"):
        # A record without a valid p= still says the domain takes part (RFC
        # 7489 6.6.3: treated as p=none when it asks for reports, else ignored).
        action = "none"
    adkim: Alignment = "s" if tags.get("adkim", "").lower() == "s" else "r"
    aspf: Alignment = "s" if tags.get("aspf", "").lower() == "s" else "r"
    return Policy(action=action, adkim=adkim, aspf=aspf)


async def policy_of(resolver: Resolver, domain: str) -> Policy | None:
    """The policy that covers `domain`: its own record, else its organizational
    domain's; None when neither publishes one. Raises DnsTempError."""
    domain = normalise_domain(domain)
    found = await _record(resolver, domain)
    if found is not None:
        return _policy(found, subdomain=False)
    organization = organizational_domain(domain)
    if organization == domain:
        return None
    found = await _record(resolver, organization)
    return _policy(found, subdomain=True) if found is not None else None


async def _record(resolver: Resolver, domain: str) -> dict[str, str] | None:
    records = [
        tags
        for text in await resolver.query(f"_dmarc.{domain}", "TXT")
        if (tags := parse_record(text)) is not None
    ]
    # Several records are as good as none (RFC 7489 6.6.3).
    return records[0] if len(records) == 1 else None
