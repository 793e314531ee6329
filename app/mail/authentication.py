"""Who really sent a mail: SPF, DKIM and DMARC, checked by the listener
itself, or believed from an upstream Authentication-Results header whose
authserv-id the operator trusts (`MADOGUCHI_TRUSTED_AUTHSERV_IDS`).

A sender is verified only when its From domain is authenticated: SPF passed
for the MAIL FROM (or, for the null sender, HELO) domain, or a DKIM signature
verified, and that domain is aligned with the From domain as its DMARC record
asks (relaxed where it publishes none). Where the domain publishes DMARC that
is a DMARC pass; where it does not, an aligned pass. Everything else leaves
the sender unverified: no record, a failure, a lookup that timed out
(temperror). The mail is stored all the same; only whom it may be joined to,
and what an automatic answer may say, depend on the verdict.

Mail read from an IMAP mailbox was not received by us: only a trusted
header can vouch for it. A `dmarc=fail` in any Authentication-Results header
counts whoever wrote it: it can only lower trust.

pyspf and dkimpy are synchronous. They run in a few threads of our own, never
the event loop's: SPF's lookups come back to the loop's resolver (so each has
its timeout), DKIM's keys are fetched on the loop before the signatures are
checked in a thread (hashing a large body takes a while).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import re
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address
from typing import Any

import dkim
import spf

from app.mail import dmarc
from app.mail.resolver import DnsTempError, RecordType, Resolver

log = logging.getLogger(__name__)
# dkimpy logs a hostile mail's broken signature or key as an ERROR.
_dkim_log = logging.getLogger(f"{__name__}.dkim")
_dkim_log.setLevel(logging.CRITICAL)

# Mails checked at once; the rest wait their turn (the SMTP client waits too).
THREADS = 8
# A mail signed more often than this is checked on its first signatures only:
# each costs a lookup, and real mail carries one to three.
MAX_SIGNATURES = 5
# SPF may need ten lookups in a row (RFC 7208 4.6.4): the whole check, and
# the whole verdict, is bounded, whatever each lookup's timeout.
CHECK_LOOKUPS = 4


@dataclass(frozen=True, slots=True)
class SmtpFacts:
    """What the SMTP session told us about the sending host."""

    client_ip: str
    helo: str
    mail_from: str  # "" for the null sender of bounces


@dataclass(frozen=True, slots=True)
class Verdict:
    verified: bool
    spf: str = "none"
    dkim: str = "none"
    dmarc: str = "none"
    # The From domain's DMARC policy (none, quarantine, reject), when it has one.
    policy: str | None = None
    # Whose word it is: None for our own checks, else the trusted authserv-id.
    authserv_id: str | None = None

    def describe(self) -> str:
        """For agents: "spf=pass dkim=none dmarc=fail (p=reject)"."""
        said = f"spf={self.spf} dkim={self.dkim} dmarc={self.dmarc}"
        if self.policy:
            said += f" (p={self.policy})"
        if self.authserv_id:
            said += f" by {self.authserv_id}"
        return said


class MailAuthenticator:
    def __init__(
        self,
        resolver: Resolver,
        *,
        trusted_authserv_ids: Collection[str] = (),
        lookup_timeout: float = 5.0,
    ) -> None:
        self.resolver = resolver
        self.trusted = frozenset(i.strip().lower() for i in trusted_authserv_ids if i.strip())
        self.lookup_timeout = lookup_timeout
        self.deadline = lookup_timeout * CHECK_LOOKUPS
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=THREADS, thread_name_prefix="mail-auth"
        )

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def verdict(
        self,
        raw: bytes,
        *,
        author: str | None,
        results: Sequence[str],
        smtp: SmtpFacts | None,
    ) -> Verdict:
        """`author`: the From address the parser read (None when there is no
        single one); `results`: the mail's Authentication-Results headers, top
        first; `smtp`: the session it came in, None for mail read over IMAP."""
        domain = author.rpartition("@")[2].lower() if author and "@" in author else None
        if domain is None:
            return Verdict(verified=False)
        upstream = upstream_verdict(results, self.trusted, domain)
        if smtp is None:
            found = upstream or Verdict(verified=False)
        elif upstream is not None and upstream.verified:
            found = upstream
        else:
            found = await self._own(raw, domain, smtp)
        if found.verified and failed_elsewhere(results, domain):
            return dataclasses.replace(found, verified=False, dmarc="fail")
        return found

    async def _own(self, raw: bytes, domain: str, smtp: SmtpFacts) -> Verdict:
        try:
            async with asyncio.timeout(self.deadline):
                return await self._check(raw, domain, smtp)
        except TimeoutError:
            log.info("authenticating mail from %s timed out", domain)
            return Verdict(verified=False, spf="temperror", dkim="temperror", dmarc="temperror")

    async def _check(self, raw: bytes, domain: str, smtp: SmtpFacts) -> Verdict:
        (spf_result, spf_domain), signatures, (policy, unknown) = await asyncio.gather(
            self._spf(smtp), self._dkim(raw), self._policy(domain)
        )
        aspf: dmarc.Alignment = "r"
        adkim: dmarc.Alignment = "r"
        if policy is not None:
            aspf, adkim = policy.aspf, policy.adkim
        elif unknown:
            # Whether the domain asks for strict alignment is unknown: only
            # what would pass under it counts.
            aspf = adkim = "s"
        verified = (spf_result == "pass" and dmarc.aligned(spf_domain, domain, aspf)) or any(
            result == "pass" and dmarc.aligned(signer, domain, adkim)
            for signer, result in signatures
        )
        if policy is not None:
            dmarc_result, action = ("pass" if verified else "fail"), policy.action
        else:
            dmarc_result, action = ("temperror" if unknown else "none"), None
        return Verdict(
            verified=verified,
            spf=spf_result,
            dkim=_summary([result for _, result in signatures]),
            dmarc=dmarc_result,
            policy=action,
        )

    async def _policy(self, domain: str) -> tuple[dmarc.Policy | None, bool]:
        """The domain's DMARC policy, and whether looking it up failed."""
        try:
            return await dmarc.policy_of(self.resolver, domain), False
        except DnsTempError:
            return None, True

    # -- SPF ---------------------------------------------------------------

    async def _spf(self, smtp: SmtpFacts) -> tuple[str, str]:
        """SPF's result for the MAIL FROM domain (HELO's for the null sender),
        and that domain."""
        sender = smtp.mail_from.strip().strip("<>")
        helo = smtp.helo.strip().lower()
        domain = sender.rpartition("@")[2].lower() if "@" in sender else helo
        client = _client_ip(smtp.client_ip)
        if client is None or not domain:
            return "none", domain
        bridge = _LoopDns(self.resolver, asyncio.get_running_loop(), self.lookup_timeout)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self._threads, _spf_check, bridge, client, sender, helo, self.deadline
            )
        except Exception:  # noqa: BLE001 - a bug in a check must not lose the mail
            log.exception("SPF check of %s failed", domain)
            return "temperror", domain
        return result, domain

    # -- DKIM --------------------------------------------------------------

    async def _dkim(self, raw: bytes) -> list[tuple[str, str]]:
        """(signing domain, result) for each of the first signatures."""
        if b"dkim-signature" not in raw[: _header_end(raw)].lower():
            return []
        loop = asyncio.get_running_loop()
        try:
            checker, signatures = await loop.run_in_executor(self._threads, _dkim_signatures, raw)
        except Exception:  # noqa: BLE001 - hostile input may break dkimpy anywhere
            log.info("DKIM signatures unreadable", exc_info=True)
            return [("", "permerror")]
        keys: dict[bytes, bytes | None] = {}
        failed: set[bytes] = set()

        async def fetch(name: bytes) -> None:
            try:
                found = await self.resolver.query(name.decode("ascii").rstrip("."), "TXT")
            except (DnsTempError, UnicodeError):
                failed.add(name)
                return
            keys[name] = found[0].encode("utf-8", "surrogateescape") if found else None

        names = {_key_name(sig) for _, sig in signatures}
        await asyncio.gather(*(fetch(name) for name in names if name))
        results: list[tuple[str, str]] = []
        for index, sig in signatures:
            signer = sig.get(b"d", b"").decode("ascii", "replace").lower()
            name = _key_name(sig)
            if not name:
                results.append((signer, "permerror"))
            elif name in failed:
                results.append((signer, "temperror"))
            elif keys.get(name) is None:
                results.append((signer, "permerror"))  # no key published
            else:
                passed = await loop.run_in_executor(
                    self._threads, _dkim_verify, checker, index, keys
                )
                results.append((signer, "pass" if passed else "fail"))
        return results


# -- upstream headers --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Result:
    method: str
    result: str
    properties: dict[str, str]


def upstream_verdict(
    headers: Sequence[str], trusted: Collection[str], domain: str
) -> Verdict | None:
    """The verdict of the topmost Authentication-Results header that a trusted
    authserv-id wrote; None when there is none. A trusted MTA strips headers
    that claim its id from the mail it receives (RFC 8601 5), and adds its own
    on top: one lower down may be a sender's forgery, so only the first counts."""
    if not trusted:
        return None
    for header in headers:
        authserv_id, results = parse_results(header)
        if authserv_id not in trusted:
            continue
        by = {r.method: r for r in reversed(results)}  # the first of each method
        spf_result = by["spf"].result if "spf" in by else "none"
        dkim_result = by["dkim"].result if "dkim" in by else "none"
        found = by.get("dmarc")
        if found is not None and not _about(found.properties.get("header.from"), domain):
            found = None
        if found is not None and found.result == "pass":
            verified = True
        elif found is None or found.result == "none":
            # No DMARC said (or none published): an aligned pass vouches.
            verified = any(
                r.result == "pass" and dmarc.aligned(_domain_of(_signer(r)), domain, "r")
                for r in results
            )
        else:
            verified = False
        return Verdict(
            verified=verified,
            spf=spf_result,
            dkim=dkim_result,
            dmarc=found.result if found is not None else "none",
            authserv_id=authserv_id,
        )
    return None


def failed_elsewhere(headers: Sequence[str], domain: str) -> bool:
    """Whether any Authentication-Results header says DMARC failed for the
    From domain: whoever wrote it, believing it can only lower trust."""
    for header in headers:
        for found in parse_results(header)[1]:
            if (
                found.method == "dmarc"
                and found.result == "fail"
                and _about(found.properties.get("header.from"), domain)
            ):
                return True
    return False


def parse_results(header: str) -> tuple[str, list[_Result]]:
    """(authserv-id, results) of an Authentication-Results value (RFC 8601),
    read leniently: comments dropped, `method=result ptype.property=value`."""
    parts = [part.strip() for part in _without_comments(header).split(";")]
    head = parts[0].split()
    if not head or "=" in head[0]:
        return "", []  # no authserv-id: nobody to trust
    results: list[_Result] = []
    for part in parts[1:]:
        tokens = part.split()
        if not tokens:
            continue
        method, eq, result = tokens[0].partition("=")
        if not eq:
            continue
        properties: dict[str, str] = {}
        for token in tokens[1:]:
            key, eq, value = token.partition("=")
            if eq and "." in key:
                properties.setdefault(key.lower(), value.strip('"'))
        results.append(_Result(method.split("/")[0].lower(), result.lower(), properties))
    return head[0].lower(), results


def _without_comments(text: str) -> str:
    out: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out)


def _about(value: str | None, domain: str) -> bool:
    return value is None or _domain_of(value) == domain


def _signer(found: _Result) -> str:
    if found.method == "dkim":
        return found.properties.get("header.d") or found.properties.get("header.i", "")
    if found.method == "spf":
        return found.properties.get("smtp.mailfrom") or found.properties.get("smtp.helo", "")
    return ""


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip("<>").lower().rstrip(".")


def _summary(results: Sequence[str]) -> str:
    for wanted in ("pass", "temperror", "fail", "permerror"):
        if wanted in results:
            return wanted
    return "none"


# -- in the threads ------------------------------------------------------------


def _client_ip(value: str) -> str | None:
    try:
        address = ip_address(value.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class _LoopDns:
    """pyspf's DNS, answered by the loop's resolver from pyspf's thread."""

    def __init__(self, resolver: Resolver, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.resolver = resolver
        self.loop = loop
        self.timeout = timeout

    def lookup(self, name: str, qtype: str, strict: Any = True, timeout: Any = None) -> list[Any]:
        if qtype not in ("TXT", "A", "AAAA", "MX", "PTR"):
            return []  # the SPF type (99) is obsolete: its records are TXT too
        rdtype: RecordType = qtype  # type: ignore[assignment]
        future = asyncio.run_coroutine_threadsafe(self.resolver.query(name, rdtype), self.loop)
        try:
            answers = future.result(self.timeout + 1)
        except DnsTempError as exc:
            raise spf.TempError(f"DNS {exc}") from exc
        except TimeoutError as exc:
            future.cancel()
            raise spf.TempError(f"DNS timeout: {qtype} {name}") from exc
        key = (name, qtype)
        if qtype == "TXT":
            return [(key, [text.encode("utf-8", "surrogateescape")]) for text in answers]
        if qtype == "MX":
            found = []
            for text in answers:
                preference, _, exchange = text.partition(" ")
                if preference.isdigit() and exchange:
                    found.append((key, (int(preference), exchange)))
            return found
        return [(key, text) for text in answers]


_spf_thread = threading.local()


def _spf_lookup(name: str, qtype: str, strict: Any = True, timeout: Any = None) -> list[Any]:
    bridge: _LoopDns | None = getattr(_spf_thread, "bridge", None)
    if bridge is None:
        raise spf.TempError("DNS is answered only inside a mail check")
    return bridge.lookup(name, qtype, strict, timeout)


# pyspf looks names up through this module-level hook (its own tests replace
# it the same way); the thread's bridge decides which loop answers.
spf.DNSLookup = _spf_lookup


def _spf_check(bridge: _LoopDns, client: str, sender: str, helo: str, deadline: float) -> str:
    _spf_thread.bridge = bridge
    try:
        query = spf.query(i=client, s=sender, h=helo, timeout=bridge.timeout, querytime=deadline)
        result, _, _ = query.check()
        return str(result)
    finally:
        _spf_thread.bridge = None


def _header_end(raw: bytes) -> int:
    found = re.search(rb"\r?\n\r?\n", raw)
    return found.start() if found else len(raw)


def _dkim_signatures(raw: bytes) -> tuple[dkim.DKIM, list[tuple[int, dict[bytes, bytes]]]]:
    checker = dkim.DKIM(raw, logger=_dkim_log)
    count = sum(1 for name, _ in checker.headers if name.lower() == b"dkim-signature")
    signatures: list[tuple[int, dict[bytes, bytes]]] = []
    for index in range(min(count, MAX_SIGNATURES)):
        try:
            prepared = checker.verify_headerprep(index)
        except dkim.DKIMException:
            signatures.append((index, {}))
            continue
        if prepared:
            signatures.append((index, dict(prepared[0])))
    return checker, signatures


def _key_name(sig: dict[bytes, bytes]) -> bytes:
    if not sig.get(b"s") or not sig.get(b"d"):
        return b""
    return sig[b"s"] + b"._domainkey." + sig[b"d"] + b"."


def _dkim_verify(checker: dkim.DKIM, index: int, keys: dict[bytes, bytes | None]) -> bool:
    def from_fetched(name: bytes, timeout: float = 5) -> bytes | None:
        return keys.get(name)

    try:
        return bool(checker.verify(idx=index, dnsfunc=from_fetched))
    except dkim.DKIMException:
        return False
