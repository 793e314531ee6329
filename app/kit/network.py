"""Where a server of ours may connect when a config names the host (an IMAP
mailbox): to the internet, never into our own network. An admin's setting,
or a stolen admin token, must not turn the server into a client of the
services beside it (loopback, the private ranges, a cloud's metadata at
169.254.169.254). A deployment whose mail server is internal names it in an
allowance (host names, or addresses and networks)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# A lookup that takes longer is treated as failed: the caller is an admin's
# request or a reader's reconnect, and both can try again.
RESOLVE_TIMEOUT_SECONDS = 10.0

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64's
# well-known and local-use ones): 64:ff9b::a9fe:a9fe reaches 169.254.169.254
# through a NAT64 gateway, so the IPv4 inside is what is judged.
_IPV4_CARRIERS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)


# Not on the internet, though Python 3.11's `is_global` says so: the IETF
# protocol assignments (192.0.0.0/24, RFC 6890).
_NOT_GLOBAL = (ipaddress.IPv4Network("192.0.0.0/24"),)


class HostRefused(ValueError):
    """The host resolves to an address inside a private network."""


class HostUnresolved(ValueError):
    """The host has no address (or the lookup failed): nothing can be checked."""


@dataclass(frozen=True, slots=True)
class HostAllowance:
    """The hosts exempt from the rule: names as written in a config, and
    addresses or networks (CIDR) an address may fall in."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostAllowance:
        """`entries` as in the setting: `mail.internal`, `10.0.0.5`, `10.1.0.0/16`."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if "/" in entry:
                    raise ValueError(f"{entry!r} is neither a host name nor a network") from None
                names.add(_name(entry))
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return _name(host) in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _name(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the internet: not loopback, private,
    link-local, shared (CGNAT), reserved, multicast or unspecified, and no
    IPv4 of those wrapped in an IPv6 one (mapped, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            return all(is_public(ip) for ip in inner)
    if any(address in network for network in _NOT_GLOBAL):
        return False
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in carrier for carrier in _IPV4_CARRIERS):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system's resolver gives `host` (a literal gives itself),
    as a connection to it would find them."""
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(_name(host), port, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT_SECONDS,
        )
    # ValueError: a name no resolver can take (a NUL byte); UnicodeError: a
    # label IDNA refuses.
    except (OSError, TimeoutError, ValueError) as exc:
        raise HostUnresolved(f"{host} could not be resolved: {exc}") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonical, sockaddr in found:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before it.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise HostUnresolved(f"{host} has no address")
    return addresses


async def public_addresses(host: str, port: int, allowance: HostAllowance) -> list[IPAddress]:
    """The addresses to connect to for `host`; raises HostRefused when any of
    them is inside a private network and the allowance does not exempt it.
    Every address is judged, not only the first: a name with one public and
    one internal address would otherwise reach the internal one on a retry."""
    addresses = await resolve(host, port)
    if allowance.allows_name(host):
        return addresses
    refused = [a for a in addresses if not is_public(a) and not allowance.allows_address(a)]
    if refused:
        shown = ", ".join(str(a) for a in refused)
        raise HostRefused(f"{host} resolves to an address that is not public ({shown})")
    return addresses
