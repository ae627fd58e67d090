"""A lean HTTP/1.1 connection pool for httpx's own transport.

httpcore's ``AsyncConnectionPool`` rescans every connection (and, for each idle
one, every connection again) on each request and each response close, and when
several requests arrive in the same tick it offers them all the same idle
connection, so all but one fail with ``ConnectionNotAvailable`` and rescan. With
a hundred connections that scan dominates the CPU of each request. :class:`LeanPool` keeps
the same connections (httpcore's own ``AsyncHTTPConnection``: connect, TLS,
HTTP/1.1, keep-alive expiry, the same exceptions, mapped by httpx as before) but
hands them out from a stack of idle connections per origin: O(1) per request.

It is used for the pool :class:`~krea_async.AsyncKrea` creates itself (when no
``http_client`` is given), with httpx's transport and no proxy;
``len(pool.connections)`` never exceeds ``max_connections``; a request that finds
none free waits (FIFO) up to the pool timeout (``httpcore.PoolTimeout``, which
httpx maps to ``httpx.PoolTimeout``). HTTP/2 is not offered (httpx does not
enable it by default; Krea's API is answered over HTTP/1.1).
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterable, AsyncIterator

import anyio
import httpcore
import httpx

__all__ = ["LeanPool", "lean_transport"]


class LeanPool(httpcore.AsyncConnectionPool):
    """``httpcore.AsyncConnectionPool`` with O(1) connection hand-out (module docstring)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # idle connections per origin ((scheme, host, port)), most recently used last
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncConnectionInterface]] = {}
        self._queue: collections.deque[anyio.Event] = collections.deque()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        """Send ``request`` on an idle connection to its origin, or a new one."""
        scheme = request.url.scheme.decode()
        if scheme not in ("http", "https"):
            raise httpcore.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme}://'."
            )
        timeout = request.extensions.get("timeout", {}).get("pool")
        origin = request.url.origin
        while True:
            conn = await self._checkout(origin, timeout)
            try:
                response = await conn.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                self._checkin(conn, origin)  # closed meanwhile (e.g. by the server)
                continue
            except BaseException:
                self._checkin(conn, origin)
                raise
            assert isinstance(response.stream, AsyncIterable)
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_Released(response.stream, self, conn, origin),
                extensions=response.extensions,
            )

    async def _checkout(
        self, origin: httpcore.Origin, timeout: float | None
    ) -> httpcore.AsyncConnectionInterface:
        while True:
            stack = self._idle.get(_key(origin))
            while stack:
                conn = stack.pop()
                if conn.is_closed():
                    self._forget(conn)
                elif conn.has_expired():
                    self._forget(conn)
                    with anyio.CancelScope(shield=True):
                        await conn.aclose()
                elif conn.is_available():
                    return conn
                else:  # not reusable (should not happen for an idle HTTP/1.1 one)
                    self._forget(conn)
            if len(self._connections) < self._max_connections:
                conn = self.create_connection(origin)
                self._connections.append(conn)
                return conn
            victim = self._any_idle()
            if victim is not None:  # an idle connection to another origin
                self._forget(victim)
                with anyio.CancelScope(shield=True):
                    await victim.aclose()
                continue
            event = anyio.Event()
            self._queue.append(event)
            try:
                with anyio.fail_after(timeout):
                    await event.wait()
            except TimeoutError:
                raise httpcore.PoolTimeout("no connection free within the pool timeout") from None
            finally:
                if not event.is_set():
                    self._queue.remove(event)

    def _any_idle(self) -> httpcore.AsyncConnectionInterface | None:
        for stack in self._idle.values():
            if stack:
                return stack.pop()
        return None

    def _forget(self, conn: httpcore.AsyncConnectionInterface) -> None:
        if conn in self._connections:
            self._connections.remove(conn)
        self._wake()

    def _checkin(self, conn: httpcore.AsyncConnectionInterface, origin: httpcore.Origin) -> None:
        """A response was closed (or a request failed): keep ``conn`` if reusable."""
        if conn.is_closed():
            self._forget(conn)
            return
        if conn.is_idle():
            if conn in self._connections:
                self._idle.setdefault(_key(origin), []).append(conn)
            self._wake()
        else:  # neither idle nor closed: not reusable, give its place back
            self._forget(conn)

    def _wake(self) -> None:
        if self._queue:
            self._queue.popleft().set()

    async def aclose(self) -> None:
        """Close every connection."""
        self._idle.clear()
        await super().aclose()


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return (origin.scheme, origin.host, origin.port)


class _Released(AsyncIterable[bytes]):
    """A response body that returns its connection to the pool once closed."""

    def __init__(
        self,
        stream: AsyncIterable[bytes],
        pool: LeanPool,
        conn: httpcore.AsyncConnectionInterface,
        origin: httpcore.Origin,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._conn = conn
        self._origin = origin
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except BaseException as exc:
            await self.aclose()
            raise exc from None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            with anyio.CancelScope(shield=True):
                closer = getattr(self._stream, "aclose", None)
                if closer is not None:
                    await closer()
            self._pool._checkin(self._conn, self._origin)


def lean_transport(
    limits: httpx.Limits, network_backend: httpcore.AsyncNetworkBackend | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (TLS settings from the environment as httpx does) with
    its httpcore pool replaced by a :class:`LeanPool` of the same settings, which
    connects through ``network_backend`` (default: httpcore's own)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    if type(pool) is httpcore.AsyncConnectionPool:
        transport._pool = LeanPool(
            ssl_context=pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=network_backend,
        )
    return transport
