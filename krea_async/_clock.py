"""The SDK's one clock: every time read and every sleep of ``krea_async`` goes through here.

Time is the running event loop's clock, in seconds (monotonic, arbitrary origin): what
:func:`anyio.current_time` returns, ``loop.time()`` on asyncio and the run's
:class:`trio.abc.Clock` on trio. anyio's timeouts (``move_on_after``, ``fail_after``)
and httpx's read, write and pool timeouts run on that same clock, so a program (or a
test) that runs its event loop on virtual time runs the whole SDK on it: retry
backoff and ``Retry-After`` waits, the total deadline of a request, poll intervals,
job deadlines, the webhook safety poll, download deadlines. For example, trio's
``trio.testing.MockClock(autojump_threshold=0)`` (``trio.run(main, clock=...)``, or
through anyio's pytest plugin ``anyio_backend = ("trio", {"clock": clock})``), or an
asyncio loop whose ``time()`` is virtual (``("asyncio", {"loop_factory": ...})``).

Wall-clock timestamps (when a request was submitted, an HTTP-date in
``Retry-After``) are dates, not durations, and are read from :mod:`datetime` where
they are used.

Reading time any other way (:func:`time.monotonic`, :func:`time.perf_counter`,
:func:`asyncio.sleep`, :func:`anyio.sleep`) is not allowed in the package; a test
(``tests/test_clock.py``) checks the source.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import sniffio

__all__ = ["clock", "now", "sleep"]


def clock() -> Callable[[], float]:
    """The running event loop's clock, as a function returning seconds (the values of
    :func:`anyio.current_time`). On asyncio it is the loop's own ``time`` method, to
    keep and call without anyio's lookup of the backend on each read (the shared
    poller reads the time several times per waiting job). Call it inside the event
    loop; the function it returns belongs to that loop.
    Raises :class:`sniffio.AsyncLibraryNotFoundError` outside an event loop."""
    if sniffio.current_async_library() == "asyncio":
        import asyncio  # already imported: the running library

        return asyncio.get_running_loop().time
    return anyio.current_time


def now() -> float:
    """The running event loop's time in seconds (:func:`anyio.current_time`).
    Raises :class:`sniffio.AsyncLibraryNotFoundError` outside an event loop."""
    return anyio.current_time()


async def sleep(seconds: float) -> None:
    """Sleep ``seconds`` (a non-positive value only yields to other tasks) on the
    event loop's clock (:func:`anyio.sleep`). Cancellable."""
    await anyio.sleep(seconds)
