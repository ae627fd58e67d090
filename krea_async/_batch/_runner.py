"""The batch runner: submits one line at a time, polls and downloads ``concurrency``
lines at once, and records every step in the ledger first.

Design notes:

- Submits are serialized (one ``POST`` in flight at a time; polling and
  downloads run ``concurrency`` lines at once). A kill can then leave at most
  one line whose submit is *uncertain*, and finding its job with
  ``GET /jobs?created_after`` is unambiguous on an account the batch has to
  itself. Krea's submit answers in well under a second, so this costs little
  next to jobs that run for seconds to minutes.
- The ledger calls are synchronous on the event loop: each is one small
  ``UPDATE``/``SELECT`` on a local WAL-mode database (tens of microseconds; with
  ``synchronous=NORMAL`` a commit does not ``fsync``). A thread hop per call
  (``anyio.to_thread``) would cost more than the call. A committed transaction
  survives the process being killed (it is in the OS page cache); only a power
  loss can drop the last commits.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from .. import _clock
from .._client.client import AsyncKrea
from .._errors import (
    APIStatusError,
    AuthenticationError,
    EndpointNotFoundError,
    InsufficientCreditsError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    KreaError,
    PermissionDeniedError,
    RateLimitError,
    UncertainSubmitError,
)
from .._models import Job
from ._files import download_files, existing_outputs
from ._ledger import LEDGER_NAME, Ledger, LineState, lock_dir, now
from ._lines import BatchLine, check_unique
from ._progress import PLAIN_EVERY, print_progress, progress_mode, show_progress
from ._summary import BatchSummary, UncertainReport
from ._uncertain import resolve_uncertain

__all__ = ["Batch"]


def _rejected(exc: APIStatusError, line: BatchLine) -> str:
    """Why the API refused a line's submit, pointing to the CLI command that shows the
    model's fields or the known models."""
    if isinstance(exc, EndpointNotFoundError):
        return f"404: no model {line.endpoint!r} (see krea-async models list)"
    text = f"{exc.status_code}: {exc.message}"
    if exc.status_code in (400, 422):
        text += f" (see krea-async models show {line.endpoint})"
    return text


class Batch:
    """A resumable batch of generations (see :mod:`krea_async.batch`).

    ``Batch(krea, lines, out_dir)``: ``lines`` from :func:`load_lines` or
    :func:`lines_from_prompts`; results go to ``out_dir`` (created), named
    ``<name><ext>`` (``<name>-<n><ext>`` when a job has several files; the
    extension comes from the file's magic bytes), and the ledger is
    ``out_dir/.krea-batch.sqlite3``.

    Options (keyword-only):

    - ``concurrency``: lines polled and downloaded at once (default 8); halved
      (down to 1) after each 429, raised by one after 20 clean submits.
    - ``resubmit_uncertain``: submit a line again when its earlier submit is
      uncertain and no single job could be matched to it (default ``False``:
      it is reported and left alone, never billed twice behind your back).
    - ``retry_failed``: submit lines that failed in an earlier run again.
    - ``poll_interval`` and ``deadline``: seconds between polls and the deadline of
      one job (passed to ``krea.jobs.wait``; defaults: the client's).
    - ``uncertain_grace``: seconds to let pass after an uncertain submit started
      before looking its job up (default 10), so that a request still in flight
      on Krea's side has created its job.
    - ``cancel_deadline``: seconds allowed for cancelling running jobs when the run
      is cancelled (default 10).
    - ``progress``: ``True``: a live rich progress bar on stderr (``pip install
      'krea-async[cli]'``); ``None`` (default): the bar when stderr is a terminal
      and rich is installed, else a plain line (``batch: 12/40 finished (...)``)
      on stderr at the start and every ``progress_every`` seconds (default 15);
      ``False``: nothing.
    - ``max_rate_limits``: consecutive 429s on one submit before the batch stops
      (default 8).

    :meth:`run` returns a :class:`BatchSummary`; it raises only for a broken
    ledger or input, or another run using the same directory
    (:class:`ValueError`, :class:`sqlite3.Error`), and re-raises a
    cancellation after cancelling the running jobs. API errors become line states
    or the summary's ``stopped``.
    """

    def __init__(
        self,
        krea: AsyncKrea,
        lines: Sequence[BatchLine],
        out_dir: str | os.PathLike[str],
        *,
        concurrency: int = 8,
        resubmit_uncertain: bool = False,
        retry_failed: bool = False,
        poll_interval: float | None = None,
        deadline: float | None = None,
        uncertain_grace: float = 10.0,
        cancel_deadline: float = 10.0,
        progress: bool | None = None,
        max_rate_limits: int = 8,
        progress_every: float = PLAIN_EVERY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        check_unique(lines)
        self.krea = krea
        self.lines = list(lines)
        self.out_dir = Path(out_dir)
        self.concurrency = concurrency
        self.resubmit_uncertain = resubmit_uncertain
        self.retry_failed = retry_failed
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.uncertain_grace = uncertain_grace
        self.cancel_deadline = cancel_deadline
        self.progress = progress
        self.progress_every = progress_every
        self.max_rate_limits = max_rate_limits
        self._ledger: Ledger | None = None
        self.summary: BatchSummary | None = None
        """The summary of the last run (also set when it was cancelled)."""
        self._reset_run_state()

    def _reset_run_state(self) -> None:
        self._submit_lock = anyio.Lock()
        self._limiter = anyio.CapacityLimiter(self.concurrency)
        self._in_flight: dict[str, str] = {}  # job id -> line name
        self._stopped: str | None = None
        self._rate_limited = 0
        self._clean_submits = 0
        self._reports: list[UncertainReport] = []
        self._errors: dict[str, str] = {}
        self._cancelled_jobs = 0
        self._interrupted = False
        self._recovered = 0

    @property
    def ledger_path(self) -> Path:
        """Where the ledger is: ``out_dir/.krea-batch.sqlite3``."""
        return self.out_dir / LEDGER_NAME

    # -- running ---------------------------------------------------------------------

    async def run(self) -> BatchSummary:
        """Run (or resume) the batch until every line is done, failed, uncertain or
        the batch stops; return a :class:`BatchSummary`."""
        self._reset_run_state()
        start = _clock.now()
        await anyio.Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        # The lock comes first: another run's downloads are its ``.part`` files.
        lock = lock_dir(self.out_dir)
        try:
            for stale in self.out_dir.glob(".*.part"):
                stale.unlink(missing_ok=True)
            ledger = self._ledger = Ledger(self.ledger_path)
        except BaseException:
            lock.close()
            raise
        try:
            on_disk = existing_outputs(self.out_dir, (ln.name for ln in self.lines))
            self._recovered = ledger.sync(self.lines, on_disk)
            try:
                await self._run_lines()
            except BaseException:
                self._interrupted = True
                with anyio.CancelScope(shield=True):
                    await self._cancel_in_flight()
                raise
            finally:
                self.summary = self._summary(_clock.now() - start)
            return self.summary
        finally:
            self._ledger = None
            ledger.close()
            lock.close()

    async def _run_lines(self) -> None:
        await self._resolve(self._db.rows(LineState.SUBMITTING, LineState.UNCERTAIN))
        done = {
            LineState.DOWNLOADED.value,
            LineState.UNCERTAIN.value,
            LineState.SUBMITTING.value,  # its look-up failed: not submitted again
        }
        if not self.retry_failed:
            done.add(LineState.FAILED.value)
        todo = [ln for ln in self.lines if self._db.row(ln.name)["state"] not in done]
        send, receive = anyio.create_memory_object_stream[BatchLine](len(todo) or 1)
        for line in todo:
            send.send_nowait(line)
        send.close()
        mode = progress_mode(self.progress)
        names = [ln.name for ln in self.lines]

        def counts() -> dict[str, int]:
            return self._db.counts(names)

        async with anyio.create_task_group() as tg:
            if mode == "bar":
                tg.start_soon(show_progress, counts, len(names))
            elif mode == "plain":
                tg.start_soon(
                    functools.partial(print_progress, every=self.progress_every), counts, len(names)
                )
            async with anyio.create_task_group() as workers:
                for _ in range(self.concurrency):
                    workers.start_soon(self._worker, receive.clone())
                receive.close()
            tg.cancel_scope.cancel()

    @property
    def _db(self) -> Ledger:
        assert self._ledger is not None
        return self._ledger

    async def _worker(self, receive: Any) -> None:
        async with receive:
            async for line in receive:
                async with self._limiter:
                    await self._handle(line)

    async def _handle(self, line: BatchLine) -> None:
        row = self._db.row(line.name)
        state = LineState(row["state"])
        if state in (LineState.SUBMITTED, LineState.COMPLETED):
            job_id: str | None = row["job_id"]
        elif state in (LineState.PENDING, LineState.CANCELLED, LineState.FAILED):
            job_id = await self._submit(line)
        else:
            return
        if job_id is None:
            return
        job = await self._wait(line, job_id)
        if job is not None:
            await self._download(line, job)

    async def _submit(self, line: BatchLine) -> str | None:
        """Submit one line (one at a time); the job id, or ``None`` if not submitted."""
        async with self._submit_lock:
            attempts = 0
            while True:
                if self._stopped is not None:
                    return None
                started = now()
                self._db.set(
                    line.name,
                    LineState.SUBMITTING,
                    submitting_at=started.isoformat(),
                    check_since=None,
                    checked=0,
                    error=None,
                    job_id=None,
                )
                try:
                    # Shielded: a cancellation cannot fall between the POST's answer
                    # and the ledger write; the job id is recorded, then cancelled.
                    with anyio.CancelScope(shield=True):
                        job = await self.krea.generate(line.endpoint, dict(line.input))
                        self._db.set(line.name, LineState.SUBMITTED, job_id=job.job_id)
                        self._in_flight[job.job_id] = line.name
                except UncertainSubmitError as exc:
                    self._db.set(
                        line.name, LineState.UNCERTAIN, check_since=exc.check_since.isoformat()
                    )
                    await self._resolve([self._db.row(line.name)])
                    row = self._db.row(line.name)
                    if row["state"] == LineState.SUBMITTED.value:
                        self._in_flight[row["job_id"]] = line.name
                        return str(row["job_id"])
                    if row["state"] == LineState.PENDING.value:
                        continue  # resubmit_uncertain
                    return None
                except RateLimitError as exc:
                    self._db.set(line.name, LineState.PENDING, submitting_at=None)
                    attempts += 1
                    self._slow_down()
                    if attempts >= self.max_rate_limits:
                        self._stopped = (
                            f"rate limited (429) {attempts} times in a row: {exc.message}"
                        )
                        return None
                    wait = exc.retry_after if exc.retry_after is not None else 2.0**attempts
                    await _clock.sleep(min(wait, 60.0))
                    continue
                except InsufficientCreditsError as exc:
                    self._db.set(line.name, LineState.PENDING, submitting_at=None)
                    self._stopped = f"insufficient credits (402): {exc.message}"
                    return None
                except (AuthenticationError, PermissionDeniedError) as exc:
                    self._db.set(line.name, LineState.PENDING, submitting_at=None)
                    self._stopped = f"{exc.status_code}: {exc.message}"
                    return None
                except APIStatusError as exc:  # 400, 404, 422: this line's input
                    reason = _rejected(exc, line)
                    self._db.set(line.name, LineState.FAILED, error=reason)
                    self._errors[line.name] = reason
                    return None
                except KreaError as exc:  # the request was not sent: nothing created
                    self._db.set(line.name, LineState.PENDING, submitting_at=None)
                    self._stopped = f"submit failed: {exc}"
                    return None
                except ValueError as exc:  # a bad endpoint or input caught before sending
                    self._db.set(line.name, LineState.FAILED, error=str(exc))
                    self._errors[line.name] = str(exc)
                    return None
                self._clean_submits += 1
                if self._clean_submits >= 20 and self._limiter.total_tokens < self.concurrency:
                    self._limiter.total_tokens = int(self._limiter.total_tokens) + 1
                    self._clean_submits = 0
                return job.job_id

    def _slow_down(self) -> None:
        self._rate_limited += 1
        self._clean_submits = 0
        self._limiter.total_tokens = max(1, int(self._limiter.total_tokens) // 2)

    async def _wait(self, line: BatchLine, job_id: str) -> Job | None:
        """Poll the job to its end; ``None`` unless it completed. A cancellation
        leaves the job in ``_in_flight``, so that the way out cancels it."""
        self._in_flight[job_id] = line.name
        try:
            job = await self.krea.jobs.wait(
                job_id, poll_interval=self.poll_interval, deadline=self.deadline
            )
        except KreaError as exc:
            self._in_flight.pop(job_id, None)
            self._wait_failed(line, job_id, exc)
            return None
        self._in_flight.pop(job_id, None)
        self._db.set(line.name, LineState.COMPLETED, error=None)
        return job

    def _wait_failed(self, line: BatchLine, job_id: str, exc: KreaError) -> None:
        if isinstance(exc, JobFailedError):
            message = exc.error_message or exc.code or str(exc)
            self._db.set(line.name, LineState.FAILED, error=message)
            self._errors[line.name] = message
        elif isinstance(exc, JobCancelledError):
            self._db.set(line.name, LineState.CANCELLED, error="cancelled remotely")
        elif isinstance(exc, JobTimeoutError):
            # Stays submitted: the next run polls it again.
            self._errors[line.name] = f"job {job_id} still running after the deadline"
        else:
            self._errors[line.name] = str(exc)
            if isinstance(exc, APIStatusError) and exc.status_code == 404:
                self._db.set(line.name, LineState.FAILED, error=str(exc))

    async def _download(self, line: BatchLine, job: Job) -> None:
        try:
            written = await download_files(self.krea, job.result.urls, self.out_dir, line.name)
        except (KreaError, OSError) as exc:
            self._errors[line.name] = f"download failed: {exc}"
            self._db.set(line.name, LineState.COMPLETED, error=f"download failed: {exc}")
            return
        self._db.set(line.name, LineState.DOWNLOADED, files=json.dumps(written), error=None)

    async def _resolve(self, rows: Sequence[sqlite3.Row]) -> None:
        reports, errors = await resolve_uncertain(
            self.krea,
            self._db,
            rows,
            resubmit=self.resubmit_uncertain,
            grace=self.uncertain_grace,
        )
        self._reports += reports
        self._errors.update(errors)

    # -- cancellation ----------------------------------------------------------------

    async def _cancel_in_flight(self) -> None:
        """Cancel the remote jobs still running (shielded by the caller, bounded)."""
        if not self._in_flight or self._ledger is None:
            return
        jobs = dict(self._in_flight)

        async def cancel(job_id: str, name: str) -> None:
            try:
                job = await self.krea.jobs.cancel(job_id)
            except KreaError:
                return  # stays submitted: the next run polls it
            if job.status.value == "completed":
                self._db.set(name, LineState.COMPLETED)
            elif job.status.value in ("cancelled", "failed"):
                self._db.set(name, LineState.CANCELLED, error="cancelled by the batch")
                self._cancelled_jobs += 1
            # else it runs on (the cancel did not take): it stays submitted, polled next run

        with anyio.move_on_after(self.cancel_deadline):
            async with anyio.create_task_group() as tg:
                for job_id, name in jobs.items():
                    tg.start_soon(cancel, job_id, name)

    # -- reporting -------------------------------------------------------------------

    def _summary(self, elapsed: float) -> BatchSummary:
        counts = self._db.counts(ln.name for ln in self.lines) if self._ledger else {}
        return BatchSummary(
            counts=counts,
            total=len(self.lines),
            elapsed=elapsed,
            stopped=self._stopped,
            interrupted=self._interrupted,
            cancelled_jobs=self._cancelled_jobs,
            rate_limited=self._rate_limited,
            concurrency=int(self._limiter.total_tokens),
            uncertain=tuple(self._reports),
            errors=dict(self._errors),
            failures=self._db.failures() if self._ledger else {},
            recovered=self._recovered,
        )
