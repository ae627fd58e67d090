"""The fake's state: job simulation on an injectable clock, ledger, billing,
webhooks, assets, styles and node apps. Everything here is synchronous and
guarded by one lock (a re-entrant :class:`threading.RLock`, so a test may drive
the fake from another thread than the server's); the HTTP layer is in ``_app.py``.

The job clock is lazy: nothing runs in the background. Each access first
replays every transition due by ``clock()`` (a job finishing frees a
concurrency slot at its finishing time, which starts the oldest backlogged job
at that same time), so the outcome depends only on the clock, in-process or
under uvicorn, on asyncio or trio.
"""

from __future__ import annotations

import collections
import datetime as _dt
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from .._converter import WireFormatError, parse_datetime

__all__ = [
    "ApiError",
    "Clock",
    "LedgerEntry",
    "ManualClock",
    "ScriptRule",
    "State",
    "WebhookDelivery",
    "iso",
    "price_of",
]

#: A clock: a callable answering the current time in seconds since the Unix epoch.
Clock = Callable[[], float]
Outcome = Literal["completed", "failed", "cancelled"]

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
#: 2026-08-01T00:00:00Z, the default start of a :class:`ManualClock`.
DEFAULT_START = 1785542400.0
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
STATUSES = (
    "backlogged",
    "queued",
    "scheduled",
    "processing",
    "sampling",
    "intermediate-complete",
    "completed",
    "failed",
    "cancelled",
)
TERMINAL = frozenset({"completed", "failed", "cancelled"})


class ManualClock:
    """A clock that only moves when told to (thread-safe).

    ``ManualClock(start=1785542400.0)``: ``start`` in seconds since the Unix epoch
    (default 2026-08-01T00:00:00Z). Calling it answers the current time;
    :meth:`advance` moves it forward. Pass it as ``FakeKrea(clock=...)``.
    """

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time, seconds since the Unix epoch."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward (``ValueError`` if negative); answer the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds
            return self._now


class ApiError(Exception):
    """An error answer of the fake: HTTP ``status`` with body ``{"error": message}``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _dt_of(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=us)


def iso(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC with ``Z`` (``2026-08-01T00:00:00.000000Z``)."""
    return _dt_of(us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_cursor(value: str | None, name: str = "cursor") -> int | None:
    if value is None or value == "":
        return None
    try:
        parsed = parse_datetime(value)
    except WireFormatError:
        raise ApiError(400, f"{name}: {value!r} is not an ISO 8601 date-time") from None
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return 100
    try:
        limit = int(value)
    except ValueError:
        raise ApiError(400, f"limit: {value!r} is not an integer") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, f"limit: {limit} is not between 1 and 1000")
    return limit


#: USD per request, from NOTES.md ("Prices"); see :func:`price_of`.
_PRICES = {
    "/generate/image/bfl/flux-1-dev": 0.007,
    "/generate/image/bfl/flux-1-kontext-dev": 0.0128,
    "/generate/image/krea/krea-2/medium": 0.03,
    "/generate/image/krea/krea-2/large": 0.06,
    "/generate/image/krea/krea-2/medium-turbo": 0.015,
}
_KREA2_EXTRAS = {  # (with style references, with a moodboard)
    "/generate/image/krea/krea-2/medium": (0.035, 0.04),
    "/generate/image/krea/krea-2/large": (0.065, 0.07),
    "/generate/image/krea/krea-2/medium-turbo": (0.0175, 0.02),
}
_DEFAULT_PRICES = {
    "image": 0.02,
    "video": 0.25,
    "enhance": 0.05,
    "loraTraining": 0.5,
    "nodeApp": 0.05,
}


def price_of(path: str, category: str, body: Mapping[str, Any]) -> float:
    """The price (USD) the fake charges for one request.

    Known prices come from Krea's API reference (NOTES.md): Flux $0.007, Flux
    Kontext $0.0128, Nano Banana Pro $0.15 ($0.30 at 4K), Krea 2 (with style
    references / a moodboard), Kling 1.0 $0.0221/s std and $0.0772/s pro. Others:
    image $0.02, video $0.25, enhance $0.05, LoRA training $0.50, node app $0.05
    (``category`` is ``"image"``, ``"video"``, ``"enhance"``, ``"loraTraining"``
    or ``"nodeApp"``).
    """
    if path == "/generate/image/google/nano-banana-pro":
        return 0.30 if body.get("resolution") == "4K" else 0.15
    if path == "/generate/video/kling/kling-1":
        seconds = body.get("duration", 5)
        per_second = 0.0772 if body.get("mode") == "pro" else 0.0221
        return round(per_second * float(seconds if isinstance(seconds, (int, float)) else 5), 4)
    if path in _KREA2_EXTRAS:
        style_refs, moodboard = _KREA2_EXTRAS[path]
        if body.get("moodboards"):
            return moodboard
        if body.get("image_style_references") or body.get("styles"):
            return style_refs
    return _PRICES.get(path, _DEFAULT_PRICES.get(category, 0.02))


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One job the fake created (``fake.ledger``), as of the time it was read.

    - ``job_id``: the job's id; ``path``: the request path
      (``"/generate/image/bfl/flux-1-dev"``, ``"/styles/train"``,
      ``"/node-apps/{id}/execute"``); ``type``: the job type (``externalImage``...).
    - ``body``: the JSON request body; ``prompt``: its ``prompt`` (or ``None``).
    - ``headers``: the request headers (lower-case names, ``authorization`` left out).
    - ``trace``: the ``X-Request-Trace`` header the client sent, or ``None``: count
      ledger entries per trace to check that one call created one job.
    - ``created_at`` / ``completed_at``: aware UTC datetimes (``completed_at`` is
      ``None`` until terminal); ``status``: the current status; ``price``: USD
      charged (refunded if it failed or was cancelled); ``webhook_url``: the
      ``X-Webhook-URL`` header or ``None``.
    """

    job_id: str
    path: str
    type: str
    body: Mapping[str, Any]
    prompt: str | None
    headers: Mapping[str, str]
    trace: str | None
    created_at: _dt.datetime
    completed_at: _dt.datetime | None
    status: str
    price: float
    webhook_url: str | None

    @property
    def is_terminal(self) -> bool:
        """``True`` once the job is ``completed``, ``failed`` or ``cancelled``."""
        return self.status in TERMINAL


@attrs.define(kw_only=True)
class WebhookDelivery:
    """A webhook the fake delivered (or, by default, only recorded): ``fake.webhooks``.

    - ``url``: the job's ``X-Webhook-URL``; ``job_id``; ``status``: the terminal status.
    - ``payload``: the full job JSON that is (or would be) POSTed.
    - ``recorded_at``: aware UTC datetime (fake clock) of the transition.
    - ``response_status``: the receiver's HTTP status when ``deliver_webhooks=True``
      delivered it; ``error``: why delivery failed; both ``None`` when not delivered.
    """

    url: str
    job_id: str
    status: str
    payload: Mapping[str, Any]
    recorded_at: _dt.datetime
    response_status: int | None = None
    error: str | None = None


@attrs.define(kw_only=True, eq=False)
class ScriptRule:
    """A scripted outcome for future submits (``fake.script(...)``).

    A submit whose ``prompt`` contains ``prompt`` (when set) and whose path starts
    with ``path`` (when set) gets ``outcome`` (``"failed"``, ``"cancelled"`` or
    ``"completed"``) at the end of its run, with ``error`` as ``result.error`` for
    failures; ``seconds`` (real clock seconds, not scaled) overrides its duration.
    ``times``: how many more submits it applies to (``None``: all).
    """

    outcome: Outcome = "failed"
    error: object = "Generation failed (scripted by the fake)"
    prompt: str | None = None
    path: str | None = None
    times: int | None = 1
    seconds: float | None = None

    def _matches(self, path: str, body: Mapping[str, Any]) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.prompt is not None:
            prompt = body.get("prompt")
            return isinstance(prompt, str) and self.prompt in prompt
        return True


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
    error: object = None
    webhook_url: str | None = None
    start: float | None = None  # clock time it left the backlog
    end: float | None = None  # clock time it became terminal
    status: str | None = None  # terminal status once terminal
    media: str = "png"  # "png", "mp4" or "" (no files)
    size: tuple[int, int] = (1024, 1024)
    outputs: int = 1
    style: dict[str, Any] | None = None  # LoRA training: the style to create


@attrs.define(kw_only=True, eq=False)
class _Style:
    data: dict[str, Any]
    owner: str | None  # token of the API user who owns it; None: not the caller's
    created: int
    shared: bool = False
    share_code: str | None = None


@attrs.define(kw_only=True, eq=False)
class _Asset:
    data: dict[str, Any]
    owner: str
    created: int
    content: bytes


def _owner_json(owner: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "krea-fake-user:" + owner)),
        "name": "api-user",
        "avatar_url": None,
    }


def _page(
    items: list[Any], key: Callable[[Any], int], cursor: int | None, limit: int
) -> tuple[list[Any], str | None]:
    """Newest first, strictly before ``cursor``; next_cursor = last item's time or None."""
    ordered = sorted((i for i in items if cursor is None or key(i) < cursor), key=key, reverse=True)
    page = ordered[:limit]
    more = len(ordered) > limit
    return page, (iso(key(page[-1])) if more and page else None)


class State:
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
    ) -> None:
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
        self.webhooks: list[WebhookDelivery] = []
        self.assets: dict[str, _Asset] = {}
        self.styles: dict[str, _Style] = {}
        self.node_apps: dict[str, dict[str, Any]] = {}

    # -- time ----------------------------------------------------------------------

    def _stamp(self) -> int:
        self._last_created = max(_us(self.clock()), self._last_created + 1)
        return self._last_created

    def advance(self) -> float:
        """Apply every transition due by now (call with the lock held); answer now."""
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
            self.styles[job.style["id"]] = _Style(
                data=dict(job.style, created_at=iso(_us(at))), owner=job.owner, created=_us(at)
            )
        if job.webhook_url:
            delivery = WebhookDelivery(
                url=job.webhook_url,
                job_id=job.id,
                status=status,
                payload=self.job_json(job, job.base_url, at=at),
                recorded_at=_dt_of(_us(at)),
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
        """The job as Krea answers it. ``submit=True``: the submit answer's shape
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
            result = {"error": job.error}
        else:
            result = {}
        out: dict[str, Any] = {
            "job_id": job.id,
            "status": status,
            "created_at": iso(job.created),
            "completed_at": iso(_us(job.end)) if job.end is not None and not submit else None,
            "result": result,
            "type": job.type,
        }
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
            if rule._matches(path, body):
                job.outcome = rule.outcome
                job.error = rule.error if rule.outcome == "failed" else None
                if rule.seconds is not None:
                    job.duration = rule.seconds
                if rule.times is not None:
                    rule.times -= 1
                break
        if self.balance is not None:
            self.balance = round(self.balance - price, 6)
        self.jobs[job.id] = job
        if full:
            self._backlog.append(job)
        else:
            job.start = self.clock()
            self._active.append(job)
        return job

    def find(self, job_id: str, owner: str | None) -> _Job:
        """The job (404 if unknown or not the owner's; ``owner=None``: any owner)."""
        self.advance()
        job = self.jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner):
            raise ApiError(404, f"Job {job_id} not found")
        return job

    def end_job(
        self, job_id: str, status: Outcome, *, owner: str | None = None, error: object = None
    ) -> _Job:
        """Cancel or fail a job now if it is not terminal; answer it either way."""
        job = self.find(job_id, owner)
        if job.status is None:
            job.error = error
            self._finish(job, status, self.clock())
        return job

    def list_jobs(self, owner: str, query: Mapping[str, str], base_url: str) -> dict[str, Any]:
        """``GET /jobs``: filter, newest first, paginate (400 on a bad query)."""
        cursor = _parse_cursor(query.get("cursor"))
        limit = _parse_limit(query.get("limit"))
        status = query.get("status") or None
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
        page, next_cursor = _page(jobs, lambda j: j.created, cursor, limit)
        return {"items": [self.job_json(j, base_url) for j in page], "next_cursor": next_cursor}

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
                    created_at=_dt_of(j.created),
                    completed_at=_dt_of(_us(j.end)) if j.end is not None else None,
                    status=self.status_of(j, now),
                    price=j.price,
                    webhook_url=j.webhook_url,
                )
                for j in sorted(self.jobs.values(), key=lambda j: j.created)
            ]

    # -- assets --------------------------------------------------------------------

    def add_asset(self, owner: str, content: bytes, data: dict[str, Any]) -> dict[str, Any]:
        """Store an upload; ``data`` lacks ``uploaded_at``, set here."""
        created = self._stamp()
        data["uploaded_at"] = iso(created)
        self.assets[data["id"]] = _Asset(data=data, owner=owner, created=created, content=content)
        return data

    def asset(self, asset_id: str, owner: str) -> _Asset:
        """One of the owner's assets (404 otherwise)."""
        found = self.assets.get(asset_id)
        if found is None or found.owner != owner:
            raise ApiError(404, f"Asset {asset_id} not found")
        return found

    def list_assets(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /assets``: newest first, ``cursor`` = an ``uploaded_at``."""
        cursor = _parse_cursor(query.get("cursor"))
        limit = _parse_limit(query.get("limit"))
        mine = [a for a in self.assets.values() if a.owner == owner]
        page, next_cursor = _page(mine, lambda a: a.created, cursor, limit)
        return {"items": [a.data for a in page], "next_cursor": next_cursor}

    # -- styles --------------------------------------------------------------------

    def seed_style(self, data: dict[str, Any], *, owner: str | None) -> None:
        """Add a style that exists from the start (an official or another user's)."""
        self.styles[data["id"]] = _Style(data=data, owner=owner, created=self._stamp())

    def new_style(
        self, owner: str, *, name: str, model: str, urls: list[str], trigger_word: str | None
    ) -> dict[str, Any]:
        """The style a LoRA training job will create when it completes."""
        return {
            "id": str(uuid.uuid4()),
            "title": name,
            "urls": list(urls[:4]),
            "public": False,
            "cover_url": urls[0] if urls else None,
            "prompt": trigger_word or name,
            "models": [model],
            "owner": _owner_json(owner),
            "like_count": 0,
        }

    def style(
        self, style_id: str, owner: str, *, must_own: bool = False, forbidden: bool = False
    ) -> _Style:
        """A style the caller can see (404), and owns when ``must_own`` (404 or,
        with ``forbidden=True``, 403)."""
        self.advance()
        found = self.styles.get(style_id)
        visible = found is not None and (
            found.owner == owner or found.shared or bool(found.data.get("public"))
        )
        if found is None or not visible:
            raise ApiError(404, f"Style {style_id} not found")
        if must_own and found.owner != owner:
            if forbidden:
                raise ApiError(403, "You do not own this style")
            raise ApiError(404, f"Style {style_id} not found or you are not the owner")
        return found

    def list_styles(self, owner: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /styles`` with ``filter``, ``ids``, ``user``, ``model``, ``liked``."""
        self.advance()
        cursor = _parse_cursor(query.get("cursor"))
        limit = _parse_limit(query.get("limit"))
        kind = query.get("filter") or "all"
        filters: dict[str, Callable[[_Style], bool]] = {
            "all": lambda s: s.owner == owner or s.shared or bool(s.data["public"]),
            "user": lambda s: s.owner == owner,
            "community": lambda s: (
                bool(s.data["public"]) and s.data["owner"] is not None and s.owner != owner
            ),
            "krea": lambda s: s.data["owner"] is None,
            "shared": lambda s: s.shared,
            "unapproved": lambda s: False,
            "editor": lambda s: s.data["owner"] is None,
            "gallery": lambda s: bool(s.data["public"]),
            "public": lambda s: bool(s.data["public"]),
        }
        if kind not in filters:
            raise ApiError(400, f"filter: {kind!r} is not one of {list(filters)}")
        liked = (query.get("liked") or "false").lower()
        if liked not in ("true", "false"):
            raise ApiError(400, f"liked: {liked!r} is not a boolean")
        ids = {i for i in (query.get("ids") or "").split(",") if i}
        styles: Iterable[_Style] = (s for s in self.styles.values() if filters[kind](s))
        if liked == "true":
            styles = ()  # the fake's users like nothing
        if ids:
            styles = (s for s in styles if s.data["id"] in ids)
        if query.get("user"):
            styles = (s for s in styles if (s.data["owner"] or {}).get("id") == query["user"])
        if query.get("model"):
            styles = (s for s in styles if query["model"] in s.data["models"])
        page, next_cursor = _page(list(styles), lambda s: s.created, cursor, limit)
        return {"items": [s.data for s in page], "next_cursor": next_cursor}


def wall_clock() -> float:
    """The default clock: :func:`time.time`."""
    return time.time()
