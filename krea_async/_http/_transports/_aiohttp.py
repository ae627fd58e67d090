"""aiohttp's side of the address rule (the ``krea-async[aiohttp]`` extra): a session
whose resolver hands aiohttp only checked public addresses, so every connection it
makes goes to an address :func:`~krea_async._http.addresses.public_addresses` checked.
Imported only when aiohttp is chosen and a public-only request is sent."""

from __future__ import annotations

import socket

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

from ..addresses import public_addresses

__all__ = ["PublicOnlyResolver", "public_only_session"]


class PublicOnlyResolver(AbstractResolver):
    """Resolves through :func:`~krea_async._http.addresses.public_addresses`: raises
    :class:`~krea_async._http.addresses.AddressRefused` when a name leads to an
    internal address, so aiohttp never connects there."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for address in await public_addresses(host, port):
            results.append(
                {
                    "hostname": host,
                    "host": address,
                    "port": port,
                    "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        return results

    async def close(self) -> None:
        return None


def public_only_session(limits: httpx.Limits) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` like the one ``httpx_aiohttp`` builds (pool
    ``limits``, httpx's TLS settings) whose resolver is a :class:`PublicOnlyResolver`.
    Called inside the running event loop, at the first public-only request."""
    connector = aiohttp.TCPConnector(
        resolver=PublicOnlyResolver(),
        keepalive_timeout=limits.keepalive_expiry,
        ssl=httpx.create_ssl_context(),
        limit=limits.max_connections or 0,
    )
    return aiohttp.ClientSession(connector=connector)
