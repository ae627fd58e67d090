"""Output: JSON and tables on stdout, progress lines on stderr, following a job
(``krea.jobs.wait``) and saving its results (``krea.download``)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio

from .. import AsyncKrea, Job, JobStatus, KreaError
from .._clock import now
from ._errors import fail
from ._runtime import Settings
from ._safe_text import echo, safe_text
from ._sdk import wait

#: Bound in seconds on the status check after an interrupted wait.
_CHECK_SECONDS = 5.0


def echo_json(data: object) -> None:
    """Print ``data`` as indented JSON on stdout."""
    echo(json.dumps(data, indent=2, sort_keys=False, default=str), multiline=True)


def job_json(job: Job) -> Mapping[str, Any]:
    """The job as Krea sent it (or its id and status when nothing was kept)."""
    if job.raw:
        return job.raw
    return {"job_id": job.job_id, "status": str(job.status)}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a left-aligned table with a header row on stdout (cells made safe)."""
    rows = [tuple(safe_text(cell) for cell in row) for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for row in [tuple(headers), *rows]:
        echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


class Progress:
    """Prints one stderr line per status change: ``  0.4s  processing``."""

    def __init__(self) -> None:
        self.start = now()
        self.last: JobStatus | None = None

    def update(self, job: Job) -> None:
        """Print ``job``'s status with the elapsed seconds, if it changed."""
        if job.status == self.last:
            return
        self.last = job.status
        elapsed = now() - self.start
        line = f"{elapsed:6.1f}s  {job.status}"
        eta = job.raw.get("estimated_time") if job.raw else None
        if isinstance(eta, str) and not job.is_terminal:
            line += f"  (estimated {eta})"
        echo(line, err=True)


async def follow(
    krea: AsyncKrea,
    settings: Settings,
    job_id: str,
    *,
    interval: float,
    deadline: float | None,
    progress: Progress,
    as_json: bool = False,
    first: Job | None = None,
) -> Job:
    """``krea.jobs.wait`` printing each status change; the job is cancelled if left early.

    ``first`` is the state the submit returned (printed first). Returns the
    completed job. A failed or cancelled job raises the SDK's
    :class:`~krea_async.JobFailedError` / :class:`~krea_async.JobCancelledError`
    (printed first as JSON with ``as_json``). When interrupted, anywhere in here,
    the job is cancelled unless it is terminal (``krea.jobs.wait`` cancels it when
    the interruption reaches it; on trio a Ctrl-C can also land between two polls,
    outside the SDK), shielded and bounded by 5 s, so the message can say whether
    it was.
    """
    settings.current_job = job_id
    try:
        if first is not None:
            progress.update(first)
        final = await wait(
            krea,
            job_id,
            poll_interval=interval,
            deadline=deadline,
            on_queue_update=progress.update,
        )
    except KreaError as exc:
        job = getattr(exc, "job", None)
        if isinstance(job, Job) and job.is_terminal:
            settings.current_job = None
            if as_json:
                echo_json(job_json(job))
        raise
    except BaseException:  # interrupted (Ctrl-C, cancellation)
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CHECK_SECONDS):
            await _settle(krea, settings, job_id)
        raise
    settings.current_job = None  # nothing left to cancel on Ctrl-C
    if as_json:
        echo_json(job_json(final))
    return final


async def _settle(krea: AsyncKrea, settings: Settings, job_id: str) -> None:
    """After an interruption: cancel the job unless it is terminal, and record
    whether it is now cancelled (``settings.cancelled_remote``)."""
    try:
        job: Job | None = await krea.jobs.get(job_id)
        if job is not None and not job.is_terminal:
            job = await krea.jobs.cancel(job_id)  # its state after the cancel
    except KreaError:
        return
    settings.cancelled_remote = job is None or job.status is JobStatus.CANCELLED
    if job is not None and job.is_terminal and not settings.cancelled_remote:
        settings.current_job = None  # finished anyway: nothing to cancel


def check_output(out: str | None) -> None:
    """Refuse an ``-o`` whose directory is missing, before any job is submitted.

    ``-o dir/file.png`` needs ``dir`` to exist; ``-o out/`` (a directory target)
    may create ``out`` itself but not its parents. A missing directory is a usage
    error (exit 2); one that cannot be read (a file in the way) exit 1.
    """
    if out is None:
        return
    parent = Path(out).parent
    try:
        os.stat(parent)
    except FileNotFoundError:
        fail(f"-o {out}: directory {str(parent)!r} does not exist (create it first)", 2)
    except OSError as exc:  # e.g. a file in the way: "Not a directory"
        fail(f"-o {out}: cannot access {str(parent)!r}: {exc.strerror or exc}", 1)
    if not parent.is_dir():
        fail(f"-o {out}: {str(parent)!r} is not a directory", 1)


async def save(krea: AsyncKrea, job: Job, out: str | None) -> list[Path]:
    """Download every result URL of ``job`` with ``krea.download_all`` (the SDK's one
    rule for result files: no API key is sent, each file is written to a ``.part``
    file and renamed) and return the paths.

    ``out`` (``-o``) is a directory when it exists, ends with ``/`` or has no
    extension: ``<job_id><ext>`` (several results: ``<job_id>-<n><ext>``), the job
    id made safe and the extension from the file's first bytes, whatever the server
    sends. Otherwise it is the user's file name, kept as given (several results:
    ``out-0.png``, ``out-1.png``). Without ``-o``: the current directory. Only the
    last directory of ``-o`` is created (:func:`check_output` checked its parent).
    """
    urls = job.result.urls
    if not urls:
        fail(f"job {job.job_id} completed without result URLs", 1)
    return await krea.download_all(urls, out if out is not None else Path.cwd(), job.job_id)
