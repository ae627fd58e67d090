"""The webhook half of waiting: a client's wiring of ``WebhookSettings(url=...)`` and
the wait on the job-event bus. Which jobs wait here is decided by the client's
:class:`~krea_async._jobs.waiter.Waiter`, and only there.

With a webhook base URL, every submit made through the client (``subscribe()``,
``generate()``, ``image()``, ...) without a ``webhook_url`` of its own is sent with a
*capability URL* minted by the client's :class:`~krea_async._webhooks.receiver.WebhookReceiver`
(the base plus a 256-bit token, ``X-Webhook-URL``). Waiting for such a job means
waiting on the job-event bus (:mod:`krea_async._webhooks.events`): the receiver
publishes the state Krea's webhook announced (after confirming it with
``GET /jobs/{id}`` under ``verify="fetch"``) and the waiting call wakes at once. While
it waits it makes no status request except a slow safety-net poll every
``safety_poll`` seconds without news, in case a delivery is lost; and, under
``verify="fetch"``, the confirming ``GET`` of a state that arrived over a bus other
processes can publish on (:class:`~krea_async._jobs.trust.Trust`).

The wait is a :class:`~krea_async._jobs.polling.JobStream` whose "poll" is :class:`BusWait`
(wait on the bus, else one ``GET``), so deadlines, ``cancel_on_exit``,
``on_queue_update`` and transient-error handling are the stream's, unchanged.

A client whose webhook URL Krea cannot reach (no delivery ever arrives) would wait
silently, finding every result only through the safety poll; so the first safety
poll that finds a terminal state none delivered (Krea's webhook fires once a job is
terminal, so that delivery was missed) logs one
WARNING per client (:meth:`Wakeup.missed_delivery`), naming the base URL (never a
token) and the safety-poll interval.

If the bus is unavailable (:class:`~krea_async._webhooks.events.EventsUnavailableError`, e.g.
Redis is down, or it carried data that cannot be read), a submit goes out without a
capability URL and is polled as without webhooks; a waiter whose bus fails mid-wait
polls at the client's poll interval. Both are logged (logger ``krea_async.webhooks``,
a warning).

Krea's webhooks: https://docs.krea.ai/developers/webhooks .
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import anyio
import httpx

from .._clock import sleep
from .._errors import ConfigurationError
from .._http.urls import is_loopback_host, webhook_base_url
from .._models import Job
from .._webhooks.events import EventsUnavailableError, JobEvents, status_rank
from .._webhooks.receiver import WebhookReceiver
from .polling import DEFAULT_SAFETY_POLL
from .trust import Trust, VerifyMode, same_job

__all__ = ["DEFAULT_SAFETY_POLL", "BusWait", "Wakeup", "wakeup_for"]

logger = logging.getLogger("krea_async.webhooks")

#: Job ids remembered as "submitted with a capability URL" (for ``jobs.wait``).
_REMEMBERED = 10_000


class Wakeup:
    """The webhook wiring of one client (and its ``with_options`` copies).

    ``receiver``: the :class:`~krea_async._webhooks.receiver.WebhookReceiver` that mints the
    capability URLs, publishes deliveries and holds the client's
    :class:`~krea_async._jobs.trust.Trust`; ``safety_poll``: seconds (> 0).
    """

    def __init__(self, receiver: WebhookReceiver, *, safety_poll: float) -> None:
        if not safety_poll > 0:
            raise ValueError("WebhookSettings.safety_poll must be > 0 seconds")
        self.receiver = receiver
        self.events: JobEvents = receiver.events
        self.safety_poll = safety_poll
        self._submitted: dict[str, None] = {}
        self._warned = False  # the missed-delivery warning, once per client

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
        except EventsUnavailableError as exc:  # deliveries are refused; the safety poll runs
            logger.warning("could not bind the webhook token of job %s: %s", job_id, exc)

    async def revoke(self, token: str, *, release: bool = False) -> None:
        """Revoke ``token``: now (its submit failed), or with ``release`` after the
        receiver's grace (its wait ended). Shielded and bounded (5 s), so it runs on a
        cancellation too; a bus error is logged, not raised (the token expires anyway)."""
        revoke = self.receiver.release if release else self.receiver.revoke
        with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
            try:
                await revoke(token)
            except EventsUnavailableError as exc:
                logger.warning("could not revoke a webhook token: %s", exc)

    def missed_delivery(self, job_id: str) -> None:
        """A safety poll of ``job_id`` found a terminal state none delivered: the
        first time, log a WARNING (logger ``krea_async.webhooks``) that webhooks seem
        not to arrive at the base URL (the receiver's, without any token), so jobs are
        found by the safety poll every ``safety_poll`` seconds; later misses at DEBUG."""
        if self._warned:
            logger.debug("job %s: its webhook did not arrive; found by the safety poll", job_id)
            return
        self._warned = True
        logger.warning(
            "webhooks seem not to arrive at %s (job %s changed state with no delivery): "
            "jobs are being found by the safety poll every %g s; check that Krea can "
            "reach this URL (https://docs.krea.ai/developers/webhooks)",
            self.receiver.base_url,
            job_id,
            self.safety_poll,
        )

    def knows(self, job_id: str) -> bool:
        """Whether this client submitted ``job_id`` with a capability URL (the last
        10 000 such jobs): only those are waited for on the bus by ``jobs.wait()``."""
        return job_id in self._submitted

    def bus_wait(
        self,
        get: Callable[[str], Awaitable[Job]],
        *,
        first: Job | None,
        fallback: float,
        token: str | None,
        job_id: str,
    ) -> BusWait:
        """The "poll" of a stream woken by this wiring's bus (:class:`BusWait`), through
        the receiver's :class:`~krea_async._jobs.trust.Trust`; ``token``: bound to
        ``job_id`` on the first wait. ``fallback``: seconds between polls if the bus
        fails."""
        bind = None if token is None else functools.partial(self.bind, token, job_id)
        return BusWait(
            self.events,
            self.receiver.trust,
            get,
            safety_poll=self.safety_poll,
            first=first,
            fallback=fallback,
            bind=bind,
            missed=self.missed_delivery,
        )


def wakeup_for(
    url: str | None,
    *,
    events: JobEvents | None,
    verify: VerifyMode,
    safety_poll: float,
    fetch: Callable[[str], Awaitable[Job]],
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
        raise ConfigurationError(f"WebhookSettings.url is not a valid URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(
            f"WebhookSettings.url must be an absolute http(s) URL, got {url!r}"
        )
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"WebhookSettings.url may not have a query or fragment: {url!r}")
    if parsed.scheme == "http" and not allow_insecure_http and not is_loopback_host(parsed.host):
        raise ConfigurationError(
            f"refusing WebhookSettings.url {url!r}: over http:// its capability tokens travel in "
            "clear text; use https://, a loopback address, or allow_insecure_http=True"
        )
    try:
        receiver = WebhookReceiver(url, events=events, fetch=fetch, verify=verify)
        return Wakeup(receiver, safety_poll=safety_poll)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


class BusWait:
    """The "poll" of a webhook-woken :class:`JobStream`: wait up to ``safety_poll``
    seconds for a newer state on ``events``; without one, ``get(job_id)`` once. A
    state read from the bus goes through ``trust`` (:meth:`Trust.bus_state`): under
    ``verify="fetch"`` it is only a hint, confirmed with one ``GET``. After the bus
    failed (or carried data it could not read), sleep ``fallback`` seconds and ``get``
    (plain polling). ``bind``: awaited once, on the first wait (the capability token's
    binding, inside the stream so that a cancellation then still cancels the job).
    ``missed``: called with the job id when a safety poll finds the job terminal and
    no terminal state was delivered (a webhook delivery that did not arrive)."""

    __slots__ = (
        "_bind",
        "_degraded",
        "_events",
        "_fallback",
        "_get",
        "_missed",
        "_safety",
        "_seen",
        "_trust",
    )

    def __init__(
        self,
        events: JobEvents,
        trust: Trust,
        get: Callable[[str], Awaitable[Job]],
        *,
        safety_poll: float,
        first: Job | None,
        fallback: float,
        bind: Callable[[], Awaitable[None]] | None = None,
        missed: Callable[[str], None] | None = None,
    ) -> None:
        self._events = events
        self._trust = trust
        self._get = get
        self._safety = safety_poll
        # the newest state seen, from the bus (trusted or not) or from Krea: the bus is
        # asked for newer ones only, so a hint that Krea did not confirm wakes no one twice
        self._seen = first
        self._fallback = fallback
        self._bind = bind
        self._degraded = False
        self._missed = missed

    async def __call__(self, job_id: str) -> Job:
        job: Job | None = None
        if self._bind is not None:
            bind, self._bind = self._bind, None
            await bind()
        if self._degraded:
            await sleep(self._fallback)
        else:
            try:
                job = await self._events.next_state(job_id, after=self._seen, timeout=self._safety)
            except EventsUnavailableError as exc:
                logger.warning(
                    "job events unavailable (%s): polling job %s every %g s",
                    exc,
                    job_id,
                    self._fallback,
                )
                self._degraded = True
            if job is None and not self._degraded:
                logger.debug("no news of job %s in %g s: safety-net poll", job_id, self._safety)
        if job is not None and same_job(job, job_id):
            self._seen = _newest(job, self._seen)
            job = await self._trust.bus_state(job, shared=getattr(self._events, "shared", True))
        else:  # no news, or a bus answering for another job: ask Krea
            job = await self._get(job_id)
            if (
                self._missed is not None
                and not self._degraded
                and job.is_terminal
                and (self._seen is None or not self._seen.is_terminal)
            ):  # Krea delivers terminal states: this one's delivery did not arrive
                self._missed(job_id)
        self._seen = _newest(job, self._seen)
        return job


def _newest(job: Job, old: Job | None) -> Job:
    return job if old is None or status_rank(job.status) > status_rank(old.status) else old
