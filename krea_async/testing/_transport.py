"""The in-process transport: httpx requests run through the fake's ASGI app."""

from __future__ import annotations

import anyio
import httpx
from starlette.types import ASGIApp

from ._faults import FaultPlan
from ._middleware import IN_PROCESS_HEADER, ConnectionDropped

__all__ = ["FakeTransport"]


class FakeTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` that runs requests through the fake's
    ASGI app in-process (``fake.transport()``), like a network would:

    - a ``refuse_connection`` fault raises :class:`httpx.ConnectError` before the
      app sees anything;
    - a dropped connection (``drop_before``/``drop_after``) raises
      :class:`httpx.RemoteProtocolError`;
    - the request's read timeout (``httpx.Timeout.read``, seconds) is enforced
      over the whole exchange and raises :class:`httpx.ReadTimeout`.

    Works on asyncio and trio.
    """

    def __init__(self, app: ASGIApp, faults: FaultPlan) -> None:
        self._faults = faults
        self._asgi = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request to the app (see the class docstring for the errors)."""
        refusal = self._faults.pick(
            request.method, request.url.path, only=frozenset({"refuse_connection"})
        )
        if refusal is not None:
            raise httpx.ConnectError("[fake] connection refused (injected fault)", request=request)
        request.headers[IN_PROCESS_HEADER] = "1"
        timeouts = request.extensions.get("timeout") or {}
        try:
            with anyio.fail_after(timeouts.get("read")):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("[fake] read timed out", request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "[fake] server disconnected without sending a complete response", request=request
            ) from None

    async def aclose(self) -> None:
        """Close the wrapped :class:`httpx.ASGITransport`."""
        await self._asgi.aclose()
