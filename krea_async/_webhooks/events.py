"""Job-event buses: how a webhook that lands on one replica wakes a waiter on another.

A *bus* carries job states (:class:`~krea_async.Job`) from whoever learns them (the
webhook receiver, :mod:`krea_async._webhooks.receiver`) to whoever waits for them (a
``subscribe()`` / ``jobs.wait()`` call, or :func:`~krea_async.web.wait_job`). Two
implementations:

- :class:`LocalEvents`: in-process (nothing to install); one process, any number of
  tasks; asyncio and trio (anyio).
- :class:`RedisEvents`: Redis pub/sub through redis-py's asyncio client (the
  ``krea-async[redis]`` extra), for several processes or hosts. asyncio only (redis-py
  has no trio support).

Both keep the latest state of each job for ``ttl`` seconds, so a waiter that starts
after the webhook arrived still sees it, and both only ever move a job forwards
(:func:`status_rank`): a late ``processing`` never replaces ``completed``.

They also hold the webhook receiver's capability tokens (:meth:`JobEvents.add_token`),
so that a token minted on replica A is known to the receiver on replica B. Tokens are
stored as SHA-256 digests, never in clear.

Webhooks: https://docs.krea.ai/developers/webhooks (Krea POSTs the terminal job to the
``X-Webhook-URL`` given at submit time; deliveries are not signed).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import anyio

from .._clock import now
from .._errors import EventsUnavailableError
from .._models import Job, JobStatus

__all__ = [
    "DEFAULT_TTL",
    "EventsUnavailableError",  # defined in krea_async._errors
    "JobEvents",
    "LocalEvents",
    "status_rank",
    "token_digest",
]

logger = logging.getLogger("krea_async.events")

#: Seconds a job's latest state and a webhook token are kept (24 h).
DEFAULT_TTL = 24 * 3600.0

_RANK = {
    JobStatus.BACKLOGGED: 0,
    JobStatus.QUEUED: 1,
    JobStatus.SCHEDULED: 2,
    JobStatus.PROCESSING: 3,
    JobStatus.SAMPLING: 4,
    JobStatus.INTERMEDIATE_COMPLETE: 5,
    JobStatus.COMPLETED: 10,
    JobStatus.FAILED: 10,
    JobStatus.CANCELLED: 10,
}


def status_rank(status: JobStatus) -> int:
    """Where ``status`` sits in a job's life: pending statuses 0..5 in the order of
    :class:`~krea_async.JobStatus`, an unknown (newer) pending status 3, every terminal
    status 10. A state only replaces another of strictly lower rank."""
    return _RANK.get(status, 3)


def _newer(new: Job, old: Job | None) -> bool:
    return old is None or status_rank(new.status) > status_rank(old.status)


def token_digest(token: str) -> str:
    """The hex SHA-256 of a webhook token: what buses store instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@runtime_checkable
class JobEvents(Protocol):
    """What a job-event bus offers (:class:`LocalEvents`, :class:`RedisEvents`).

    Every method may raise :class:`EventsUnavailableError`.
    """

    async def publish(self, job: Job) -> bool:
        """Record ``job`` and wake its waiters; return ``False`` (a no-op) when the bus
        already holds a state of equal or higher rank for that job."""
        ...

    async def latest(self, job_id: str) -> Job | None:
        """The latest state published for ``job_id`` (within ``ttl``), or ``None``."""
        ...

    async def next_state(self, job_id: str, *, after: Job | None, timeout: float) -> Job | None:
        """Wait up to ``timeout`` seconds for a state of ``job_id`` newer than ``after``
        (any state when ``None``); return it, or ``None`` when the time is up. A state
        published before the call counts."""
        ...

    async def add_token(self, token: str, job_id: str | None = None) -> None:
        """Remember a webhook token (optionally already bound to ``job_id``)."""
        ...

    async def bind_token(self, token: str, job_id: str) -> None:
        """Bind a known token to the job its submit created."""
        ...

    async def token_job(self, token: str) -> tuple[str, str | None] | None:
        """``(stored_digest, job_id)`` for a token that was added (and has not expired),
        ``job_id`` being the job it is bound to, if any; ``None`` for an unknown token.
        ``stored_digest`` is the :func:`token_digest` kept by the bus."""
        ...

    async def revoke_token(self, token: str, *, after: float = 0.0) -> None:
        """Forget ``token`` in ``after`` seconds (``0``: now); never extends its life.
        A token the bus does not hold is a no-op."""
        ...


class LocalEvents:
    """The in-process bus (the default): an :class:`anyio.Event` per waiting job.

    ``ttl``: seconds a job's latest state and a token are kept (default 24 h).
    ``clock``: monotonic seconds (default: the event loop's clock,
    :func:`krea_async._clock.now`). Works under asyncio and trio; not thread-safe
    (use it from one event loop).
    """

    #: Only this process publishes here (no other process can): a state on it was
    #: checked by this process's receiver (see :mod:`krea_async._jobs.trust`).
    shared = False

    def __init__(self, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = now):
        self.ttl = ttl
        self._clock = clock
        self._jobs: dict[str, tuple[float, Job]] = {}
        self._events: dict[str, anyio.Event] = {}
        self._waiting: dict[str, int] = {}
        self._tokens: dict[str, tuple[float, str | None]] = {}
        self._next_prune = -math.inf

    def _prune(self) -> None:
        # Expired entries are ignored when read; dropping them is only for memory, so it
        # runs at most once a minute (not once per submit: O(entries) each time).
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + min(self.ttl, 60.0)
        for table in (self._jobs, self._tokens):
            stale = [k for k, v in table.items() if v[0] < now]
            for key in stale:
                del table[key]

    async def publish(self, job: Job) -> bool:
        """See :meth:`JobEvents.publish`."""
        self._prune()
        old = self._jobs.get(job.job_id)
        if old is not None and old[0] < self._clock():
            old = None
        if not _newer(job, old[1] if old else None):
            return False
        self._jobs[job.job_id] = (self._clock() + self.ttl, job)
        event = self._events.pop(job.job_id, None)
        if event is not None:
            event.set()
        return True

    async def latest(self, job_id: str) -> Job | None:
        """See :meth:`JobEvents.latest`."""
        entry = self._jobs.get(job_id)
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    async def next_state(self, job_id: str, *, after: Job | None, timeout: float) -> Job | None:
        """See :meth:`JobEvents.next_state`."""
        self._waiting[job_id] = self._waiting.get(job_id, 0) + 1
        try:
            with anyio.move_on_after(timeout):
                while True:
                    current = await self.latest(job_id)
                    if current is not None and _newer(current, after):
                        return current
                    event = self._events.get(job_id)
                    if event is None:
                        event = self._events[job_id] = anyio.Event()
                    await event.wait()
            return None
        finally:
            self._waiting[job_id] -= 1
            if not self._waiting[job_id]:  # the last waiter leaves nothing behind
                del self._waiting[job_id]
                self._events.pop(job_id, None)

    async def add_token(self, token: str, job_id: str | None = None) -> None:
        """See :meth:`JobEvents.add_token`."""
        self._prune()
        self._tokens[token_digest(token)] = (self._clock() + self.ttl, job_id)

    async def bind_token(self, token: str, job_id: str) -> None:
        """See :meth:`JobEvents.bind_token`."""
        await self.add_token(token, job_id)

    async def token_job(self, token: str) -> tuple[str, str | None] | None:
        """See :meth:`JobEvents.token_job`."""
        digest = token_digest(token)
        entry = self._tokens.get(digest)
        if entry is None or entry[0] < self._clock():
            return None
        return digest, entry[1]

    async def revoke_token(self, token: str, *, after: float = 0.0) -> None:
        """See :meth:`JobEvents.revoke_token`."""
        digest = token_digest(token)
        entry = self._tokens.get(digest)
        if entry is None:
            return
        if after <= 0:
            del self._tokens[digest]
        else:
            self._tokens[digest] = (min(entry[0], self._clock() + after), entry[1])
