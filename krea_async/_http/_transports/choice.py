"""The HTTP transports of a client's ``httpx.AsyncClient``.

- :func:`default_transport`: httpx's own transport (httpcore) on a
  :class:`~krea_async._http.pool.LeanPool`, on asyncio and trio: what a client uses
  when it creates its own ``httpx.AsyncClient``. With the SDK's admission limit in
  front of the pool its CPU cost per request is low, and it keeps httpx's exception
  and timeout semantics exactly (see the scaling guide for the measured difference).
- :func:`aiohttp_transport`: ``httpx_aiohttp.AiohttpTransport`` (the
  ``krea-async[aiohttp]`` extra) under asyncio; trio gets httpx's own transport,
  since aiohttp runs on asyncio only. The choice is made at the first request, when
  the event loop is known (a client may be built outside of it). Public as
  :func:`krea_async.aiohttp_client`.

Both send download redirects marked public-only to a pool that connects only to
checked public addresses (:mod:`krea_async._http.addresses`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import httpx

from ..._errors import ConfigurationError

__all__ = ["aiohttp_transport", "default_transport"]


def default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """httpx's own transport on a :class:`~krea_async._http.pool.LeanPool` of ``limits``.

    Requests marked with the :data:`~krea_async._http.addresses.PUBLIC_ONLY`
    extension (download redirects from a public URL) go to a pool of their own
    whose connections are made only to checked public addresses (resolve, check,
    connect to the checked address).
    """
    # The API's pool is built now: its connection limits are checked at once.
    return _Routed(limits, _httpx_transport, api_pool=_httpx_transport(limits, False))


def aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """aiohttp's transport under asyncio (httpx's own under trio) with the pool
    ``limits``, routed like :func:`default_transport`; raises
    :class:`~krea_async.ConfigurationError` without ``httpx-aiohttp`` installed."""
    import importlib.util  # (import time)

    if importlib.util.find_spec("httpx_aiohttp") is None:
        raise ConfigurationError(
            "aiohttp_client() needs the aiohttp extra: pip install 'krea-async[aiohttp]'"
        )
    return _Routed(limits, _aiohttp_transport)


def _httpx_transport(limits: httpx.Limits, public_only: bool) -> httpx.AsyncBaseTransport:
    from ..pool import lean_transport  # imports httpcore, which httpx imports lazily

    if not public_only:
        return lean_transport(limits)
    from ..addresses import PublicOnlyBackend

    return lean_transport(limits, network_backend=PublicOnlyBackend())


def _aiohttp_transport(limits: httpx.Limits, public_only: bool) -> httpx.AsyncBaseTransport:
    """aiohttp's transport under asyncio, httpx's own under trio (chosen at the first
    request, when the event loop is known)."""
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        return _httpx_transport(limits, public_only)
    from httpx_aiohttp import AiohttpTransport

    if not public_only:
        transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
        return transport
    from ._aiohttp import public_only_session

    return AiohttpTransport(limits=limits, client=functools.partial(public_only_session, limits))


class _Routed(httpx.AsyncBaseTransport):
    """Two pools built lazily by ``make(limits, public_only)``: one for requests marked
    :data:`~krea_async._http.addresses.PUBLIC_ONLY`, one for the others (``api_pool``,
    when given, is that one already built)."""

    def __init__(
        self,
        limits: httpx.Limits,
        make: Callable[[httpx.Limits, bool], httpx.AsyncBaseTransport],
        *,
        api_pool: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._limits = limits
        self._make = make
        self._pools: dict[bool, httpx.AsyncBaseTransport] = {}
        if api_pool is not None:
            self._pools[False] = api_pool

    @property
    def _inner(self) -> httpx.AsyncBaseTransport | None:
        """The transport of the requests not marked public-only (the API's), once built."""
        return self._pools.get(False)

    @property
    def _pool(self) -> object:
        """The connection pool of :attr:`_inner` (httpx's transport keeps it as ``_pool``)."""
        return getattr(self._inner, "_pool", None)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        from ..addresses import PUBLIC_ONLY

        public_only = bool(request.extensions.get(PUBLIC_ONLY))
        inner = self._pools.get(public_only)
        if inner is None:
            inner = self._pools[public_only] = self._make(self._limits, public_only)
        return await inner.handle_async_request(request)

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for inner in pools:
            await inner.aclose()
