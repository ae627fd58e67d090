"""The end of a job as the SDK handles it, for every way of waiting (polling, webhooks,
web helpers): :func:`raise_for_outcome` turns a failed or cancelled job into its
error, :func:`notify` calls an ``on_queue_update`` callback with a state, and
:func:`cancel_quietly` sends the ``DELETE /jobs/{id}`` the SDK sends on its own
(shielded, bounded, reported to ``on_cancel_failed``).

Job lifecycle: https://docs.krea.ai/developers/job-lifecycle
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

import anyio

from .._errors import APITimeoutError, JobCancelledError, JobFailedError, KreaError
from .._models import Job, JobStatus
from .._types import QueueUpdateCallback

__all__ = [
    "CancelFailedCallback",
    "CancelJob",
    "cancel_quietly",
    "failure_detail",
    "notify",
    "raise_for_outcome",
]

logger = logging.getLogger("krea_async")


async def notify(callback: QueueUpdateCallback | None, job: Job) -> None:
    """Call a plain or async ``on_queue_update`` callback with ``job``."""
    if callback is None:
        return
    result = callback(job)
    if inspect.isawaitable(result):
        await result


CancelJob = Callable[[str, float], Awaitable[object]]
"""``cancel(job_id, timeout)``: the SDK's own ``DELETE /jobs/{id}``, bounded as
:func:`cancel_quietly` says (the client's ``jobs.waiter.cancel``)."""

CancelFailedCallback = Callable[[str, str], object]
"""``on_cancel_failed(job_id, reason)``: called (synchronously; it must not block)
when a ``DELETE /jobs/{id}`` the SDK sent on its own could not be carried out."""


async def cancel_quietly(
    cancel: CancelJob,
    job_id: str,
    timeout: float,
    on_failed: CancelFailedCallback | None = None,
) -> bool:
    """Send ``DELETE /jobs/{id}`` through ``cancel(job_id, timeout)`` even while the
    caller is being cancelled (a shielded scope). Returns whether the job was
    cancelled.

    ``cancel`` bounds the request (the client's ``jobs.waiter.cancel``): once
    sent, ``timeout`` seconds; before, while it waits for a free connection, as
    long as the server keeps answering requests, so that cancelling 10,000 waiting
    ``subscribe()`` calls at once cancels all 10,000 jobs (the cancellation then
    takes as long as the server needs to answer them), and gives up once the
    server answered nothing for ``timeout`` seconds.

    A failure (an error, no answer within ``timeout``, or no free connection) is
    not raised, so that the original cancellation or error propagates: it is
    logged at WARNING on the ``krea_async`` logger with the job id, and passed to
    ``on_failed(job_id, reason)`` (an exception from the callback is logged and
    swallowed).
    """
    with anyio.CancelScope(shield=True):
        try:
            await cancel(job_id, timeout)
        except APITimeoutError:
            reason = f"DELETE /jobs/{job_id} did not complete within cancel_deadline={timeout:g} s"
        except KreaError as exc:
            reason = str(exc)
        else:
            logger.info("cancelled job %s", job_id)
            return True
    logger.warning("could not cancel job %s, it may still run: %s", job_id, reason)
    if on_failed is not None:
        try:
            on_failed(job_id, reason)
        except Exception:
            logger.exception("on_cancel_failed callback failed for job %s", job_id)
    return False


def failure_detail(job: Job) -> tuple[str | None, str | None]:
    """``(code, message)`` of a failed job, each ``None`` when Krea sent none.

    Read from ``result.error`` (a string: the message; an object: its ``code`` and
    ``message``) and from a top-level ``error`` object ``{"code", "message"}``
    (the shape Krea's Enhance reference shows; a string there is the message).
    Job lifecycle: https://docs.krea.ai/developers/job-lifecycle
    """
    code: str | None = None
    message: str | None = None
    for err in (job.result.error, job.raw.get("error")):
        if isinstance(err, str) and err.strip():
            message = message or err.strip()[:2000]
        elif isinstance(err, Mapping):
            value = err.get("code")
            if code is None and isinstance(value, (str, int)) and str(value).strip():
                code = str(value).strip()[:200]
            if message is None:
                for key in ("message", "reason", "detail"):
                    value = err.get(key)
                    if isinstance(value, str) and value.strip():
                        message = value.strip()[:2000]
                        break
    if message is None and job.result.error is not None and code is None:
        message = job.result.error_message
    return code, message


def raise_for_outcome(job: Job) -> Job:
    """Return a ``completed`` job; raise :class:`JobFailedError` / :class:`JobCancelledError`."""
    if job.status is JobStatus.FAILED:
        code, detail = failure_detail(job)
        text = detail or code
        if code and detail and code not in detail:
            text = f"{detail} ({code})"
        raise JobFailedError(
            f"job {job.job_id} failed" + (f": {text}" if text else ""),
            job_id=job.job_id,
            job=job,
            code=code,
            error_message=detail,
        )
    if job.status is JobStatus.CANCELLED:
        raise JobCancelledError(f"job {job.job_id} was cancelled", job_id=job.job_id, job=job)
    return job
