"""The request layer: one API call with retries, on top of :mod:`krea_async._http.transport`.

:class:`Requester` sends every API call of :class:`~krea_async.AsyncKrea`. It
guarantees:

- no raw ``httpx`` exception escapes (the transport maps them);
- retries follow :class:`~krea_async.RetryPolicy` through the pure
  :func:`krea_async._http.retry.decide`, which this loop only applies; a POST that may
  have created something is never replayed
  (:class:`~krea_async.UncertainSubmitError` instead);
- the API key only ever travels in the ``Authorization`` header;
- a closed client, or one used from another event loop than its first, raises
  :class:`~krea_async.ClientStateError` instead of hanging;
- every call has a total deadline (:meth:`Requester.total_deadline`), so a server
  that trickles one byte a second cannot hold it past ``RetryPolicy.deadline``:
  :class:`~krea_async.APITimeoutError` (on a submit,
  :class:`~krea_async.UncertainSubmitError`).

It knows nothing about resources: rules such as "a 404 on a job is a
:class:`~krea_async.JobNotFoundError`" live in :mod:`krea_async._resources`, and
reach this layer only as parameters (``gone_ok``, ``created``/``check``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import attrs
import httpx

from .. import _clock
from .._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    KreaError,
    RateLimitError,
    UncertainSubmitError,
)
from .admission import StopSignal
from .credentials import BearerAuth, Secret
from .retry import Outcome, RetryPolicy, decide, on_retry, parse_retry_after
from .transport import SharedState, send
from .urls import base_url_origin

__all__ = ["UPLOAD_DEADLINE", "Requester", "SubmitInfo"]

logger = logging.getLogger("krea_async")
T = TypeVar("T")

UPLOAD_DEADLINE = 900.0
"""Least total deadline of a request that uploads a file (``POST /assets``), in
seconds: 15 minutes, room for Krea's largest upload on a slow link. Other API
calls are bounded by ``RetryPolicy.deadline`` (default 60 s)."""

_URL_CACHE = 64  # parsed URLs kept per Requester
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})
# (created, check): the UncertainSubmitError wording, chosen by the resource.
SubmitInfo = tuple[str, "str | None"]
_JOB: SubmitInfo = ("created a job", None)


def _outcome(exc: APIStatusError | APIConnectionError) -> Outcome:
    if isinstance(exc, APIConnectionError):
        return Outcome(status=None, sent=exc.request_sent)
    retry_after: float | None = None
    if isinstance(exc, RateLimitError):
        retry_after = exc.retry_after
    elif exc.status_code in (503, 408):
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
    return Outcome(status=exc.status_code, retry_after=retry_after)


class Requester:
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
        self._auth = BearerAuth(secret)
        # Which account this requester speaks for (base URL, SHA-256 of the key): the
        # with_options() copies of one account share one poller. Not the key itself.
        self.account = (str(base_url), hashlib.sha256(secret.reveal().encode()).hexdigest())
        self._urls: dict[str, httpx.URL] = {}
        # Named in connection errors: which server was tried, and why that one.
        self._where = f" (base URL {str(base_url).rstrip('/')}, {base_url_origin(base_url)})"

    def total_deadline(self, *, upload: bool = False) -> float:
        """Seconds one API call may take in all, attempts and waits included:
        ``retry.deadline`` (``math.inf``, or ``0`` as before: no bound), at least
        :data:`UPLOAD_DEADLINE` for a request that uploads a file."""
        total = self.retry.deadline if self.retry.deadline > 0 else math.inf
        return max(total, UPLOAD_DEADLINE) if upload else total

    def url(self, path: str) -> httpx.URL:
        """The absolute URL of an API path (parsed once for a path sent again and again,
        such as a submit's or the job list's; ``httpx.URL`` is immutable)."""
        url = self._urls.get(path)
        if url is None:
            base = str(self.base_url).rstrip("/")
            url = httpx.URL(base + "/" + path.lstrip("/"))
            if len(self._urls) >= _URL_CACHE:  # job ids come and go: start afresh
                self._urls.clear()
            self._urls[path] = url
        return url

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
        gone_ok: bool = False,
        submit: SubmitInfo = _JOB,
        stop: anyio.Event | StopSignal | None = None,
        priority: bool = False,
        total: float | None = None,
        shared_rate_limit: bool = False,
    ) -> tuple[object, httpx.Response]:
        """Send one API call with retries; return ``(parsed JSON body or None, response)``.

        Raises an :class:`~krea_async.APIStatusError` subclass for an error status,
        :class:`~krea_async.APIConnectionError` / :class:`~krea_async.APITimeoutError`
        when no response came, :class:`~krea_async.UncertainSubmitError` for a
        non-idempotent request that may have been carried out (no answer, a 5xx or
        408, or an unreadable 2xx body; worded by ``submit``), and
        :class:`~krea_async.APIResponseValidationError` for an unreadable 2xx body.
        ``gone_ok``: a 404 after an attempt whose answer was lost counts as done (the
        lost attempt deleted it). Once ``stop`` is set, no further attempt starts and
        a retry wait ends early: the last error is raised. ``priority``: goes before
        other requests waiting for a connection (the shared poller's). ``total``: the
        call's total deadline in seconds instead of :meth:`total_deadline`; the wait
        for a connection then goes first and lasts as long as the server keeps
        answering other requests (``total`` seconds without an answer end it:
        ``APIConnectionError``, nothing sent). ``shared_rate_limit``: a 429 is raised
        at once (:class:`~krea_async.RateLimitError`), for the caller to pause as a
        whole (the shared poller).

        A 429 on a submit (not ``idempotent``) is retried through the admission queue:
        the request tells :meth:`~krea_async._http.admission.Admission.rate_limited`
        the wait :func:`~krea_async._http.retry.decide` chose, which holds back every
        submit for that long (and then paces them), instead of each sleeping and
        retrying on its own.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in _IDEMPOTENT
        now = _clock.clock()  # read once per call: the loop's time method on asyncio
        started = now()
        deadline = self.total_deadline(upload=files is not None) if total is None else total
        submitted_at = _dt.datetime.now(_dt.timezone.utc)
        url = self.url(path)
        attempt = 0
        answer_lost = False  # an earlier attempt was sent and its answer lost
        # a submit (not replayable): after a 429 it waits its turn in the admission queue
        held = not idempotent and not priority and total is None
        while True:
            self.state.check_usable()
            t0 = now()
            error: APIStatusError | APIConnectionError
            result: tuple[object, httpx.Response] | None = None
            try:
                # Wait for a slot in the SDK's FIFO, not in httpx's pool. The
                # wait is not part of the total deadline: nothing has been sent yet.
                waited_from = now()
                if isinstance(stop, StopSignal) and stop.holds_slot:
                    stop.holds_slot = False  # the caller took it (a submit)
                else:
                    await self.state.admission.acquire(
                        priority=priority or total is not None, stop=stop, stall=total, submit=held
                    )
                started += now() - waited_from
                answered = False  # by the server (progress for waits with a stall bound)
                try:
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
                    t0 = now()
                    with anyio.move_on_after(deadline - (t0 - started)):
                        result = await send(
                            self.state.http_client, request, self._auth, where=self._where
                        )
                    answered = result is not None
                except (APIStatusError, APIResponseValidationError):
                    answered = True
                    raise
                finally:
                    self.state.admission.release(answered=answered)
                if result is None:
                    raise APITimeoutError(
                        f"{method} {url.path} did not complete within its {deadline:g} s "
                        "total deadline (RetryPolicy.deadline)",
                        method=method,
                        url=str(url),
                        request_sent=True,
                    )
                body, response = result
            except APIStatusError as exc:
                if exc.status_code == 404 and gone_ok and answer_lost:
                    self._log(method, url, 404, attempt, t0)
                    return exc.body, exc.response
                error = exc
                self._log(method, url, exc.status_code, attempt, t0)
            except APIConnectionError as exc:
                error = exc
                answer_lost = answer_lost or exc.request_sent
                cause = exc.__cause__
                self._log(method, url, type(cause or exc).__name__, attempt, t0)
            except APIResponseValidationError as exc:
                if idempotent:
                    raise
                raise self._uncertain(method, url, submitted_at, exc, submit) from exc
            else:
                self._log(method, url, response.status_code, attempt, t0)
                if held:
                    self.state.admission.accepted()
                return body, response

            decision = decide(
                self.retry if total is None else attrs.evolve(self.retry, deadline=total),
                attempt=attempt,
                outcome=_outcome(error),
                replay_safe=idempotent,
                elapsed=now() - started,
                shared_rate_limit=shared_rate_limit,
            )
            if decision.uncertain:
                raise self._uncertain(method, url, submitted_at, error, submit) from error
            if decision.wait is None or (stop is not None and stop.is_set()):
                raise error
            if (note_retry := on_retry.get()) is not None:
                note_retry()
            logger.debug(
                "retrying %s %s in %.3fs (attempt %d of %d)",
                method,
                url.path,
                decision.wait,
                attempt + 2,
                self.retry.max_retries + 1,
            )
            if (
                held
                and decision.wait > 0
                and isinstance(error, APIStatusError)
                and error.status_code == 429
            ):
                # wait in the admission queue, with every other request held back there
                self.state.admission.rate_limited(decision.wait)
            elif stop is None:
                await _clock.sleep(decision.wait)
            else:
                with anyio.move_on_after(decision.wait):
                    await stop.wait()
                if stop.is_set():
                    raise error
            attempt += 1

    async def submit(
        self,
        path: str,
        parse: Callable[[object, httpx.Response], T],
        *,
        submit: SubmitInfo = _JOB,
        stop: anyio.Event | StopSignal | None = None,
        **kwargs: Any,
    ) -> T:
        """POST a request that creates something (a job, an asset) and parse the response.

        Never replayed when it may have been carried out (see :meth:`request`); a
        body that cannot be parsed (``parse`` raising
        :class:`~krea_async.APIResponseValidationError`) also means "it may have
        been created", so it becomes :class:`~krea_async.UncertainSubmitError` too.
        """
        submitted_at = _dt.datetime.now(_dt.timezone.utc)
        body, response = await self.request(
            "POST", path, idempotent=False, stop=stop, submit=submit, **kwargs
        )
        try:
            return parse(body, response)
        except APIResponseValidationError as exc:
            raise self._uncertain("POST", response.request.url, submitted_at, exc, submit) from exc

    @staticmethod
    def _uncertain(
        method: str,
        url: httpx.URL,
        submitted_at: _dt.datetime,
        cause: KreaError,
        submit: SubmitInfo,
    ) -> UncertainSubmitError:
        created, check = submit
        return UncertainSubmitError(
            method=method,
            path=url.path,
            submitted_at=submitted_at,
            cause=cause,
            created=created,
            check=check,
        )

    def _log(self, method: str, url: httpx.URL, status: int | str, attempt: int, t0: float) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s -> %s (attempt %d, %.3fs)",
                method,
                url.path,
                status,
                attempt + 1,
                _clock.now() - t0,
            )
