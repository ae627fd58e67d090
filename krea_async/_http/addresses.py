"""The address rule: which IP addresses are internal (loopback, private, link-local,
...), and how a request that may not reach them is sent on every transport:
resolve the name, check every address, then connect to a checked address.

Downloads follow redirects from servers we do not control; a redirect from a public
URL may not lead into the network the SDK runs in (a cloud metadata service, an
admin page on loopback). A literal address or ``localhost`` name is checked
before anything is sent (:func:`is_internal_host`). A host name is resolved here
(:func:`resolve_host`), each address is checked (:func:`public_addresses`), and
the connection goes to a checked address, so a DNS answer that changes between
the check and the connect (rebinding) cannot get around it.

Requests carry the rule as the request extension :data:`PUBLIC_ONLY`; the
transports of :mod:`krea_async._http._transports.choice` (httpx's own and
aiohttp's) route them to a connection pool of their own whose every connection
was made this way (:class:`PublicOnlyBackend` for httpcore,
``PublicOnlyResolver`` for aiohttp), so no such request ever reuses a connection
made without the check. An ``http_client`` of the caller's own does not know the
extension: there the address the response came from is checked after connecting
(:func:`peer_address`), before any byte of the body is read.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore

__all__ = [
    "PUBLIC_ONLY",
    "AddressRefused",
    "PublicOnlyBackend",
    "is_internal_address",
    "is_internal_host",
    "peer_address",
    "public_addresses",
    "reaches_internal",
    "resolve_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PUBLIC_ONLY = "krea_async.public_only"
"""Request extension: ``True`` when the request may reach public addresses only."""

_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")


class AddressRefused(Exception):
    """A request that may reach public addresses only would reach ``address``
    (an internal one) at ``host``. Raised by the transports before connecting."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


def is_internal_address(ip: IPAddress) -> bool:
    """Loopback, link-local, private (RFC 1918, fc00::/7), shared (100.64/10),
    unspecified, multicast or reserved: not a place a public CDN sends you.
    An IPv4-mapped IPv6 address is judged by its IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4)
    )


def literal_address(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one, in any form the resolver accepts
    (``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``[::ffff:127.0.0.1]``); else ``None``."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_internal_host(host: str) -> bool:
    """Whether ``host`` names an internal address without a DNS lookup: ``localhost``
    names, and literal IPs in any form the resolver accepts."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    ip = literal_address(name)
    return ip is not None and is_internal_address(ip)


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to for a TCP connection (the system resolver,
    in a worker thread); raises :class:`OSError` (``socket.gaierror``) when none."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


async def public_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to for ``host``, all of them checked: a literal
    address as given, else what :func:`resolve_host` answers. Raises
    :class:`AddressRefused` when any of them is internal (one internal answer is
    enough for a redirect to be refused: the name points into the network)."""
    if is_internal_host(host):
        raise AddressRefused(host, host.strip("[]"))
    literal = literal_address(host)
    addresses = [str(literal)] if literal is not None else await resolve_host(host, port)
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if is_internal_address(ip):
            raise AddressRefused(host, address)
    return addresses


def reaches_internal(peer: IPAddress | None, host: str) -> bool:
    """Whether a response came from an internal address: by ``peer`` (the address
    reached, when the transport reports it), else by :func:`is_internal_host`."""
    return is_internal_address(peer) if peer is not None else is_internal_host(host)


def peer_address(response: Any) -> IPAddress | None:
    """The IP address an ``httpx.Response`` came from, when its transport says
    (httpx's own does, through the ``network_stream`` extension)."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        addr = stream.get_extra_info("server_addr")
        return ipaddress.ip_address(str(addr[0]).split("%", 1)[0]) if addr else None
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to checked public addresses:
    :func:`public_addresses`, then each address in turn until one connects. TLS
    still verifies the host name (httpcore passes it to ``start_tls`` separately)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        if inner is None:
            from httpcore._backends.auto import AutoBackend

            inner = AutoBackend()
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await public_addresses(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no Unix sockets for a public-only request")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
