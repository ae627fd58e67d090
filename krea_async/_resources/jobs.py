"""``krea.jobs``: get, cancel, stream, wait and list jobs.

Source: ``GET /jobs/{id}``, ``DELETE /jobs/{id}`` and ``GET /jobs`` in Krea's
OpenAPI document (https://docs.krea.ai). This resource owns the rule that a 404
on a job is a :class:`~krea_async.JobNotFoundError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING

from .._converter import WireFormatError, shown, structure
from .._errors import APIResponseValidationError, JobNotFoundError, NotFoundError
from .._http.request import Requester
from .._http.status_errors import reclassify
from .._http.urls import resource_path
from .._jobs.outcome import cancel_confirmed, not_cancelled_reason
from .._jobs.poller import LIST_LIMIT, Poller
from .._jobs.polling import JobStream, PollingSettings
from .._jobs.waiter import Waiter, WebhookOptions
from .._models import Job, JobPage, JobStatus
from .._types import QueueUpdateCallback
from ._base import Resource, cursor_param, follow_cursor, paging, parse

if TYPE_CHECKING:
    from .._jobs.wakeup import Wakeup

__all__ = ["Jobs"]

logger = logging.getLogger("krea_async")


def _job_path(job_id: str) -> str:
    return resource_path("/jobs", job_id, "job_id")


@contextlib.contextmanager
def _job_not_found() -> Iterator[None]:
    """Turn the request layer's 404 into :class:`~krea_async.JobNotFoundError`."""
    try:
        yield
    except NotFoundError as exc:
        if isinstance(exc, JobNotFoundError):
            raise
        raise reclassify(exc, JobNotFoundError) from exc


async def _get_job(
    requester: Requester, job_id: str, *, priority: bool = False, total: float | None = None
) -> Job:
    """``GET /jobs/{id}`` as a :class:`~krea_async.Job` (:meth:`Jobs.get`; the shared
    poller's with ``priority``: ahead of waiting submits for a connection, and a 429
    not retried but raised, for the poller to pause as a whole; ``total``: the
    request's bound, as :func:`_delete_job` says). A state of another job than
    ``job_id`` is an :class:`~krea_async.APIResponseValidationError`."""
    with _job_not_found():
        body, response = await requester.request(
            "GET", _job_path(job_id), priority=priority, total=total, shared_rate_limit=priority
        )
    job = parse(body, response, Job)
    if job.job_id != job_id.strip():
        raise APIResponseValidationError(
            f"GET {response.request.url.path} answered with another job's state "
            f"(job_id {shown(job.job_id)}); refused",
            response=response,
            body=body,
        )
    return job


async def _list_raw(
    requester: Requester, cursor: str | _dt.datetime | None
) -> tuple[list[object], str | None]:
    """One raw page of ``GET /jobs?limit=1000`` for the poller: (items, next cursor);
    a 429 is raised, not retried (the poller pauses as a whole)."""
    params = paging(LIST_LIMIT, cursor)
    body, response = await requester.request(
        "GET", "/jobs", params=params, priority=True, shared_rate_limit=True
    )
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise APIResponseValidationError(
            f"GET /jobs returned {response.status_code} without an items list",
            response=response,
            body=body,
        )
    assert isinstance(body, dict)
    cursor = body.get("next_cursor", body.get("nextCursor"))
    return items, cursor if isinstance(cursor, str) else None


def _new_poller(requester: Requester, polling: PollingSettings) -> Poller:
    # Its callables hold the requester, not a resource: no reference cycle, so a closed
    # client is freed without the cycle collector.
    poller = Poller(
        get=functools.partial(_get_job, requester, priority=True),
        list_page=functools.partial(_list_raw, requester),
        check_usable=requester.state.check_usable,
        mode=polling.mode,
        retry=requester.retry,
    )
    requester.state.on_close(poller)
    return poller


async def _delete_job(requester: Requester, job_id: str, timeout: float | None) -> Job | None:
    """One ``DELETE /jobs/{id}``: its answer when that is the job's state, else ``None``
    (Krea does not document the body). ``timeout``: the bound of the SDK's
    own cancel (``cancel_on_exit``, a cancelled submit, a web client that hung up):
    once sent, the DELETE has ``timeout`` seconds in all; before, it waits for a
    connection ahead of other requests, as long as the server keeps answering requests
    (a mass cancellation cancels every job at the rate the server answers; a server
    that answers nothing for ``timeout`` seconds ends the wait)."""
    with _job_not_found():
        body, _ = await requester.request("DELETE", _job_path(job_id), total=timeout)
    if isinstance(body, dict):
        try:
            job = structure(body, Job)
        except WireFormatError:
            return None
        return job if job.job_id == job_id.strip() else None
    return None


async def _cancel_job(
    requester: Requester, job_id: str, timeout: float | None, *, bound: float | None = None
) -> Job:
    """The confirmed cancel (:func:`~krea_async._jobs.outcome.cancel_confirmed`) over
    :func:`_delete_job` and ``GET /jobs/{id}``, each request bounded by ``timeout``,
    the cancel sent again while it cannot take yet for ``bound`` seconds (default
    ``timeout``). Returns the job's state after it."""

    async def get(job_id: str, total: float | None) -> Job:
        return await _get_job(requester, job_id, total=total)

    return await cancel_confirmed(
        functools.partial(_delete_job, requester),
        get,
        job_id,
        timeout=timeout,
        bound=(timeout or 0.0) if bound is None else bound,
    )


class Jobs(Resource):
    """Jobs of this account: ``krea.jobs``.

    ``waiter``: the client's one :class:`~krea_async._jobs.waiter.Waiter`, which
    decides how each job is waited for (the webhook bus or the shared poller).
    """

    def __init__(
        self,
        requester: Requester,
        polling: PollingSettings,
        *,
        webhooks: WebhookOptions | Wakeup | None = None,
    ) -> None:
        super().__init__(requester, polling)
        # The client's shared poller: every stream/wait/subscribe of it registers there,
        # and of each with_options() copy on the same account (a copy per call must not
        # mean a poller per call). It polls with the settings of the client that made it.
        poller = requester.state.shared(
            ("poller", requester.account), functools.partial(_new_poller, requester, polling)
        )
        # Its callables hold the requester, not this resource: no reference cycle.
        self.waiter = Waiter(
            get=functools.partial(_get_job, requester),
            cancel=functools.partial(_cancel_job, requester),
            poller=poller,
            settings=polling,
            webhooks=webhooks,
        )

    async def get(self, job_id: str) -> Job:
        """Fetch the current state of a job (``GET /jobs/{id}``).

        Returns a :class:`~krea_async.Job`. Raises
        :class:`~krea_async.JobNotFoundError` (a 404: unknown or not yours), other
        :class:`~krea_async.APIStatusError` subclasses, connection and timeout
        errors (after the client's retries), and
        :class:`~krea_async.APIResponseValidationError` for a malformed body, an
        unusable job id, or the state of another job than ``job_id``.
        """
        return await _get_job(self._requester, job_id)

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job (``DELETE /jobs/{id}``) and return its state after the cancel.

        Krea cancels a job only while it is ``queued`` or ``processing``, and
        cancelled jobs are not billed (https://docs.krea.ai/developers/job-lifecycle).
        A ``2xx`` does not prove the cancel took: the returned
        :class:`~krea_async.Job` (the ``DELETE``'s answer when it is the job, else
        one ``GET /jobs/{id}``) says it. Its ``status`` is ``cancelled`` when it did;
        any other status means the job was not cancelled: ``completed`` (billed),
        ``failed``, or still running (it runs on and is billed when it completes),
        and a WARNING on the ``krea_async`` logger names the job. A ``backlogged`` or
        ``scheduled`` job (not cancellable yet) gets its cancel sent again, with a
        short backoff, for up to the client's ``JobSettings.cancel_deadline`` seconds.
        Raises :class:`~krea_async.JobNotFoundError` for an unknown job, and the
        errors of :meth:`get`. ``DELETE`` is idempotent, so it is retried like a GET.
        """
        job = await _cancel_job(self._requester, job_id, None, bound=self._polling.cancel_deadline)
        if (reason := not_cancelled_reason(job)) is not None:
            logger.warning("%s", reason)
        return job

    def stream(
        self,
        job_id: str,
        *,
        poll_interval: float | None = None,
        deadline: float | None = None,
        cancel_on_exit: bool = False,
    ) -> JobStream:
        """Poll a job; an async iterator yielding each polled :class:`~krea_async.Job`.

        ``async for state in krea.jobs.stream(job_id): ...`` yields one state per poll
        (``GET /jobs/{id}``); the last one is terminal (``completed``, ``failed`` or
        ``cancelled``: a failed job is yielded, not raised). The first poll is
        immediate; then every ``poll_interval`` seconds (default: the client's
        ``JobSettings.poll_interval``, else 2 s as in Krea's docs; pass 5 for video),
        growing 1.5x per poll after 30 s up to ``JobSettings.max_poll_interval``.

        ``deadline`` is the deadline in seconds for the whole stream (default: the
        client's ``JobSettings.deadline``, 8100 s); when it passes,
        :class:`~krea_async.JobTimeoutError` carries the job id and last state.
        The client's shared poller does the asking: with many jobs waited for at
        once it lists ``GET /jobs`` every 0.25 s instead (``JobSettings(polling=...)``)
        and a state is yielded when the status changes.
        With a client webhook URL (``AsyncKrea(webhooks=WebhookSettings(url=...))``),
        a job this client submitted with its capability URL is not polled: states come
        from the webhook bus (the client's waiter decides,
        :class:`~krea_async._jobs.waiter.Waiter`).
        Breaking out early is safe: nothing runs or stays open between polls. With
        ``cancel_on_exit=True`` an unfinished job is cancelled (``DELETE``) when the
        stream is left through an error, cancellation, the deadline, or ``aclose()``
        (``async with`` covers ``break`` too). See :class:`~krea_async.JobStream`.
        """
        return self.waiter.stream(
            job_id, poll_interval=poll_interval, deadline=deadline, cancel_on_exit=cancel_on_exit
        )

    async def wait(
        self,
        job_id: str,
        *,
        poll_interval: float | None = None,
        deadline: float | None = None,
        cancel_on_exit: bool = False,
        on_queue_update: QueueUpdateCallback | None = None,
    ) -> Job:
        """Poll a job until it is terminal and return it if ``completed``.

        Same polling and deadline as :meth:`stream` (``poll_interval`` and
        ``deadline`` in seconds; the deadline defaults to the client's
        ``JobSettings.deadline``, 8100 s, finite on purpose so that a stuck job cannot
        hang a caller forever). ``on_queue_update`` (plain or async) gets each
        polled state.

        With a client webhook URL (``AsyncKrea(webhooks=WebhookSettings(url=...))``), a
        job this client submitted with its capability URL is not polled: the call wakes
        when the webhook arrives, with one safety-net poll per
        ``WebhookSettings.safety_poll`` seconds without news; ``poll_interval`` then
        only applies if the event bus fails.

        Raises :class:`~krea_async.JobFailedError` or
        :class:`~krea_async.JobCancelledError` (both carry ``job_id`` and the
        terminal ``job``), :class:`~krea_async.JobTimeoutError` when the deadline
        passes, :class:`~krea_async.JobNotFoundError` for an unknown job.
        ``cancel_on_exit`` is off by default here: the caller may still want a job
        it is no longer waiting for (``subscribe()`` turns it on).
        """
        return await self.waiter.wait(
            job_id,
            poll_interval=poll_interval,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            on_queue_update=on_queue_update,
        )

    async def list_page(
        self,
        *,
        cursor: str | _dt.datetime | None = None,
        limit: int = 100,
        status: JobStatus | str | None = None,
        types: Sequence[str] | None = None,
    ) -> JobPage:
        """Fetch one page of ``GET /jobs``: jobs created before ``cursor``, newest first.

        ``cursor`` is an ISO 8601 time (or a ``datetime``; naive means UTC); ``limit``
        is 1 to 1000 items; ``status`` filters by one status; ``types`` by job types
        (e.g. ``["flux", "externalImage"]``; a single type may be a plain string).
        Returns a :class:`~krea_async.JobPage` whose ``next_cursor`` (``nextCursor``
        on the wire is read too) is ``None`` on the last page. Raises
        :class:`ValueError` for a limit out of range and
        :class:`~krea_async.BadRequestError` for a query the API rejects.
        """
        params = paging(limit, cursor)
        if status is not None:
            params["status"] = str(status.value if isinstance(status, JobStatus) else status)
        if types:
            params["types"] = types if isinstance(types, str) else ",".join(types)
        return await self._get("/jobs", cast_to=JobPage, params=params)

    async def list(
        self,
        *,
        status: JobStatus | str | None = None,
        types: Sequence[str] | None = None,
        limit: int = 100,
        cursor: str | _dt.datetime | None = None,
        created_after: _dt.datetime | None = None,
    ) -> AsyncIterator[Job]:
        """Iterate over all matching jobs, newest first, following the cursor across pages.

        ``limit`` is the page size (1 to 1000). ``created_after`` (a ``datetime``;
        naive means UTC, as for ``cursor``) stops the iteration at the first job
        created before it; use it with
        :attr:`~krea_async.UncertainSubmitError.check_since` (``submitted_at`` less a
        clock-skew margin) to find a job a failed submit may have created:
        ``krea.jobs.list(created_after=err.check_since)``. Raises what
        :meth:`list_page` raises.
        """
        if created_after is not None and created_after.tzinfo is None:
            created_after = created_after.replace(tzinfo=_dt.timezone.utc)
        start = cursor_param(cursor)
        pages = follow_cursor(
            lambda c: self.list_page(cursor=c, limit=limit, status=status, types=types), start
        )
        async for job in pages:
            created = job.created_at
            if created_after is not None and created is not None and created < created_after:
                return
            yield job
