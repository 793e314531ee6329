"""How many SMTP sessions the listener holds at once, and how fast one client
may open them.

A session costs a socket, a task and up to a whole message in memory, so
strangers on the internet get a bounded share: a global cap, a cap per client,
and a per-client rate of new sessions. A client is one IPv4 address, or one
IPv6 /64 (what one subscriber or one server is usually given: capping single
IPv6 addresses would cap nothing). Relays named by the operator (an MTA in
front on the same host, where every session comes from one address) are held
only to the global cap.

Only the listener's process counts: `serve --workers N` runs one listener.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeAlias

from app.config import Settings
from app.errors import RateLimited
from app.kit.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# What a refused session reads instead of the banner: 421 is a temporary
# failure (RFC 5321 §3.8), so a real MTA keeps the mail queued and retries.
TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections, try again later\r\n"
# The key of a peer without an address (it left before it was accepted).
UNKNOWN_CLIENT = "unknown"

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_relays(relays: Iterable[str]) -> tuple[Network, ...]:
    """The trusted relays setting as networks ("192.0.2.7", "10.0.0.0/8");
    raises ValueError naming a bad entry, at startup."""
    networks = []
    for relay in relays:
        try:
            networks.append(ipaddress.ip_network(relay.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"smtp_trusted_relays: {relay!r} is no address or network") from exc
    return tuple(networks)


def _address_of(peer_ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        # A link-local peer carries its zone ("fe80::1%eth0").
        address = ipaddress.ip_address(peer_ip.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d.
        return address.ipv4_mapped
    return address


def client_of(peer_ip: str) -> str:
    """The key a peer is counted under: its IPv4 address or its IPv6 /64."""
    address = _address_of(peer_ip)
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class SmtpSessionLimits:
    """0 turns a limit off."""

    max_sessions: int = 200
    max_sessions_per_client: int = 20
    sessions_per_client_per_minute: int = 60
    trusted_relays: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSessionLimits:
        return cls(
            max_sessions=settings.smtp_max_sessions,
            max_sessions_per_client=settings.smtp_max_sessions_per_ip,
            sessions_per_client_per_minute=settings.smtp_connections_per_ip_per_minute,
            trusted_relays=parse_relays(settings.smtp_trusted_relays),
        )


@dataclass
class SessionSlot:
    """One admitted session; `client` is None for a trusted relay (counted
    only globally)."""

    client: str | None
    released: bool = False


class SmtpAdmission:
    """Admits or refuses each new session, and takes back its slot when it ends."""

    def __init__(self, limits: SmtpSessionLimits) -> None:
        self.limits = limits
        self.open_sessions = 0
        self._per_client: Counter[str] = Counter()
        self._started = RateLimiter(limits.sessions_per_client_per_minute)
        # A flood is refused thousands of times a minute: one log line per
        # client per minute says so.
        self._refusals_logged = RateLimiter(1)

    def admit(self, peer_ip: str) -> SessionSlot | None:
        limits = self.limits
        if limits.max_sessions and self.open_sessions >= limits.max_sessions:
            self._refused(client_of(peer_ip), "all sessions are taken")
            return None
        if self._is_relay(peer_ip):
            self.open_sessions += 1
            return SessionSlot(client=None)
        client = client_of(peer_ip)
        if (
            limits.max_sessions_per_client
            and self._per_client[client] >= limits.max_sessions_per_client
        ):
            self._refused(client, "too many sessions open")
            return None
        try:
            # Counts admitted sessions only: refusals cost next to nothing,
            # and a flood that stops frees its client within a minute at most.
            self._started.hit(client)
        except RateLimited:
            self._refused(client, "too many new sessions a minute")
            return None
        self.open_sessions += 1
        self._per_client[client] += 1
        return SessionSlot(client=client)

    def release(self, slot: SessionSlot) -> None:
        if slot.released:
            return
        slot.released = True
        self.open_sessions -= 1
        if slot.client is not None:
            self._per_client[slot.client] -= 1
            if self._per_client[slot.client] <= 0:
                # Bounded memory: only clients with a session open are kept.
                del self._per_client[slot.client]

    def sessions_of(self, peer_ip: str) -> int:
        return self._per_client[client_of(peer_ip)]

    def _is_relay(self, peer_ip: str) -> bool:
        address = _address_of(peer_ip)
        return address is not None and any(
            address in network for network in self.limits.trusted_relays
        )

    def _refused(self, client: str, why: str) -> None:
        try:
            self._refusals_logged.hit(client)
        except RateLimited:
            return
        log.warning("SMTP session from %s refused with 421: %s", client, why)
