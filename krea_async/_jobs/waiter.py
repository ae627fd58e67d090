"""Waiting for a job has one owner: the :class:`Waiter` of a client (``krea.jobs.waiter``).

Built once per client (by ``krea.jobs``), it is the only place that decides how a job
is waited for:

- **on the webhook bus**, with a slow safety-net poll (:mod:`krea_async._jobs.wakeup`),
  when the client has a webhook URL and the job was submitted through this client
  with one of its capability URLs (``subscribe()``, ``generate()``, ``image()``, ...,
  without a ``webhook_url`` of the caller's own);
- else **on the client's shared poller** (:mod:`krea_async._jobs.poller`).

``subscribe()`` is a submit plus :meth:`Waiter.subscribe`; ``jobs.wait()``,
``jobs.stream()``, the SSE helper (:func:`krea_async.web.job_event_source`, through
``jobs.stream()``) and ``batch`` (through ``jobs.wait()``) all wait through it, so a
client with a webhook URL polls in none of them. Every state that ends a wait passes
the client's :class:`~krea_async._jobs.trust.Trust`.

Its inputs are two small settings objects: :class:`~krea_async._jobs.polling.PollingSettings`
(poll interval and cap, default deadline, cancel bound, poll mode, cancel-failed
callback) and :class:`WebhookOptions` (URL, bus, verification, safety poll).

Job lifecycle: https://docs.krea.ai/developers/job-lifecycle ; webhooks:
https://docs.krea.ai/developers/webhooks .
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .._http.retry import on_retry
from .._http.urls import webhook_base_url
from .._models import Job
from .._types import QueueUpdateCallback
from .outcome import CancelJob, cancel_quietly, notify, raise_for_outcome
from .polling import DEFAULT_SAFETY_POLL, JobStream, PollingSettings, drain
from .results import DownloadAll, SubscribeResult
from .tracing import start_job
from .trust import Trust, VerifyMode

if TYPE_CHECKING:  # the webhook half is imported when a client has a webhook URL
    from .._webhooks.events import JobEvents
    from .._webhooks.receiver import WebhookReceiver
    from .poller import Poller
    from .wakeup import Wakeup

__all__ = ["Submit", "WebhookOptions", "Waiter", "wait_job"]

GetJob = Callable[[str], Awaitable[Job]]


class Submit(Protocol):
    """A submit the waiter runs: ``submit(endpoint, input, webhook_url=...)`` returns
    the new job (the client's ``Generations.create``, bound once per client)."""

    def __call__(self, endpoint: str, input: Any, *, webhook_url: str | None) -> Awaitable[Job]: ...


@attrs.frozen(kw_only=True)
class WebhookOptions:
    """The webhook inputs of a client's waiter.

    - ``url``: the public base URL the receiver is mounted at (``None``:
      ``$KREA_WEBHOOK_URL``; ``""``: webhooks off);
    - ``events``: the job-event bus (``None``: in-process);
    - ``verify``: ``"fetch"`` or ``"token"`` (:class:`~krea_async._jobs.trust.Trust`);
    - ``safety_poll``: seconds without news before a webhook-woken wait polls once;
    - ``allow_insecure_http``: allow an ``http://`` URL to a non-loopback host.
    """

    url: str | None = None
    events: JobEvents | None = None
    verify: VerifyMode = "fetch"
    safety_poll: float = DEFAULT_SAFETY_POLL
    allow_insecure_http: bool = False


class Waiter:
    """How one client waits for its jobs (see the module docstring).

    ``get``: ``GET /jobs/{id}``; ``cancel``: the SDK's own bounded
    ``DELETE /jobs/{id}`` (``cancel(job_id, timeout)``, see
    :func:`~krea_async._jobs.outcome.cancel_quietly`); ``poller``: the client's shared
    poller; ``settings``: the client's polling settings; ``webhooks``: the webhook
    options (wired here, and only when a URL is set), or the wiring of the client this
    one is a ``with_options()`` copy of (shared: same receiver, bus and submitted
    jobs). Raises :class:`~krea_async.ConfigurationError` for bad webhook options.
    """

    __slots__ = ("_get", "cancel", "poller", "settings", "webhooks")

    def __init__(
        self,
        *,
        get: GetJob,
        cancel: CancelJob,
        poller: Poller,
        settings: PollingSettings,
        webhooks: WebhookOptions | Wakeup | None = None,
    ) -> None:
        self._get = get
        #: The client's shared poller (every job not woken by webhooks waits there).
        self.poller = poller
        #: The SDK's own bounded ``DELETE /jobs/{id}``: ``await cancel(job_id, timeout)``.
        self.cancel = cancel
        #: The polling settings (seconds): intervals, default deadline, cancel bound.
        self.settings = settings
        if isinstance(webhooks, WebhookOptions):
            webhooks = _wire(webhooks, get)
        #: The webhook wiring (receiver, bus, safety poll), or ``None``: webhooks off.
        self.webhooks: Wakeup | None = webhooks

    @property
    def receiver(self) -> WebhookReceiver | None:
        """The client's webhook receiver, or ``None`` without a webhook URL."""
        return None if self.webhooks is None else self.webhooks.receiver

    def stream(
        self,
        job_id: str,
        *,
        poll_interval: float | None = None,
        deadline: float | None = None,
        cancel_on_exit: bool = False,
        category: str | None = None,
        first: Job | None = None,
        token: str | None = None,
        cancel: CancelJob | None = None,
    ) -> JobStream:
        """The states of ``job_id`` up to a terminal one, as a
        :class:`~krea_async.JobStream`; ``None`` arguments take the client's settings
        (``poll_interval`` and ``deadline`` in seconds). This decides how: on the
        webhook bus when the client has a webhook URL and the job was submitted with
        one of its capability URLs (``token``: the capability token of a submit just
        made, bound on the first wait; ``poll_interval`` is then only the fallback if
        the bus fails), else on the shared poller. ``category``: the generation's
        (``"image"``, ``"video"``, ...), for the default poll interval; ``first``: the
        state the submit returned (yielded first); ``cancel``: the SDK's cancel to use
        (default :attr:`cancel`; a job's trace wraps it in a span)."""
        cancel = self.cancel if cancel is None else cancel
        wake = self.webhooks
        if wake is not None and (token is not None or wake.knows(job_id)):
            fallback = (
                self.settings.interval_for(category) if poll_interval is None else poll_interval
            )
            bus_wait = wake.bus_wait(
                self._get, first=first, fallback=fallback, token=token, job_id=job_id
            )
            return self.settings.stream(
                get=bus_wait,
                cancel=cancel,
                job_id=job_id,
                poll_interval=0.0,  # each "poll" waits on the bus
                deadline=deadline,
                cancel_on_exit=cancel_on_exit,
                category=category,
                first=first,
            )
        return self.settings.stream(
            get=self._get,
            cancel=cancel,
            job_id=job_id,
            poll_interval=poll_interval,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            category=category,
            first=first,
            poller=self.poller,
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
        """Wait for ``job_id`` as :meth:`stream` does and return it once
        ``completed``; ``on_queue_update`` (plain or async) gets each state. Raises
        :class:`~krea_async.JobFailedError`, :class:`~krea_async.JobCancelledError`,
        :class:`~krea_async.JobTimeoutError` and the stream's errors. With
        OpenTelemetry on, the wait is one job span (:mod:`krea_async._jobs.tracing`)."""
        trace = start_job(None, job_id)
        if trace is None:
            stream = self.stream(
                job_id,
                poll_interval=poll_interval,
                deadline=deadline,
                cancel_on_exit=cancel_on_exit,
            )
            return await drain(stream, on_queue_update)
        stream = self.stream(
            job_id,
            poll_interval=poll_interval,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            cancel=trace.wrap_cancel(self.cancel),
        )
        if self.webhooks is not None and self.webhooks.knows(job_id):
            trace.woken_by = "webhook"
        retries = on_retry.set(trace.retried)
        last: Job | None = None
        try:
            async for last in stream:
                trace.update(last)
                await notify(on_queue_update, last)
            assert last is not None
            job = raise_for_outcome(last)
        except BaseException as exc:
            await stream.aclose()
            trace.end(last, error=exc)
            raise
        finally:
            on_retry.reset(retries)
        trace.end(job)
        return job

    async def submit(
        self,
        create: Callable[[str | None], Awaitable[Job]],
        *,
        webhook_url: str | None = None,
        endpoint: str | None = None,
    ) -> Job:
        """Run ``create(url)`` and return its job: ``url`` is the caller's
        ``webhook_url``, else a fresh capability URL of the client's receiver (bound to
        the job, which is then waited for on the bus), else ``None``. A capability URL
        whose submit fails (or is cancelled) is revoked at once: no job of this client
        will use it (https://docs.krea.ai/developers/webhooks). With OpenTelemetry on,
        a ``krea.submit`` span on ``endpoint`` (``"image/bfl/flux-1-dev"``)."""
        trace = start_job(endpoint)
        if trace is None:
            return await self._submit(create, webhook_url)
        retries = on_retry.set(trace.retried)
        try:
            with trace.submitting(lone=True):
                job = await self._submit(create, webhook_url)
                trace.identify(job.job_id)
        finally:
            on_retry.reset(retries)
        return job

    async def _submit(
        self, create: Callable[[str | None], Awaitable[Job]], webhook_url: str | None
    ) -> Job:
        wake = self.webhooks if webhook_url is None else None
        minted = await wake.mint() if wake is not None else None
        if wake is None or minted is None:
            return await create(webhook_url)
        try:
            job = await create(minted[0])
        except BaseException:
            await wake.revoke(minted[1])
            raise
        await wake.bind(minted[1], job.job_id)
        return job

    async def subscribe(
        self,
        submit: Submit,
        endpoint: str,
        input: Any,
        *,
        category: str | None,
        on_queue_update: QueueUpdateCallback | None,
        webhook_url: str | None,
        poll_interval: float | None,
        deadline: float | None,
        cancel_on_exit: bool,
        downloader: DownloadAll | None = None,
    ) -> SubscribeResult:
        """``subscribe()``: ``submit(endpoint, input, webhook_url=...)`` (the caller's
        URL, else a
        capability URL of the client's receiver), then wait as :meth:`stream` decides,
        calling ``on_queue_update`` with each state; return the
        :class:`~krea_async.SubscribeResult` of the completed job. Raises the submit's
        errors, :class:`~krea_async.JobFailedError`,
        :class:`~krea_async.JobCancelledError` and
        :class:`~krea_async.JobTimeoutError`. With OpenTelemetry on, the job is one
        span on ``endpoint`` with its submit, polls, cancel and downloads
        (:mod:`krea_async._jobs.tracing`)."""
        trace = start_job(endpoint)
        retries = None
        if trace is not None:
            retries = on_retry.set(trace.retried)  # counts the retries of this job's requests
            downloader = trace.wrap_download(downloader)
        try:
            wake = self.webhooks if webhook_url is None else None  # the caller's own URL: poll
            minted = await wake.mint() if wake is not None else None
            token = minted[1] if wake is not None and minted else None
            try:
                if trace is None:
                    job = await submit(
                        endpoint, input, webhook_url=minted[0] if minted else webhook_url
                    )
                else:
                    with trace.submitting():
                        job = await submit(
                            endpoint, input, webhook_url=minted[0] if minted else webhook_url
                        )
                    trace.submitted(job)
            except BaseException:
                if wake is not None and token is not None:
                    await wake.revoke(token)  # no job of ours will use that URL
                raise
            stream = self.stream(
                job.job_id,
                poll_interval=poll_interval,
                deadline=deadline,
                cancel_on_exit=cancel_on_exit,
                category=category,
                first=job,
                token=token,
                cancel=None if trace is None else trace.wrap_cancel(self.cancel),
            )
            if trace is not None and token is not None:
                trace.woken_by = "webhook"
            # The stream holds the submitted state until a newer one replaces it; this
            # frame waits as long as the job runs, so it keeps no copy, and iterates the
            # stream itself (drain() would be a coroutine frame more per waiting job).
            del job, minted, submit, input
            final: Job | None = None
            later = False  # the first state is the submit's answer, not a poll's
            try:
                async for final in stream:
                    if trace is not None:
                        if later:
                            trace.update(final)
                        later = True
                    await notify(on_queue_update, final)
            except BaseException as exc:
                await stream.aclose()
                if trace is not None:
                    trace.end(final, error=exc)
                raise
            finally:
                if wake is not None and token is not None:
                    await wake.revoke(token, release=True)  # the wait ended: grace, then gone
            assert final is not None
            assert final.is_terminal
            try:
                final = raise_for_outcome(final)
            except BaseException as exc:
                if trace is not None:
                    trace.end(final, error=exc)
                raise
            if trace is not None:
                trace.end(final)
            return SubscribeResult(
                data=final.result, job=final, request_id=final.job_id, downloader=downloader
            )
        finally:
            if retries is not None:
                on_retry.reset(retries)

    async def cancel_quietly(self, job_id: str, timeout: float | None = None) -> bool:
        """Cancel ``job_id`` as the SDK does on its own (shielded; bounded by
        ``timeout`` seconds, default the client's ``JobSettings.cancel_deadline``; a
        failure is logged and passed to the client's ``on_cancel_failed``, not raised). Returns
        whether the job was cancelled. See
        :func:`~krea_async._jobs.outcome.cancel_quietly`."""
        return await cancel_quietly(
            self.cancel,
            job_id,
            self.settings.cancel_deadline if timeout is None else timeout,
            self.settings.on_cancel_failed,
        )


def _wire(options: WebhookOptions, get: GetJob) -> Wakeup | None:
    """The webhook wiring for ``options`` (``None`` when no URL is set: nothing of the
    webhook half is imported then)."""
    if not webhook_base_url(options.url):
        return None
    from .wakeup import wakeup_for

    return wakeup_for(
        options.url,
        events=options.events,
        verify=options.verify,
        safety_poll=options.safety_poll,
        fetch=get,
        allow_insecure_http=options.allow_insecure_http,
    )


async def wait_job(
    events: JobEvents,
    job_id: str,
    *,
    get: GetJob,
    deadline: float,
    safety_poll: float = DEFAULT_SAFETY_POLL,
    fallback_poll: float = 2.0,
    on_state: QueueUpdateCallback | None = None,
    verify: VerifyMode = "fetch",
) -> Job:
    """Wait for ``job_id`` to be terminal, woken by ``events`` (a webhook receiver's
    bus), and return the terminal :class:`~krea_async.Job` (a failed or cancelled job
    is returned, not raised). The same wait as a client's webhook-woken ``jobs.wait()``
    (:class:`Waiter`), for a receiver of your own.

    No status request is made while events arrive; every ``safety_poll`` seconds
    without one, one ``get(job_id)`` (``krea.jobs.get``) runs in case a delivery was
    lost. ``verify`` (as the receiver's): under ``"fetch"`` a state read from a bus
    other processes can publish on (:class:`~krea_async.RedisEvents`) is confirmed
    with one ``get`` before it counts. When the bus is unavailable
    (:class:`~krea_async.EventsUnavailableError`, e.g. Redis down, or unreadable data
    on it), this logs a warning once and polls every ``fallback_poll`` seconds
    instead: nothing hangs. ``on_state`` (plain or async, like ``on_queue_update``)
    gets each new state. Raises :class:`TimeoutError`
    (:class:`~krea_async.JobTimeoutError`) after ``deadline`` seconds, and whatever
    ``get`` raises.
    """
    from .wakeup import BusWait

    bus_wait = BusWait(
        events,
        Trust(verify, get),
        get,
        safety_poll=safety_poll,
        first=None,
        fallback=fallback_poll,
    )
    stream = JobStream(
        get=bus_wait,
        cancel=_no_cancel,
        job_id=job_id,
        poll_interval=0.0,
        deadline=deadline,
    )
    last: Job | None = None
    async for job in stream:
        if last is None or job.status != last.status:
            await notify(on_state, job)
        last = job
    assert last is not None
    return last


async def _no_cancel(job_id: str, timeout: float) -> Job:
    raise AssertionError("wait_job never cancels a job")  # cancel_on_exit is off
