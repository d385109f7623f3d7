"""The address of the client behind a request: the socket peer, or what a trusted proxy says it saw.

A forwarding header is written by whoever sent the request, so it is believed only when the socket
peer is a configured proxy, and then only as far as the chain stays within the proxies: reading
from the right (each proxy appends the address it received from), the first hop that is not a
trusted proxy is the client. Everything left of it was written by the client itself and could say
anything, so a client that sends `X-Forwarded-For: 1.2.3.4` gains nothing.

Only one header is read, the one the proxies are configured to write (`X-Forwarded-For` by
default, or RFC 7239 `Forwarded`): a proxy that maintains one of them passes the other through from
the client untouched, so reading both would let the client choose its address.

A hop that is not an address (`unknown`, an obfuscated `_id`, garbage) ends the walk at the trusted
proxy that reported it: an address we cannot vouch for never becomes a fresh identity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.datastructures import Headers
from starlette.types import Scope

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class ProxyHeader(StrEnum):
    x_forwarded_for = "x-forwarded-for"
    forwarded = "forwarded"


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """Networks from a comma-separated list such as `10.0.0.0/8, 127.0.0.1`; a bare address is one host."""
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An address from a forwarding hop (`1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`, quoted), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    return _unmapped(address)


def _unmapped(address: IPAddress) -> IPAddress:
    # An IPv4 client seen through a dual-stack socket is the same client as over IPv4.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _x_forwarded_for_hops(headers: Headers) -> list[str]:
    return [hop for value in headers.getlist("x-forwarded-for") for hop in value.split(",")]


def _forwarded_hops(headers: Headers) -> list[str]:
    hops = []
    for value in headers.getlist("forwarded"):
        for element in value.split(","):
            pairs = (pair.partition("=") for pair in element.split(";"))
            # An element without `for=` names no hop we can use: it counts as an unreadable one.
            hops.append(next((v for k, _, v in pairs if k.strip().lower() == "for"), ""))
    return hops


@dataclass(frozen=True)
class ClientAddressResolver:
    """Finds a request's client address; forwarding headers count only from `trusted_proxies`."""

    trusted_proxies: tuple[IPNetwork, ...] = ()
    header: ProxyHeader = ProxyHeader.x_forwarded_for

    def is_trusted(self, address: IPAddress) -> bool:
        """Whether `address` is one of the configured proxies."""
        return any(address in network for network in self.trusted_proxies)

    def resolve(self, scope: Scope) -> IPAddress | None:
        """The client's address, or None when the peer is not an IP address (a Unix socket, no peer)."""
        client = scope.get("client")
        peer = parse_address(str(client[0])) if client else None
        if peer is None or not self.is_trusted(peer):
            return peer
        headers = Headers(scope=scope)
        hops = (
            _forwarded_hops(headers)
            if self.header == ProxyHeader.forwarded
            else _x_forwarded_for_hops(headers)
        )
        return self._walk(peer, hops)

    def _walk(self, peer: IPAddress, hops: Iterable[str]) -> IPAddress:
        nearest = peer
        for hop in reversed(list(hops)):
            address = parse_address(hop)
            if address is None:
                return nearest
            nearest = address
            if not self.is_trusted(address):
                return address
        # Every hop is one of our proxies: the request started inside, at the left-most one.
        return nearest
