"""Admission to the connection pool: the SDK's own FIFO in front of httpx.

At most ``slots`` API requests of a client are inside httpx at once; the others
wait here, in order, as one small event each, never inside httpcore's pool. A
request waiting here has sent nothing, so cancelling it has no effect on Krea.
The shared poller's requests (``priority=True``) go before waiting submits, so
that a long queue of submits does not delay seeing jobs finish.

After a ``429`` on a submit (a request that creates something: a job, an asset),
the request layer calls :meth:`Admission.rate_limited` with the wait that
:func:`krea_async._http.retry.decide` chose (the server's ``Retry-After``, else
backoff): no submit is admitted before that wait has passed, the refused one
included, and after it submits are admitted one at a time, spaced by the rate the
server accepted in the second before the 429 (a spacing that shrinks with every
submit accepted, until the queue runs at full speed again). So 1,000 gathered
submits that meet a rate limit do not each sleep and retry in a herd: they queue,
and once the first burst is answered few more 429s come. Other requests are not
held back: the shared poller pauses on its own (:mod:`krea_async._jobs.poller`),
and a single GET retries on its own. Krea answers 429 when an account sends too
much (https://docs.krea.ai/developers/job-lifecycle).

A slot is not bound to a task: a submit may take one in the caller's task (where
a cancellation is plain) and use it in the shielded task that sends the POST
(:class:`StopSignal.holds_slot`).
"""

from __future__ import annotations

import collections
import math
import sys
from typing import Any

import anyio

from .. import _clock
from .._errors import APIConnectionError

__all__ = ["Admission", "StopSignal"]

#: Seconds of accepted submits that set the spacing after a 429.
_RATE_WINDOW = 1.0
#: Each accepted request shrinks the spacing by this factor (the way back to full speed).
_RECOVER = 0.97
#: Spacing (s) below which the queue is no longer paced.
_MIN_SPACING = 1e-3
#: Accepted requests remembered (their times set the spacing).
_KEEP = 4096


class StopSignal:
    """An ``anyio.Event`` look-alike for the request layer's ``stop``: once set, no
    further attempt starts and a wait for admission ends (nothing sent).

    ``holds_slot``: the submit already took its first admission slot (in the
    caller's task); the request layer uses it for the first attempt and clears it;
    whoever finds it still set at the end releases it."""

    __slots__ = ("_event", "_is_set", "_scopes", "holds_slot")

    def __init__(self) -> None:
        # The event is made by the first wait() (a retry's backoff), not per submit.
        self._event: anyio.Event | None = None
        self._is_set = False
        self._scopes: set[anyio.CancelScope] | None = None  # made when first needed
        self.holds_slot = False

    def set(self) -> None:
        """Set the flag and cancel every wait for admission that watches it."""
        self._is_set = True
        if self._event is not None:
            self._event.set()
        for scope in self._scopes or ():
            scope.cancel()

    def is_set(self) -> bool:
        """Whether :meth:`set` was called."""
        return self._is_set

    def watch(self, scope: anyio.CancelScope) -> None:
        """Have :meth:`set` cancel ``scope`` (a wait for admission) until :meth:`unwatch`."""
        if self._scopes is None:
            self._scopes = set()
        self._scopes.add(scope)

    def unwatch(self, scope: anyio.CancelScope) -> None:
        """Stop cancelling ``scope`` on :meth:`set`."""
        if self._scopes is not None:
            self._scopes.discard(scope)

    async def wait(self) -> None:
        """Wait until :meth:`set` is called."""
        if self._is_set:
            return
        if self._event is None:
            self._event = anyio.Event()
        await self._event.wait()


class Admission:
    """``slots`` request slots, handed out in order (priority waiters first)."""

    def __init__(self, slots: int) -> None:
        self.total = slots
        self.used = 0
        self.waiting = 0  # requests waiting for a slot right now
        self.answers = 0  # requests answered so far (the progress a wait with stall watches)
        # Wakers in order: an asyncio future (skipped once done: its waiter gave up)
        # or, on trio, an anyio.Event (skipped when in _gone).
        self._high: collections.deque[Any] = collections.deque()
        self._normal: collections.deque[Any] = collections.deque()
        self._gone: set[anyio.Event] = set()
        # Submits held back after a 429: none admitted before _paused_until,
        # then one per _spacing seconds (the next free turn: _next_turn).
        self._held = False
        self._paused_until = -math.inf
        self._spacing = 0.0
        self._next_turn = -math.inf
        # when the last submits were accepted (the rate to pace at)
        self._accepted: collections.deque[float] = collections.deque(maxlen=_KEEP)
        #: 429s on submits reported through :meth:`rate_limited`.
        self.rate_limits = 0

    def rate_limited(self, wait: float) -> None:
        """A submit was refused with 429 and will retry after ``wait`` seconds: admit
        no submit before then, and pace them after (see the module docstring)."""
        now = _clock.now()
        self.rate_limits += 1
        while self._accepted and self._accepted[0] < now - _RATE_WINDOW:
            self._accepted.popleft()
        self._spacing = _RATE_WINDOW / max(1, len(self._accepted))
        self._paused_until = max(self._paused_until, now + wait)
        self._held = True

    def accepted(self) -> None:
        """A submit was accepted (the rate to pace at, and the way back to full speed)."""
        now = _clock.now()
        self._accepted.append(now)
        if self._held:
            self._spacing *= _RECOVER
            if self._spacing < _MIN_SPACING and now >= self._paused_until:
                self._held, self._spacing = False, 0.0

    async def _turn(self) -> None:
        """Wait for the next turn of the submits while they are held back."""
        while self._held:
            now = _clock.now()
            start = max(self._paused_until, self._next_turn)
            if start <= now:
                self._next_turn = now + self._spacing
                return
            self._next_turn = start + self._spacing  # this caller's turn, reserved
            paused = self._paused_until
            await _clock.sleep(start - now)
            if self._paused_until <= paused:  # no new 429 meanwhile: the turn holds
                return

    async def acquire(
        self,
        *,
        priority: bool = False,
        stop: object = None,
        stall: float | None = None,
        submit: bool = False,
    ) -> None:
        """Wait for a slot; release it with :meth:`release`. With a set
        :class:`StopSignal` ``stop``, the wait ends with
        :class:`~krea_async.APIConnectionError` (``request_sent=False``). With
        ``stall`` (seconds), the wait lasts as long as the server keeps answering
        requests, and ends with that error once it answered none for ``stall``
        seconds. ``submit``: a request that creates something (a submit); its wait
        starts with its turn while submits are held back after a 429
        (:meth:`rate_limited`)."""
        if self._held and submit:
            await self._acquire_held(stop)
            return
        if self.used < self.total and not self.waiting:
            self.used += 1
            return
        if stall is not None:
            await self._acquire_unless_stalled(priority, stall)
            return
        if isinstance(stop, StopSignal):
            await self._acquire_or_stop(priority, stop)
        else:
            # Inline, not in a helper coroutine: thousands of submits may wait here.
            waker = self._enqueue(priority)
            try:
                await (waker.wait() if isinstance(waker, anyio.Event) else waker)
            except BaseException:
                self._give_up(waker)
                raise
        if self._held and submit:
            # handed a slot after a 429 held submits back: pass it on, take a turn
            self.release()
            await self._acquire_held(stop)

    async def _acquire_held(self, stop: object) -> None:
        """A slot for a submit while submits are held back: the next turn first."""
        if isinstance(stop, StopSignal):
            await self._acquire_or_stop(False, stop, turn=True)
            return
        await self._turn()
        if self.used < self.total and not self.waiting:
            self.used += 1
            return
        waker = self._enqueue(False)
        try:
            await (waker.wait() if isinstance(waker, anyio.Event) else waker)
        except BaseException:
            self._give_up(waker)
            raise

    async def _acquire_or_stop(self, priority: bool, stop: StopSignal, turn: bool = False) -> None:
        with anyio.CancelScope() as scope:
            stop.watch(scope)
            try:
                if not stop.is_set():
                    if turn:
                        await self._turn()
                        if self.used < self.total and not self.waiting:
                            self.used += 1
                            return
                    waker = self._enqueue(priority)
                    try:
                        await (waker.wait() if isinstance(waker, anyio.Event) else waker)
                    except BaseException:
                        self._give_up(waker)
                        raise
                    return
            finally:
                stop.unwatch(scope)
        raise APIConnectionError(
            "request abandoned while waiting for a connection; nothing was sent",
            method="",
            url="",
            request_sent=False,
        )

    async def _acquire_unless_stalled(self, priority: bool, stall: float) -> None:
        waker = self._enqueue(priority)
        try:
            while True:
                answers = self.answers
                if isinstance(waker, anyio.Event):
                    with anyio.move_on_after(stall):
                        await waker.wait()
                else:
                    import asyncio  # already imported: the running library

                    await asyncio.wait((waker,), timeout=stall)  # (leaves waker pending)
                if _is_set(waker):
                    return
                if self.answers == answers:  # not one request was answered meanwhile
                    break
        except BaseException:
            self._give_up(waker)
            raise
        self._give_up(waker)
        raise APIConnectionError(
            f"no connection became free and the server answered no request for {stall:g} s; "
            "nothing was sent",
            method="",
            url="",
            request_sent=False,
        )

    def _enqueue(self, priority: bool) -> Any:
        # On asyncio a bare future, several times smaller than an anyio.Event: thousands
        # of requests may wait here at once.
        waker: Any = _future() or anyio.Event()
        (self._high if priority else self._normal).append(waker)
        self.waiting += 1
        return waker

    def _give_up(self, waker: Any) -> None:
        if _is_set(waker):  # the slot was handed over as we were cancelled
            self.release()
            return
        self.waiting -= 1
        if isinstance(waker, anyio.Event):
            self._gone.add(waker)
        else:
            waker.cancel()  # (if not already): release() skips done futures

    def release(self, *, answered: bool = False) -> None:
        """Give the slot to the next waiter, or free it. ``answered``: the request
        that held it got an answer from the server (the progress a wait with
        ``stall`` watches; a request that timed out is none)."""
        if answered:
            self.answers += 1
        for queue in (self._high, self._normal):
            while queue:
                waker = queue.popleft()
                if isinstance(waker, anyio.Event):
                    if waker in self._gone:
                        self._gone.discard(waker)
                        continue
                    waker.set()
                elif waker.done():
                    continue  # cancelled: its waiter gave up (and counted it)
                else:
                    waker.set_result(None)
                self.waiting -= 1
                return
        self.used -= 1


def _future() -> Any:
    """A new asyncio future when running under asyncio, else ``None``."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.create_future()


def _is_set(waker: Any) -> bool:
    if isinstance(waker, anyio.Event):
        return waker.is_set()
    return bool(waker.done() and not waker.cancelled())
