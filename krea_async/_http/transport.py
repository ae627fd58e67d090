"""The transport: one HTTP exchange, no retries, no resource knowledge.

It owns the connection pool shared by every ``with_options()`` copy of a client
(:class:`SharedState`), the redaction of the API key (held by
:class:`~krea_async._http.credentials.Secret`) from whatever an error keeps, the
mapping of ``httpx`` exceptions to :class:`~krea_async.APIConnectionError` /
:class:`~krea_async.APITimeoutError` (:func:`connection_error`, the one place
that does it), and :func:`send`, which reads a capped body once and turns an
error status into an :class:`~krea_async.APIStatusError` subclass. Retries live
one layer up, in :mod:`krea_async._http.request`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import httpx

from .._converter import WireFormatError, loads_json
from .._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    ClientClosedError,
    ClientStateError,
)
from .admission import Admission
from .body import BodyRefused, BodyTooLarge, read_body
from .credentials import CAPABILITY_HEADERS, REDACTED, BearerAuth, Secret, redacted_headers
from .status_errors import error_message_from_body, status_error

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "DEFAULT_MAX_CONNECTIONS",
    "SharedState",
    "connection_error",
    "send",
]

logger = logging.getLogger("krea_async")
T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)
"""Per-request HTTP timeouts (seconds): connect 10, read 60, write 120 (uploads
up to 75 MB), pool 30. Generation requests return at once with a pending job;
waiting for the job itself is bounded by the job deadline, not by these."""

DEFAULT_MAX_CONNECTIONS = 100
"""Default size of the connection pool, and of the admission limit in front of it."""

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest JSON response body read into memory (bytes), counted on the decoded
bytes as they are decoded; larger is an error."""


_MESSAGE_CHARS = 300


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
        self._shared: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """The object ``make()`` built the first time ``key`` was asked for on this pool
        (the shared poller of one account): every ``with_options()`` copy gets the
        same. Held weakly: it lives as long as a client holds it."""
        obj: T | None = self._shared.get(key)
        if obj is None:
            obj = make()
            self._shared[key] = obj
        return obj

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
        """Close the pool if this client created it; idempotent.

        From another event loop than the client's: if that asyncio loop is closed,
        its connections are closed here without it (nothing else can use them);
        if it still runs, :class:`~krea_async.ClientStateError` (close the client
        on its own loop). A trio client closes from any later ``trio.run``.
        """
        if self.closed:
            return
        first = self.loop
        current = _current_loop()
        asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop (import cost)
        if (
            asyncio is not None
            and isinstance(first, asyncio.AbstractEventLoop)
            and current is not first
        ):
            if not first.is_closed():
                raise ClientStateError(
                    "aclose() was called from another event loop than this AsyncKrea "
                    "client's, which still runs; close the client on its own loop"
                )
            self.closed = True
            for obj in list(self._on_close):
                obj.close()
            if self.owns_client:
                closed = _close_orphaned_connections(self.http_client)
                logger.debug("closed %d connections of a client whose loop had ended", closed)
            return
        self.closed = True
        for obj in list(self._on_close):
            obj.close()
        if self.owns_client:
            await self.http_client.aclose()


def _close_orphaned_connections(client: httpx.AsyncClient) -> int:
    """Close the sockets of ``client``'s pool whose asyncio loop has ended; return how
    many. Best effort on httpcore's structure: a socket it cannot reach is shut
    down through the stream's public ``socket`` info, else left to the collector."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    connections = list(getattr(pool, "connections", ()))
    closed = 0
    for conn in connections:
        stream = getattr(getattr(conn, "_connection", None), "_network_stream", None)
        if stream is None:
            continue
        transport = getattr(getattr(stream, "_stream", None), "_transport", None)
        lost = getattr(transport, "_call_connection_lost", None)
        try:
            if lost is not None:
                lost(None)  # what transport.close() schedules on the (dead) loop
            else:
                stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            closed += 1
        except Exception as exc:  # best effort: the loop that owned it is gone
            logger.debug("could not close an orphaned connection: %r", exc)
    with contextlib.suppress(Exception):
        pool._connections.clear()  # type: ignore[union-attr]
    return closed


def connection_error(
    exc: httpx.HTTPError,
    method: str,
    url: httpx.URL,
    secret: Secret | None = None,
    *,
    subject: str | None = None,
    doing: str = "failed",
    where: str = "",
) -> APIConnectionError:
    """The :class:`~krea_async.APIConnectionError` (or :class:`~krea_async.APITimeoutError`)
    for an ``httpx`` transport exception: the one mapping, for API calls and
    downloads. ``request_sent`` is ``False`` only when the connection was never
    established. The message reads ``"<subject> <doing>: <Type>: <detail><where>"``:
    ``subject`` names the exchange (default ``"<METHOD> <path>"``), ``where`` says
    which server was tried (the API's base URL and where it came from). Chain it
    to :func:`detached` (a copy of ``exc`` without traceback, context or key), not
    to ``exc`` itself: ``exc``'s request and its traceback's frames hold the
    ``Authorization`` header."""
    method = method.upper()
    if subject is None:
        subject = f"{method} {url.path}"
    if isinstance(exc, httpx.TimeoutException):
        sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
        return APITimeoutError(
            f"{subject} timed out ({type(exc).__name__}){where}",
            method=method,
            url=str(url),
            request_sent=sent,
        )
    sent = not isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol))
    detail = _short(str(exc), secret)
    return APIConnectionError(
        f"{subject} {doing}: {type(exc).__name__}: {detail}{where}",
        method=method,
        url=str(url),
        request_sent=sent,
    )


def _short(text: str, secret: Secret | None) -> str:
    if secret is not None:
        text = secret.redact(text)
    if len(text) > _MESSAGE_CHARS:
        text = f"{text[:_MESSAGE_CHARS]}...({len(text)} chars)"
    return text


def detached(exc: httpx.HTTPError, secret: Secret | None = None) -> httpx.HTTPError:
    """A fresh copy of ``exc`` to chain as ``__cause__``: same type and (redacted,
    shortened) message, no traceback, no ``__context__``, and a copy of its request
    with the ``Authorization`` header redacted."""
    message = _short(str(exc), secret)
    try:
        copy = type(exc)(message)
    except Exception:  # an httpx error type with another constructor
        copy = httpx.TransportError(message)
    with contextlib.suppress(RuntimeError):  # no request attached
        old = exc.request
        copy.request = httpx.Request(old.method, old.url, headers=redacted_headers(old.headers))
    return copy


_EMPTY_STREAM = httpx.ByteStream(b"")


def _redact_response(response: httpx.Response, secret: Secret | None) -> None:
    """Errors keep the response, and so its request: keep no key (nor capability URL)
    in either."""
    _redact_request(response.request)
    if secret is not None and any(secret.found_in(v) for v in response.headers.values()):
        response.headers = httpx.Headers(
            [(k, secret.redact(v)) for k, v in response.headers.multi_items()]
        )


def _redact_request(request: httpx.Request) -> None:
    request.headers["Authorization"] = f"Bearer {REDACTED}"
    for name in CAPABILITY_HEADERS:
        if name in request.headers:
            request.headers[name] = REDACTED


async def send(
    client: httpx.AsyncClient, request: httpx.Request, auth: httpx.Auth, *, where: str = ""
) -> tuple[object, httpx.Response]:
    """Send one request; return ``(parsed JSON body or None, response)`` for a 2xx.

    Raises the :class:`~krea_async.APIStatusError` subclass of an error status,
    :class:`~krea_async.APIConnectionError` / :class:`~krea_async.APITimeoutError`
    when no response came, :class:`~krea_async.APIResponseValidationError` for a 2xx
    body that is not strict JSON (see :func:`~krea_async._converter.loads_json`) or
    over :data:`MAX_RESPONSE_BYTES` once decoded, or with a stacked or unknown
    ``Content-Encoding`` (the body is read by :mod:`krea_async._http.body`, the
    one reader of API answers and downloads), and :class:`~krea_async.ClientClosedError`
    when ``client`` was closed. The key of ``auth`` and the request's capability URL
    (``X-Webhook-URL``) are redacted from whatever the error keeps (message, body,
    response, the request's headers),
    and the ``httpx`` exception is chained only as a :func:`detached` copy.
    ``where`` ends a connection error's message (which server was tried).
    """
    method = request.method
    secret = (
        auth.secret.with_capabilities(request.headers) if isinstance(auth, BearerAuth) else None
    )
    failure: httpx.HTTPError | None = None
    try:
        response = await client.send(request, auth=auth, stream=True)
        _redact_response(response, secret)
        try:
            raw = await read_body(response, MAX_RESPONSE_BYTES)
        finally:
            await response.aclose()
            # httpx's streamed Response and its BoundAsyncStream refer to each other,
            # and the stream holds the pool (and its SSL context, which is large): a
            # cycle that would keep a closed client's pool alive until the collector
            # runs. The body is read; drop the stream.
            response.stream = _EMPTY_STREAM
    except httpx.HTTPError as exc:
        failure = exc
    except (BodyTooLarge, BodyRefused) as exc:
        if isinstance(exc, BodyTooLarge):
            message = f"response body larger than {MAX_RESPONSE_BYTES} bytes (decoded)"
        else:
            message = f"unreadable response body: {exc}"
        if response.is_success:
            raise APIResponseValidationError(
                f"{method} {request.url.path} returned {response.status_code}: {message}",
                response=response,
                body=None,
            ) from None
        raise status_error(response, None, message) from None
    except RuntimeError as exc:
        if client.is_closed:
            raise ClientClosedError("the http_client given to AsyncKrea was closed") from exc
        raise
    finally:
        # The request object is the one httpx sent: it carries the key until now.
        _redact_request(request)
    if failure is not None:
        # Raised outside the ``except`` block, so that the original exception (its
        # traceback's frames hold the header) is neither __cause__ nor __context__.
        error, cause = (
            connection_error(failure, method, request.url, secret, where=where),
            detached(failure, secret),
        )
        del failure
        raise error from cause

    # One parse of the bytes; the text is decoded only for an error's message.
    body: object = None
    parsed = True
    if raw and not raw.isspace():
        try:
            body = loads_json(raw)
        except WireFormatError:
            parsed = False
    if parsed and response.is_success:
        return body, response
    text = raw.decode("utf-8", errors="replace")
    del raw
    if secret is not None and (secret.found_in(text) or "\\u" in text):
        text = secret.redact(text)
        try:
            body = secret.redact_data(body)
        except RecursionError:
            parsed = False
    if not parsed:
        body = text
    if not parsed and response.is_success:
        ctype = response.headers.get("content-type", "?")
        raise APIResponseValidationError(
            f"{method} {request.url.path} returned {response.status_code} with a "
            f"body that is not strict JSON ({ctype[:100]}): {error_message_from_body(None, text)}",
            response=response,
            body=text,
        )
    message = error_message_from_body(body if parsed else None, text)
    if secret is not None:
        message = secret.redact(message)
    raise status_error(response, body, message[:2000])


_configure_logging_from_env()
