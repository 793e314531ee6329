"""DNS as mail authentication reads it (SPF, DKIM keys, DMARC policies).

The system's resolver (dnspython's asynchronous one) answers by default; a
deployment or a test may name another with `MADOGUCHI_DNS_RESOLVER`
(`module:Class`, built with the settings), as channel plug-ins are named.
Every lookup is awaited on the event loop and gives up after
`MADOGUCHI_DNS_TIMEOUT_SECONDS`: a mail is never held by a slow name server,
and a lookup that got no answer is a temporary error, not a "no".
"""

from __future__ import annotations

import importlib
import logging
from typing import Literal, Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdata
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from app.config import Settings

log = logging.getLogger(__name__)

RecordType = Literal["TXT", "A", "AAAA", "MX", "PTR"]
# Answers kept across mails: a flood from one domain asks the same names.
CACHE_ENTRIES = 10_000


class DnsTempError(Exception):
    """No answer came (a timeout, SERVFAIL, no server reachable)."""


class Resolver(Protocol):
    """Looks names up for mail authentication.

    Answers are text: a TXT record's strings joined (bytes that are not UTF-8
    kept as surrogate escapes), an address for A and AAAA, "10 mx.example.com"
    for MX, a name for PTR. A name or type that does not exist answers [];
    a lookup that got no answer raises DnsTempError."""

    async def query(self, name: str, rdtype: RecordType) -> list[str]: ...


class SystemResolver:
    """The name servers of /etc/resolv.conf, through dnspython, with a cache
    that keeps answers for their TTL."""

    def __init__(self, settings: Settings) -> None:
        self._resolver: dns.asyncresolver.Resolver | None
        try:
            self._resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            log.warning("no DNS resolver configured: mail senders cannot be verified")
            self._resolver = None
            return
        self._resolver.lifetime = settings.dns_timeout_seconds
        self._resolver.timeout = settings.dns_timeout_seconds
        self._resolver.cache = dns.resolver.LRUCache(CACHE_ENTRIES)

    async def query(self, name: str, rdtype: RecordType) -> list[str]:
        if self._resolver is None:
            raise DnsTempError("no DNS resolver configured")
        try:
            answer = await self._resolver.resolve(
                name, rdtype, search=False, raise_on_no_answer=False
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.YXDOMAIN, dns.name.NameTooLong):
            return []
        except (dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.BadEscape):
            return []  # no such name can exist
        except dns.exception.DNSException as exc:
            # Timeout, NoNameservers (SERVFAIL, REFUSED), a broken answer.
            raise DnsTempError(f"{rdtype} {name}: {exc.__class__.__name__}") from exc
        except UnicodeError:
            return []  # a name IDNA cannot encode
        return [_text(rdata) for rdata in answer.rrset or ()]


def _text(rdata: dns.rdata.Rdata) -> str:
    if isinstance(rdata, TXT):
        return b"".join(rdata.strings).decode("utf-8", "surrogateescape")
    if isinstance(rdata, MX):
        return f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}"
    if isinstance(rdata, PTR):
        return rdata.target.to_text(omit_final_dot=True)
    if isinstance(rdata, A | AAAA):
        return str(rdata.address)
    return rdata.to_text()


def load_resolver(settings: Settings) -> Resolver:
    """The resolver `MADOGUCHI_DNS_RESOLVER` names, else the system's."""
    spec = (settings.dns_resolver or "").strip()
    if not spec:
        return SystemResolver(settings)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"MADOGUCHI_DNS_RESOLVER is module:Class, not {spec!r}")
    factory = getattr(importlib.import_module(module_name), attribute)
    resolver: Resolver = factory(settings)
    return resolver
