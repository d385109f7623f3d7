"""The client address: forwarding headers believed only from trusted proxies, and never past them."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Scope

from purpose_agent.kit.client_address import ClientAddressResolver, ProxyHeader, parse_address, parse_networks

PROXIES = parse_networks("10.0.0.0/8, 192.0.2.1, 2001:db8:ffff::/48")


def scope_of(peer: tuple[str, int] | None, *headers: tuple[str, str]) -> Scope:
    return {
        "type": "http",
        "client": peer,
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }


@pytest.mark.parametrize(
    ("hop", "expected"),
    [
        ("198.51.100.1", "198.51.100.1"),
        (" 198.51.100.1 ", "198.51.100.1"),
        ("198.51.100.1:8080", "198.51.100.1"),
        ('"198.51.100.1:8080"', "198.51.100.1"),
        ("2001:db8::1", "2001:db8::1"),
        ('"[2001:db8::1]:443"', "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
        ("[2001:db8::1", None),
        ("999.1.1.1", None),
    ],
)
def test_a_hop_is_read_as_an_address_or_not_at_all(hop: str, expected: str | None) -> None:
    address = parse_address(hop)
    assert (str(address) if address else None) == expected


def test_networks_are_listed_with_commas_and_a_bad_one_is_named() -> None:
    assert [str(network) for network in parse_networks("10.0.0.0/8,127.0.0.1 , ::1")] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "::1/128",
    ]
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks("127.0.0.1, 10.0.0.0/33")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    resolver = ClientAddressResolver()
    scope = scope_of(("203.0.113.5", 1), ("X-Forwarded-For", "198.51.100.1"), ("Forwarded", "for=1.2.3.4"))
    assert resolver.resolve(scope) == ip_address("203.0.113.5")
    assert resolver.resolve(scope_of(None)) is None
    assert resolver.resolve(scope_of(("/run/api.sock", 0))) is None


def test_several_header_lines_make_one_chain() -> None:
    resolver = ClientAddressResolver(PROXIES)
    scope = scope_of(
        ("10.0.0.2", 1), ("X-Forwarded-For", "198.51.100.1, 198.51.100.2"), ("X-Forwarded-For", "10.0.0.3")
    )
    assert resolver.resolve(scope) == ip_address("198.51.100.2")


def test_forwarded_elements_without_for_end_the_walk_at_the_proxy() -> None:
    resolver = ClientAddressResolver(PROXIES, ProxyHeader.forwarded)
    scope = scope_of(("10.0.0.2", 1), ("Forwarded", "for=198.51.100.1, by=10.0.0.9;proto=https"))
    assert resolver.resolve(scope) == ip_address("10.0.0.2")
    scope = scope_of(("10.0.0.2", 1), ("Forwarded", 'proto=https;For="[2001:db8::7]:1"'))
    assert resolver.resolve(scope) == ip_address("2001:db8::7")


def test_a_request_from_inside_is_its_left_most_hop() -> None:
    resolver = ClientAddressResolver(PROXIES)
    scope = scope_of(("10.0.0.2", 1), ("X-Forwarded-For", "10.9.9.9, 192.0.2.1"))
    assert resolver.resolve(scope) == ip_address("10.9.9.9")


# 11.0.0.0 to 126.255.255.255: public, and none of them one of PROXIES.
public_ipv4 = st.integers(min_value=0x0B000000, max_value=0x7EFFFFFF).map(IPv4Address)
proxy_hops = st.lists(st.sampled_from(["10.1.1.1", "10.2.2.2", "192.0.2.1", "2001:db8:ffff::5"]), max_size=3)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters=","), max_size=20)
anything = st.lists(st.one_of(header_text, public_ipv4.map(str)), max_size=4)


@given(
    client=public_ipv4,
    written_by_client=anything,
    hops=proxy_hops,
    peer=st.sampled_from(["10.0.0.2", "192.0.2.1"]),
)
def test_whatever_a_client_writes_it_cannot_choose_its_address(
    client: IPv4Address, written_by_client: list[str], hops: list[str], peer: str
) -> None:
    # The client sends any X-Forwarded-For; each proxy on the way appends the address it received from.
    chain = [*written_by_client, str(client), *hops]
    scope = scope_of((peer, 1), ("X-Forwarded-For", ", ".join(chain)))
    assert ClientAddressResolver(PROXIES).resolve(scope) == client


@given(peer=public_ipv4, forwarded_for=anything, forwarded=header_text)
def test_a_peer_that_is_no_trusted_proxy_is_the_client_whatever_it_sends(
    peer: IPv4Address, forwarded_for: list[str], forwarded: str
) -> None:
    for header in ProxyHeader:
        scope = scope_of(
            (str(peer), 1), ("X-Forwarded-For", ", ".join(forwarded_for)), ("Forwarded", f"for={forwarded}")
        )
        assert ClientAddressResolver(PROXIES, header).resolve(scope) == peer
