"""Resumable batch generation: many jobs, a SQLite ledger, downloads as they finish.

::

    from krea_async import AsyncKrea
    from krea_async._batch import Batch, load_lines

    async with AsyncKrea() as krea:
        lines = load_lines("prompts.jsonl", default_endpoint="image/bfl/flux-1-dev")
        summary = await Batch(krea, lines, "out/", concurrency=8).run()
        print(summary.line())

Each line is one job (``POST /generate/...``, https://docs.krea.ai/api-reference),
polled with ``GET /jobs/{id}`` and its result files downloaded into the output
directory as soon as it completes. Every line's state is kept in
``<out>/.krea-batch.sqlite3`` *before* and *after* its submit, so a run killed at
any point (``SIGKILL`` included) and started again with the same lines resumes
without submitting (and paying for) a line twice. See ``docs/content/batch.md``.

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

import datetime as _dt
import enum
import hashlib
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import anyio
import attrs

from ._client import AsyncKrea
from ._errors import (
    APIStatusError,
    AuthenticationError,
    InsufficientCreditsError,
    JobCancelledError,
    JobFailedError,
    JobTimeoutError,
    KreaError,
    PermissionDeniedError,
    RateLimitError,
    UncertainSubmitError,
)
from ._models import Job

__all__ = [
    "LEDGER_NAME",
    "Batch",
    "BatchLine",
    "BatchSummary",
    "LineState",
    "UncertainReport",
    "load_lines",
    "lines_from_prompts",
    "safe_name",
]

#: File name of the ledger inside the output directory.
LEDGER_NAME = ".krea-batch.sqlite3"

#: Seconds subtracted from a submit's start time when looking for the job it may
#: have created, for clock skew between this machine and Krea.
CLOCK_SKEW_MARGIN = 60.0

_MAX_NAME = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10))}
_RESERVED |= {f"lpt{i}" for i in range(10)}


class LineState(str, enum.Enum):
    """A line's state in the ledger.

    ``pending`` (not submitted), ``submitting`` (written just before the
    ``POST``), ``submitted`` (the job id is known), ``uncertain`` (the submit may
    have created a job, and none could be matched to it), ``completed`` (the job
    completed; files not all downloaded yet), ``downloaded`` (done), ``failed``
    (the job failed or the API rejected the input), ``cancelled`` (cancelled by
    this batch on Ctrl-C or remotely; submitted again by the next run).
    """

    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    UNCERTAIN = "uncertain"
    COMPLETED = "completed"
    DOWNLOADED = "downloaded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class BatchLine:
    """One job of a batch.

    - ``name``: the file name stem of its outputs (safe: see :func:`safe_name`)
      and its key in the ledger; unique within a batch.
    - ``endpoint``: e.g. ``"image/bfl/flux-1-dev"`` (see ``AsyncKrea.generate``).
    - ``input``: the JSON body of the submit.
    - ``index``: its 0-based position in the input.
    """

    name: str
    endpoint: str
    input: Mapping[str, Any]
    index: int

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the endpoint and input: a changed line is detected on resume."""
        blob = json.dumps([self.endpoint, self.input], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def safe_name(raw: str) -> str:
    """A file name stem made from a user-given line id.

    Keeps ``A-Z a-z 0-9 . _ -``, replaces runs of anything else (and ``..``)
    with one ``_``, strips dots, dashes and underscores at both ends, cuts to 100
    characters and prefixes
    Windows device names (``con``, ``nul``...). Raises :class:`ValueError` if
    nothing is left.
    """
    name = re.sub(r"_+", "_", re.sub(r"\.{2,}", "_", _UNSAFE.sub("_", raw)))
    name = name.strip("._-")[:_MAX_NAME].rstrip("._-")
    if not name:
        raise ValueError(f"line id {raw!r} gives no usable file name")
    if name.split(".")[0].lower() in _RESERVED:
        name = f"_{name}"[:_MAX_NAME]
    return name


def _index_name(index: int) -> str:
    return f"{index:06d}"


def _check_unique(lines: Sequence[BatchLine]) -> None:
    seen: dict[str, int] = {}
    for line in lines:
        key = line.name.lower()  # case-insensitive file systems
        if key in seen:
            raise ValueError(
                f"lines {seen[key]} and {line.index} both write files named {line.name!r}: "
                "give them distinct ids"
            )
        seen[key] = line.index


def lines_from_prompts(
    prompts: Iterable[str], endpoint: str, *, input: Mapping[str, Any] | None = None
) -> list[BatchLine]:
    """One line per prompt on ``endpoint``; ``input`` holds extra fields for every
    line (e.g. ``{"width": 1024}``). Lines are named by index (``000000``...)."""
    base = dict(input or {})
    return [
        BatchLine(name=_index_name(i), endpoint=endpoint, input={**base, "prompt": p}, index=i)
        for i, p in enumerate(prompts)
    ]


def load_lines(
    path: str | os.PathLike[str], *, default_endpoint: str | None = None
) -> list[BatchLine]:
    """Read a batch file.

    A ``.txt`` file holds one prompt per non-empty line (``default_endpoint``
    needed). Otherwise each non-empty line is JSON: ``{"endpoint": ..., "input":
    {...}, "id": ...}`` (``id`` optional), ``{"prompt": ..., "id": ..., ...}``
    (the other keys are input fields; ``default_endpoint``), or a JSON string (a
    prompt). Outputs are named from ``id`` (through :func:`safe_name`) or from the
    line's 0-based index. Raises :class:`ValueError` naming the line for a
    malformed line, a missing endpoint, or two lines with the same name.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    raw_lines = [ln for ln in text.splitlines() if ln.strip()]
    if file.suffix.lower() == ".txt":
        if default_endpoint is None:
            raise ValueError("a prompt list needs a default model (--model / default_endpoint)")
        lines = lines_from_prompts((ln.strip() for ln in raw_lines), default_endpoint)
        _check_unique(lines)
        return lines
    lines = []
    for index, raw in enumerate(raw_lines):
        where = f"{file.name}, line {index + 1}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from None
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a JSON object or string")  # noqa: TRY004
        line_id = item.pop("id", None)
        if line_id is not None and not isinstance(line_id, (str, int)):
            raise ValueError(f"{where}: 'id' must be a string or an integer")
        endpoint = item.pop("endpoint", None) or default_endpoint
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"{where}: no 'endpoint' and no default model given")
        body = item.pop("input", None)
        if body is None:
            body = item
        elif item:
            raise ValueError(f"{where}: unexpected keys next to 'input': {sorted(item)}")
        if not isinstance(body, dict):
            raise ValueError(f"{where}: 'input' must be a JSON object")  # noqa: TRY004
        try:
            name = _index_name(index) if line_id is None else safe_name(str(line_id))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        lines.append(BatchLine(name=name, endpoint=endpoint, input=body, index=index))
    _check_unique(lines)
    return lines


@attrs.frozen(kw_only=True)
class UncertainReport:
    """What the look-up of an uncertain submit found (``GET /jobs``).

    ``name``: the line; ``since``: the start of the search (aware UTC);
    ``candidates``: ids of jobs created since then that no line of the ledger
    knows; ``action``: ``"adopted"`` (exactly one candidate: the line now follows
    that job), ``"resubmit"`` (``resubmit_uncertain=True``), ``"left"`` (still
    uncertain; not submitted again) or ``"unresolved"`` (``GET /jobs`` failed;
    looked up again on the next run).
    """

    name: str
    since: _dt.datetime
    candidates: tuple[str, ...]
    action: str

    def __str__(self) -> str:
        found = ", ".join(self.candidates) or "none"
        what = {
            "adopted": "adopted that job",
            "resubmit": "submitting it again (resubmit_uncertain)",
            "left": "left uncertain, NOT submitted again (use --resubmit-uncertain)",
            "unresolved": "the look-up failed; left as it was, to be looked up on the next run",
        }[self.action]
        return (
            f"line {self.name}: submit may have created a job; jobs created since "
            f"{self.since.isoformat()} unknown to the ledger: {found}; {what}"
        )


@attrs.frozen(kw_only=True)
class BatchSummary:
    """The outcome of :meth:`Batch.run`.

    ``counts``: lines per :class:`LineState` value; ``total``: lines;
    ``elapsed``: seconds; ``stopped``: why the batch stopped early (a 402, a
    401/403, a connection failure, repeated 429s) or ``None``; ``interrupted``:
    ``True`` when the run was cancelled (Ctrl-C); ``cancelled_jobs``: remote jobs
    cancelled on the way out; ``rate_limited``: 429 answers seen;
    ``concurrency``: the concurrency at the end (lowered by 429s);
    ``uncertain``: the look-ups of uncertain submits; ``errors``: line name to
    error message for failed lines of this run.
    """

    counts: Mapping[str, int]
    total: int
    elapsed: float
    stopped: str | None = None
    interrupted: bool = False
    cancelled_jobs: int = 0
    rate_limited: int = 0
    concurrency: int = 0
    uncertain: tuple[UncertainReport, ...] = ()
    errors: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """``True`` when every line is downloaded."""
        return self.counts.get(LineState.DOWNLOADED.value, 0) == self.total

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        c = self.counts
        parts = [f"{c.get('downloaded', 0)}/{self.total} downloaded"]
        for state in ("failed", "uncertain", "cancelled", "completed", "submitted", "pending"):
            if c.get(state):
                label = {
                    "completed": "completed, not downloaded",
                    "submitted": "running",
                    "pending": "not submitted",
                }.get(state, state)
                parts.append(f"{c[state]} {label}")
        text = ", ".join(parts) + f" in {self.elapsed:.1f} s"
        if self.rate_limited:
            text += f"; rate limited {self.rate_limited}x (429), concurrency {self.concurrency}"
        if self.interrupted:
            text += f"; interrupted: {self.cancelled_jobs} running job(s) cancelled"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


_SCHEMA = """
CREATE TABLE IF NOT EXISTS lines (
    name TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    job_id TEXT,
    submitting_at TEXT,
    check_since TEXT,
    checked INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    files TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
"""


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class _Ledger:
    """The SQLite ledger (one connection, used from the event loop thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: 1 statement = 1 txn
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def sync(self, lines: Sequence[BatchLine]) -> None:
        """Insert new lines as pending; refuse lines whose input changed."""
        known = {
            r["name"]: r["fingerprint"]
            for r in self.db.execute("SELECT name, fingerprint FROM lines")
        }
        fresh = []
        for line in lines:
            old = known.get(line.name)
            if old is None:
                fresh.append(line)
            elif old != line.fingerprint:
                raise ValueError(
                    f"line {line.name!r} differs from the one recorded in {self.path}: "
                    "use a new output directory for a changed batch"
                )
        now = _now().isoformat()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO lines (name, idx, fingerprint, state, updated_at) VALUES (?,?,?,?,?)",
                [(ln.name, ln.index, ln.fingerprint, LineState.PENDING.value, now) for ln in fresh],
            )

    def row(self, name: str) -> sqlite3.Row:
        row: sqlite3.Row = self.db.execute("SELECT * FROM lines WHERE name=?", (name,)).fetchone()
        return row

    def rows(self, *states: LineState) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(states))
        return list(
            self.db.execute(
                f"SELECT * FROM lines WHERE state IN ({marks}) ORDER BY submitting_at",  # noqa: S608
                [s.value for s in states],
            )
        )

    def counts(self, names: Iterable[str]) -> dict[str, int]:
        wanted = set(names)
        out: dict[str, int] = {}
        for r in self.db.execute("SELECT name, state FROM lines"):
            if r["name"] in wanted:
                out[r["state"]] = out.get(r["state"], 0) + 1
        return out

    def known_job_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT job_id FROM jobs")}

    def set(self, name: str, state: LineState, **fields: Any) -> None:
        fields["state"] = state.value
        fields["updated_at"] = _now().isoformat()
        cols = ", ".join(f"{k}=?" for k in fields)
        job_id = fields.get("job_id")
        with self.db:
            self.db.execute("BEGIN")
            if job_id:
                self.db.execute(
                    "INSERT OR IGNORE INTO jobs (job_id, name) VALUES (?, ?)", (job_id, name)
                )
            self.db.execute(
                f"UPDATE lines SET {cols} WHERE name=?",  # noqa: S608 (column names are ours)
                [*fields.values(), name],
            )


def _lock_dir(out_dir: Path) -> IO[bytes]:
    """Hold ``out_dir/.krea-batch.lock`` (``flock``; released by the OS even on
    ``SIGKILL``) so that two runs never share a ledger. No-op where ``fcntl`` is
    missing (Windows). Raises :class:`ValueError` when another run holds it."""
    handle = (out_dir / ".krea-batch.lock").open("a+b")
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows)
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(f"another batch is running in {out_dir}") from None
    return handle


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"GIF8", 0, ".gif"),
    (b"WEBP", 8, ".webp"),
    (b"ftyp", 4, ".mp4"),
    (b"\x1a\x45\xdf\xa3", 0, ".webm"),
)


def _sniff(head: bytes) -> str:
    """A file extension from the file's first bytes (never from server names)."""
    for magic, offset, ext in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return ext
    return ".bin"


class Batch:
    """A resumable batch of generations (see :mod:`krea_async._batch`).

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
    - ``cancel_timeout``: seconds allowed for cancelling running jobs when the run
      is cancelled (default 10).
    - ``progress``: show a live rich progress bar on stderr (``None``: when stderr
      is a terminal and rich is installed; ``pip install 'krea-async[cli]'``).
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
        cancel_timeout: float = 10.0,
        progress: bool | None = None,
        max_rate_limits: int = 8,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        _check_unique(lines)
        self.krea = krea
        self.lines = list(lines)
        self.out_dir = Path(out_dir)
        self.concurrency = concurrency
        self.resubmit_uncertain = resubmit_uncertain
        self.retry_failed = retry_failed
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.uncertain_grace = uncertain_grace
        self.cancel_timeout = cancel_timeout
        self.progress = progress
        self.max_rate_limits = max_rate_limits
        self._ledger: _Ledger | None = None
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

    @property
    def ledger_path(self) -> Path:
        """Where the ledger is: ``out_dir/.krea-batch.sqlite3``."""
        return self.out_dir / LEDGER_NAME

    # -- running ---------------------------------------------------------------------

    async def run(self) -> BatchSummary:
        """Run (or resume) the batch until every line is done, failed, uncertain or
        the batch stops; return a :class:`BatchSummary`."""
        self._reset_run_state()
        start = time.monotonic()
        await anyio.Path(self.out_dir).mkdir(parents=True, exist_ok=True)
        for stale in self.out_dir.glob(".*.part"):
            stale.unlink(missing_ok=True)
        lock = _lock_dir(self.out_dir)
        try:
            ledger = self._ledger = _Ledger(self.ledger_path)
        except BaseException:
            lock.close()
            raise
        try:
            ledger.sync(self.lines)
            try:
                await self._run_lines()
            except BaseException:
                self._interrupted = True
                with anyio.CancelScope(shield=True):
                    await self._cancel_in_flight()
                raise
            finally:
                self.summary = self._summary(time.monotonic() - start)
            return self.summary
        finally:
            self._ledger = None
            ledger.close()
            lock.close()

    async def _run_lines(self) -> None:
        await self._resolve_uncertain(self._db.rows(LineState.SUBMITTING, LineState.UNCERTAIN))
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
        show = self._want_progress()
        async with anyio.create_task_group() as tg:
            if show:
                tg.start_soon(self._show_progress)
            async with anyio.create_task_group() as workers:
                for _ in range(self.concurrency):
                    workers.start_soon(self._worker, receive.clone())
                receive.close()
            tg.cancel_scope.cancel()

    @property
    def _db(self) -> _Ledger:
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
                started = _now()
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
                    await self._resolve_uncertain([self._db.row(line.name)])
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
                    await anyio.sleep(min(wait, 60.0))
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
                    self._db.set(line.name, LineState.FAILED, error=str(exc))
                    self._errors[line.name] = str(exc)
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
            # Old names (interval=, timeout=) until the rename to poll_interval= and
            # deadline= lands in jobs.wait.
            job = await self.krea.jobs.wait(
                job_id, interval=self.poll_interval, timeout=self.deadline
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
            message = (exc.job.result.error_message if exc.job else None) or str(exc)
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
        urls = job.result.urls
        written: list[str] = []
        try:
            for n, url in enumerate(urls):
                stem = line.name if len(urls) == 1 else f"{line.name}-{n}"
                part = self.out_dir / f".{stem}.part"
                await self.krea.download(url, part)
                async with await anyio.open_file(part, "rb") as f:
                    head = await f.read(16)
                final = self.out_dir / f"{stem}{_sniff(head)}"
                await anyio.Path(part).replace(final)
                written.append(final.name)
        except (KreaError, OSError) as exc:
            self._errors[line.name] = f"download failed: {exc}"
            self._db.set(line.name, LineState.COMPLETED, error=f"download failed: {exc}")
            return
        self._db.set(line.name, LineState.DOWNLOADED, files=json.dumps(written), error=None)

    # -- uncertain submits ---------------------------------------------------------------

    async def _resolve_uncertain(self, rows: Sequence[sqlite3.Row]) -> None:
        """Look up jobs that uncertain submits may have created; newest first, so that
        an orphan job is matched to the latest submit that could have made it."""
        pending = [r for r in rows if not (r["checked"] and not self.resubmit_uncertain)]
        pending.sort(key=lambda r: r["submitting_at"] or "", reverse=True)
        assigned: set[str] = set()
        for row in pending:
            name = row["name"]
            if row["checked"]:  # looked up before, nothing matched; the user opted in
                self._db.set(name, LineState.PENDING)
                continue
            started = _dt.datetime.fromisoformat(row["submitting_at"] or _now().isoformat())
            since = (
                _dt.datetime.fromisoformat(row["check_since"])
                if row["check_since"]
                else started - _dt.timedelta(seconds=CLOCK_SKEW_MARGIN)
            )
            wait = self.uncertain_grace - (_now() - started).total_seconds()
            if wait > 0:
                await anyio.sleep(wait)
            known = self._db.known_job_ids() | assigned
            try:
                candidates = tuple(
                    [
                        j.job_id
                        async for j in self.krea.jobs.list(created_after=since)
                        if j.job_id not in known
                    ]
                )
            except KreaError as exc:  # unknown still: the line keeps its state
                self._errors[name] = f"looking up an uncertain submit failed: {exc}"
                self._reports.append(
                    UncertainReport(name=name, since=since, candidates=(), action="unresolved")
                )
                continue
            if len(candidates) == 1:
                action = "adopted"
                assigned.add(candidates[0])
                self._db.set(name, LineState.SUBMITTED, job_id=candidates[0], checked=1)
            elif self.resubmit_uncertain:
                action = "resubmit"
                self._db.set(name, LineState.PENDING, checked=1)
            else:
                action = "left"
                self._db.set(
                    name,
                    LineState.UNCERTAIN,
                    checked=1,
                    check_since=since.isoformat(),
                    error=f"uncertain submit; candidates: {', '.join(candidates) or 'none'}",
                )
            self._reports.append(
                UncertainReport(name=name, since=since, candidates=candidates, action=action)
            )

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
            if job is not None and job.status.value == "completed":
                self._db.set(name, LineState.COMPLETED)
            else:
                self._db.set(name, LineState.CANCELLED, error="cancelled by the batch")
                self._cancelled_jobs += 1

        with anyio.move_on_after(self.cancel_timeout):
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
        )

    def _want_progress(self) -> bool:
        if self.progress is False:
            return False
        try:
            import rich  # noqa: F401
        except ImportError:
            if self.progress:
                raise ValueError(
                    "progress=True needs rich: pip install 'krea-async[cli]'"
                ) from None
            return False
        return bool(self.progress) or sys.stderr.isatty()

    async def _show_progress(self) -> None:
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
        names = [ln.name for ln in self.lines]
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
                counts = self._db.counts(names)
                done = sum(v for k, v in counts.items() if k in finished)
                return done, " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v)

            # Lines finished by earlier runs start the bar, so the ETA follows this run.
            done, text = done_and_text()
            task = bar.add_task(text, total=len(names), completed=done)

            def refresh() -> None:
                done, text = done_and_text()
                bar.update(task, completed=done, description=text)

            try:
                while True:
                    refresh()
                    await anyio.sleep(0.25)
            finally:
                refresh()  # the final counts stay on screen
