"""A one-shot wake-up for one sleeping waiter of the shared poller.

With thousands of jobs waited for at once, what each sleeping waiter holds counts. On
asyncio a :class:`Wake` is a bare future of the running loop (far smaller than an
:class:`anyio.Event`, which wraps an :class:`asyncio.Event` and its deque), its
deadline a timer handle (smaller than a cancel scope), and
:meth:`Wake.wait` hands back the future itself, so the wait adds no coroutine frame.
On other backends (trio) it is an :class:`anyio.Event` under a cancel scope.
Cancellation works alike: anyio cancels the waiting task.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable
from typing import Any

import anyio
import sniffio

from .._clock import now

__all__ = ["Wake"]

#: The context the timers and callbacks run in: they read no context variable, and a
#: shared one spares each waiter a copy of its task's context.
_NO_CONTEXT = contextvars.Context()


class Wake:
    """Made in the waiting task; :meth:`set` wakes it (at most once)."""

    __slots__ = ("_event", "_future", "_timer")

    def __init__(self) -> None:
        self._future: Any = None
        self._event: anyio.Event | None = None
        self._timer: Any = None
        if sniffio.current_async_library() == "asyncio":
            import asyncio  # already imported: the running library

            self._future = asyncio.get_running_loop().create_future()
        else:
            self._event = anyio.Event()

    def set(self) -> None:
        """Wake the waiter (no effect once woken, timed out or cancelled)."""
        if self._future is not None:
            if not self._future.done():
                self._future.set_result(None)
        else:
            assert self._event is not None
            self._event.set()

    def wait(self, deadline: float) -> Awaitable[None]:
        """Await this: returns on :meth:`set` or at ``deadline`` (the backend's clock,
        :mod:`krea_async._clock`), whichever comes first."""
        future = self._future
        if future is None:
            return self._wait_event(deadline)
        if math.isfinite(deadline):
            self._timer = future.get_loop().call_at(deadline, self.set, context=_NO_CONTEXT)
            future.add_done_callback(self._cancel_timer, context=_NO_CONTEXT)
        return future  # type: ignore[no-any-return]

    def _cancel_timer(self, _: object) -> None:
        self._timer.cancel()
        self._timer = None

    async def _wait_event(self, deadline: float) -> None:
        assert self._event is not None
        with anyio.move_on_after(deadline - now()):
            await self._event.wait()
