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
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio

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

__all__ = [
    "ClientWatch",
    "JobEvents",
    "LocalEvents",
    "RedisEvents",
    "WebhookReceiver",
    "WebhookResult",
    "follow_client",
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

    Works under asyncio and trio (anyio). Raises what the block raises.
    """
    watch = ClientWatch()

    async def listen(scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                watch.disconnected = True
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        body = anyio.CancelScope()
        tg.start_soon(listen, body)
        try:
            with body:
                yield watch
        finally:
            tg.cancel_scope.cancel()
            if watch.disconnected:
                for job_id in list(watch._jobs):
                    if await krea.jobs.waiter.cancel_quietly(job_id, cancel_deadline):
                        watch.cancelled_jobs.append(job_id)
                logger.info(
                    "client disconnected; cancelled jobs: %s", ", ".join(watch.cancelled_jobs)
                )


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


async def job_sse_events(
    krea: AsyncKrea,
    job_id: str,
    *,
    cancel_on_disconnect: bool = True,
    poll_interval: float | None = None,
    deadline: float | None = None,
) -> AsyncIterator[dict[str, str]]:
    """The events :func:`job_event_source` sends, as sse-starlette dicts.

    One ``status`` event per state change (``data``: ``{"job_id", "status"}`` JSON), then
    one ``done`` event for the terminal state carrying ``urls`` (and ``error`` for a
    failed job). Waits with ``krea.jobs.stream`` (``poll_interval`` and ``deadline``
    in seconds, defaults from the client), so through the client's waiter: a job the
    client submitted with its webhook URL is woken by the webhook, not polled. When the
    consumer stops early (the client left), the job is cancelled if
    ``cancel_on_disconnect``.
    """
    last: str | None = None
    stream = krea.jobs.stream(
        job_id,
        poll_interval=poll_interval,
        deadline=deadline,
        cancel_on_exit=cancel_on_disconnect,
    )
    async with stream:
        async for job in stream:
            if str(job.status) != last:
                last = str(job.status)
                yield _state_event(job)


def job_event_source(
    krea: AsyncKrea,
    job_id: str,
    *,
    cancel_on_disconnect: bool = True,
    poll_interval: float | None = None,
    deadline: float | None = None,
    ping: float = 15.0,
) -> Any:
    """An sse-starlette ``EventSourceResponse`` streaming ``job_id``'s states.

    Return it from a Starlette or FastAPI handler (``GET``); a browser reads it with
    ``new EventSource(url)``. Events: see :func:`job_sse_events`. A keep-alive comment
    is sent every ``ping`` seconds. The response ends after the terminal event, or
    when the client leaves, in which case the job is cancelled
    (``DELETE /jobs/{id}``) if ``cancel_on_disconnect``. Needs the ``web`` extra.
    """
    from sse_starlette import EventSourceResponse

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
