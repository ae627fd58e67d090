"""The batch's progress: a live bar on a terminal (rich; the ``cli`` extra), plain
periodic lines otherwise (a log, a pipe, CI)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, TextIO

from .. import _clock

__all__ = ["FINISHED", "PLAIN_EVERY", "print_progress", "progress_mode", "show_progress"]

#: Line states that count as finished in the progress display.
FINISHED = frozenset({"downloaded", "failed", "uncertain"})
#: Seconds between two plain progress lines (no terminal).
PLAIN_EVERY = 15.0


def progress_mode(progress: bool | None) -> Literal["bar", "plain"] | None:
    """How to show progress: ``progress=False``: not at all (``None``); ``True``: the
    bar (:class:`ValueError` without rich); ``None``: the bar when stderr is a
    terminal and rich is installed, plain lines otherwise."""
    if progress is False:
        return None
    try:
        import rich  # noqa: F401
    except ImportError:
        if progress:
            raise ValueError("progress=True needs rich: pip install 'krea-async[cli]'") from None
        return "plain"
    return "bar" if progress or sys.stderr.isatty() else "plain"


def _done_and_text(by_state: Mapping[str, int]) -> tuple[int, str]:
    done = sum(v for k, v in by_state.items() if k in FINISHED)
    return done, " ".join(f"{k}={v}" for k, v in sorted(by_state.items()) if v)


async def print_progress(
    counts: Callable[[], Mapping[str, int]],
    total: int,
    *,
    every: float = PLAIN_EVERY,
    tick: Callable[[float], Awaitable[object]] = _clock.sleep,
    file: TextIO | None = None,
) -> None:
    """Plain progress lines (``batch: 12/40 finished (downloaded=10 failed=2
    pending=24 submitted=4)``) on ``file`` (default stderr): one at once, then one
    after each ``tick(every)`` (default: ``every`` seconds), until cancelled."""
    while True:
        done, text = _done_and_text(counts())
        print(f"batch: {done}/{total} finished ({text})", file=file or sys.stderr, flush=True)
        await tick(every)


async def show_progress(counts: Callable[[], Mapping[str, int]], total: int) -> None:
    """A live rich bar on stderr of ``counts()`` (lines by state) out of ``total``,
    refreshed every 0.25 s until cancelled."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        # Lines finished by earlier runs start the bar, so the ETA follows this run.
        done, text = _done_and_text(counts())
        task = bar.add_task(text, total=total, completed=done)

        def refresh() -> None:
            done, text = _done_and_text(counts())
            bar.update(task, completed=done, description=text)

        try:
            while True:
                refresh()
                await _clock.sleep(0.25)
        finally:
            refresh()  # the final counts stay on screen
