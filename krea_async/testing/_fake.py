"""The fake Krea API's public face: :class:`FakeKrea`, its controls and the ways
to reach it (in-process transport, uvicorn thread). The routes are in
``_routes/``, the state in ``_state.py``."""

from __future__ import annotations

import contextlib
import datetime as _dt
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from jsonschema import Draft202012Validator
from starlette.types import ASGIApp

from . import _server
from ._deprecations import ModelLifecycle
from ._faults import Fault, FaultPlan, FaultRule, Operation
from ._middleware import FaultMiddleware
from ._outcomes import FailureRule, failure_detail
from ._ratelimit import RateLimit, RateLimiter, RouteClass
from ._records import LedgerEntry, ScriptRule, WebhookAttempt, WebhookDelivery
from ._routes import build_app
from ._seed import SAMPLE_NODE_APP_ID, seed_state
from ._state import State
from ._transport import FakeTransport
from ._util import ApiError, Clock, wall_clock
from ._webhooks import WebhookPolicy, WebhookSender

if TYPE_CHECKING:
    from krea_async import AsyncKrea

__all__ = ["MAX_ASSET_BYTES", "FakeKrea"]

#: Largest upload ``POST /assets`` accepts (bytes): 75 MB.
MAX_ASSET_BYTES = 75 * 1024 * 1024


class FakeKrea:
    """A Krea-compatible fake of ``https://api.krea.ai``, faithful to Krea's OpenAPI
    document (bundled) and documented behaviour. See :mod:`krea_async.testing`.

    Parameters (all keyword-only):

    - ``api_key``: the one Bearer token accepted; ``None`` (default) accepts any
      non-empty token (each token is a separate account: its own jobs, assets and
      styles). A missing, empty or wrong token is ``401``.
    - ``time_scale``: multiplies every job's typical duration (the spec's
      "Average Completion Time", e.g. Flux 7 s, else 15 s image / 120 s video /
      30 s enhance, 120 s LoRA training, 20 s node app). Default 0.05: a Flux
      image takes 0.35 s. About 30% of it is ``queued``, the rest ``processing``.
    - ``clock``: a callable returning seconds since the epoch (default
      :func:`time.time`); pass a :class:`ManualClock` to step time in tests.
    - ``concurrency``: how many jobs run at once (``None``: unlimited); more are
      ``backlogged`` (FIFO) up to ``max_backlog`` jobs (``None``: unlimited), and
      beyond that a submit is ``429 {"error": "Maximum number of concurrent jobs
      reached"}`` and creates no job.
    - ``balance``: prepaid balance in USD, or ``None`` (default) for unlimited. Each
      submit costs its price (:func:`~krea_async.testing.price_of`); failed and
      cancelled jobs are refunded; too little balance is ``402``.
    - ``seed``: seed of the fault plan's :class:`random.Random` (for ``rate=``).
    - ``deliver_webhooks``: also POST each webhook for real (httpx, from a
      background thread that ticks the clock; stop it with :meth:`close`):
      ``True`` for prompt, single, in-order deliveries, or a
      :class:`WebhookPolicy` for duplicates, delay, reordering and loss. By
      default (``False``) deliveries are only recorded in :attr:`webhooks`.
    - ``max_upload_bytes``: largest ``POST /assets`` file (default 75 MB).
    - ``lifecycle``: ``"simple"`` (default): ``queued`` (30% of the run) then
      ``processing``; ``"full"``: every pending status of Krea's job lifecycle
      (https://docs.krea.ai/developers/job-lifecycle) in order,
      ``queued`` (15%), ``scheduled`` (10%), ``processing`` (30%), ``sampling``
      (30%), ``intermediate-complete`` (15%; ``result`` stays ``{}``), for testing
      code against the statuses real jobs may pass through.
    - ``time_outs``: fail a job whose run is longer than Krea's automatic
      time-out (job-lifecycle page: 180 s for hosted tools, 7200 s for external
      providers; see :func:`~krea_async.testing.time_out_of`), at that time-out,
      with the ``timeout`` detail. Default ``True``; runs are far shorter unless
      a script or :meth:`fail_jobs` makes them hang.
    - ``cancel_refused``: the answer to ``DELETE /jobs/{id}`` for a job that is
      not ``queued`` or ``processing`` (which runs on, job-lifecycle page): ``200``
      with the job as it stands (default; the spec documents only 200 and 404),
      or ``400`` / ``409`` with ``{"error": ...}``.
    - ``cursor_key``: the key list answers carry their cursor under:
      ``"next_cursor"`` (the spec; default), ``"nextCursor"`` (one of Krea's
      rendered examples) or ``"both"``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        time_scale: float = 0.05,
        clock: Clock | None = None,
        concurrency: int | None = None,
        max_backlog: int | None = None,
        balance: float | None = None,
        seed: int | None = 0,
        deliver_webhooks: bool | WebhookPolicy = False,
        max_upload_bytes: int = MAX_ASSET_BYTES,
        lifecycle: Literal["simple", "full"] = "simple",
        time_outs: bool = True,
        cancel_refused: Literal[200, 400, 409] = 200,
        cursor_key: Literal["next_cursor", "nextCursor", "both"] = "next_cursor",
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        if cancel_refused not in (200, 400, 409):
            raise ValueError("cancel_refused must be 200, 400 or 409")
        if cursor_key not in ("next_cursor", "nextCursor", "both"):
            raise ValueError("cursor_key must be 'next_cursor', 'nextCursor' or 'both'")
        self.cancel_refused: int = cancel_refused
        self.cursor_key: str = cursor_key
        self.api_key = api_key
        self.time_scale = time_scale
        self.max_upload_bytes = max_upload_bytes
        self.faults = FaultPlan(seed)
        policy = WebhookPolicy() if deliver_webhooks is True else deliver_webhooks
        clock = clock or wall_clock
        self._sender = WebhookSender(policy, clock) if policy else None
        self._state = State(
            clock=clock,
            concurrency=concurrency,
            max_backlog=max_backlog,
            balance=balance,
            on_webhook=self._sender.put if self._sender is not None else None,
            lifecycle=lifecycle,
            time_outs=time_outs,
            seed=seed,
        )
        seed_state(self._state)
        self._limiter = RateLimiter(build_app(self, self._state), self._state.clock)
        self.app: ASGIApp = FaultMiddleware(self._limiter, self.faults)
        """The ASGI app (Starlette behind the fault middleware); serve it with any ASGI server."""
        if self._sender is not None:
            self._sender.start(self._state)

    # -- public controls ---------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The clock (seconds since the epoch) the job simulation runs on."""
        return self._state.clock

    @property
    def balance(self) -> float | None:
        """The remaining balance in USD (``None``: unlimited). Settable."""
        with self._state.lock:
            self._state.advance()
            return self._state.balance

    @balance.setter
    def balance(self, value: float | None) -> None:
        with self._state.lock:
            self._state.balance = value

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every job created (``/generate/...``, ``/styles/train``,
        ``/node-apps/{id}/execute``), oldest first, as :class:`LedgerEntry` snapshots
        taken now. Requests that failed (400/401/402/429, faults that stop the
        request) created no job and are not in it."""
        return self._state.ledger()

    @property
    def webhooks(self) -> list[WebhookDelivery]:
        """Webhook deliveries: one per job that had an ``X-Webhook-URL`` header and
        became terminal (completed, failed or cancelled), oldest first."""
        with self._state.lock:
            self._state.advance()
            return list(self._state.webhooks)

    def inject(
        self,
        fault: Fault,
        *,
        on: Operation | None = None,
        method: str | None = None,
        path: str | None = None,
        rate: float | None = None,
        times: int | None = None,
    ) -> FaultRule:
        """Shortcut for ``fake.faults.inject(...)``: see :meth:`FaultPlan.inject`;
        returns the :class:`FaultRule`."""
        return self.faults.inject(fault, on=on, method=method, path=path, rate=rate, times=times)

    def script(
        self,
        outcome: Literal["completed", "failed", "cancelled"] = "failed",
        *,
        error: object = "Generation failed (scripted by the fake)",
        prompt: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        seconds: float | None = None,
    ) -> ScriptRule:
        """Decide the outcome of future submits: the next ``times`` submits (``None``:
        all) whose prompt contains ``prompt`` and whose path starts with ``path``
        end ``outcome`` instead of ``completed``, when their run ends.

        ``error`` becomes ``result.error`` of a failed job (a string, or a dict such
        as ``{"code": "nsfw", "message": "..."}``); ``seconds`` overrides the run's
        duration (clock seconds, not scaled). Rules are tried in order; returns the
        :class:`ScriptRule` (mutable: set ``times = 0`` to disable it).
        """
        rule = ScriptRule(
            outcome=outcome, error=error, prompt=prompt, path=path, times=times, seconds=seconds
        )
        with self._state.lock:
            self._state.scripts.append(rule)
        return rule

    def fail_jobs(
        self,
        cause: str = "provider_error",
        *,
        share: float | None = None,
        prompt: str | re.Pattern[str] | None = None,
        path: str | None = None,
        times: int | None = None,
        where: Literal["both", "result", "top"] = "both",
    ) -> FailureRule:
        """Fail future jobs with a documented cause (job-lifecycle page): every
        matching job, or a ``share`` (0..1, seeded) of them, whose prompt matches
        the regular expression ``prompt`` and whose path starts with ``path``.

        ``cause``: ``"provider_error"``, ``"invalid_parameters"``, ``"nsfw"``,
        ``"ip_detected"`` (moderation) or ``"timeout"`` (the job hangs until its
        automatic time-out, 180 s hosted / 7200 s external on the fake's clock,
        then fails). The detail ``{"code": cause, "message": ...}`` goes to
        ``result.error`` and the job's top-level ``error`` (``where``). Failed jobs
        are refunded. Rules run after :meth:`script` rules, in order; returns the
        :class:`FailureRule` (set its ``times = 0`` to disable it).
        """
        rule = FailureRule(
            cause=cause, share=share, prompt=prompt, path=path, times=times, where=where
        )
        with self._state.lock:
            self._state.failures.append(rule)
        return rule

    def fail_job(
        self, job_id: str, error: object = "Generation failed (fake)", *, cause: str | None = None
    ) -> dict[str, Any]:
        """Make a pending job fail now with ``result.error = error`` or, with
        ``cause`` (see :meth:`fail_jobs`), the cause's ``{"code", "message"}`` in
        ``result.error`` and the top-level ``error``; return its JSON (unchanged if
        already terminal). ``KeyError`` if the job is unknown."""
        if cause is None:
            return self._end(job_id, "failed", error)
        detail = failure_detail(cause)
        return self._end(job_id, "failed", dict(detail), top_error=detail)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a pending job now, whatever its pending status (a test control:
        ``DELETE /jobs/{id}`` cancels only queued or processing jobs); return its
        JSON (unchanged if already terminal). ``KeyError`` if the job is unknown."""
        return self._end(job_id, "cancelled", None)

    def deprecate(
        self,
        model: str,
        sunset: _dt.date | str,
        *,
        replacement: str | None = None,
        link: str | None = None,
    ) -> ModelLifecycle:
        """Deprecate a model (https://docs.krea.ai/developers/deprecations): until
        ``sunset`` (a date, UTC, or ``"YYYY-MM-DD"``) on the fake's clock its
        successful answers carry ``Deprecation: true``, ``Sunset`` and ``Link``;
        from then on it answers ``410`` ``{"error": "model_unavailable", ...}``.

        ``model``: a model id (``"video/bytedance/seedance-1.0-pro"``) or its path;
        ``replacement``: the model id to name instead; ``link``: the page the
        ``Link`` header and ``migration_url`` name (default the deprecations page).
        The fake's ``/openapi.json`` marks the operation ``deprecated: true``.
        Every fake starts with the models that page lists as sunset.
        """
        record = ModelLifecycle(
            path=model,
            sunset=sunset,
            replacement=replacement,
            **({"link": link} if link else {}),
        )
        with self._state.lock:
            self._state.deprecations[record.path] = record
        return record

    def sunset(
        self,
        model: str,
        *,
        replacement: str | None = None,
        on: _dt.date | str | None = None,
        link: str | None = None,
    ) -> ModelLifecycle:
        """Make a model gone now: ``410 model_unavailable`` (deprecations page). Its
        ``sunset_date`` is ``on`` (default: today on the fake's clock, UTC)."""
        day = on or _dt.datetime.fromtimestamp(self._state.clock(), _dt.timezone.utc).date()
        return self.deprecate(model, day, replacement=replacement, link=link)

    @property
    def deprecations(self) -> list[ModelLifecycle]:
        """The deprecated and sunset models (:class:`ModelLifecycle`), by path."""
        with self._state.lock:
            return [self._state.deprecations[p] for p in sorted(self._state.deprecations)]

    def rate_limit(
        self, per_second: int, *, on: RouteClass = "all", retry_after: bool = True
    ) -> RateLimit:
        """Limit requests: at most ``per_second`` of route class ``on`` in any one
        second of the fake's clock, then ``429 {"error": ...}`` with a
        ``Retry-After`` (whole seconds) when ``retry_after``, else without.

        ``on``: ``"status"`` (``GET /jobs/{id}``, ``GET /jobs``), ``"submit"``
        (requests that create jobs) or ``"all"``. Limits add up (each applies);
        returns the :class:`RateLimit` (``hits`` counts refusals);
        :meth:`clear_rate_limits` removes them.
        """
        return self._limiter.add(RateLimit(per_second=per_second, on=on, retry_after=retry_after))

    def clear_rate_limits(self) -> None:
        """Remove every rate limit."""
        self._limiter.clear()

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's JSON as ``GET /jobs/{id}`` would return it now, any owner (result
        URLs on the base URL it was submitted to). ``KeyError`` if unknown."""
        with self._state.lock:
            try:
                job = self._state.find(job_id, None)
            except ApiError:
                raise KeyError(job_id) from None
            return self._state.job_json(job, job.base_url)

    def add_node_app(self, app: Mapping[str, Any]) -> str:
        """Add a node app (``GET /node-apps/{id}``): a dict with at least
        ``input_openapi_schema`` (a JSON Schema its ``/execute`` body must match);
        missing fields get defaults and ``id`` a new UUID. Answers the id."""
        with self._state.lock:
            defaults = self._state.node_apps[SAMPLE_NODE_APP_ID]
        data = {**defaults, "id": str(uuid.uuid4()), **app}
        data["last_version_id"] = app.get("last_version_id", data["id"])
        Draft202012Validator.check_schema(data["input_openapi_schema"])
        with self._state.lock:
            self._state.node_apps[data["id"]] = data
        return str(data["id"])

    def transport(self) -> FakeTransport:
        """A new in-process :class:`FakeTransport` (for ``httpx.AsyncClient(transport=...)``)."""
        return FakeTransport(self.app, self.faults)

    def client(self, **kwargs: Any) -> AsyncKrea:
        """An :class:`~krea_async.AsyncKrea` bound to this fake in-process:
        ``AsyncKrea(api_key=<api_key or "fake-key">, base_url="http://fake.krea.test",
        http_client=httpx.AsyncClient(transport=self.transport()),
        allow_insecure_http=True, **kwargs)``. The in-process transport holds no
        connection, so that ``http_client`` needs no closing; pass your own
        ``http_client=`` to replace it."""
        import httpx

        from krea_async import AsyncKrea

        options: dict[str, Any] = {
            "api_key": self.api_key or "fake-key",
            "base_url": "http://fake.krea.test",
            "allow_insecure_http": True,
        }
        if "http_client" not in kwargs:
            options["http_client"] = httpx.AsyncClient(transport=self.transport())
        options.update(kwargs)
        return AsyncKrea(**options)

    @contextlib.contextmanager
    def serve_in_thread(
        self, host: str = "127.0.0.1", port: int = 0, *, log_level: str = "warning"
    ) -> Iterator[str]:
        """Serve the fake with uvicorn on a real socket, in a background thread with
        its own event loop; yields the base URL (``"http://127.0.0.1:54321"``).

        ``port=0`` picks a free port. On exit the server shuts down, the thread is
        joined and the socket closed. ``RuntimeError`` if it does not start in 10 s.
        """
        with _server.serve_in_thread(self.app, host, port, log_level=log_level) as url:
            yield url

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        """Every copy of a webhook the delivery thread sent or lost on purpose, in
        the order they were sent (lost copies when they were dropped); empty when
        ``deliver_webhooks`` is off. See :class:`WebhookPolicy`."""
        if self._sender is None:
            return []
        return self._sender.sent()

    def webhooks_pending(self) -> int:
        """Copies of webhooks queued or waiting out their delay (0 when delivery is off)."""
        return 0 if self._sender is None else self._sender.pending()

    def close(self) -> None:
        """Stop the webhook delivery thread, if any (idempotent); copies not yet
        sent are dropped."""
        if self._sender is not None:
            self._sender.close()

    def __enter__(self) -> FakeKrea:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _end(
        self,
        job_id: str,
        status: Literal["failed", "cancelled"],
        error: object,
        top_error: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._state.lock:
            try:
                job = self._state.end_job(job_id, status, error=error, top_error=top_error)
            except ApiError:
                raise KeyError(job_id) from None
            return self._state.job_json(job, job.base_url)
