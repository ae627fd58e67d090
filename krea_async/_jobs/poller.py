"""One poller per client: the waiters of every job share the poll rounds.

A waiter (``subscribe()``, ``jobs.wait()``, ``jobs.stream()``, through
:class:`~krea_async.JobStream`) registers its job with :meth:`Poller.wait` and
sleeps; each round the poller decides what to ask Krea:

- **per job**: ``GET /jobs/{id}`` for each job whose poll interval has passed,
  at most :data:`PER_JOB_RATE` requests a second (spread over the interval);
- **by listing**: ``GET /jobs?limit=1000`` (newest first, Krea's list of the
  account's jobs), paging by ``cursor`` until the oldest job waited for is
  covered, every :data:`LIST_INTERVAL` seconds; with more jobs than a page holds,
  one page per window of creation time, read at once (:mod:`._poller_list`). Jobs
  of other processes on the same account are skipped; a waiter whose job the
  listing does not show is checked by id when its own poll interval has passed.

``mode="auto"`` lists when at least :data:`AUTO_LIST_MIN` jobs are waited for and
listing takes fewer requests a second than polling each job at its interval.

There is no background task. The first waiter to arrive *leads*: it runs the
rounds while the others wait on an event; when its own job has news it hands the
lead to another waiter and returns. So a cancelled waiter simply leaves (its
lead, if any, passes on), and nothing outlives the waiters: closing the client
(:meth:`close`) wakes the leader, and every waiter gets
:class:`~krea_async.ClientClosedError`. An error of a list request reaches every
waiter (each :class:`~krea_async.JobStream` applies its own rules for transient
failures, so one bad answer does not end a wait); the next round starts afresh.

**Rate limits.** A ``429`` on any of the poller's requests (listing or by id) is not
retried by that request nor handed to the waiters: the poller pauses *as a whole*,
every job with it, for the server's ``Retry-After``, else for an exponential,
jittered and capped time (:func:`krea_async._http.retry.rate_limit_pause`, the
client's :class:`~krea_async.RetryPolicy`), then resumes its normal cadence; the
first answer that is not a 429 ends the streak. Polls by id, sent in parallel
bursts, are also paced down to the rate the server accepted in the second before
the 429, and that rate grows back with each answer. So a rate limit on status requests
costs about one request per pause, however many jobs wait, and delays them only; a
waiter's own deadline still ends its wait.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Literal, get_args

import anyio

from .._clock import clock
from .._converter import WireFormatError, structure
from .._errors import RateLimitError
from .._http.retry import RetryPolicy, rate_limit_pause
from .._models import Job
from .poller_list import LIST_LIMIT, MAX_LIST_PAGES, ListPage, ListRounds
from .wake import Wake

__all__ = [
    "AUTO_LIST_MIN",
    "LIST_INTERVAL",
    "LIST_LIMIT",
    "MAX_LIST_PAGES",
    "PER_JOB_RATE",
    "POLLING_MODES",
    "Poller",
    "PollingMode",
]

PollingMode = Literal["auto", "per-job", "list"]
"""How a client's shared poller asks for job states (``JobSettings(polling=...)``)."""
POLLING_MODES: tuple[str, ...] = get_args(PollingMode)

#: Seconds between list rounds (shorter when a waiter's own interval is shorter).
LIST_INTERVAL = 0.25
#: ``GET /jobs/{id}`` requests the poller starts per second, at most.
PER_JOB_RATE = 500.0
#: Fewest waiting jobs for ``mode="auto"`` to consider listing.
AUTO_LIST_MIN = 8
#: Shortest interval (s) used to pace rounds (a ``poll_interval`` of 0 included).
_MIN_INTERVAL = 0.02
_BURST = PER_JOB_RATE * LIST_INTERVAL
#: After a 429, each answered poll by id raises the rate of polls by id by this factor.
_ID_RATE_RECOVERY = 1.05
#: Answered polls by id remembered (their times give the rate the server accepts).
_ID_ANSWERS = 1024

GetJob = Callable[[str], Awaitable[Job]]

logger = logging.getLogger("krea_async")


class _Waiter:
    """One ``wait()`` call: its job, when it wants a state, and the answer."""

    __slots__ = ("created", "done", "due", "error", "event", "interval", "job", "job_id", "status")

    def __init__(self, job_id: str, last: Job | None, due: float, interval: float) -> None:
        self.job_id = job_id
        self.status: str | None = None if last is None else last.status
        self.created = None if last is None else last.created_at
        self.due = due
        self.interval = interval
        self.event: Wake | None = None
        self.job: Job | None = None
        self.error: BaseException | None = None
        self.done = False


class Poller(ListRounds):
    """The shared poller of one client (see the module docstring).

    ``get``: ``GET /jobs/{id}`` as a :class:`~krea_async.Job`; ``list_page``: one
    raw page of ``GET /jobs?limit=1000`` (``(items, next_cursor)``);
    ``check_usable``: raises :class:`~krea_async.ClientStateError` once the client
    is closed. ``mode``: one of :data:`POLLING_MODES`. ``retry``: the policy whose
    backoff paces the pauses after a ``429`` (see the module docstring); ``get`` and
    ``list_page`` are expected not to retry a 429 themselves.
    """

    def __init__(
        self,
        *,
        get: GetJob,
        list_page: ListPage,
        check_usable: Callable[[], None],
        mode: str = "auto",
        retry: RetryPolicy | None = None,
    ) -> None:
        if mode not in POLLING_MODES:
            raise ValueError(f"polling must be one of {', '.join(POLLING_MODES)}, got {mode!r}")
        self.mode = mode
        self._get = get
        self._list_page = list_page
        self._check_usable = check_usable
        self._clock: Callable[[], float] | None = None  # the backend's, at first use
        # job id -> its waiter, or a list when several wait for one job (rare): no list
        # per job for the usual one (thousands of jobs at once)
        self._by_job: dict[str, _Waiter | list[_Waiter]] = {}
        self._pending: dict[_Waiter, None] = {}  # registered, no answer yet (ordered)
        # Kept as waiters come and go, so planning a round is O(1) but for next_due:
        self._rate = 0.0  # sum of 1 / interval over the pending waiters (requests/s)
        self._intervals: dict[float, int] = {}  # interval -> pending waiters with it
        self._listing = False  # the leader's last plan listed
        self._leader: _Waiter | None = None
        self._kick: anyio.Event | None = None
        self._wake_at = math.inf
        self._next_list = -math.inf
        self._pages = 1
        self._tokens = _BURST
        self._tokens_at: float | None = None
        self._retry = retry if retry is not None else RetryPolicy()
        self._paused_until = -math.inf  # after a 429: no request before this time
        self._strikes = 0  # 429s in a row
        # GET /jobs/{id} started per second at most: PER_JOB_RATE, or after a 429 on
        # one, the rate the server accepted in the second before, growing back with
        # each answer (a parallel burst of polls would meet the limit again at once)
        self._id_rate = PER_JOB_RATE
        self._id_answers: collections.deque[float] = collections.deque(maxlen=_ID_ANSWERS)
        self._closed = False
        #: Counters (for tests and the benchmark): rounds run, list and by-id requests.
        self.rounds = 0
        self.list_requests = 0
        self.id_requests = 0
        #: Pauses taken after a 429 (each one for all the jobs waited for).
        self.pauses = 0

    @property
    def waiting(self) -> int:
        """Waiters registered right now."""
        return sum(1 if isinstance(ws, _Waiter) else len(ws) for ws in self._by_job.values())

    @property
    def leading(self) -> bool:
        """Whether a waiter is running the rounds right now."""
        return self._leader is not None

    def close(self) -> None:
        """The client was closed: wake the leader, which fails every waiter."""
        self._closed = True
        self._poke()

    def _poke(self) -> None:
        if self._kick is not None:
            self._kick.set()

    def now(self) -> float:
        """The event loop's time in seconds (:mod:`krea_async._clock`), read through the
        clock function (:func:`krea_async._clock.clock`) the poller keeps from its first
        use (its client runs on one event loop)."""
        if self._clock is None:
            self._clock = clock()
        return self._clock()

    async def wait(
        self,
        job_id: str,
        last: Job | None,
        delay: float,
        interval: float,
        deadline: float = math.inf,
    ) -> Job | None:
        """The next state of ``job_id``: polled by id once ``delay`` seconds have
        passed, or sooner when a list round shows a status other than ``last``'s.
        ``interval`` (s) paces later checks by id of a job no listing shows.
        ``None`` when ``deadline`` (:meth:`now` seconds) passes first:
        the waiter holds no cancel scope while it sleeps, only a timer.
        Raises the error of the request that was to answer it."""
        self._check_usable()
        now = self.now()
        w = _Waiter(job_id, last, now + max(delay, 0.0), max(interval, _MIN_INTERVAL))
        same = self._by_job.setdefault(job_id, w)
        if same is not w:
            if isinstance(same, _Waiter):
                self._by_job[job_id] = [same, w]
            else:
                same.append(w)
        self._add_pending(w)
        # Wake a sleeping leader when this waiter is due first, or when the waiters
        # now make listing worthwhile (a leader that planned per-job polling would
        # otherwise sleep a whole poll interval while hundreds of jobs arrive).
        if w.due < self._wake_at or (not self._listing and self._wants_list()):
            self._poke()
        try:
            while not w.done:
                now = self.now()
                if now >= deadline:
                    break
                if self._leader is None:
                    self._leader = w
                if self._leader is w:
                    # the leader's own deadline also bounds the requests it runs
                    with anyio.move_on_after(deadline - now if math.isfinite(deadline) else None):
                        await self._lead(w)
                else:
                    w.event = Wake()
                    await w.event.wait(deadline)
        finally:
            self._remove(w)
        if w.error is not None:
            raise w.error.with_traceback(None)
        return w.job

    def _add_pending(self, w: _Waiter) -> None:
        self._pending[w] = None
        self._rate += 1.0 / w.interval
        self._intervals[w.interval] = self._intervals.get(w.interval, 0) + 1

    def _drop_pending(self, w: _Waiter) -> None:
        if w not in self._pending:
            return
        del self._pending[w]
        left = self._intervals[w.interval] - 1
        if left:
            self._intervals[w.interval] = left
        else:
            del self._intervals[w.interval]
        self._rate = self._rate - 1.0 / w.interval if self._pending else 0.0

    def _list_interval(self) -> float:
        shortest = min(self._intervals, default=LIST_INTERVAL)
        return max(min(shortest, LIST_INTERVAL), _MIN_INTERVAL)

    def _wants_list(self) -> bool:
        """Whether a round should list (O(1): kept sums, not a scan of the waiters)."""
        if self.mode == "list":
            return True
        if self.mode == "per-job" or len(self._pending) < AUTO_LIST_MIN:
            return False
        return self._pages / self._list_interval() < self._rate

    def _waiters_of(self, job_id: object) -> Sequence[_Waiter]:
        """The waiters of ``job_id`` (a copy: safe while delivering to them; called for
        every listed job, so a job of another process allocates nothing)."""
        ws = self._by_job.get(job_id) if isinstance(job_id, str) else None
        if ws is None:
            return ()
        return (ws,) if isinstance(ws, _Waiter) else tuple(ws)

    def _remove(self, w: _Waiter) -> None:
        self._drop_pending(w)
        ws = self._by_job.get(w.job_id)
        if ws is w:
            del self._by_job[w.job_id]
        elif isinstance(ws, list) and w in ws:
            ws.remove(w)
            self._by_job[w.job_id] = ws[0] if len(ws) == 1 else ws
        if self._leader is w:
            self._leader = None
            for nxt in self._pending:  # hand the lead to the first waiter still waiting
                self._leader = nxt
                if nxt.event is not None:
                    nxt.event.set()
                break

    def _deliver(self, w: _Waiter, job: Job | None, error: BaseException | None = None) -> None:
        if w.done:
            return
        w.job, w.error, w.done = job, error, True
        self._drop_pending(w)
        if w.event is not None:
            w.event.set()

    def _fail(self, waiters: Iterable[_Waiter], error: BaseException) -> None:
        for w in list(waiters):
            self._deliver(w, None, error)

    # -- the rounds (run by the leader) ---------------------------------------------

    async def _lead(self, me: _Waiter) -> None:
        while not me.done:
            if self._closed:
                try:
                    self._check_usable()
                except Exception as exc:  # ClientClosedError, to every waiter
                    self._fail(self._pending, exc)
                    return
                self._closed = False
            now = self.now()
            listing, list_interval, next_due = self._plan()
            if self._tokens_at is None:
                self._tokens_at = now
            rate = self._id_rate
            burst = max(1.0, rate * LIST_INTERVAL)
            self._tokens = min(burst, self._tokens + (now - self._tokens_at) * rate)
            self._tokens_at = now
            wake = next_due if self._tokens >= 1 else max(next_due, now + (1 - self._tokens) / rate)
            if listing:
                wake = min(wake, self._next_list)
            wake = max(wake, self._paused_until)  # rate-limited: every job waits
            if wake > now:
                self._kick = kick = anyio.Event()
                self._wake_at = wake
                try:
                    with anyio.move_on_after(wake - now if math.isfinite(wake) else None):
                        await kick.wait()
                finally:
                    self._kick, self._wake_at = None, math.inf
                continue
            self.rounds += 1
            if listing and now >= self._next_list:
                self._next_list = now + list_interval
                try:
                    await self._list_round(now)
                except RateLimitError as exc:  # the whole poller pauses, no waiter fails
                    self._pause(exc)
                    continue
                except Exception as exc:  # typed request errors: to every waiter
                    self._fail(self._pending, exc)
                    continue
                self._strikes = 0
            due = [w for w in self._pending if w.due <= now]
            if due:
                await self._poll_due(due)

    def _pause(self, exc: RateLimitError) -> None:
        """A 429: no request of this poller before the pause has passed."""
        now = self.now()
        wait = rate_limit_pause(self._retry, self._strikes, exc.retry_after)
        if now >= self._paused_until:  # a new pause (not another 429 of the same round)
            self._strikes += 1
            self.pauses += 1
            logger.info(
                "status requests rate-limited (429): the shared poller pauses %.3g s "
                "for its %d waiting jobs",
                wait,
                len(self._pending),
            )
        self._paused_until = max(self._paused_until, now + wait)

    def _plan(self) -> tuple[bool, float, float]:
        """(list this round?, list interval, next due)."""
        next_due = min((w.due for w in self._pending), default=math.inf)
        self._listing = self._wants_list()
        return self._listing, self._list_interval(), next_due

    async def _poll_due(self, due: list[_Waiter]) -> None:
        """``GET /jobs/{id}`` for the jobs due first, as many as the rate allows."""
        due.sort(key=lambda w: w.due)
        ids = list(dict.fromkeys(w.job_id for w in due))[: max(1, int(self._tokens))]
        self._tokens -= len(ids)
        self.id_requests += len(ids)
        if len(ids) == 1:
            await self._poll_one(ids[0])
            return
        async with anyio.create_task_group() as tg:
            for job_id in ids:
                tg.start_soon(self._poll_one, job_id)

    async def _poll_one(self, job_id: str) -> None:
        if self.now() < self._paused_until:  # a sibling poll of this round got a 429
            return
        try:
            job = await self._get(job_id)
        except RateLimitError as exc:  # the waiters stay due: polled after the pause
            now = self.now()
            accepted = sum(1 for t in self._id_answers if t > now - 1.0)
            self._id_rate = min(self._id_rate, max(1.0, float(accepted)))
            self._pause(exc)
            return
        except Exception as exc:  # typed request errors, to this job's waiters
            self._fail(self._waiters_of(job_id), exc)
            return
        self._strikes = 0
        self._id_answers.append(self.now())
        if self._id_rate < PER_JOB_RATE:
            self._id_rate = min(PER_JOB_RATE, self._id_rate * _ID_RATE_RECOVERY)
        for w in self._waiters_of(job_id):
            self._deliver(w, job)

    def _apply(self, item: dict[str, Any], now: float) -> None:
        ws = self._waiters_of(item.get("job_id"))
        if not ws:
            return
        status = item.get("status")
        job: Job | None = None
        for w in ws:
            if w.done:
                continue
            w.due = max(w.due, now + w.interval)  # seen: no check by id needed yet
            if status == w.status:
                continue
            if job is None:
                try:
                    job = structure(item, Job)
                except WireFormatError:
                    w.due = now  # an odd list item: ask for this job by id
                    continue
            self._deliver(w, job)
