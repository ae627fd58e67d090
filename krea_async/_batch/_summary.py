"""What a batch run reports: its summary line and the look-ups of uncertain submits."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

import attrs

from ._ledger import LineState

__all__ = ["BatchSummary", "UncertainReport"]


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
    error message for the lines that failed or hit a problem in this run
    (failed, timed out, a download or look-up that failed); ``failures``: every
    line of the ledger in the ``failed`` state (this run's and earlier runs') and
    its reason, in input order; ``recovered``: lines new to the
    ledger whose result files were already in the directory (a ledger rebuilt
    next to earlier results), recorded as downloaded without a submit.
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
    failures: Mapping[str, str] = attrs.field(factory=dict)
    recovered: int = 0

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
        if self.recovered:
            text += f"; {self.recovered} found already downloaded (ledger rebuilt)"
        if self.rate_limited:
            text += f"; rate limited {self.rate_limited}x (429), concurrency {self.concurrency}"
        if self.interrupted:
            text += f"; interrupted: {self.cancelled_jobs} running job(s) cancelled"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text
