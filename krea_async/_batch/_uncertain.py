"""Uncertain submits: a ``POST`` whose answer was lost may or may not have created a
job. Krea documents no idempotency key (https://docs.krea.ai/api-reference), so the
batch never sends it again blindly: it looks the job up instead.

The look-up reads ``GET /jobs`` newest first and is bounded, since the server's
answers decide how long it runs: only jobs created inside the submit's time window
count, at most :data:`MAX_LOOKUP_PAGES` pages are read, and at most
:data:`MAX_CANDIDATES` ids are kept. A look-up that reaches the page cap ends
``unresolved``: the line keeps its state and is looked up again on the next run.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Sequence

from .. import _clock
from .._client.client import AsyncKrea
from .._errors import CLOCK_SKEW_MARGIN, KreaError
from .._models import JobPage
from .._resources._base import follow_cursor
from ._ledger import Ledger, LineState, now
from ._summary import UncertainReport

__all__ = [
    "CLOCK_SKEW_MARGIN",
    "LOOKUP_PAGE_SIZE",
    "MAX_CANDIDATES",
    "MAX_LOOKUP_PAGES",
    "SUBMIT_WINDOW",
    "resolve_uncertain",
]

#: Jobs asked for per ``GET /jobs`` page of a look-up.
LOOKUP_PAGE_SIZE = 100
#: Pages one look-up reads at most (``MAX_LOOKUP_PAGES * LOOKUP_PAGE_SIZE`` jobs):
#: a batch submits one line at a time, so its window holds far fewer jobs.
MAX_LOOKUP_PAGES = 20
#: Candidate job ids one look-up keeps: two already make the submit ambiguous; the
#: rest are listed in the report for the user to check.
MAX_CANDIDATES = 10
#: Seconds a submit left in ``submitting`` by a crash may have been in flight (its
#: end was never recorded); the end of a submit that failed is in the ledger.
SUBMIT_WINDOW = 600.0


class _PageCapReached(Exception):
    pass


def _window(row: sqlite3.Row, started: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    """When a job made by this row's submit can have been created, by Krea's clock:
    from the submit's start to its end (the ledger's last write of an ``uncertain``
    line; start + :data:`SUBMIT_WINDOW` after a crash), widened by
    :data:`CLOCK_SKEW_MARGIN` on both sides."""
    margin = _dt.timedelta(seconds=CLOCK_SKEW_MARGIN)
    since = (
        _dt.datetime.fromisoformat(row["check_since"]) if row["check_since"] else started - margin
    )
    if row["state"] == LineState.UNCERTAIN.value and row["updated_at"]:
        ended = max(started, _dt.datetime.fromisoformat(row["updated_at"]))
    else:
        ended = started + _dt.timedelta(seconds=SUBMIT_WINDOW)
    return since, ended + margin


async def _candidates(
    krea: AsyncKrea, since: _dt.datetime, until: _dt.datetime, known: set[str]
) -> tuple[str, ...]:
    """Ids of jobs created in ``[since, until]`` that ``known`` lacks (at most
    :data:`MAX_CANDIDATES`). Raises :class:`_PageCapReached` after
    :data:`MAX_LOOKUP_PAGES` pages, and what ``krea.jobs.list_page`` raises."""
    pages = 0

    async def fetch(cursor: str | None) -> JobPage:
        nonlocal pages
        if pages >= MAX_LOOKUP_PAGES:
            raise _PageCapReached
        pages += 1
        return await krea.jobs.list_page(cursor=cursor, limit=LOOKUP_PAGE_SIZE)

    found: list[str] = []
    async for job in follow_cursor(fetch):
        created = job.created_at
        if created is None or created > until:
            continue  # not this submit's (a job without a time cannot be placed)
        if created < since:
            break  # newest first: the rest is older
        if job.job_id not in known and job.job_id not in found:
            found.append(job.job_id)
            if len(found) >= MAX_CANDIDATES:
                break
    return tuple(found)


async def resolve_uncertain(
    krea: AsyncKrea,
    ledger: Ledger,
    rows: Sequence[sqlite3.Row],
    *,
    resubmit: bool,
    grace: float,
) -> tuple[list[UncertainReport], dict[str, str]]:
    """Look up the jobs that uncertain submits may have created (``GET /jobs``, read
    newest first and bounded as the module says); the latest submit first, so that
    an orphan job is matched to the latest submit that could have made it.

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
        since, until = _window(row, started)
        wait = grace - (now() - started).total_seconds()
        if wait > 0:
            await _clock.sleep(wait)
        known = ledger.known_job_ids() | assigned
        try:
            candidates = await _candidates(krea, since, until, known)
        except (KreaError, _PageCapReached) as exc:  # unknown still: the line keeps its state
            errors[name] = (
                f"looking up an uncertain submit failed: {exc}"
                if isinstance(exc, KreaError)
                else f"looking up an uncertain submit gave up after {MAX_LOOKUP_PAGES} pages "
                "of GET /jobs without reaching the submit's time"
            )
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
