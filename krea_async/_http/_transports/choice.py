"""Which HTTP transport a client's own ``httpx.AsyncClient`` uses (``http_transport=``).

- ``"httpx"``: httpx's own transport (httpcore), on asyncio and trio.
- ``"aiohttp"``: ``httpx_aiohttp.AiohttpTransport`` (the ``krea-async[aiohttp]``
  extra) under asyncio; trio always gets httpx's own transport, since aiohttp runs
  on asyncio only. The choice is made at the first request, when the event loop
  is known (a client may be built outside of it).
- ``"auto"`` (default): httpx's own transport. With the SDK's admission limit in
  front of the pool, its CPU cost per request is within the goal of issue 8 and
  it keeps httpx's exception and timeout semantics exactly (see the scaling
  guide for the measured difference).
"""

from __future__ import annotations

from typing import Literal, get_args

import httpx

from ..._errors import ConfigurationError

__all__ = ["HTTP_TRANSPORTS", "HttpTransportChoice", "make_transport"]

HttpTransportChoice = Literal["auto", "httpx", "aiohttp"]
"""``AsyncKrea(http_transport=...)``."""
HTTP_TRANSPORTS: tuple[str, ...] = get_args(HttpTransportChoice)


def make_transport(choice: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport for ``choice`` with the pool ``limits`` (httpx's own transport
    on a :class:`~krea_async._http.pool.LeanPool` for ``"auto"`` and ``"httpx"``); raises
    :class:`~krea_async.ConfigurationError` for an unknown choice or for
    ``"aiohttp"`` without ``httpx-aiohttp`` installed."""
    if choice not in HTTP_TRANSPORTS:
        raise ConfigurationError(
            f"http_transport must be one of {', '.join(HTTP_TRANSPORTS)}, got {choice!r}"
        )
    if choice == "aiohttp":
        import importlib.util  # (import time)

        if importlib.util.find_spec("httpx_aiohttp") is None:
            raise ConfigurationError(
                "http_transport='aiohttp' needs the aiohttp extra: "
                "pip install 'krea-async[aiohttp]'"
            )
        return _AiohttpOnAsyncio(limits)
    from ..pool import lean_transport  # imports httpcore, which httpx imports lazily

    return lean_transport(limits)


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
        from ..pool import lean_transport

        return lean_transport(self._limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            self._inner = self._pick()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()
