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
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ClientStateError",
    "ConfigurationError",
    "ConflictError",
    "EndpointNotFoundError",
    "InsufficientCreditsError",
    "InternalServerError",
    "JobCancelledError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "KreaError",
    "ModelNotFoundError",
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
    Krea's automatic time-out). Failed jobs are not billed.
    The failure details, whose shape Krea does not document, are in
    ``job.result.error``."""


class JobCancelledError(JobError):
    """The job ended ``cancelled`` (by ``DELETE /jobs/{id}``, from here or elsewhere)."""


class JobTimeoutError(JobError, TimeoutError):
    """The deadline for a whole job passed before it reached a terminal status.

    Raised by ``jobs.wait()``, ``jobs.stream()`` and ``subscribe()``; ``job`` is
    the last state seen and ``deadline`` the deadline in seconds. The remote job
    may still be running unless it was cancelled (``subscribe()`` cancels it by
    default; ``cancelled_remote`` tells whether that ``DELETE`` succeeded).
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
