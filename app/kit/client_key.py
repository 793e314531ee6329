"""The key a client address is rate-limited under.

An IPv4 host usually has one address; an IPv6 host is routinely given a whole
/64 (SLAAC, privacy addresses), so keying on the exact IPv6 address would
give one machine 2**64 separate budgets. IPv6 addresses are therefore
counted by their /64, IPv4 ones (and IPv4-mapped IPv6 ones) by the address.
"""

from __future__ import annotations

import ipaddress

# The prefix one IPv6 subscriber is assigned at the least (RFC 6177, RFC 7421).
IPV6_CLIENT_PREFIX = 64


def rate_key_of(address: str) -> str:
    """`addr:<IPv4>` or `net:<IPv6 /64>`; a value that is no IP address (a
    test client, a Unix socket) is kept as it is, under `addr:`."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"addr:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        network = ipaddress.IPv6Network((int(ip), IPV6_CLIENT_PREFIX), strict=False)
        return f"net:{network}"
    return f"addr:{ip}"
