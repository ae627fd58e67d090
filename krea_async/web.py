"""Helpers for web apps (Starlette, FastAPI, any ASGI framework).

- :func:`follow_client`: a request handler's jobs follow its HTTP client; when the
  client hangs up, the handler's work is cancelled and its unfinished Krea jobs are
  cancelled (``DELETE /jobs/{id}``, via ``krea.jobs.cancel``).
- :func:`job_event_source`: a job's states as Server-Sent Events (sse-starlette).
- :class:`WebhookReceiver` (capability-URL webhooks, an ASGI app to mount), the job-event
  buses :class:`LocalEvents` and :class:`RedisEvents`, and :func:`wait_job` (a wait woken
  by webhooks, with a slow safety-net poll), re-exported here.

Needs the ``web`` extra (starlette, sse-starlette). Job states and cancelling a job
(``DELETE /jobs/{id}``): https://docs.krea.ai/developers/job-lifecycle .
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

from ._errors import (
    APIConnectionError,
    InternalServerError,
    JobNotFoundError,
    KreaError,
    RateLimitError,
)
from ._jobs.waiter import wait_job
from ._models import Job
from ._webhooks.events import (
    JobEvents,
    LocalEvents,
    status_rank,
)
from ._webhooks.receiver import WebhookReceiver, WebhookResult
from ._webhooks.redis import RedisEvents

if TYPE_CHECKING:
    from ._client.client import AsyncKrea

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import (  # type: ignore[import-not-found,unused-ignore]
        BaseExceptionGroup as _BaseExceptionGroup,
    )
else:
    _BaseExceptionGroup = BaseExceptionGroup  # noqa: F821 (a builtin from 3.11)

__all__ = [
    "ClientWatch",
    "JobEvents",
    "LocalEvents",
    "RedisEvents",
    "TokenLogFilter",
    "WebhookReceiver",
    "WebhookResult",
    "follow_client",
    "hide_webhook_tokens",
    "job_event_source",
    "job_sse_events",
    "status_rank",
    "wait_job",
]

logger = logging.getLogger("krea_async.web")

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientWatch:
    """What :func:`follow_client` yields: :meth:`track` jobs to cancel on hang-up;
    ``disconnected`` tells whether the client left; ``cancelled_jobs`` lists the ids
    cancelled because it did."""

    def __init__(self) -> None:
        self.disconnected = False
        self.cancelled_jobs: list[str] = []
        self._jobs: dict[str, None] = {}

    def track(self, job_id: str) -> None:
        """Cancel ``job_id`` if the client hangs up before :meth:`untrack` (or the end
        of the ``async with`` block)."""
        self._jobs[job_id] = None

    def untrack(self, job_id: str) -> None:
        """Stop tracking ``job_id`` (e.g. once it is terminal)."""
        self._jobs.pop(job_id, None)

    @property
    def tracked(self) -> tuple[str, ...]:
        """The job ids tracked now, oldest first: those cancelled if the client leaves."""
        return tuple(self._jobs)


@contextlib.asynccontextmanager
async def follow_client(
    receive: Receive,
    krea: AsyncKrea,
    *,
    cancel_deadline: float = 5.0,
) -> AsyncIterator[ClientWatch]:
    """Make the body of ``async with`` follow the HTTP client of the current request.

    ``receive`` is the ASGI ``receive`` callable (``request.receive`` in Starlette and
    FastAPI), used only after the request body has been read. When the client
    disconnects, the block is cancelled (so a ``krea.subscribe(...)`` inside it cancels
    the job it created) and every job registered with :meth:`ClientWatch.track` that
    is not known to be finished is cancelled with ``krea.jobs.cancel`` (shielded,
    bounded by ``cancel_deadline`` seconds), then the block exits quietly (the caller's
    code after ``async with`` sees ``watch.disconnected``; there is no one to answer).

    Example (FastAPI)::

        @app.post("/images")
        async def make(request: Request) -> dict[str, str]:
            async with follow_client(request.receive, krea) as watch:
                job = await krea.generate("image/bfl/flux-1-dev", {"prompt": "a fox"})
                watch.track(job.job_id)
                done = await krea.jobs.wait(job.job_id)
                return {"url": done.urls[0]}
            return {}  # the client left; nobody reads this

    A submit in flight when the client leaves (``krea.generate`` before ``track()``
    could run) still cancels the job it creates, as soon as its id comes back.

    Works under asyncio and trio (anyio). Raises what the block raises, as itself (an
    ``HTTPException`` stays one; no ``ExceptionGroup``).
    """
    watch = ClientWatch()

    async def listen(scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                watch.disconnected = True
                scope.cancel()
                return

    try:
        async with anyio.create_task_group() as tg:
            body = anyio.CancelScope()
            tg.start_soon(listen, body)
            try:
                with body:
                    yield watch
            finally:
                tg.cancel_scope.cancel()
                if watch.disconnected:
                    for job_id in watch.tracked:
                        if await krea.jobs.waiter.cancel_quietly(job_id, cancel_deadline):
                            watch.cancelled_jobs.append(job_id)
                    if watch.cancelled_jobs:
                        logger.info(
                            "client disconnected; cancelled jobs: %s",
                            ", ".join(watch.cancelled_jobs),
                        )
    except _BaseExceptionGroup as group:
        # The task group wraps the block's exception; hand it back as itself.
        single = _only_error(group)
        if single is None:
            raise
        raise single from single.__cause__


def _only_error(group: _BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception of ``group`` that is not a cancellation, if there is one."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, _BaseExceptionGroup):
            pending.extend(exc.exceptions)
        elif not isinstance(exc, anyio.get_cancelled_exc_class()):
            leaves.append(exc)
    return leaves[0] if len(leaves) == 1 else None


def _state_event(job: Job) -> dict[str, str]:
    payload: dict[str, Any] = {"job_id": job.job_id, "status": str(job.status)}
    if job.is_terminal:
        payload["urls"] = list(job.urls)
        if job.result.error_message:
            payload["error"] = job.result.error_message
    return {
        "event": "done" if job.is_terminal else "status",
        "id": f"{job.job_id}:{job.status}",
        "data": json.dumps(payload, separators=(",", ":")),
    }


#: Milliseconds an ``EventSource`` waits before reconnecting after an error that cannot
#: heal (a day: in effect, never).
NO_RETRY_MS = 24 * 3600 * 1000

OwnerCheck = Callable[[], "bool | Awaitable[bool]"]
"""``() -> bool`` (plain or async): whether the job may be cancelled now that this
stream's client left: the app's check that the requester owns the job."""


def _error_event(job_id: str, message: str) -> dict[str, Any]:
    data = json.dumps({"job_id": job_id, "error": message}, separators=(",", ":"))
    return {"event": "error", "data": data, "retry": NO_RETRY_MS}


async def job_sse_events(
    krea: AsyncKrea,
    job_id: str,
    *,
    cancel_on_disconnect: OwnerCheck | None = None,
    poll_interval: float | None = None,
    deadline: float | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The events :func:`job_event_source` sends, as sse-starlette dicts.

    One ``status`` event per state change (``data``: ``{"job_id", "status"}`` JSON), then
    one ``done`` event for the terminal state carrying ``urls`` (and ``error`` for a
    failed job). Waits with ``krea.jobs.stream`` (``poll_interval`` and ``deadline``
    in seconds, defaults from the client), so through the client's waiter: a job the
    client submitted with its webhook URL is woken by the webhook, not polled.

    An error that cannot heal (the job is unknown or not this key's, a refused key, the
    deadline) ends the stream with an ``error`` event (``{"job_id", "error"}``) and a
    ``retry`` of :data:`NO_RETRY_MS`, logged as one line; an error that may heal
    (connection, 5xx, 429) ends it quietly after one WARNING line, and the browser's
    ``EventSource`` reconnects.

    Watching never cancels the job. With ``cancel_on_disconnect`` (an owner check,
    see :data:`OwnerCheck`), a consumer that stops before the terminal state (the client
    left) cancels the job (``DELETE /jobs/{id}``) if the check returns ``True``.
    """
    if cancel_on_disconnect is not None and not callable(cancel_on_disconnect):
        raise TypeError(
            "cancel_on_disconnect must be an owner check (a callable returning whether the "
            "requester owns the job), not a bool: watching a job must not cancel it"
        )
    last: str | None = None
    finished = False
    stream = krea.jobs.stream(job_id, poll_interval=poll_interval, deadline=deadline)
    try:
        async with stream:
            async for job in stream:
                finished = job.is_terminal
                if str(job.status) != last:
                    last = str(job.status)
                    yield _state_event(job)
    except (APIConnectionError, InternalServerError, RateLimitError) as exc:
        logger.warning("SSE stream of job %s ended, the client may reconnect: %s", job_id, exc)
        finished = True  # the client reconnects: not a departure
    except KreaError as exc:
        logger.info("SSE stream of job %s ended: %s", job_id, exc)
        finished = True
        yield _error_event(job_id, str(exc))
    finally:
        if not finished and cancel_on_disconnect is not None:
            with anyio.CancelScope(shield=True):
                allowed = cancel_on_disconnect()
                if inspect.isawaitable(allowed):
                    allowed = await allowed
                if allowed:
                    await krea.jobs.waiter.cancel_quietly(job_id)


async def job_event_source(
    krea: AsyncKrea,
    job_id: str,
    *,
    cancel_on_disconnect: OwnerCheck | None = None,
    poll_interval: float | None = None,
    deadline: float | None = None,
    ping: float = 15.0,
) -> Any:
    """A response streaming ``job_id``'s states as Server-Sent Events (await it).

    Return it from a Starlette or FastAPI handler (``GET``); a browser reads it with
    ``new EventSource(url)``. The job is fetched first (``GET /jobs/{id}``): an unknown
    job (or one of another account) is a plain ``404`` before any stream starts, so
    ``EventSource`` does not reconnect forever. Otherwise an sse-starlette
    ``EventSourceResponse``: events as :func:`job_sse_events`, a keep-alive comment
    every ``ping`` seconds; it ends after the terminal event or when the client leaves.

    Watching never cancels the job: a reload, a reconnect or a second viewer leaving
    changes nothing. To cancel a job when its owner leaves, pass
    ``cancel_on_disconnect=`` an owner check (:data:`OwnerCheck`), e.g. one that
    confirms the job is in this browser's session (docs/content/web-apps.md).
    Raises what ``krea.jobs.get`` raises besides :class:`~krea_async.JobNotFoundError`.
    Needs the ``web`` extra.
    """
    from sse_starlette import EventSourceResponse
    from starlette.responses import PlainTextResponse

    try:
        await krea.jobs.get(job_id)
    except (JobNotFoundError, ValueError):
        return PlainTextResponse("job not found", status_code=404)
    return EventSourceResponse(
        job_sse_events(
            krea,
            job_id,
            cancel_on_disconnect=cancel_on_disconnect,
            poll_interval=poll_interval,
            deadline=deadline,
        ),
        ping=ping,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class TokenLogFilter(logging.Filter):
    """A logging filter that hides webhook capability tokens in access-log lines.

    ``paths``: where receivers are mounted (``"/krea/webhooks"``; see
    :attr:`WebhookReceiver.path`). In every record's message and string arguments
    (uvicorn's tuple, gunicorn's and hypercorn's atom dicts), the path segment after
    one of them becomes ``**********``: ``POST /krea/webhooks/********** HTTP/1.1``.
    Install it with :func:`hide_webhook_tokens`.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        super().__init__()
        prefixes = sorted({"/" + p.strip("/") for p in paths}, key=len, reverse=True)
        if not prefixes:
            raise ValueError("TokenLogFilter needs at least one path")
        alternatives = "|".join(re.escape(p) for p in prefixes)
        self._pattern = re.compile(f"({alternatives})/[^/?#\\s\"']+")

    def _hide(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(r"\1/**********", value)
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        record.msg = self._hide(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: self._hide(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(self._hide(v) for v in record.args)
        return True


#: The access loggers of the common ASGI servers.
ACCESS_LOGGERS = ("uvicorn.access", "gunicorn.access", "hypercorn.access")


def hide_webhook_tokens(
    *receivers: WebhookReceiver | str, loggers: Iterable[str] = ACCESS_LOGGERS
) -> TokenLogFilter:
    """Add a :class:`TokenLogFilter` for ``receivers`` (receivers or mount paths) to
    ``loggers`` (default: uvicorn's, gunicorn's and hypercorn's access loggers) and
    return it. Call it once at start-up, e.g. ``hide_webhook_tokens(krea.webhooks)``:
    the capability tokens of ``POST /krea/webhooks/<token>`` then never reach a log line.
    """
    paths = [r.path if isinstance(r, WebhookReceiver) else r for r in receivers]
    log_filter = TokenLogFilter(paths)
    for name in loggers:
        logging.getLogger(name).addFilter(log_filter)
    return log_filter
