"""Trust: the one rule deciding whether a job state may end a wait.

A state can reach a waiting call three ways, and each passes :class:`Trust`:

- a **poll answer** (``GET /jobs/{id}``): Krea's own answer; it counts once it is the
  state of the job asked for (:func:`same_job`);
- a **webhook delivery** (:meth:`Trust.delivery`): Krea does not sign deliveries
  (https://docs.krea.ai/developers/webhooks), so under ``verify="fetch"`` (the
  default) the body is never used: one ``GET /jobs/{id}`` confirms the job and its
  answer is the state; under ``verify="token"`` the body counts once its capability
  token matched (checked by the receiver) and its ``job_id`` is the token's job;
- a **bus message** (:meth:`Trust.bus_state`): a state a receiver published on the
  job-event bus. On a bus other processes can publish on (``shared``: a Redis
  channel, where anyone who can reach the Redis server can ``PUBLISH``), under
  ``verify="fetch"`` it is a *hint*: it wakes the waiter, which confirms it with
  ``GET /jobs/{id}`` and uses Krea's answer, unless the very same state was
  confirmed with Krea in this process already (the local receiver's confirming GET:
  no second request). On the in-process bus only this process's receivers publish,
  after confirming. Under ``verify="token"`` it counts as the delivery it came from
  did.

One :class:`Trust` is shared by a client's webhook receiver and its waiter, so that
the states the receiver confirmed are known to the waiter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from .._converter import WireFormatError, structure
from .._errors import KreaError
from .._models import Job

__all__ = ["VERIFY_MODES", "Trust", "VerifyMode", "same_job"]

VerifyMode = Literal["fetch", "token"]
"""How a webhook delivery or bus message is verified (``WebhookSettings.verify``)."""
VERIFY_MODES: tuple[str, ...] = ("fetch", "token")

#: Confirmed states remembered per process (the newest per job; oldest dropped first).
_REMEMBERED = 10_000


def same_job(job: Job, job_id: str) -> bool:
    """Whether ``job`` is the state of ``job_id`` (the id asked for, as sent: a server
    answering with another job's state is refused by every reader of job states)."""
    return job.job_id == job_id.strip()


class Trust:
    """The verification rule of one client (see the module docstring).

    ``verify``: ``"fetch"`` or ``"token"``; ``fetch``: ``async (job_id) -> Job``, one
    ``GET /jobs/{id}`` (normally ``krea.jobs.get``), required for ``"fetch"`` and used
    for the confirming GET of a bus hint. Raises :class:`ValueError` for a bad
    ``verify`` or a missing ``fetch``.
    """

    __slots__ = ("_confirmed", "_fetch", "verify")

    def __init__(self, verify: VerifyMode, fetch: Callable[[str], Awaitable[Job]] | None) -> None:
        if verify not in VERIFY_MODES:
            raise ValueError('verify must be "fetch" or "token"')
        if verify == "fetch" and fetch is None:
            raise ValueError('verify="fetch" needs fetch= (e.g. krea.jobs.get)')
        self.verify: VerifyMode = verify
        self._fetch = fetch
        self._confirmed: dict[str, Job] = {}

    async def confirm(self, job_id: str) -> Job:
        """``GET /jobs/{id}`` through ``fetch`` and remember the answer as confirmed.
        Raises what ``fetch`` raises, and
        :class:`~krea_async.KreaError` when Krea answered with another job's state."""
        if self._fetch is None:
            raise ValueError("no fetch= to confirm a job with")
        job = await self._fetch(job_id)
        if not same_job(job, job_id):
            raise KreaError(f"Krea answered another job than {job_id} (confirming GET); refused")
        self._remember(job)
        return job

    async def delivery(self, job_id: str, body: Mapping[str, Any]) -> Job:
        """The state a webhook delivery for ``job_id`` (the job its token is bound to,
        else the body's ``job_id``) may publish. ``fetch``: Krea's answer to one
        ``GET /jobs/{id}`` (the body is not read); ``token``: the body as a job.
        Raises :class:`~krea_async.WireFormatError` for a body that is not a job of
        ``job_id`` (``token``), and :meth:`confirm`'s errors (``fetch``)."""
        if self.verify == "fetch":
            return await self.confirm(job_id)
        job = structure(body, Job)
        if not same_job(job, job_id):
            raise WireFormatError("the body is the state of another job")
        return job

    def trusted(self, job: Job, *, shared: bool) -> bool:
        """Whether a state read from a bus may end a wait as it is: always under
        ``token``; under ``fetch`` when the bus is not ``shared`` (in-process: only
        this process's receiver, which confirmed it, publishes there) or this process
        confirmed that very state with Krea; else it is a hint (:meth:`bus_state`)."""
        return self.verify == "token" or not shared or self._confirmed.get(job.job_id) == job

    async def bus_state(self, job: Job, *, shared: bool) -> Job:
        """The state a bus message ``job`` stands for: ``job`` when :meth:`trusted`,
        else Krea's answer to one ``GET /jobs/{id}`` (the message was only a hint).
        ``shared``: whether other processes can publish on the bus (the bus's
        ``shared`` attribute; a bus without one counts as shared). Raises
        :meth:`confirm`'s errors."""
        if self.trusted(job, shared=shared):
            return job
        return await self.confirm(job.job_id)

    def _remember(self, job: Job) -> None:
        self._confirmed.pop(job.job_id, None)  # re-insert: newest last
        self._confirmed[job.job_id] = job
        while len(self._confirmed) > _REMEMBERED:
            del self._confirmed[next(iter(self._confirmed))]
