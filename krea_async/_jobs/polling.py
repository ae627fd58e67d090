"""Polling a job until it is terminal: the stream, its deadline, and remote cancellation.

Krea's docs poll ``GET /jobs/{id}`` every 2 s for images and every 5 s for video,
and advise exponential backoff for long jobs (https://docs.krea.ai). A
:class:`JobStream` does that: a fixed interval for the first
``BACKOFF_AFTER`` seconds, then growing by ``BACKOFF_FACTOR`` per poll up to
``max_poll_interval``. The whole stream runs under a deadline; when it passes,
:class:`~krea_async.JobTimeoutError` is raised with the last state seen.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import attrs

from .. import _clock
from .._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    ConfigurationError,
    JobTimeoutError,
    KreaError,
)
from .._http.retry import DEFAULT_RETRY_STATUSES
from .._models import Job
from .._types import QueueUpdateCallback
from .outcome import (
    CancelFailedCallback,
    CancelJob,
    cancel_quietly,
    notify,
    raise_for_outcome,
)

if TYPE_CHECKING:
    from types import TracebackType

    from .poller import Poller, PollingMode

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_SAFETY_POLL",
    "CancelFailedCallback",
    "JobStream",
    "PollingSettings",
    "QueueUpdateCallback",
    "POLL_INTERVAL_ENV",
    "default_poll_interval",
    "next_poll_interval",
    "drain",
    "raise_for_outcome",
]

logger = logging.getLogger("krea_async")


#: Seconds of fixed-interval polling before the interval starts to grow.
BACKOFF_AFTER = 30.0
#: Growth of the poll interval per poll after ``BACKOFF_AFTER`` seconds.
BACKOFF_FACTOR = 1.5
#: Consecutive failed polls (each already retried by the HTTP layer) tolerated
#: before the stream gives up and raises the last error.
MAX_POLL_FAILURES = 5

#: Seconds without news after which a webhook-woken wait polls once anyway
#: (``WebhookSettings(safety_poll=...)``; the wiring is :mod:`krea_async._jobs.wakeup`).
DEFAULT_SAFETY_POLL = 30.0

DEFAULT_DEADLINE = 8100.0
"""Default deadline of a whole job, in seconds, for ``jobs.wait()``, ``jobs.stream()``
and ``subscribe()``: 8100 s (2 h 15 min), taken from Krea's own time-outs so that
the SDK does not cancel a job Krea would still finish. Krea fails a job on its own
after 3 minutes for hosted tools and 2 hours for external providers
(https://docs.krea.ai/developers/job-lifecycle); a job may first wait ``backlogged``
behind the account's concurrency limit, so the default adds 15 minutes for that to
the longest time-out (one default for every model: the pages do not say which
models are hosted). A finite default still means a stuck job cannot hang a web
request or a batch forever; pass a shorter ``deadline`` where a caller cannot wait
that long, and a larger one (or ``math.inf``) for LoRA training."""
_POLL_ERRORS = (APIConnectionError, APIResponseValidationError, APIStatusError)  # may be transient
_NO_SCOPE = contextlib.nullcontext()  # reusable: it holds no state
#: Poll intervals (seconds) of Krea's docs: 2 s for images, 5 s for video.
_POLL_INTERVALS = {"image": 2.0, "enhance": 2.0, "video": 5.0}


#: Environment variable that sets the poll interval (seconds) of every client and
#: command given none; test setups such as the pytest plugin's ``krea_env`` use it.
POLL_INTERVAL_ENV = "KREA_POLL_INTERVAL"


def default_poll_interval(category: str | None) -> float:
    """The poll interval in seconds when the caller gives none: ``$KREA_POLL_INTERVAL``
    when set, else Krea's documented interval for a generation category
    (https://docs.krea.ai/developers/job-lifecycle): 2 s for ``image`` and
    ``enhance`` (and an unknown category), 5 s for ``video``. Raises
    :class:`~krea_async.ConfigurationError` for a variable that is not a number of
    seconds >= 0."""
    text = os.environ.get(POLL_INTERVAL_ENV, "").strip()
    if text:
        try:
            seconds = float(text)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ConfigurationError(
                f"{POLL_INTERVAL_ENV} must be a number of seconds >= 0, got {text!r}"
            )
        return seconds
    return _POLL_INTERVALS.get(category or "image", 2.0)


def next_poll_interval(
    current: float, *, elapsed: float, poll_interval: float, max_poll_interval: float
) -> float:
    """The wait (seconds) before the next poll, given the ``current`` one and the
    seconds ``elapsed`` since the first poll: ``poll_interval`` for the first
    :data:`BACKOFF_AFTER` seconds, then ``current`` times :data:`BACKOFF_FACTOR`, at
    most ``max_poll_interval`` (or ``poll_interval`` when that is larger)."""
    if elapsed <= BACKOFF_AFTER:
        return poll_interval
    return min(max(max_poll_interval, poll_interval), current * BACKOFF_FACTOR)


@attrs.frozen(kw_only=True)
class PollingSettings:
    """A client's polling settings (seconds): ``poll_interval`` (``None``: per
    category, :func:`default_poll_interval`), ``max_poll_interval``,
    ``default_deadline``, ``cancel_deadline`` (the bound on the SDK's own
    ``DELETE``), ``submit_grace`` (what a submit in flight gets once its caller is
    cancelled), the statuses a poll is retried through (``transient_statuses``), and
    ``on_cancel_failed`` (see :func:`~krea_async._jobs.outcome.cancel_quietly`); the
    public form is :class:`~krea_async.JobSettings`."""

    poll_interval: float | None = None
    max_poll_interval: float = 15.0
    default_deadline: float = DEFAULT_DEADLINE
    cancel_deadline: float = 5.0
    submit_grace: float = 5.0
    transient_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    on_cancel_failed: CancelFailedCallback | None = None
    mode: PollingMode = "auto"  # the shared poller's mode (krea_async._jobs.poller)

    def interval_for(self, category: str | None) -> float:
        """The poll interval for a job of ``category``."""
        if self.poll_interval is not None:
            return self.poll_interval
        return default_poll_interval(category)

    def stream(
        self,
        *,
        get: Callable[[str], Awaitable[Job]],
        cancel: CancelJob,
        job_id: str,
        poll_interval: float | None,
        deadline: float | None,
        cancel_on_exit: bool,
        category: str | None = None,
        first: Job | None = None,
        poller: Poller | None = None,
    ) -> JobStream:
        """A :class:`JobStream` on these settings; ``None`` arguments take the defaults."""
        return JobStream(
            get=get,
            cancel=cancel,
            job_id=job_id,
            poll_interval=self.interval_for(category) if poll_interval is None else poll_interval,
            max_poll_interval=self.max_poll_interval,
            deadline=self.default_deadline if deadline is None else deadline,
            cancel_on_exit=cancel_on_exit,
            cancel_deadline=self.cancel_deadline,
            first=first,
            transient_statuses=self.transient_statuses,
            on_cancel_failed=self.on_cancel_failed,
            poller=poller,
        )


async def drain(stream: JobStream, on_queue_update: QueueUpdateCallback | None) -> Job:
    """Iterate ``stream`` to its terminal state, calling ``on_queue_update`` with each
    state; return the completed job or raise :func:`raise_for_outcome`'s errors. The
    stream is closed (and, with ``cancel_on_exit``, the job cancelled) on any exit."""
    last: Job | None = None
    try:
        async for job in stream:
            last = job
            await notify(on_queue_update, job)
    except BaseException:
        await stream.aclose()
        raise
    assert last is not None
    assert last.is_terminal
    return raise_for_outcome(last)


class JobStream:
    """An async iterator over every polled state of one job; the last one is terminal.

    Made by ``krea.jobs.stream(job_id)``. Each ``__anext__`` waits the poll interval
    (not before the first poll), fetches ``GET /jobs/{id}`` and yields the
    :class:`~krea_async.Job`; iteration ends after the first terminal state
    (``completed``, ``failed`` or ``cancelled``; a failed job is yielded, not raised).

    It holds no task and no connection between polls, so breaking out of
    ``async for`` early leaves nothing behind. Use it as an async context manager
    (``async with krea.jobs.stream(...) as states:``) when ``cancel_on_exit`` should
    also apply to an early ``break``.

    Raises :class:`~krea_async.JobTimeoutError` when ``deadline`` seconds
    (default :data:`DEFAULT_DEADLINE`) have passed since the first ``__anext__``;
    :class:`~krea_async.JobNotFoundError` on a 404;
    other errors after ``MAX_POLL_FAILURES`` consecutive failed polls (transient
    failures, such as a 503 or a dropped connection, do not end the stream).

    With ``cancel_on_exit``, leaving the stream before the job is terminal (the
    deadline, a cancelled task, an error, ``aclose()``) cancels the job in a
    shielded scope bounded by ``cancel_deadline`` seconds
    (:func:`~krea_async._jobs.outcome.cancel_confirmed`: ``DELETE /jobs/{id}``, then
    the job's state; Krea cancels only ``queued`` or ``processing`` jobs,
    https://docs.krea.ai/developers/job-lifecycle), then lets the cancellation or
    error propagate. ``cancelled_remote`` tells whether the job is now cancelled;
    when the ``DELETE`` failed or had no answer in time, or the job was not
    cancelled (it completed first and is billed, or runs on and is billed when it
    completes), ``cancel_error`` holds the reason (also in the message of the
    :class:`~krea_async.JobTimeoutError` of the deadline), a WARNING names the job,
    and ``on_cancel_failed(job_id, reason)`` is called (the client's
    ``JobSettings(on_cancel_failed=...)``).

    Made by a client, it asks the client's shared poller (``poller``) instead of
    calling ``get`` itself: the poller may answer from a listing of many jobs, and
    then yields a state when the status changes (docs/content/scale.md).

    Constructor arguments (seconds): ``poll_interval`` (default 2),
    ``max_poll_interval`` (default 15), ``deadline`` (default
    :data:`DEFAULT_DEADLINE`), ``cancel_deadline`` (default 5).
    """

    __slots__ = (
        "__weakref__",
        "_cancel",
        "_cancel_deadline",
        "_cancel_on_exit",
        "_current",
        "_finished",
        "_get",
        "_interval",
        "_max_interval",
        "_on_cancel_failed",
        "_pending_first",
        "_poller",
        "_polls",
        "_started",
        "_timeout",
        "_transient",
        "cancel_error",
        "cancelled_remote",
        "job_id",
        "last",
    )

    def __init__(
        self,
        *,
        get: Callable[[str], Awaitable[Job]],
        cancel: CancelJob,
        job_id: str,
        poll_interval: float | None = None,
        max_poll_interval: float | None = None,
        deadline: float | None = None,
        cancel_on_exit: bool = False,
        cancel_deadline: float = 5.0,
        first: Job | None = None,
        transient_statuses: frozenset[int] = DEFAULT_RETRY_STATUSES,
        on_cancel_failed: CancelFailedCallback | None = None,
        poller: Poller | None = None,
    ) -> None:
        interval_ = default_poll_interval(None) if poll_interval is None else poll_interval
        max_interval_ = 15.0 if max_poll_interval is None else max_poll_interval
        deadline_ = DEFAULT_DEADLINE if deadline is None else deadline
        if interval_ < 0 or max_interval_ < 0:
            raise ValueError("poll intervals must be >= 0 seconds")
        if not deadline_ > 0:
            raise ValueError("the job deadline must be > 0 seconds")
        self._get = get
        self._cancel = cancel
        self.job_id = job_id
        self._interval = interval_
        self._max_interval = max(max_interval_, interval_)
        self._timeout = deadline_
        self._cancel_on_exit = cancel_on_exit
        self._cancel_deadline = cancel_deadline
        self._pending_first = first
        self._transient = transient_statuses
        self._poller = poller
        self._started: float | None = None
        self._polls = 0
        self._current = interval_
        self._finished = False
        self.last: Job | None = first
        self.cancelled_remote = False
        self.cancel_error: str | None = None
        self._on_cancel_failed = on_cancel_failed

    def __aiter__(self) -> JobStream:
        return self

    async def __aenter__(self) -> JobStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream; with ``cancel_on_exit``, cancel the job if it is not terminal."""
        if not self._finished:
            self._finished = True
            if self._cancel_on_exit:
                await self._cancel_remote()

    def _next_interval(self, now: float) -> float:
        """The wait before the next poll: fixed for ``BACKOFF_AFTER`` seconds, then
        growing by ``BACKOFF_FACTOR`` per poll up to ``max_interval``."""
        assert self._started is not None
        self._current = next_poll_interval(
            self._current,
            elapsed=now - self._started,
            poll_interval=self._interval,
            max_poll_interval=self._max_interval,
        )
        return self._current

    async def __anext__(self) -> Job:
        if self._finished:
            raise StopAsyncIteration
        now = _clock.now() if self._poller is None else self._poller.now()
        if self._started is None:
            self._started = now
        job: Job | None = None
        try:
            if self._pending_first is not None:
                job, self._pending_first = self._pending_first, None
            else:
                deadline = self._started + self._timeout
                # The poller times its waiters (no scope); the loop is inline (a frame less).
                with (
                    _NO_SCOPE
                    if self._poller is not None
                    else anyio.move_on_after(deadline - now if math.isfinite(deadline) else None)
                ):
                    failures = 0
                    delay = self._next_interval(now) if self._polls or self.last else 0.0
                    while True:
                        try:
                            if self._poller is not None:  # the client's shared poller
                                job = await self._poller.wait(
                                    self.job_id, self.last, delay, delay or self._interval, deadline
                                )
                            else:
                                if delay > 0:
                                    await _clock.sleep(delay)
                                job = await self._get(self.job_id)
                        except _POLL_ERRORS as exc:
                            failures += 1
                            if not self._retry_poll(exc, failures):
                                raise
                            delay = max(self._interval, 0.05)
                            continue
                        self._polls += 1
                        break
                if job is None:
                    await self._expire()
        except BaseException:
            if not self._finished:
                self._finished = True
                if self._cancel_on_exit:
                    await self._cancel_remote()
            raise
        assert job is not None
        self.last = job
        if job.is_terminal:
            self._finished = True
        return job

    def _retry_poll(self, exc: KreaError, failures: int) -> bool:
        """Whether to poll on after a failed poll (a transient error, not too many)."""
        permanent = isinstance(exc, APIStatusError) and exc.status_code not in self._transient
        if retry := not permanent and failures < MAX_POLL_FAILURES:
            logger.info("poll of job %s failed (%s); polling on", self.job_id, exc)
        return retry

    async def _expire(self) -> None:
        self._finished = True
        if self._cancel_on_exit:
            await self._cancel_remote()
        last = self.last
        status = f"last status: {last.status}" if last else "no state received"
        if self.cancelled_remote:
            action = "it was cancelled"
        elif self.cancel_error is not None:
            action = f"the cancel failed: {self.cancel_error}"
        else:
            action = "it may still be running on Krea"
        raise JobTimeoutError(
            f"job {self.job_id} did not finish within the {self._timeout:g} s deadline "
            f"({status}); {action}",
            job_id=self.job_id,
            job=last,
            deadline=self._timeout,
            cancelled_remote=self.cancelled_remote,
        )

    async def _cancel_remote(self) -> None:
        if self.last is not None and self.last.is_terminal:
            return
        failures: list[str] = []

        def failed(job_id: str, reason: str) -> None:
            failures.append(reason)
            if self._on_cancel_failed is not None:
                self._on_cancel_failed(job_id, reason)

        if await cancel_quietly(self._cancel, self.job_id, self._cancel_deadline, failed):
            self.cancelled_remote = True
        elif failures:
            self.cancel_error = failures[0]
