"""The request layer: one place that sends HTTP, retries, maps errors and logs.

Every API call of :class:`~krea_async.AsyncKrea` goes through
:meth:`HttpCore.request`. It guarantees:

- no raw ``httpx`` exception escapes: transport failures become
  :class:`~krea_async.APIConnectionError` / :class:`~krea_async.APITimeoutError`,
  error statuses an :class:`~krea_async.APIStatusError` subclass, unreadable 2xx
  bodies :class:`~krea_async.APIResponseValidationError`;
- retries follow :class:`~krea_async.RetryPolicy` and never replay a POST that may
  have created a job (:class:`~krea_async.UncertainSubmitError` instead);
- the API key only ever travels in the ``Authorization`` header, is redacted from
  logs and reprs, and is never sent over plain HTTP to a non-loopback host unless
  the user opted in;
- a closed client, or one used from another event loop than its first, raises
  :class:`~krea_async.ClientStateError` instead of hanging.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar

import anyio
import httpx

from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ClientClosedError,
    ClientStateError,
    ConfigurationError,
    KreaError,
    RateLimitError,
    UncertainSubmitError,
    error_message_from_body,
    status_error,
)
from ._retry import RetryPolicy, parse_retry_after

__all__ = ["DEFAULT_TIMEOUT", "HttpCore", "Secret", "SharedState", "is_loopback_host"]

logger = logging.getLogger("krea_async")
T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=120.0, pool=30.0)
"""Per-request HTTP timeouts (seconds): connect 10, read 60, write 120 (uploads
up to 75 MB), pool 30. Generation requests answer at once with a pending job;
waiting for the job itself is bounded by the job deadline, not by these."""

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest JSON response body read into memory (bytes); larger is an error."""

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})


class Secret:
    """Holds the API key; its ``repr`` and ``str`` never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        value: str = self._value
        return value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class _BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer <key>`` to each API request (never to downloads)."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(**********)"


def is_loopback_host(host: str) -> bool:
    """``True`` for ``localhost``, 127.0.0.0/8 and ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
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
    """What every ``with_options()`` copy of a client shares: the pool and its owner."""

    def __init__(self, http_client: httpx.AsyncClient, owns_client: bool) -> None:
        self.http_client = http_client
        self.owns_client = owns_client
        self.closed = False
        self.loop: object | None = None

    def check_usable(self) -> None:
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
        if self.closed:
            return
        self.closed = True
        if self.owns_client:
            await self.http_client.aclose()


class HttpCore:
    """Sends API requests for one client configuration (timeouts, retries, base URL)."""

    def __init__(
        self,
        *,
        state: SharedState,
        base_url: httpx.URL,
        secret: Secret,
        timeout: httpx.Timeout,
        retry: RetryPolicy,
        headers: Mapping[str, str],
    ) -> None:
        self.state = state
        self.base_url = base_url
        self.timeout = timeout
        self.retry = retry
        self.headers = dict(headers)
        self._auth = _BearerAuth(secret)

    def url(self, path: str) -> httpx.URL:
        base = str(self.base_url).rstrip("/")
        return httpx.URL(base + "/" + path.lstrip("/"))

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        params: Mapping[str, str | int] | None = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        job_route: bool = False,
        stop: anyio.Event | None = None,
    ) -> tuple[object, httpx.Response]:
        """Send one API call with retries; answer ``(parsed JSON body or None, response)``.

        Raises an :class:`~krea_async.APIStatusError` subclass for an error status,
        :class:`~krea_async.APIConnectionError` / :class:`~krea_async.APITimeoutError`
        when no response came, :class:`~krea_async.UncertainSubmitError` for a
        non-idempotent request that may have been carried out (no answer, a 5xx or
        408, or an unreadable 2xx body), and
        :class:`~krea_async.APIResponseValidationError` for an unreadable 2xx body.
        Once ``stop`` is set, no further attempt starts and a retry wait ends early:
        the last error is raised.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        retry = self.retry
        started = time.monotonic()
        submitted_at = _dt.datetime.now(_dt.timezone.utc)
        url = self.url(path)
        attempt = 0
        # Whether an earlier attempt was sent and its answer lost (a dropped connection).
        answer_lost = False
        while True:
            self.state.check_usable()
            request = self.state.http_client.build_request(
                method,
                url,
                json=json_body,
                params=params,
                files=files,
                data=data,
                headers={**self.headers, **(headers or {})},
                timeout=self.timeout,
            )
            t0 = time.monotonic()
            error: KreaError
            retry_after: float | None = None
            try:
                body, response = await self._send(request, job_route=job_route)
            except APIStatusError as exc:
                if exc.status_code == 404 and method == "DELETE" and answer_lost and not job_route:
                    # The lost attempt deleted it (a cancelled job, by contrast, still
                    # exists: a 404 on /jobs/{id} means unknown).
                    self._log(logging.INFO, method, url, 404, attempt, t0)
                    return exc.body, exc.response
                error = exc
                certainly_not_done = exc.status_code < 500 and exc.status_code != 408
                retryable = exc.status_code in retry.retry_statuses
                if isinstance(exc, RateLimitError):
                    retry_after = exc.retry_after
                elif exc.status_code in (503, 408):
                    retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
                status: int | str = exc.status_code
            except APIConnectionError as exc:
                error = exc
                certainly_not_done = not exc.request_sent
                answer_lost = answer_lost or exc.request_sent
                retryable = True
                status = type(exc.__cause__).__name__
            except APIResponseValidationError as exc:
                if idempotent:
                    raise
                raise UncertainSubmitError(
                    method=method, path=url.path, submitted_at=submitted_at, cause=exc
                ) from exc
            else:
                self._log(logging.INFO, method, url, response.status_code, attempt, t0)
                return body, response
            self._log(logging.INFO, method, url, status, attempt, t0)

            if not idempotent and not certainly_not_done:
                raise UncertainSubmitError(
                    method=method, path=url.path, submitted_at=submitted_at, cause=error
                ) from error
            if not retryable or attempt >= retry.max_retries or (stop and stop.is_set()):
                raise error
            wait = retry.backoff(attempt, retry_after)
            elapsed = time.monotonic() - started
            if wait is None or elapsed + wait > retry.total_timeout:
                raise error
            logger.debug(
                "retrying %s %s in %.3fs (attempt %d of %d)",
                method,
                url.path,
                wait,
                attempt + 2,
                retry.max_retries + 1,
            )
            if stop is None:
                await anyio.sleep(wait)
            else:
                with anyio.move_on_after(wait):
                    await stop.wait()
                if stop.is_set():
                    raise error
            attempt += 1

    async def submit(
        self,
        path: str,
        parse: Callable[[object, httpx.Response], T],
        *,
        stop: anyio.Event | None = None,
        **kwargs: Any,
    ) -> T:
        """POST a request that creates something (a job, an asset) and parse the answer.

        Never replayed when it may have been carried out (see :meth:`request`); an
        answer that cannot be parsed (``parse`` raising
        :class:`~krea_async.APIResponseValidationError``) also means "it may have
        been created", so it becomes :class:`~krea_async.UncertainSubmitError` too.
        """
        submitted_at = _dt.datetime.now(_dt.timezone.utc)
        body, response = await self.request("POST", path, idempotent=False, stop=stop, **kwargs)
        try:
            return parse(body, response)
        except APIResponseValidationError as exc:
            raise UncertainSubmitError(
                method="POST", path=response.request.url.path, submitted_at=submitted_at, cause=exc
            ) from exc

    async def _send(
        self, request: httpx.Request, *, job_route: bool
    ) -> tuple[object, httpx.Response]:
        client = self.state.http_client
        method = request.method
        try:
            response = await client.send(request, auth=self._auth, stream=True)
            # Errors keep the response, and so the request: keep no key in them.
            response.request.headers["Authorization"] = "Bearer **********"
            try:
                raw = await _read_capped(response, MAX_RESPONSE_BYTES)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise APITimeoutError(
                f"{method} {request.url.path} timed out ({type(exc).__name__})",
                method=method,
                url=str(request.url),
                request_sent=sent,
            ) from exc
        except httpx.HTTPError as exc:
            sent = not isinstance(exc, (httpx.ConnectError, httpx.UnsupportedProtocol))
            raise APIConnectionError(
                f"{method} {request.url.path} failed: {type(exc).__name__}: {exc}",
                method=method,
                url=str(request.url),
                request_sent=sent,
            ) from exc
        except _BodyTooLarge:
            message = f"response body larger than {MAX_RESPONSE_BYTES} bytes"
            if response.is_success:
                raise APIResponseValidationError(message, response=response, body=None) from None
            raise status_error(response, None, message, job_route=job_route) from None
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
                        f"{method} {request.url.path} answered {response.status_code} with a "
                        f"non-JSON body ({ctype}): {error_message_from_body(None, text)}",
                        response=response,
                        body=text,
                    ) from None
                raise status_error(
                    response, text, error_message_from_body(None, text), job_route=job_route
                ) from None
        if response.is_success:
            return body, response
        message = error_message_from_body(body, raw.decode("utf-8", errors="replace"))
        raise status_error(response, body, message, job_route=job_route)

    def _log(
        self, level: int, method: str, url: httpx.URL, status: int | str, attempt: int, t0: float
    ) -> None:
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s %s -> %s (attempt %d, %.3fs)",
                method,
                url.path,
                status,
                attempt + 1,
                time.monotonic() - t0,
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


def check_base_url(base_url: httpx.URL, *, allow_insecure_http: bool) -> None:
    """Refuse to send the key over plain HTTP to a non-loopback host (ConfigurationError)."""
    if base_url.scheme not in ("http", "https"):
        raise ConfigurationError(f"base_url must be http(s)://, got {str(base_url)!r}")
    if (
        base_url.scheme == "http"
        and not allow_insecure_http
        and not is_loopback_host(base_url.host)
    ):
        raise ConfigurationError(
            f"refusing to send the API key in clear text to {base_url.host!r} over http://; "
            "use https://, or a loopback address (in Python, AsyncKrea(allow_insecure_http=True) "
            "opts in)"
        )


_configure_logging_from_env()
