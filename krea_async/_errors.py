"""The one error tree of krea-async.

Every failure the public API can raise is a :class:`KreaError`. Raw ``httpx``
exceptions never escape: connection problems become :class:`APIConnectionError`
(or :class:`APITimeoutError`), HTTP error statuses become a subclass of
:class:`APIStatusError` chosen by :func:`~krea_async._http.status_errors.status_error`,
and job outcomes become a
:class:`JobError`.

Source of the statuses and their meaning: Krea's API docs
(https://docs.krea.ai) and each path's ``responses`` in Krea's OpenAPI document
(bundled at ``krea_async/_spec/openapi.json``). Every error body is
``{"error": "<message>"}``.

This module imports nothing else of krea-async at run time (the bottom layer).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._models import Job

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AssetTooLargeError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClientStateError",
    "ConfigurationError",
    "ConflictError",
    "DownloadError",
    "DownloadTooLargeError",
    "EndpointNotFoundError",
    "EventsUnavailableError",
    "InsufficientCreditsError",
    "InternalServerError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "KreaError",
    "ModelNotFoundError",
    "ModelUnavailableError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "UncertainSubmitError",
    "UnprocessableEntityError",
]


class KreaError(Exception):
    """Base class of every error raised by krea-async.

    ``except krea_async.KreaError`` catches everything the SDK raises on purpose;
    anything else escaping the public API is a bug in krea-async.

    Every error round-trips through :mod:`pickle` (multiprocessing, Celery, arq):
    the message, the type and the attributes survive (an ``httpx.Response`` keeps
    its status, headers and request line, not its connection), ``__cause__`` and
    tracebacks do not. No error carries the API key: it is redacted from
    messages, bodies and the ``Authorization`` header of the requests they keep.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take keyword-only arguments, so ``cls(*args)`` (the default)
        # cannot rebuild them: rebuild from the message and the attributes instead.
        return (_rebuild_error, (type(self), self.args, dict(vars(self))))


def _rebuild_error(
    cls: type[KreaError], args: tuple[object, ...], state: dict[str, object]
) -> KreaError:
    """Unpickle a :class:`KreaError` without calling its ``__init__``."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(KreaError, ValueError):
    """The client was configured in a way that cannot work.

    Raised by :class:`~krea_async.AsyncKrea` when no API key is given and
    ``KREA_API_KEY`` is unset, or when the base URL is plain ``http://`` to a host
    that is not loopback (the key would cross the network in clear text) and
    ``allow_insecure_http=True`` was not passed.
    """


class ClientStateError(KreaError, RuntimeError):
    """The client cannot be used in the current state.

    Raised instead of hanging or failing with "Event loop is closed" when an
    :class:`~krea_async.AsyncKrea` is used from an event loop other than the one it
    first ran on. Create one client per event loop (for example in a FastAPI
    lifespan) and share it between tasks of that loop.
    """


class ClientClosedError(ClientStateError):
    """The client (or the ``http_client`` it wraps) was already closed by ``aclose()``."""


class APIConnectionError(KreaError):
    """No HTTP response was received: the connection failed or was dropped.

    ``request_sent`` is ``False`` when the connection was never established (so
    the server certainly did not see the request) and ``True`` when the request
    may have reached the server. The underlying ``httpx`` exception is chained as
    ``__cause__``.
    """

    def __init__(self, message: str, *, method: str, url: str, request_sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError, TimeoutError):
    """An HTTP request exceeded one of the client's ``httpx.Timeout`` limits.

    This is the per-request timeout (connect, read, write, pool, in seconds), not
    the deadline of a whole job; that one is :class:`JobTimeoutError`.
    """


class APIStatusError(KreaError):
    """The API answered with an HTTP error status (4xx or 5xx).

    Attributes: ``status_code`` (int), ``message`` (the server's ``error`` string,
    or a summary of the body when it is not Krea's ``{"error": ...}`` shape),
    ``response`` (the ``httpx.Response``; its body is already read) and ``body``
    (the parsed JSON, or the text, or ``None``).
    """

    #: What the user should do about it; appended to the message.
    hint: str = ""

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        self.status_code = response.status_code
        self.message = message
        self.response = response
        self.body = body
        request = response.request
        text = f"{response.status_code} from {request.method} {request.url.path}: {message}"
        if self.hint:
            text = f"{text} ({self.hint})"
        super().__init__(text)


class BadRequestError(APIStatusError):
    """400: the request body is invalid (a missing or unknown field, a value out of range)."""

    hint = "check the input against krea.models.get_schema(model)"


class AuthenticationError(APIStatusError):
    """401: not authenticated."""

    hint = "check KREA_API_KEY; tokens are made at krea.ai/settings/api-tokens"


class InsufficientCreditsError(APIStatusError):
    """402: the prepaid balance ran out, or the model needs a plan; the message says which."""

    hint = "top up the API balance or upgrade the plan at krea.ai"


class PermissionDeniedError(APIStatusError):
    """403: the resource is not yours (for example a style you do not own)."""

    hint = "only the owner can do this"


class NotFoundError(APIStatusError):
    """404: unknown, or not visible to this API key."""

    hint = "check the id, and that it belongs to this API key's account"


class JobNotFoundError(NotFoundError):
    """404 on ``GET /jobs/{id}`` or ``DELETE /jobs/{id}``: the job is unknown or not yours.

    ``job_id`` is the id asked for. Raised by ``krea.jobs`` (which maps the
    request layer's :class:`NotFoundError` to it).
    """

    hint = "check the job id, and that the job belongs to this API key's account"

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        super().__init__(message, response=response, body=body)
        self.job_id = response.request.url.path.rstrip("/").rsplit("/", 1)[-1]


class EndpointNotFoundError(NotFoundError):
    """404 on ``POST /generate/...``: Krea has no such generation endpoint (model)."""

    hint = "no such generation endpoint; see krea.models.list() for the known models"

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        from ._spec.bundle import suggest  # the model catalog: read on first use

        #: The closest known endpoints (``"image/bfl/flux-1-dev"``), closest first, from
        #: the bundled spec or the live one ``krea.models.refresh()`` loaded; ``()`` when
        #: none is close. Only a hint: the SDK never refuses a model it does not know.
        self.suggestions: tuple[str, ...] = tuple(suggest(response.request.url.path))
        if self.suggestions:
            self.hint = (
                f"no such generation endpoint; did you mean {', '.join(self.suggestions)}? "
                "See krea.models.list() for the known models"
            )
        super().__init__(message, response=response, body=body)


class ModelUnavailableError(APIStatusError):
    """410 ``model_unavailable``: the model (generation endpoint) was retired by Krea.

    Krea answers ``410 Gone`` once a deprecated model passes its sunset date
    (https://docs.krea.ai/developers/deprecations), with a body
    ``{"error": "model_unavailable", "reason", "message", "sunset_date",
    "replacement", "migration_url"}``. A 410 is final: it is never retried.

    Attributes (each ``None`` when the body leaves it out): ``model`` (the
    endpoint asked for, from the request path, e.g. ``"video/openai/sora-2"``),
    ``reason`` (e.g. ``"deprecated"``), ``sunset_date`` (``"YYYY-MM-DD"``),
    ``replacement`` (the endpoint to use instead) and ``migration_url``.
    """

    hint = "the model is gone; see krea.models.list() (or `krea-async models list`)"

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        info = body if isinstance(body, dict) else {}

        def text(key: str) -> str | None:
            value = info.get(key)
            return value[:300] if isinstance(value, str) and value else None

        path = response.request.url.path
        model = path.split("/generate/", 1)[1] if "/generate/" in path else ""
        self.model = model.strip("/") or None
        self.reason = text("reason")
        self.sunset_date = text("sunset_date")
        self.replacement = text("replacement")
        self.migration_url = text("migration_url")
        detail = text("message") or (message if message != "model_unavailable" else "")
        parts = [f"model {self.model!r} is no longer available"]
        if self.sunset_date:
            parts.append(f"(sunset {self.sunset_date})")
        if self.replacement:
            parts.append(f"; use {self.replacement!r} instead")
        if detail:
            parts.append(f": {detail}")
        super().__init__(" ".join(parts).replace(" ;", ";"), response=response, body=body)


class ModelNotFoundError(KreaError, KeyError):
    """``krea.models.get()`` / ``get_schema()``: the bundled spec has no such model.

    Raised without any request. ``model`` is the name asked for. A
    :class:`KeyError` too, for code written against earlier releases.
    """

    def __init__(self, model: str, *, suggestions: Sequence[str] = ()) -> None:
        hint = f"did you mean {', '.join(suggestions)}? " if suggestions else ""
        super().__init__(f"unknown model {model!r}; {hint}see krea.models.list()")
        self.model = model
        #: The closest known endpoints (``"image/bfl/flux-1-dev"``), closest first.
        self.suggestions: tuple[str, ...] = tuple(suggestions)

    def __str__(self) -> str:
        return str(self.args[0])


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's current state."""


class UnprocessableEntityError(APIStatusError):
    """422: the input was well formed but cannot be used (for example an unreachable asset URL)."""

    hint = "check that every URL in the input is reachable from Krea"


class RateLimitError(APIStatusError):
    """429: the account's backlog of concurrent jobs is full; the job was refused.

    ``retry_after`` is the server's ``Retry-After`` in seconds, or ``None``.
    """

    hint = "wait for running jobs to finish, or lower the concurrency"

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        super().__init__(message, response=response, body=body)
        from ._http.retry import parse_retry_after

        self.retry_after = parse_retry_after(response.headers.get("retry-after"))


class InternalServerError(APIStatusError):
    """5xx: a server-side failure (or a proxy in front of the API)."""

    hint = "a temporary server problem; try again later"


class APIResponseValidationError(KreaError):
    """A 2xx response whose body is not what the spec promises (not JSON, wrong shape).

    ``response`` is the ``httpx.Response``; ``body`` what could be parsed of it.
    """

    def __init__(self, message: str, *, response: httpx.Response, body: object) -> None:
        super().__init__(message)
        self.message = message
        self.response = response
        self.body = body


class DownloadError(KreaError):
    """A result file could not be downloaded safely.

    Raised by :func:`krea_async.files.download` (and ``result.save()``,
    ``krea.download()``) for an HTTP error status (``status_code`` is set; result
    URLs expire, so a 403 or 404 often means "too old": fetch the job again), a
    response that is not a media file (for example an HTML error page served with
    200), a stacked or unknown ``Content-Encoding``, an invalid URL, a redirect to
    a non-HTTPS URL (other than loopback), a redirect into a loopback, link-local
    or private network from a URL outside one, too many redirects, or a file that
    cannot be written (the ``OSError`` is chained as ``__cause__``).

    ``url`` is the URL asked for (in full; messages show at most 200 characters of
    it, without its query string, which often holds a signature). ``job_id`` is
    the job whose result it is, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code
        self.job_id = job_id


class DownloadTooLargeError(DownloadError):
    """The file is larger than the download's ``max_bytes`` cap (bytes).

    Raised as soon as the announced ``Content-Length`` or the decoded bytes
    received pass the cap; nothing is left on disk. ``max_bytes`` is the cap.
    """

    def __init__(
        self, message: str, *, url: str, max_bytes: int, job_id: str | None = None
    ) -> None:
        super().__init__(message, url=url, job_id=job_id)
        self.max_bytes = max_bytes


class AssetTooLargeError(KreaError, ValueError):
    """The file is over Krea's 75 MB upload limit (``krea.assets.upload()``); raised
    before anything is sent.

    ``size`` and ``limit`` are in bytes (``limit`` is
    :data:`krea_async.MAX_ASSET_BYTES`, Krea's "75MB" taken as 75 * 1024 * 1024).
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"file is {size} bytes; Krea accepts assets up to {limit} bytes (75 MB)")
        self.size = size
        self.limit = limit


class EventsUnavailableError(KreaError):
    """A job-event bus (:class:`~krea_async.RedisEvents`, :class:`~krea_async.LocalEvents`)
    cannot be used, e.g. Redis is down or the bus was closed.

    Raised by the bus's methods; ``subscribe()`` and ``jobs.wait()`` catch it and
    fall back to polling the API, so it reaches user code only from direct calls
    on a bus.
    """


CLOCK_SKEW_MARGIN = 60.0
"""Allowance (seconds) for the difference between this machine's clock and Krea's."""


class UncertainSubmitError(KreaError):
    """A POST that creates a job (or an asset) may or may not have been carried out.

    Raised instead of replaying the request, because Krea documents no idempotency
    key and a replay could start, and bill, a second job. It happens when the
    request was sent but no clear response came back: a read timeout, a connection
    dropped after the body was sent, a 5xx or 408, or a 2xx response whose body
    could not be read.

    Attributes: ``method`` and ``path`` of the request, ``submitted_at`` (aware
    UTC ``datetime`` taken just before sending, by this machine's clock),
    ``check_since`` (``submitted_at`` less :data:`CLOCK_SKEW_MARGIN`, 60 s, for
    clock skew between this machine and Krea), and ``cause`` (the
    :class:`APIConnectionError`, :class:`APIStatusError` or
    :class:`APIResponseValidationError` seen). To find out, list what was created
    since then (jobs carry no client reference, so match by type and time)::

        async for job in krea.jobs.list(created_after=err.check_since):
            ...

    The caller words the message: ``created`` says what the request may have done
    (default ``"created a job"``), ``check`` where to look (default: the
    ``krea.jobs.list(created_after=err.check_since)`` call).
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        submitted_at: _dt.datetime,
        cause: KreaError,
        created: str = "created a job",
        check: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.submitted_at = submitted_at
        self.check_since = submitted_at - _dt.timedelta(seconds=CLOCK_SKEW_MARGIN)
        self.cause = cause
        if check is None:
            check = (
                "`krea.jobs.list(created_after=err.check_since)` for jobs created since "
                f"{self.check_since.isoformat()}"
            )
        super().__init__(
            f"{method} {path} may have {created}, but no clear answer came back ({cause}). "
            "It was NOT retried, so that nothing is created, and billed, twice. "
            f"Check {check} before sending it again."
        )


class JobError(KreaError):
    """A job did not end in ``completed``.

    ``job_id`` (str) is always set; ``job`` is the last :class:`~krea_async.Job`
    seen, or ``None`` if none was fetched.
    """

    def __init__(self, message: str, *, job_id: str, job: Job | None) -> None:
        super().__init__(message)
        self.message = message
        self.job_id = job_id
        self.job = job


class JobFailedError(JobError):
    """The job ended ``failed`` (provider error, invalid parameters, moderation, or
    Krea's automatic time-out; https://docs.krea.ai/developers/job-lifecycle).
    Failed jobs are not billed.

    ``code`` and ``error_message`` are the failure's code and message (each
    ``None`` when Krea sent none), read from the job's ``result.error`` (a string,
    or an object) or from a top-level ``error`` object ``{"code", "message"}`` (the
    shape Krea's Enhance reference shows). The raw details stay in ``job.raw``.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        job: Job | None,
        code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id, job=job)
        self.code = code
        self.error_message = error_message


class JobCancelledError(JobError):
    """The job ended ``cancelled`` (by ``DELETE /jobs/{id}``, from here or elsewhere)."""


class JobTimeoutError(JobError, TimeoutError):
    """The deadline for a whole job passed before it reached a terminal status.

    Raised by ``jobs.wait()``, ``jobs.stream()`` and ``subscribe()``; ``job`` is
    the last state seen and ``deadline`` the deadline in seconds. The remote job
    may still be running unless it was cancelled (``subscribe()`` cancels it by
    default; ``cancelled_remote`` tells whether the job's state confirmed the
    cancel; when it did not, the message says why: the job completed first, or
    runs on, and is billed).
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        job: Job | None,
        deadline: float,
        cancelled_remote: bool = False,
    ) -> None:
        super().__init__(message, job_id=job_id, job=job)
        self.deadline = deadline
        self.cancelled_remote = cancelled_remote
