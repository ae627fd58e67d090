"""The end of a job as the SDK handles it, for every way of waiting (polling, webhooks,
web helpers): :func:`raise_for_outcome` turns a failed or cancelled job into its
error, :func:`notify` calls an ``on_queue_update`` callback with a state,
:func:`cancel_confirmed` is the one rule of a cancel (``DELETE /jobs/{id}``, then
the job's state says whether it took; retried while the job cannot be cancelled
yet), and :func:`cancel_quietly` runs it for the cancels the SDK sends on its own
(shielded, bounded, a job that runs on reported to ``on_cancel_failed``).

Job lifecycle: https://docs.krea.ai/developers/job-lifecycle ("Jobs can only be
canceled while they have a status of queued or processing").
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping

import anyio

from .. import _clock
from .._errors import (
    APIStatusError,
    APITimeoutError,
    JobCancelledError,
    JobFailedError,
    KreaError,
)
from .._models import Job, JobStatus
from .._types import QueueUpdateCallback

__all__ = [
    "CANCEL_RETRY_STATUSES",
    "CancelFailedCallback",
    "CancelJob",
    "DeleteJob",
    "GetJob",
    "cancel_confirmed",
    "cancel_quietly",
    "not_cancelled_reason",
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


CancelJob = Callable[[str, float], Awaitable[Job]]
"""``cancel(job_id, timeout)``: the SDK's own confirmed cancel (:func:`cancel_confirmed`
over ``DELETE /jobs/{id}``), bounded as :func:`cancel_quietly` says (the client's
``jobs.waiter.cancel``); returns the job's state after it."""

DeleteJob = Callable[[str, "float | None"], Awaitable["Job | None"]]
"""``delete(job_id, timeout)``: one ``DELETE /jobs/{id}``; its answer when that is the
job's state, else ``None`` (Krea does not document the answer's body)."""

GetJob = Callable[[str, "float | None"], Awaitable[Job]]
"""``get(job_id, timeout)``: one ``GET /jobs/{id}``."""

CancelFailedCallback = Callable[[str, str], object]
"""``on_cancel_failed(job_id, reason)``: called (synchronously; it must not block)
when a ``DELETE /jobs/{id}`` the SDK sent on its own could not be carried out, or
did not cancel the job (it completed first, or runs on and will be billed)."""

#: The statuses in which a cancel is sent again (until the bound): ``backlogged`` and
#: ``scheduled``, where a ``DELETE`` cannot cancel the job yet but can once it is
#: ``queued`` or ``processing``; and those two, where the ``DELETE`` should have taken
#: (an answer that still shows them is read as a cancel not applied yet). Past
#: ``processing`` (``sampling``, ``intermediate-complete``) and in a status this SDK
#: does not know, the job runs on. Source:
#: https://docs.krea.ai/developers/job-lifecycle.
CANCEL_RETRY_STATUSES = frozenset(
    {JobStatus.BACKLOGGED, JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.PROCESSING}
)

#: The first wait (seconds) before a cancel is sent again; it doubles per try, up to
#: :data:`CANCEL_RETRY_MAX`.
CANCEL_RETRY_FIRST = 0.25
CANCEL_RETRY_MAX = 2.0

# A DELETE refused with one of these (a job that cannot be cancelled in its status, as
# a server may answer) is not a failure of the request: the job's state says the rest.
_REFUSED = frozenset({400, 409})


async def cancel_confirmed(
    delete: DeleteJob,
    get: GetJob,
    job_id: str,
    *,
    timeout: float | None,
    bound: float,
) -> Job:
    """Cancel ``job_id`` and return its state after the cancel: the one rule of a
    cancel, for :meth:`krea.jobs.cancel <krea_async._resources.jobs.Jobs.cancel>` and
    every cancel the SDK sends on its own.

    Krea cancels a job only while it is ``queued`` or ``processing``
    (https://docs.krea.ai/developers/job-lifecycle), and does not document what a
    ``DELETE`` answers otherwise, so a 2xx proves nothing: after ``delete(job_id,
    timeout)`` the job's state decides, read from the ``DELETE``'s answer when that
    is the job, else from one ``get(job_id, timeout)``. A ``400``/``409`` answer (a
    refused cancel) is read the same way. While the job is in
    :data:`CANCEL_RETRY_STATUSES` (``backlogged``/``scheduled``: a ``DELETE`` cannot
    cancel it yet), the cancel is sent again after a short backoff
    (:data:`CANCEL_RETRY_FIRST` s, doubling up to :data:`CANCEL_RETRY_MAX` s) as long
    as the next try starts within ``bound`` seconds of the first.

    ``timeout``: the bound of each request (``None``: the client's own). Returns the
    last :class:`~krea_async.Job` state read: ``cancelled`` when the cancel took; any
    other status means the job was not cancelled (see :func:`not_cancelled_reason`).
    Raises the errors of the requests (:class:`~krea_async.JobNotFoundError`,
    connection and timeout errors, ...).
    """
    start = _clock.now()
    delay = CANCEL_RETRY_FIRST
    while True:
        try:
            job = await delete(job_id, timeout)
        except APIStatusError as exc:
            if exc.status_code not in _REFUSED:
                raise
            job = None
        if job is None:
            job = await get(job_id, timeout)
        if job.status not in CANCEL_RETRY_STATUSES:
            return job
        if _clock.now() + delay - start > bound:
            return job
        logger.info(
            "job %s is %s after DELETE: cancel sent again in %g s", job_id, job.status, delay
        )
        await _clock.sleep(delay)
        delay = min(delay * 2, CANCEL_RETRY_MAX)


def not_cancelled_reason(job: Job) -> str | None:
    """Why ``job`` (its state after a cancel) says the cancel did not stop a job that
    is billed: ``None`` when it is ``cancelled``, or ``failed`` (not running, not
    billed); else a sentence naming the job and its status: a ``completed`` job is
    billed, any other status runs on and is billed when it completes.
    Source: https://docs.krea.ai/developers/job-lifecycle."""
    if job.status in (JobStatus.CANCELLED, JobStatus.FAILED):
        return None
    if job.status is JobStatus.COMPLETED:
        return f"job {job.job_id} was not cancelled: it completed first, and is billed"
    return (
        f"job {job.job_id} was not cancelled: it is still {job.status.value} (Krea cancels "
        "only queued or processing jobs), runs on and is billed when it completes"
    )


async def cancel_quietly(
    cancel: CancelJob,
    job_id: str,
    timeout: float,
    on_failed: CancelFailedCallback | None = None,
) -> bool:
    """Cancel ``job_id`` through ``cancel(job_id, timeout)`` (the client's
    ``jobs.waiter.cancel``: :func:`cancel_confirmed`) even while the caller is
    being cancelled (a shielded scope). Returns whether the job is now cancelled.

    ``cancel`` bounds each request (the client's ``jobs.waiter.cancel``): once
    sent, ``timeout`` seconds; before, while it waits for a free connection, as
    long as the server keeps answering requests, so that cancelling 10,000 waiting
    ``subscribe()`` calls at once cancels all 10,000 jobs (the cancellation then
    takes as long as the server needs to answer them), and gives up once the
    server answered nothing for ``timeout`` seconds. A job that cannot be
    cancelled yet (``backlogged``, ``scheduled``) gets its cancel sent again
    within ``timeout`` seconds.

    A failure is not raised, so that the original cancellation or error
    propagates: an error, no answer within ``timeout``, no free connection, or a
    job the cancel did not stop (it completed first and is billed, or it runs on
    and is billed when it completes; see :func:`not_cancelled_reason`). It is
    logged at WARNING on the ``krea_async`` logger with the job id, and passed to
    ``on_failed(job_id, reason)`` (an exception from the callback is logged and
    swallowed). A job that failed meanwhile is neither (it is not billed).
    """
    with anyio.CancelScope(shield=True):
        try:
            job = await cancel(job_id, timeout)
        except APITimeoutError:
            reason = f"cancel of job {job_id} did not complete within cancel_deadline={timeout:g} s"
        except KreaError as exc:
            reason = str(exc)
        else:
            if job.status is JobStatus.CANCELLED:
                logger.info("cancelled job %s", job_id)
                return True
            if (text := not_cancelled_reason(job)) is None:
                logger.info("job %s ended %s before it could be cancelled", job_id, job.status)
                return False
            reason = text
    logger.warning("could not cancel job %s: %s", job_id, reason)
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
