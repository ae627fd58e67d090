"""Virtual time for the test suite: the event loop's clock, which the SDK reads for every
wait (:mod:`krea_async._clock`), and the fake's job clock move together, and only when
every task is blocked, straight to the next timer.

- trio: :class:`trio.testing.MockClock` with ``autojump_threshold=0``.
- asyncio: :class:`VirtualTimeLoop`, the same rule for an asyncio loop.

A test opts in with ``@pytest.mark.virtual_clock`` (tests/conftest.py gives its
``anyio_backend`` the clock) and takes the ``virtual_clock`` fixture to build its fake
(``FakeKrea(clock=virtual_clock)``) and to read the time (:meth:`VirtualClock.now`).
Time jumps as soon as the loop is idle, so a test on virtual time talks to the fake
in-process only: a real server or a worker thread would let the clock jump past the
timeouts of the requests it is answering.

Why not the ``looptime`` package: it needs Python >= 3.11 (the SDK supports 3.10), and
its pytest plugin fails every test run without pytest-asyncio (the suite runs on
anyio's plugin).
"""

from __future__ import annotations

import asyncio
from typing import Any

from krea_async.testing._util import DEFAULT_START

__all__ = ["VirtualClock", "VirtualTimeLoop"]


class VirtualTimeLoop(asyncio.SelectorEventLoop):  # type: ignore[misc,valid-type]
    """An asyncio loop whose ``time()`` is virtual (starts at 0.0 s): when no callback
    is ready and no I/O is ready now, it moves straight to its next timer instead of
    sleeping. With no timer at all it waits for real I/O (a thread's
    ``call_soon_threadsafe``), as any loop does."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual = 0.0
        select = self._selector.select

        def jump(timeout: float | None = None) -> list[Any]:
            ready = select(0)
            if ready or timeout == 0:
                return ready
            if timeout is None:
                return select(None)
            self._virtual += timeout
            return []

        self._selector.select = jump

    def time(self) -> float:
        """The virtual time in seconds."""
        return self._virtual


class VirtualClock:
    """One virtual time for a test: the event loop's (seconds from 0.0, what the SDK
    reads) and, called, the fake's (seconds since the epoch, from
    :data:`~krea_async.testing._util.DEFAULT_START`, like a
    :class:`~krea_async.testing.ManualClock`).

    ``backend``: ``"asyncio"`` or ``"trio"``; :attr:`options` are the options of the
    ``anyio_backend`` tuple that runs the test on it.
    """

    def __init__(self, backend: str, start: float = DEFAULT_START) -> None:
        self.backend = backend
        self.start = start
        self._loop: VirtualTimeLoop | None = None
        self._trio: Any = None
        self.options: dict[str, Any]
        if backend == "trio":
            from trio.testing import MockClock

            self._trio = MockClock(autojump_threshold=0)
            self.options = {"clock": self._trio}
        elif backend == "asyncio":
            self.options = {"loop_factory": self._new_loop}
        else:
            raise ValueError(f"no virtual clock for {backend!r}")

    def _new_loop(self) -> VirtualTimeLoop:
        self._loop = VirtualTimeLoop()
        return self._loop

    def now(self) -> float:
        """The event loop's virtual time in seconds (0.0 when the test starts); also
        readable outside the loop."""
        if self._trio is not None:
            return float(self._trio.current_time())
        return 0.0 if self._loop is None else self._loop.time()

    def __call__(self) -> float:
        """The fake's time: seconds since the epoch (``FakeKrea(clock=...)``)."""
        return self.start + self.now()
