"""``krea.jobs``: get, cancel, stream, wait and list jobs.

Source: ``GET /jobs/{id}``, ``DELETE /jobs/{id}`` and ``GET /jobs`` in Krea's
OpenAPI document, and NOTES.md ("Transport", "The job").
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Sequence

from .._converter import WireFormatError, structure
from .._models import Job, JobPage, JobStatus
from .._polling import JobStream, QueueUpdateCallback, notify, raise_for_outcome
from ._base import Resource, follow_cursor, parse, resource_path

__all__ = ["Jobs"]


def _job_path(job_id: str) -> str:
    return resource_path("/jobs", job_id, "job_id")


class Jobs(Resource):
    """Jobs of this account: ``krea.jobs``."""

    async def get(self, job_id: str) -> Job:
        """Fetch the current state of a job (``GET /jobs/{id}``).

        Answers a :class:`~krea_async.Job`. Raises
        :class:`~krea_async.JobNotFoundError` (a 404: unknown or not yours), other
        :class:`~krea_async.APIStatusError` subclasses, connection and timeout
        errors (after the client's retries), and
        :class:`~krea_async.APIResponseValidationError` for a malformed body.
        """
        body, response = await self._client._core.request("GET", _job_path(job_id), job_route=True)
        return parse(body, response, Job)

    async def cancel(self, job_id: str) -> Job | None:
        """Cancel a job that is queued or processing (``DELETE /jobs/{id}``).

        Krea does not document the body of the answer: when it is a job, it is
        returned, else ``None``. Cancelled jobs are not billed. Raises
        :class:`~krea_async.JobNotFoundError` for an unknown job, and the errors of
        :meth:`get`. ``DELETE`` is idempotent, so it is retried like a GET.
        """
        body, _ = await self._client._core.request("DELETE", _job_path(job_id), job_route=True)
        if isinstance(body, dict):
            try:
                return structure(body, Job)
            except WireFormatError:
                return None
        return None

    def stream(
        self,
        job_id: str,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        cancel_on_exit: bool = False,
    ) -> JobStream:
        """Poll a job; an async iterator yielding each polled :class:`~krea_async.Job`.

        ``async for state in krea.jobs.stream(job_id): ...`` yields one state per poll
        (``GET /jobs/{id}``); the last one is terminal (``completed``, ``failed`` or
        ``cancelled``: a failed job is yielded, not raised). The first poll is
        immediate; then every ``interval`` seconds (default: the client's
        ``poll_interval``, else 2 s as in Krea's docs), growing 1.5x per poll
        after 30 s up to the client's ``max_poll_interval``.

        ``timeout`` is the deadline in seconds for the whole stream (default: the
        client's ``job_timeout``, 1800 s); when it passes,
        :class:`~krea_async.JobTimeoutError` carries the job id and last state.
        Breaking out early is safe: nothing runs or stays open between polls. With
        ``cancel_on_exit=True`` an unfinished job is cancelled (``DELETE``) when the
        stream is left through an error, cancellation, the deadline, or ``aclose()``
        (``async with`` covers ``break`` too). See :class:`~krea_async.JobStream`.
        """
        return self._stream(
            job_id, interval=interval, timeout=timeout, cancel_on_exit=cancel_on_exit
        )

    def _stream(
        self,
        job_id: str,
        *,
        interval: float | None,
        timeout: float | None,
        cancel_on_exit: bool,
        category: str | None = None,
        first: Job | None = None,
    ) -> JobStream:
        """A :class:`JobStream` on this client's polling and retry settings; the
        default interval follows ``category`` (``subscribe()`` knows it)."""
        cfg = self._client._polling
        return JobStream(
            get=self.get,
            cancel=self.cancel,
            job_id=job_id,
            interval=cfg.interval_for(category) if interval is None else interval,
            max_interval=cfg.max_interval,
            timeout=cfg.job_timeout if timeout is None else timeout,
            cancel_on_exit=cancel_on_exit,
            cancel_timeout=cfg.cancel_timeout,
            first=first,
            transient_statuses=self._client._core.retry.retry_statuses,
        )

    async def wait(
        self,
        job_id: str,
        *,
        interval: float | None = None,
        timeout: float | None = None,
        cancel_on_exit: bool = False,
        on_update: QueueUpdateCallback | None = None,
    ) -> Job:
        """Poll a job until it is terminal and answer it if ``completed``.

        Same polling and deadline as :meth:`stream` (``interval`` and ``timeout`` in
        seconds; the deadline defaults to the client's ``job_timeout``, 1800 s,
        finite on purpose so that a stuck job cannot hang a caller forever).
        ``on_update`` (plain or async) gets each polled state.

        Raises :class:`~krea_async.JobFailedError` or
        :class:`~krea_async.JobCancelledError` (both carry ``job_id`` and the
        terminal ``job``), :class:`~krea_async.JobTimeoutError` when the deadline
        passes, :class:`~krea_async.JobNotFoundError` for an unknown job.
        ``cancel_on_exit`` is off by default here: the caller may still want a job
        it is no longer waiting for (``subscribe()`` turns it on).
        """
        stream = self.stream(
            job_id, interval=interval, timeout=timeout, cancel_on_exit=cancel_on_exit
        )
        return await _drain(stream, on_update)

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
        Answers a :class:`~krea_async.JobPage` whose ``next_cursor`` (``nextCursor``
        on the wire is read too) is ``None`` on the last page. Raises
        :class:`ValueError` for a limit out of range and
        :class:`~krea_async.BadRequestError` for a query the API rejects.
        """
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        params: dict[str, str | int] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = _iso(cursor) if isinstance(cursor, _dt.datetime) else cursor
        if status is not None:
            params["status"] = str(status.value if isinstance(status, JobStatus) else status)
        if types:
            params["types"] = types if isinstance(types, str) else ",".join(types)
        body, response = await self._client._core.request("GET", "/jobs", params=params)
        return parse(body, response, JobPage)

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
        :attr:`~krea_async.UncertainSubmitError.submitted_at` to find a job a failed
        submit may have created. Raises what :meth:`list_page` raises.
        """
        if created_after is not None and created_after.tzinfo is None:
            created_after = created_after.replace(tzinfo=_dt.timezone.utc)
        start = _iso(cursor) if isinstance(cursor, _dt.datetime) else cursor
        pages = follow_cursor(
            lambda c: self.list_page(cursor=c, limit=limit, status=status, types=types), start
        )
        async for job in pages:
            created = job.created_at
            if created_after is not None and created is not None and created < created_after:
                return
            yield job


async def _drain(stream: JobStream, on_update: QueueUpdateCallback | None) -> Job:
    last: Job | None = None
    try:
        async for job in stream:
            last = job
            await notify(on_update, job)
    except BaseException:
        await stream.aclose()
        raise
    assert last is not None
    assert last.is_terminal
    return raise_for_outcome(last)


def _iso(value: _dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
