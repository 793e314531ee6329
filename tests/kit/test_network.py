"""The rule for hosts a config may point the server at: public addresses only,
unless the deployment's allowance exempts a name or a network."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from app.kit.network import (
    HostAllowance,
    HostRefused,
    HostUnresolved,
    is_public,
    public_addresses,
)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - judged, not bound
        "255.255.255.255",
        "224.0.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "203.0.113.5",
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "2002:a00:5::",
    ],
)
def test_addresses_inside_a_network_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_the_allowance_reads_names_addresses_and_networks() -> None:
    allowance = HostAllowance.parse(["Mail.Internal.", " 10.1.0.0/16 ", "127.0.0.1", "[::1]", ""])
    assert allowance.allows_name("mail.internal")
    assert not allowance.allows_name("mail.internal.evil.example")
    assert allowance.allows_address(ipaddress.ip_address("10.1.200.3"))
    assert allowance.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert allowance.allows_address(ipaddress.ip_address("::1"))
    assert not allowance.allows_address(ipaddress.ip_address("10.2.0.1"))
    assert not allowance.allows_address(ipaddress.ip_address("127.0.0.2"))
    with pytest.raises(ValueError, match="neither a host name nor a network"):
        HostAllowance.parse(["10.0.0.0/33"])


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The system resolver, as a table of names and their addresses."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


async def test_a_name_is_judged_by_every_address_it_resolves_to(dns: dict[str, list[str]]) -> None:
    dns["mail.example.com"] = ["93.184.215.14", "2606:2800:21f:cb07::1"]
    dns["split.example.com"] = ["93.184.215.14", "10.0.0.5"]
    dns["zoned.example.com"] = ["fe80::1%eth0"]
    none = HostAllowance()
    found = await public_addresses("mail.example.com", 993, none)
    assert [str(a) for a in found] == ["93.184.215.14", "2606:2800:21f:cb07::1"]
    with pytest.raises(HostRefused, match=r"10\.0\.0\.5"):
        await public_addresses("split.example.com", 993, none)
    with pytest.raises(HostRefused, match="fe80::1"):
        await public_addresses("zoned.example.com", 993, none)
    with pytest.raises(HostUnresolved):
        await public_addresses("nowhere.example.com", 993, none)


async def test_the_allowance_exempts_a_name_or_a_network(dns: dict[str, list[str]]) -> None:
    dns["mail.internal"] = ["10.0.0.5"]
    dns["other.internal"] = ["10.0.0.6"]
    by_name = HostAllowance.parse(["mail.internal"])
    assert [str(a) for a in await public_addresses("MAIL.internal.", 143, by_name)] == ["10.0.0.5"]
    with pytest.raises(HostRefused):
        await public_addresses("other.internal", 143, by_name)
    by_network = HostAllowance.parse(["10.0.0.0/29"])
    assert await public_addresses("other.internal", 143, by_network)
    # The exemption is for that network only: the metadata address stays out.
    dns["metadata.internal"] = ["169.254.169.254"]
    with pytest.raises(HostRefused):
        await public_addresses("metadata.internal", 80, by_network)
