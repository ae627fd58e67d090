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
"""

from __future__ import annotations

import httpx

from ..._errors import ConfigurationError

__all__ = ["aiohttp_transport", "default_transport"]


def default_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """httpx's own transport on a :class:`~krea_async._http.pool.LeanPool` of ``limits``."""
    from ..pool import lean_transport  # imports httpcore, which httpx imports lazily

    return lean_transport(limits)


def aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """aiohttp's transport under asyncio (httpx's own under trio) with the pool
    ``limits``; raises :class:`~krea_async.ConfigurationError` without
    ``httpx-aiohttp`` installed."""
    import importlib.util  # (import time)

    if importlib.util.find_spec("httpx_aiohttp") is None:
        raise ConfigurationError(
            "aiohttp_client() needs the aiohttp extra: pip install 'krea-async[aiohttp]'"
        )
    return _AiohttpOnAsyncio(limits)


class _AiohttpOnAsyncio(httpx.AsyncBaseTransport):
    """aiohttp's transport under asyncio, httpx's own under trio (chosen lazily)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._inner: httpx.AsyncBaseTransport | None = None

    def _pick(self) -> httpx.AsyncBaseTransport:
        import sniffio

        if sniffio.current_async_library() == "asyncio":
            from httpx_aiohttp import AiohttpTransport

            transport: httpx.AsyncBaseTransport = AiohttpTransport(limits=self._limits)
            return transport
        return default_transport(self._limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = self._pick()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
