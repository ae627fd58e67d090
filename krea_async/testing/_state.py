"""The fake's state: job simulation on an injectable clock, ledger, billing and
webhooks (assets, styles and node apps are in ``_catalog.py``). Everything here is synchronous and
guarded by one lock (a re-entrant :class:`threading.RLock`, so a test may drive
the fake from another thread than the server's); the HTTP layer is in ``_routes/``.

The job clock is lazy: nothing runs in the background. Each access first
replays every transition due by ``clock()`` (a job finishing frees a
concurrency slot at its finishing time, which starts the oldest backlogged job
at that same time), so the outcome depends only on the clock, in-process or
under uvicorn, on asyncio or trio.
"""

from __future__ import annotations

import collections
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from ._catalog import Catalog, StyleRecord
from ._deprecations import ModelLifecycle, krea_sunsets
from ._outcomes import FailureRule, failure_detail, time_out_of
from ._records import STATUSES, TERMINAL, LedgerEntry, Outcome, ScriptRule, WebhookDelivery
from ._util import ApiError, Clock, dt_of, iso, paginate, parse_cursor, parse_limit, us

__all__ = ["CANCELLABLE", "State"]

#: The statuses in which ``DELETE /jobs/{id}`` cancels a job (job-lifecycle page).
CANCELLABLE = frozenset({"queued", "processing"})

#: Share of a job's duration spent ``queued``; the rest is ``processing``.
QUEUED_SHARE = 0.3

#: ``lifecycle="full"``: each pending status and where its share of the run ends.
FULL_LIFECYCLE: tuple[tuple[float, str], ...] = (
    (0.15, "queued"),
    (0.25, "scheduled"),
    (0.55, "processing"),
    (0.85, "sampling"),
    (1.0, "intermediate-complete"),
)


@attrs.define(kw_only=True, eq=False)
class _Job:
    id: str
    owner: str
    path: str
    type: str
    body: dict[str, Any]
    headers: dict[str, str]
    base_url: str
    created: int  # microseconds since the epoch, unique and increasing
    duration: float  # seconds of clock time, queued + processing
    price: float
    outcome: Outcome = "completed"
    error: object = None  # result.error of a failed job (None: no key)
    top_error: dict[str, str] | None = None  # the top-level "error" of a failed job
    webhook_url: str | None = None
    start: float | None = None  # clock time it left the backlog
    end: float | None = None  # clock time it became terminal
    status: str | None = None  # terminal status once terminal
    media: str = "png"  # "png", "mp4" or "" (no files)
    size: tuple[int, int] = (1024, 1024)
    outputs: int = 1
    style: dict[str, Any] | None = None  # LoRA training: the style to create


class State(Catalog):
    """All mutable state of one fake (jobs, ledger, balance, webhooks, assets,
    styles, node apps), behind one lock. Internal: use
    :class:`~krea_async.testing.FakeKrea`."""

    def __init__(
        self,
        *,
        clock: Clock,
        concurrency: int | None,
        max_backlog: int | None,
        balance: float | None,
        on_webhook: Callable[[WebhookDelivery], None] | None = None,
        lifecycle: Literal["simple", "full"] = "simple",
        time_outs: bool = True,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self.lifecycle = lifecycle
        self.clock = clock
        self.concurrency = concurrency
        self.max_backlog = max_backlog
        self.balance = balance
        self._on_webhook = on_webhook
        self.jobs: dict[str, _Job] = {}
        self._active: list[_Job] = []
        self._backlog: collections.deque[_Job] = collections.deque()
        self._last_created = 0
        self.scripts: list[ScriptRule] = []
        self.failures: list[FailureRule] = []
        self.time_outs = time_outs
        self.deprecations: dict[str, ModelLifecycle] = krea_sunsets()
        self._random = random.Random(seed)
        self.webhooks: list[WebhookDelivery] = []

    # -- time ----------------------------------------------------------------------

    def _stamp(self) -> int:
        self._last_created = max(us(self.clock()), self._last_created + 1)
        return self._last_created

    def advance(self) -> float:
        """Apply every transition due by now (call with the lock held); return now."""
        now = self.clock()
        while self._active:
            job = min(self._active, key=lambda j: (j.start or 0.0) + j.duration)
            due = (job.start or 0.0) + job.duration
            if due > now:
                break
            self._finish(job, job.outcome, due)
        return now

    def _finish(self, job: _Job, status: Outcome, at: float) -> None:
        if job in self._active:
            self._active.remove(job)
        elif job in self._backlog:
            self._backlog.remove(job)
        job.status = status
        job.end = at
        if status != "completed" and self.balance is not None:
            self.balance = round(self.balance + job.price, 6)  # failed/cancelled: not billed
        if status == "completed" and job.style is not None:
            self.styles[job.style["id"]] = StyleRecord(
                data=dict(job.style, created_at=iso(us(at))), owner=job.owner, created=us(at)
            )
        if job.webhook_url:
            delivery = WebhookDelivery(
                url=job.webhook_url,
                job_id=job.id,
                status=status,
                payload=self.job_json(job, job.base_url, at=at),
                recorded_at=dt_of(us(at)),
            )
            self.webhooks.append(delivery)
            if self._on_webhook is not None:
                self._on_webhook(delivery)
        self._start_backlogged(at)

    def _start_backlogged(self, at: float) -> None:
        while self._backlog and (self.concurrency is None or len(self._active) < self.concurrency):
            job = self._backlog.popleft()
            job.start = at
            self._active.append(job)

    # -- jobs ----------------------------------------------------------------------

    def status_of(self, job: _Job, now: float) -> str:
        """The job's status at clock time ``now`` (after :meth:`advance`)."""
        if job.status is not None:
            return job.status
        if job.start is None:
            return "backlogged"
        elapsed = now - job.start
        if self.lifecycle == "full":
            for share, status in FULL_LIFECYCLE:
                if elapsed < share * job.duration:
                    return status
            return FULL_LIFECYCLE[-1][1]
        return "queued" if elapsed < QUEUED_SHARE * job.duration else "processing"

    def job_json(
        self, job: _Job, base_url: str, *, at: float | None = None, submit: bool = False
    ) -> dict[str, Any]:
        """The job as Krea returns it. ``submit=True``: the submit answer's shape
        (``result`` and ``completed_at`` null)."""
        now = self.clock() if at is None else at
        status = self.status_of(job, now)
        result: dict[str, Any] | None
        if submit:
            result = None
        elif status == "completed":
            if job.style is not None:
                result = {"style_id": job.style["id"]}
            else:
                ext = "mp4" if job.media == "mp4" else "png"
                result = {
                    "urls": [
                        f"{base_url}/_fake/files/{job.id}/{i}.{ext}" for i in range(job.outputs)
                    ]
                }
        elif status == "failed":
            result = {"error": job.error} if job.error is not None else {}
        else:
            result = {}
        out: dict[str, Any] = {
            "job_id": job.id,
            "status": status,
            "created_at": iso(job.created),
            "completed_at": iso(us(job.end)) if job.end is not None and not submit else None,
            "result": result,
            "type": job.type,
        }
        if status == "failed" and job.top_error is not None and not submit:
            out["error"] = dict(job.top_error)
        if job.type == "externalVideo" and status not in TERMINAL:
            out["estimated_time"] = "60-120 seconds"
        return out

    def submit(
        self,
        *,
        owner: str,
        path: str,
        type: str,
        body: dict[str, Any],
        headers: dict[str, str],
        base_url: str,
        duration: float,
        price: float,
        media: str = "png",
        size: tuple[int, int] = (1024, 1024),
        outputs: int = 1,
        style: dict[str, Any] | None = None,
    ) -> _Job:
        """Create a job (402 on balance, 429 when the backlog is full); lock held."""
        self.advance()
        if self.balance is not None and self.balance < price:
            raise ApiError(
                402,
                f"Insufficient credits: this request costs ${price:g} and the balance is "
                f"${self.balance:g}. Add credits at https://www.krea.ai/settings/billing",
            )
        full = self.concurrency is not None and len(self._active) >= self.concurrency
        if full and self.max_backlog is not None and len(self._backlog) >= self.max_backlog:
            raise ApiError(429, "Maximum number of concurrent jobs reached")
        job = _Job(
            id=str(uuid.uuid4()),
            owner=owner,
            path=path,
            type=type,
            body=body,
            headers=headers,
            base_url=base_url,
            created=self._stamp(),
            duration=duration,
            price=price,
            webhook_url=headers.get("x-webhook-url") or None,
            media=media,
            size=size,
            outputs=outputs,
            style=style,
        )
        for rule in self.scripts:
            if rule.matches(path, body):
                job.outcome = rule.outcome
                job.error = rule.error if rule.outcome == "failed" else None
                if rule.seconds is not None:
                    job.duration = rule.seconds
                if rule.times is not None:
                    rule.times -= 1
                break
        else:
            self._apply_failures(job)
        self._apply_time_out(job)
        if self.balance is not None:
            self.balance = round(self.balance - price, 6)
        self.jobs[job.id] = job
        if full:
            self._backlog.append(job)
        else:
            job.start = self.clock()
            self._active.append(job)
        return job

    def _apply_failures(self, job: _Job) -> None:
        """The first failure rule that matches and fires decides the job fails."""
        for rule in self.failures:
            limit = time_out_of(job.path)
            if not rule.matches(job.path, job.body) or (rule.cause == "timeout" and limit is None):
                continue  # (a job with no time-out cannot time out)
            if rule.share is not None and self._random.random() >= rule.share:
                continue
            rule.hits += 1
            if rule.times is not None:
                rule.times -= 1
            if rule.cause == "timeout" and limit is not None:
                job.duration = limit  # it hangs until Krea's time-out fails it
            detail = failure_detail(rule.cause, limit)
            job.outcome = "failed"
            job.error = dict(detail) if rule.where in ("both", "result") else None
            job.top_error = dict(detail) if rule.where in ("both", "top") else None
            return

    def _apply_time_out(self, job: _Job) -> None:
        """A run longer than Krea's automatic time-out fails at the time-out."""
        limit = time_out_of(job.path) if self.time_outs else None
        if limit is None or job.duration <= limit:
            return
        detail = failure_detail("timeout", limit)
        job.duration = limit
        job.outcome = "failed"
        job.error = dict(detail)
        job.top_error = dict(detail)

    def find(self, job_id: str, owner: str | None) -> _Job:
        """The job (404 if unknown or not the owner's; ``owner=None``: any owner)."""
        self.advance()
        job = self.jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner):
            raise ApiError(404, f"Job {job_id} not found")
        return job

    def end_job(
        self,
        job_id: str,
        status: Outcome,
        *,
        owner: str | None = None,
        error: object = None,
        top_error: dict[str, str] | None = None,
    ) -> _Job:
        """Cancel or fail a job now if it is not terminal, whatever its pending
        status (a test control); return it either way."""
        job = self.find(job_id, owner)
        if job.status is None:
            job.error = error
            job.top_error = top_error
            self._finish(job, status, self.clock())
        return job

    def cancel(self, job_id: str, owner: str) -> tuple[_Job, str]:
        """``DELETE /jobs/{id}``: cancel the job only while it is ``queued`` or
        ``processing`` (https://docs.krea.ai/developers/job-lifecycle: "Jobs can
        only be canceled while they have a status of queued or processing");
        in any other status it runs on. Returns the job and the status it had."""
        job = self.find(job_id, owner)
        status = self.status_of(job, self.clock())
        if status in CANCELLABLE:
            job.error = None
            self._finish(job, "cancelled", self.clock())
        return job, status

    def list_jobs(self, owner: str, query: Mapping[str, str], base_url: str) -> dict[str, Any]:
        """``GET /jobs``: filter by ``status`` and ``types``, newest first, at most
        ``limit`` (1..1000, default 100) items created strictly before ``cursor``
        (an ISO 8601 time; ``next_cursor`` is the last item's ``created_at`` when
        more remain, else ``None``); 400 on a bad query. Items carry ``status``,
        ``result`` (``urls`` once completed) and ``completed_at`` only once terminal
        (the list schema of the spec types it as a string, so the key is omitted
        rather than ``null``)."""
        cursor = parse_cursor(query.get("cursor"))
        limit = parse_limit(query.get("limit"))
        status = query.get("status")  # present but empty is not in the spec's enum: 400
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"status: {status!r} is not one of {list(STATUSES)}")
        types = {t.strip() for t in (query.get("types") or "").split(",") if t.strip()}
        now = self.advance()
        jobs = [
            j
            for j in self.jobs.values()
            if j.owner == owner
            and (not types or j.type in types)
            and (status is None or self.status_of(j, now) == status)
        ]
        page, next_cursor = paginate(jobs, lambda j: j.created, cursor, limit)
        items = []
        for job in page:
            item = self.job_json(job, base_url)
            if item["completed_at"] is None:  # the list schema has no null: omit the key
                del item["completed_at"]
            items.append(item)
        return {"items": items, "next_cursor": next_cursor}

    def ledger(self) -> list[LedgerEntry]:
        """Every job created, oldest first, as of now."""
        with self.lock:
            now = self.advance()
            return [
                LedgerEntry(
                    job_id=j.id,
                    path=j.path,
                    type=j.type,
                    body=j.body,
                    prompt=j.body.get("prompt") if isinstance(j.body.get("prompt"), str) else None,
                    headers={k: v for k, v in j.headers.items() if k != "authorization"},
                    trace=j.headers.get("x-request-trace"),
                    created_at=dt_of(j.created),
                    completed_at=dt_of(us(j.end)) if j.end is not None else None,
                    status=self.status_of(j, now),
                    price=j.price,
                    webhook_url=j.webhook_url,
                )
                for j in sorted(self.jobs.values(), key=lambda j: j.created)
            ]
