"""The transport: one HTTP exchange, no retries, no resource knowledge.

It owns the connection pool shared by every ``with_options()`` copy of a client
(:class:`SharedState`), the API key (:class:`Secret`, redacted everywhere), the
mapping of ``httpx`` exceptions to :class:`~krea_async.APIConnectionError` /
:class:`~krea_async.APITimeoutError` (:func:`connection_error`, the one place
that does it), and :func:`send`, which reads a capped body once and turns an
error status into an :class:`~krea_async.APIStatusError` subclass. Retries live
one layer up, in :mod:`krea_async._request`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import weakref
from collections.abc import Generator
from typing import Any

import httpx

from ._admission import Admission
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    ClientClosedError,
    ClientStateError,
    error_message_from_body,
    status_error,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "BearerAuth",
    "DEFAULT_MAX_CONNECTIONS",
    "Secret",
    "SharedState",
    "connection_error",
    "send",
]

logger = logging.getLogger("krea_async")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)
"""Per-request HTTP timeouts (seconds): connect 10, read 60, write 120 (uploads
up to 75 MB), pool 30. Generation requests return at once with a pending job;
waiting for the job itself is bounded by the job deadline, not by these."""

DEFAULT_MAX_CONNECTIONS = 100
"""Default size of the connection pool, and of the admission limit in front of it."""

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest JSON response body read into memory (bytes); larger is an error."""


class Secret:
    """Holds the API key; its ``repr`` and ``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself (only for the ``Authorization`` header)."""
        value: str = self._value
        return value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to each API request (never to downloads)."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(**********)"


def _configure_logging_from_env() -> None:
    level = os.environ.get("KREA_LOG", "").strip().lower()
    if level not in ("debug", "info"):
        return
    logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)
    if not any(getattr(h, "_krea_async", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        handler._krea_async = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def _current_loop() -> object | None:
    """An object identifying the running event loop (asyncio loop or trio token)."""
    asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop runs (import cost)
    if asyncio is not None:
        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return loop
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            token: object = trio.lowlevel.current_trio_token()
        except RuntimeError:
            return None
        else:
            return token
    return None


class SharedState:
    """What every ``with_options()`` copy of a client shares: the pool and its owner,
    and the admission limit: at most ``max_connections`` API requests are inside
    httpx at once; the others wait in this FIFO (never in httpcore's pool, whose
    scheduling costs grow with the square of its queue)."""

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        owns_client: bool,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.http_client = http_client
        self.owns_client = owns_client
        self.closed = False
        self.loop: object | None = None
        self.admission = Admission(max_connections)
        self._on_close: weakref.WeakSet[Any] = weakref.WeakSet()

    def on_close(self, obj: Any) -> None:
        """Call ``obj.close()`` when this pool is closed (held weakly)."""
        self._on_close.add(obj)

    def check_usable(self) -> None:
        """Raise :class:`~krea_async.ClientStateError` when closed or on another loop."""
        if self.closed or self.http_client.is_closed:
            raise ClientClosedError(
                "this AsyncKrea client is closed; create a new one (or use it inside "
                "`async with AsyncKrea() as krea:`)"
            )
        loop = _current_loop()
        if loop is None:
            return
        if self.loop is None:
            self.loop = loop
        elif self.loop is not loop:
            raise ClientStateError(
                "this AsyncKrea client was first used on another event loop; its "
                "connections belong to that loop. Create one client per event loop "
                "(for example in your app's lifespan) and share it between tasks."
            )

    async def aclose(self) -> None:
        """Close the pool if this client created it; idempotent."""
        if self.closed:
            return
        self.closed = True
        for obj in list(self._on_close):
            obj.close()
        if self.owns_client:
            await self.http_client.aclose()


def connection_error(exc: httpx.HTTPError, method: str, url: httpx.URL) -> APIConnectionError:
    """The :class:`~krea_async.APIConnectionError` (or :class:`~krea_async.APITimeoutError`)
    for an ``httpx`` transport exception; ``request_sent`` is ``False`` only when the
    connection was never established. Chain it: ``raise connection_error(...) from exc``."""
    method = method.upper()
    if isinstance(exc, httpx.TimeoutException):
        sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return APITimeoutError(
            f"{method} {url.path} timed out ({type(exc).__name__})",
            method=method,
            url=str(url),
            request_sent=sent,
        )
    sent = not isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol))
    return APIConnectionError(
        f"{method} {url.path} failed: {type(exc).__name__}: {exc}",
        method=method,
        url=str(url),
        request_sent=sent,
    )


class _BodyTooLarge(Exception):
    pass


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def send(
    client: httpx.AsyncClient, request: httpx.Request, auth: httpx.Auth
) -> tuple[object, httpx.Response]:
    """Send one request; return ``(parsed JSON body or None, response)`` for a 2xx.

    Raises the :class:`~krea_async.APIStatusError` subclass of an error status,
    :class:`~krea_async.APIConnectionError` / :class:`~krea_async.APITimeoutError`
    when no response came, :class:`~krea_async.APIResponseValidationError` for a 2xx
    body that is not JSON or over :data:`MAX_RESPONSE_BYTES`, and
    :class:`~krea_async.ClientClosedError` when ``client`` was closed.
    """
    method = request.method
    try:
        response = await client.send(request, auth=auth, stream=True)
        # Errors keep the response, and so the request: keep no key in them.
        response.request.headers["Authorization"] = "Bearer **********"
        try:
            raw = await _read_capped(response, MAX_RESPONSE_BYTES)
        finally:
            await response.aclose()
    except httpx.HTTPError as exc:
        raise connection_error(exc, method, request.url) from exc
    except _BodyTooLarge:
        message = f"response body larger than {MAX_RESPONSE_BYTES} bytes"
        if response.is_success:
            raise APIResponseValidationError(message, response=response, body=None) from None
        raise status_error(response, None, message) from None
    except RuntimeError as exc:
        if client.is_closed:
            raise ClientClosedError("the http_client given to AsyncKrea was closed") from exc
        raise

    # One parse of the bytes; the text is decoded only for an error's message.
    body: object = None
    if raw and not raw.isspace():
        try:
            body = json.loads(raw)
        except ValueError:
            text = raw.decode("utf-8", errors="replace")
            if response.is_success:
                ctype = response.headers.get("content-type", "?")
                raise APIResponseValidationError(
                    f"{method} {request.url.path} returned {response.status_code} with a "
                    f"non-JSON body ({ctype}): {error_message_from_body(None, text)}",
                    response=response,
                    body=text,
                ) from None
            raise status_error(response, text, error_message_from_body(None, text)) from None
    if response.is_success:
        return body, response
    message = error_message_from_body(body, raw.decode("utf-8", errors="replace"))
    raise status_error(response, body, message)


_configure_logging_from_env()
