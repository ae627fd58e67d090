"""The batch ledger: one SQLite row per line, written before and after each step, and
the lock that keeps two runs out of one directory."""

from __future__ import annotations

import datetime as _dt
import enum
import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from ._lines import BatchLine

__all__ = ["LEDGER_NAME", "Ledger", "LineState", "lock_dir", "now", "read_failures"]

#: File name of the ledger inside the output directory.
LEDGER_NAME = ".krea-batch.sqlite3"


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


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover (directories cannot be synced on some systems)
        pass
    finally:
        os.close(fd)


def _create(path: Path) -> None:
    """Make an empty ledger (its tables) under a temporary name, flush it to disk and
    rename it into place, so that no crash leaves a ledger file that exists but is
    empty: an empty file would read as a new batch and submit every line again."""
    tmp = path.with_name(f"{path.name}.new")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.executescript(_SCHEMA)
    finally:
        db.close()
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


class Ledger:
    """The SQLite ledger (one connection, used from the event loop thread).

    Opening it creates it when missing (atomically, see :func:`_create`); raises
    :class:`ValueError` when the file exists but is empty (truncated: which lines
    were submitted is lost, so a run would bill them again) and
    :class:`sqlite3.Error` when it is not a ledger."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            _create(path)
        elif path.stat().st_size == 0:
            raise ValueError(
                f"the batch ledger {path} is empty (truncated?): which lines were already "
                "submitted is lost, and running again would submit (and bill) them again. "
                "Delete it to rebuild it from the results in the directory (lines with a "
                "result file are kept; the others are submitted again, including any that "
                "were running), or use a new output directory"
            )
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: 1 statement = 1 txn
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def sync(
        self, lines: Sequence[BatchLine], on_disk: Mapping[str, Sequence[str]] | None = None
    ) -> int:
        """Insert new lines as pending; refuse lines whose input changed. In a ledger
        that holds no line yet (new, or rebuilt next to earlier results), a line
        whose result files ``on_disk`` names is inserted as downloaded instead.
        Answers how many lines were found on disk."""
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
        # Only a ledger with no line rebuilds from the disk: lines added to a known
        # batch are new work, whatever files happen to carry their names.
        found = (on_disk or {}) if not known else {}
        stamp = now().isoformat()
        rows = []
        for ln in fresh:
            files = found.get(ln.name)
            state = LineState.DOWNLOADED if files else LineState.PENDING
            names = json.dumps(list(files)) if files else None
            rows.append((ln.name, ln.index, ln.fingerprint, state.value, names, stamp))
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO lines (name, idx, fingerprint, state, files, updated_at) "
                "VALUES (?,?,?,?,?,?)",
                rows,
            )
        return sum(1 for ln in fresh if found.get(ln.name))

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

    def failures(self) -> dict[str, str]:
        """Every failed line's reason, by line name, in input order (this run's and
        earlier runs')."""
        return _failures(self.db)

    def known_job_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT job_id FROM jobs")}

    def set(self, name: str, state: LineState, **fields: Any) -> None:
        fields["state"] = state.value
        fields["updated_at"] = now().isoformat()
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


def _failures(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute(
        "SELECT name, error FROM lines WHERE state=? ORDER BY idx", (LineState.FAILED.value,)
    )
    return {str(name): str(error or "failed") for name, error in rows}


def read_failures(out_dir: Path) -> dict[str, str]:
    """The failed lines of the batch in ``out_dir`` and their reasons, by line name in
    input order, read without writing (a running batch may hold the directory).
    Raises :class:`ValueError` when ``out_dir`` holds no ledger and
    :class:`sqlite3.Error` when it is not one."""
    path = out_dir / LEDGER_NAME
    if not path.is_file() or path.stat().st_size == 0:
        raise ValueError(f"no batch ledger in {out_dir} ({LEDGER_NAME})")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return _failures(db)
    finally:
        db.close()


def lock_dir(out_dir: Path) -> IO[bytes]:
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
