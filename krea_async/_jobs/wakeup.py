"""Webhooks that wake waiting calls: the client's wiring of ``AsyncKrea(webhook_url=...)``.

With a webhook base URL, every submit made through the client (``subscribe()``,
``generate()``, ``image()``, ...) without a ``webhook_url`` of its own is sent with a
*capability URL* minted by the client's :class:`~krea_async._webhooks.receiver.WebhookReceiver`
(the base plus a 256-bit token, ``X-Webhook-URL``). ``subscribe()`` and ``jobs.wait()``
on such a job then wait on the job-event bus (:mod:`krea_async._webhooks.events`): the receiver
publishes the state Krea's webhook announced (after confirming it with
``GET /jobs/{id}`` under ``verify="fetch"``) and the waiting call wakes at once. While
it waits it makes no status request except a slow safety-net poll every
``safety_poll`` seconds without news, in case a delivery is lost.

The wait is a :class:`~krea_async._jobs.polling.JobStream` whose "poll" is :class:`_BusWait`
(wait on the bus, else one ``GET``), so deadlines, ``cancel_on_exit``,
``on_queue_update`` and transient-error handling are the stream's, unchanged.

If the bus is unavailable (:class:`~krea_async._webhooks.events.EventsUnavailableError`, e.g.
Redis is down), a submit goes out without a capability URL and is polled as without
webhooks; a waiter whose bus fails mid-wait polls at the client's poll interval. Both
are logged (logger ``krea_async.webhooks``, a warning).

Krea's webhooks: https://docs.krea.ai/developers/webhooks .
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import httpx

from .._clock import sleep
from .._errors import ConfigurationError
from .._http.urls import is_loopback_host, webhook_base_url
from .._models import Job
from .._webhooks.events import EventsUnavailableError, JobEvents, status_rank
from .._webhooks.receiver import WebhookReceiver
from .outcome import CancelJob
from .polling import DEFAULT_SAFETY_POLL, JobStream, PollingSettings

__all__ = ["DEFAULT_SAFETY_POLL", "Wakeup", "wakeup_for"]

logger = logging.getLogger("krea_async.webhooks")

#: Job ids remembered as "submitted with a capability URL" (for ``jobs.wait``).
_REMEMBERED = 10_000


class Wakeup:
    """The webhook wiring of one client (and its ``with_options`` copies).

    ``receiver``: the :class:`~krea_async._webhooks.receiver.WebhookReceiver` that mints the
    capability URLs and publishes deliveries; ``polling``: the client's settings (the
    fallback poll interval, the deadline); ``safety_poll``: seconds (> 0).
    """

    def __init__(
        self, receiver: WebhookReceiver, polling: PollingSettings, *, safety_poll: float
    ) -> None:
        if not safety_poll > 0:
            raise ValueError("webhook_safety_poll must be > 0 seconds")
        self.receiver = receiver
        self.events: JobEvents = receiver.events
        self.polling = polling
        self.safety_poll = safety_poll
        self._submitted: dict[str, None] = {}

    @classmethod
    def build(
        cls,
        base_url: str,
        *,
        events: JobEvents | None,
        verify: Literal["fetch", "token"],
        safety_poll: float,
        fetch: Callable[[str], Awaitable[Job]],
        polling: PollingSettings,
    ) -> Wakeup:
        """A receiver at ``base_url`` on ``events`` (default: in-process) and its wiring."""
        receiver = WebhookReceiver(base_url, events=events, fetch=fetch, verify=verify)
        return cls(receiver, polling, safety_poll=safety_poll)

    async def mint(self) -> tuple[str, str] | None:
        """A fresh ``(url, token)``, or ``None`` (logged) when the bus is unavailable."""
        try:
            return await self.receiver.new_url()
        except EventsUnavailableError as exc:
            logger.warning("webhooks off for this submit (%s): the job will be polled", exc)
            return None

    async def bind(self, token: str, job_id: str) -> None:
        """Tie ``token`` to ``job_id`` and remember the job as woken by webhooks."""
        self._submitted[job_id] = None
        while len(self._submitted) > _REMEMBERED:
            del self._submitted[next(iter(self._submitted))]
        try:
            await self.receiver.bind(token, job_id)
        except EventsUnavailableError as exc:  # the receiver binds on the first delivery
            logger.warning("could not bind the webhook token of job %s: %s", job_id, exc)

    async def submit(self, create: Callable[[str | None], Awaitable[Job]]) -> Job:
        """Run ``create(webhook_url)`` with a fresh capability URL (or ``None`` when the
        bus is down) and bind its token to the job it returns."""
        minted = await self.mint()
        job = await create(minted[0] if minted else None)
        if minted:
            await self.bind(minted[1], job.job_id)
        return job

    def knows(self, job_id: str) -> bool:
        """Whether this client submitted ``job_id`` with a capability URL (the last
        10 000 such jobs): only those are waited for on the bus by ``jobs.wait()``."""
        return job_id in self._submitted

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
        token: str | None = None,
    ) -> JobStream:
        """Like :meth:`PollingSettings.stream`, but each "poll" waits on the bus (see
        :class:`_BusWait`); ``poll_interval`` (default: the client's for ``category``)
        is only the fallback when the bus fails. ``token``: bind it to ``job_id`` on
        the first wait (inside the stream, so a cancellation then still cancels the job).
        This stream does not poll, so it never goes through the client's shared poller.
        """
        fallback = self.polling.interval_for(category) if poll_interval is None else poll_interval
        wait = _BusWait(self, get, first=first, fallback=fallback, token=token)
        return self.polling.stream(
            get=wait,
            cancel=cancel,
            job_id=job_id,
            poll_interval=0.0,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            category=category,
            first=first,
        )


def wakeup_for(
    url: str | None,
    *,
    events: JobEvents | None,
    verify: Literal["fetch", "token"],
    safety_poll: float,
    fetch: Callable[[str], Awaitable[Job]],
    polling: PollingSettings,
    allow_insecure_http: bool,
) -> Wakeup | None:
    """The client's webhook wiring for ``url`` (``None``: ``$KREA_WEBHOOK_URL``), or
    ``None`` when that is empty (webhooks off). Raises
    :class:`~krea_async.ConfigurationError` for a URL that is not absolute http(s), has
    a query or fragment, or is ``http://`` to a non-loopback host without
    ``allow_insecure_http``; and for a bad ``verify`` or ``safety_poll``."""
    url = webhook_base_url(url)
    if not url:
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"webhook_url is not a valid URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"webhook_url must be an absolute http(s) URL, got {url!r}")
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"webhook_url may not have a query or fragment: {url!r}")
    if parsed.scheme == "http" and not allow_insecure_http and not is_loopback_host(parsed.host):
        raise ConfigurationError(
            f"refusing webhook_url {url!r}: over http:// its capability tokens travel in "
            "clear text; use https://, a loopback address, or allow_insecure_http=True"
        )
    try:
        return Wakeup.build(
            url, events=events, verify=verify, safety_poll=safety_poll, fetch=fetch, polling=polling
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


class _BusWait:
    """The "poll" of a webhook-woken :class:`JobStream`: wait up to ``safety_poll``
    seconds for a newer state on the bus; without one, ``GET /jobs/{id}`` once. After
    the bus failed, sleep ``fallback`` seconds and ``GET`` (plain polling)."""

    def __init__(
        self,
        wakeup: Wakeup,
        get: Callable[[str], Awaitable[Job]],
        *,
        first: Job | None,
        fallback: float,
        token: str | None,
    ) -> None:
        self._wakeup = wakeup
        self._get = get
        self._last = first
        self._fallback = fallback
        self._token = token
        self._degraded = False

    async def __call__(self, job_id: str) -> Job:
        job: Job | None = None
        if self._token is not None:
            token, self._token = self._token, None
            await self._wakeup.bind(token, job_id)
        if self._degraded:
            await sleep(self._fallback)
        else:
            try:
                job = await self._wakeup.events.next_state(
                    job_id, after=self._last, timeout=self._wakeup.safety_poll
                )
            except EventsUnavailableError as exc:
                logger.warning(
                    "job events unavailable (%s): polling job %s every %g s",
                    exc,
                    job_id,
                    self._fallback,
                )
                self._degraded = True
            if job is None and not self._degraded:
                logger.debug(
                    "no news of job %s in %g s: safety-net poll", job_id, self._wakeup.safety_poll
                )
        if job is None:
            job = await self._get(job_id)
        if self._last is None or status_rank(job.status) > status_rank(self._last.status):
            self._last = job
        return job
