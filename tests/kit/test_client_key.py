"""Client addresses as rate-limit keys: IPv6 by its /64, IPv4 by itself."""

from __future__ import annotations

import pytest

from app.kit.client_key import rate_key_of


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.9", "addr:203.0.113.9"),
        ("2001:db8::1", "net:2001:db8::/64"),
        ("2001:DB8:0:0:ffff:ffff:ffff:ffff", "net:2001:db8::/64"),
        ("2001:db8:0:1::1", "net:2001:db8:0:1::/64"),
        ("::ffff:203.0.113.9", "addr:203.0.113.9"),
        ("fe80::1%eth0", "net:fe80::/64"),
        ("unknown", "addr:unknown"),
    ],
)
def test_addresses_map_to_the_key_of_their_client(address: str, key: str) -> None:
    assert rate_key_of(address) == key
