"""The batch's live progress bar (rich; the ``cli`` extra)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping

from .. import _clock

__all__ = ["show_progress", "want_progress"]


def want_progress(progress: bool | None) -> bool:
    """Whether to show the bar: ``progress``, or (``None``) when stderr is a terminal
    and rich is installed. ``ValueError`` for ``True`` without rich."""
    if progress is False:
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        if progress:
            raise ValueError("progress=True needs rich: pip install 'krea-async[cli]'") from None
        return False
    return bool(progress) or sys.stderr.isatty()


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

    finished = {"downloaded", "failed", "uncertain"}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:

        def done_and_text() -> tuple[int, str]:
            by_state = counts()
            done = sum(v for k, v in by_state.items() if k in finished)
            return done, " ".join(f"{k}={v}" for k, v in sorted(by_state.items()) if v)

        # Lines finished by earlier runs start the bar, so the ETA follows this run.
        done, text = done_and_text()
        task = bar.add_task(text, total=total, completed=done)

        def refresh() -> None:
            done, text = done_and_text()
            bar.update(task, completed=done, description=text)

        try:
            while True:
                refresh()
                await _clock.sleep(0.25)
        finally:
            refresh()  # the final counts stay on screen
