"""Uncertain submits: a ``POST`` whose answer was lost may or may not have created a
job. Krea documents no idempotency key (https://docs.krea.ai/api-reference), so the
batch never sends it again blindly: it looks the job up instead."""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Sequence

from .. import _clock
from .._client.client import AsyncKrea
from .._errors import KreaError
from ._ledger import Ledger, LineState, now
from ._summary import UncertainReport

__all__ = ["CLOCK_SKEW_MARGIN", "resolve_uncertain"]

#: Seconds subtracted from a submit's start time when looking for the job it may
#: have created, for clock skew between this machine and Krea.
CLOCK_SKEW_MARGIN = 60.0


async def resolve_uncertain(
    krea: AsyncKrea,
    ledger: Ledger,
    rows: Sequence[sqlite3.Row],
    *,
    resubmit: bool,
    grace: float,
) -> tuple[list[UncertainReport], dict[str, str]]:
    """Look up the jobs that uncertain submits may have created (``GET /jobs``, via
    ``krea.jobs.list(created_after=...)``); newest first, so that an orphan job is
    matched to the latest submit that could have made it.

    Each row's line becomes ``submitted`` (exactly one unknown job: adopted),
    ``pending`` (``resubmit``) or stays ``uncertain``; ``grace`` seconds after the
    submit started are let pass first. Answers the reports and, by line name, the
    look-ups that failed (those lines keep their state)."""
    reports: list[UncertainReport] = []
    errors: dict[str, str] = {}
    pending = [r for r in rows if not (r["checked"] and not resubmit)]
    pending.sort(key=lambda r: r["submitting_at"] or "", reverse=True)
    assigned: set[str] = set()
    for row in pending:
        name = row["name"]
        if row["checked"]:  # looked up before, nothing matched; the user opted in
            ledger.set(name, LineState.PENDING)
            continue
        started = _dt.datetime.fromisoformat(row["submitting_at"] or now().isoformat())
        since = (
            _dt.datetime.fromisoformat(row["check_since"])
            if row["check_since"]
            else started - _dt.timedelta(seconds=CLOCK_SKEW_MARGIN)
        )
        wait = grace - (now() - started).total_seconds()
        if wait > 0:
            await _clock.sleep(wait)
        known = ledger.known_job_ids() | assigned
        try:
            candidates = tuple(
                [
                    j.job_id
                    async for j in krea.jobs.list(created_after=since)
                    if j.job_id not in known
                ]
            )
        except KreaError as exc:  # unknown still: the line keeps its state
            errors[name] = f"looking up an uncertain submit failed: {exc}"
            reports.append(
                UncertainReport(name=name, since=since, candidates=(), action="unresolved")
            )
            continue
        if len(candidates) == 1:
            action = "adopted"
            assigned.add(candidates[0])
            ledger.set(name, LineState.SUBMITTED, job_id=candidates[0], checked=1)
        elif resubmit:
            action = "resubmit"
            ledger.set(name, LineState.PENDING, checked=1)
        else:
            action = "left"
            ledger.set(
                name,
                LineState.UNCERTAIN,
                checked=1,
                check_since=since.isoformat(),
                error=f"uncertain submit; candidates: {', '.join(candidates) or 'none'}",
            )
        reports.append(
            UncertainReport(name=name, since=since, candidates=candidates, action=action)
        )
    return reports, errors
