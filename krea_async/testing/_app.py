"""The fake Krea API: :class:`FakeKrea`, its Starlette app, transport and servers."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.to_thread
import httpx
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._spec import ModelInfo, default_seconds, generation_endpoints, load_spec
from . import _media
from ._faults import Fault, FaultKind, FaultPlan, FaultRule, Operation
from ._state import (
    ApiError,
    Clock,
    LedgerEntry,
    ScriptRule,
    State,
    WebhookDelivery,
    iso,
    price_of,
    wall_clock,
)

if TYPE_CHECKING:
    from krea_async import AsyncKrea

__all__ = ["ConnectionDropped", "FakeKrea", "FakeTransport", "SAMPLE_NODE_APP_ID"]

#: Largest upload ``POST /assets`` accepts (bytes): 75 MB.
MAX_ASSET_BYTES = 75 * 1024 * 1024
#: Clock seconds of a LoRA training and of a node app run before ``time_scale``.
TRAINING_SECONDS = 120.0
NODE_APP_SECONDS = 20.0
#: The id of the node app every fake starts with (``GET /node-apps/{id}``).
SAMPLE_NODE_APP_ID = "0c5d3b1e-7f1a-4c2e-9d8b-5a6f7e8d9c01"
_JOB_TYPES = {"image": "externalImage", "video": "externalVideo", "enhance": "enhance"}
_IN_PROCESS = "x-krea-fake-transport"
_WORKSPACE = {"id": "fake-workspace", "name": "Fake workspace", "is_default": True}

log = logging.getLogger("krea_async.testing")


class ConnectionDropped(Exception):
    """Raised by the app to drop the connection (a ``drop_before``/``drop_after`` fault).

    Under uvicorn, the response has already started with a ``Content-Length``
    larger than what was sent, so the server closes the socket and the client
    sees an incomplete answer. :class:`FakeTransport` turns it into
    :class:`httpx.RemoteProtocolError`.
    """


# -- validation -------------------------------------------------------------------------


def _where(err: ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _messages(err: ValidationError, aliases: Mapping[str, tuple[str, str]]) -> list[str]:
    where = _where(err)
    prefix = where + "." if where else ""
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties", {})
        out = []
        for key in err.instance:
            if key in known:
                continue
            if not where and key in aliases:
                to, date = aliases[key]
                out.append(f"unknown field '{key}' (renamed to {to} on {date})")
            else:
                out.append(f"unknown field '{prefix}{key}'")
        return out
    if err.validator == "required" and isinstance(err.instance, dict):
        return [
            f"{prefix}{name}: required field is missing"
            for name in err.validator_value
            if name not in err.instance
        ]
    if err.context and not where:  # a root oneOf/anyOf (styles/train): the likeliest branch
        branches: dict[object, list[ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        best = min(
            branches.values(),
            key=lambda errs: (
                sum(e.validator in ("required", "enum", "const", "type") for e in errs),
                len(errs),
            ),
        )
        return [m for sub in best for m in _messages(sub, aliases)]
    message = err.message if len(err.message) <= 200 else err.message[:200] + "..."
    return [f"{where or 'body'}: {message}"]


def _validate(
    validator: Draft202012Validator,
    body: object,
    aliases: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Raise 400 naming every offending field (``"steps: 500 is greater than ..."``)."""
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        found: list[str] = []
        for err in errors:
            found.extend(_messages(err, aliases or {}))
        raise ApiError(400, "; ".join(dict.fromkeys(found)))


@functools.cache
def _generation_validator(path: str) -> tuple[Draft202012Validator, Mapping[str, tuple[str, str]]]:
    op = load_spec()["paths"][path]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    aliases = {
        a["from"]: (a["to"], a.get("sunset_date", "2026-06-19"))
        for a in op.get("x-krea-deprecated-field-aliases", [])
    }
    return Draft202012Validator(schema), aliases


@functools.cache
def _request_validator(path: str, method: str) -> Draft202012Validator:
    op = load_spec()["paths"][path][method]
    return Draft202012Validator(op["requestBody"]["content"]["application/json"]["schema"])


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON body: {exc}") from None


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _absolute(value: Any, base: str) -> Any:
    if isinstance(value, str) and value.startswith("/_fake/"):
        return base + value
    if isinstance(value, list):
        return [_absolute(v, base) for v in value]
    return value


# -- faults as ASGI middleware -------------------------------------------------------------


async def _drop(send: Send, start: Message | None = None, body: bytes = b"") -> None:
    """Start an answer announcing more bytes than will come, send part, then drop."""
    start = start or {}
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(max(len(body), 1) + 512).encode()))
    await send(
        {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise ConnectionDropped("connection dropped by an injected fault")


class _FaultMiddleware:
    def __init__(self, app: ASGIApp, plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        in_process = any(k == _IN_PROCESS.encode() for k, _ in scope.get("headers", []))
        skip: frozenset[FaultKind] = frozenset({"refuse_connection"} if in_process else ())
        fault = self.plan.pick(scope["method"], scope["path"], skip=skip)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "slow" and fault.phase == "before":
            await anyio.sleep(fault.seconds)
            await self.app(scope, receive, send)
        elif fault.kind in ("status", "malformed"):
            headers = [*fault.headers(), (b"content-length", str(len(fault.body)).encode())]
            await send({"type": "http.response.start", "status": fault.status, "headers": headers})
            await send({"type": "http.response.body", "body": fault.body})
        elif fault.kind in ("drop_before", "refuse_connection"):
            await _drop(send)
        else:  # drop_after, or slow after handling: let the app answer into a buffer
            await self._after(fault, scope, receive, send)

    async def _after(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start = next((m for m in messages if m["type"] == "http.response.start"), None)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if fault.kind == "drop_after":
            await _drop(send, start, body)
        await anyio.sleep(fault.seconds)
        for message in messages:
            await send(message)


class _QuietDrops(logging.Filter):
    """Hides uvicorn's traceback for connections the fake dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def _quiet_uvicorn() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in logger.filters):
        logger.addFilter(_QuietDrops())


# -- the in-process transport -----------------------------------------------------------------


class FakeTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncBaseTransport` that runs requests through the fake's
    ASGI app in-process (``fake.transport()``), like a network would:

    - a ``refuse_connection`` fault raises :class:`httpx.ConnectError` before the
      app sees anything;
    - a dropped connection (``drop_before``/``drop_after``) raises
      :class:`httpx.RemoteProtocolError`;
    - the request's read timeout (``httpx.Timeout.read``, seconds) is enforced
      over the whole exchange and raises :class:`httpx.ReadTimeout`.

    Works on asyncio and trio.
    """

    def __init__(self, fake: FakeKrea) -> None:
        self._fake = fake
        self._asgi = httpx.ASGITransport(app=fake.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request to the app (see the class docstring for the errors)."""
        refusal = self._fake.faults.pick(
            request.method, request.url.path, only=frozenset({"refuse_connection"})
        )
        if refusal is not None:
            raise httpx.ConnectError("[fake] connection refused (injected fault)", request=request)
        request.headers[_IN_PROCESS] = "1"
        timeouts = request.extensions.get("timeout") or {}
        try:
            with anyio.fail_after(timeouts.get("read")):
                return await self._asgi.handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("[fake] read timed out", request=request) from None
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "[fake] server disconnected without sending a complete response", request=request
            ) from None

    async def aclose(self) -> None:
        """Close the wrapped :class:`httpx.ASGITransport`."""
        await self._asgi.aclose()


# -- the fake -------------------------------------------------------------------------------


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
    - ``clock``: a callable answering seconds since the epoch (default
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
      background thread that ticks the clock every 50 ms; stop it with
      :meth:`close`). By default deliveries are only recorded in :attr:`webhooks`.
    - ``max_upload_bytes``: largest ``POST /assets`` file (default 75 MB).
    - ``lifecycle``: ``"simple"`` (default): ``queued`` (30% of the run) then
      ``processing``; ``"full"``: every pending status of NOTES.md in order,
      ``queued`` (15%), ``scheduled`` (10%), ``processing`` (30%), ``sampling``
      (30%), ``intermediate-complete`` (15%; ``result`` stays ``{}``), for testing
      code against the statuses real jobs may pass through.
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
        deliver_webhooks: bool = False,
        max_upload_bytes: int = MAX_ASSET_BYTES,
        lifecycle: Literal["simple", "full"] = "simple",
    ) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.api_key = api_key
        self.time_scale = time_scale
        self.max_upload_bytes = max_upload_bytes
        self.faults = FaultPlan(seed)
        self._outbox: queue.SimpleQueue[WebhookDelivery] = queue.SimpleQueue()
        self._state = State(
            clock=clock or wall_clock,
            concurrency=concurrency,
            max_backlog=max_backlog,
            balance=balance,
            on_webhook=self._outbox.put if deliver_webhooks else None,
            lifecycle=lifecycle,
        )
        self._models: dict[str, ModelInfo] = {m.path: m for m in generation_endpoints()}
        self._seed()
        self.app: ASGIApp = _FaultMiddleware(self._starlette(), self.faults)
        """The ASGI app (Starlette behind the fault middleware); serve it with any ASGI server."""
        self._stop = threading.Event()
        self._deliverer: threading.Thread | None = None
        if deliver_webhooks:
            self._deliverer = threading.Thread(
                target=self._deliver_loop, name="krea-fake-webhooks", daemon=True
            )
            self._deliverer.start()

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
        answers the :class:`FaultRule`."""
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
        duration (clock seconds, not scaled). Rules are tried in order; answers the
        :class:`ScriptRule` (mutable: set ``times = 0`` to disable it).
        """
        rule = ScriptRule(
            outcome=outcome, error=error, prompt=prompt, path=path, times=times, seconds=seconds
        )
        with self._state.lock:
            self._state.scripts.append(rule)
        return rule

    def fail_job(self, job_id: str, error: object = "Generation failed (fake)") -> dict[str, Any]:
        """Make a pending job fail now with ``result.error = error``; answer its JSON
        (unchanged if already terminal). ``KeyError`` if the job is unknown."""
        return self._end(job_id, "failed", error)

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        """Cancel a pending job now (as ``DELETE /jobs/{id}`` does); answer its JSON
        (unchanged if already terminal). ``KeyError`` if the job is unknown."""
        return self._end(job_id, "cancelled", None)

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's JSON as ``GET /jobs/{id}`` would answer it now, any owner (result
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
        return FakeTransport(self)

    def client(self, **kwargs: Any) -> AsyncKrea:
        """An :class:`~krea_async.AsyncKrea` bound to this fake in-process:
        ``AsyncKrea(api_key=<api_key or "fake-key">, base_url="http://fake.krea.test",
        transport=self.transport(), allow_insecure_http=True, **kwargs)``."""
        from krea_async import AsyncKrea

        options: dict[str, Any] = {
            "api_key": self.api_key or "fake-key",
            "base_url": "http://fake.krea.test",
            "transport": self.transport(),
            "allow_insecure_http": True,
        }
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
        import uvicorn

        _quiet_uvicorn()
        sock = _bind(host, port)
        real_port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level=log_level,
            lifespan="off",
            loop="asyncio",
            http="h11",
            ws="none",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"krea-fake-{real_port}",
            daemon=True,
        )
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the fake Krea server did not start")
                time.sleep(0.005)
            yield f"http://{_url_host(host)}:{real_port}"
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()

    def close(self) -> None:
        """Stop the webhook delivery thread, if any (idempotent)."""
        self._stop.set()
        if self._deliverer is not None:
            self._deliverer.join(5)

    def __enter__(self) -> FakeKrea:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------

    def _end(
        self, job_id: str, status: Literal["failed", "cancelled"], error: object
    ) -> dict[str, Any]:
        with self._state.lock:
            try:
                job = self._state.end_job(job_id, status, error=error)
            except ApiError:
                raise KeyError(job_id) from None
            return self._state.job_json(job, job.base_url)

    def _deliver_loop(self) -> None:
        with httpx.Client(timeout=5.0) as http:
            while not self._stop.wait(0.05):
                with self._state.lock:
                    self._state.advance()
                while not self._outbox.empty():
                    delivery = self._outbox.get()
                    try:
                        answer = http.post(delivery.url, json=delivery.payload)
                        delivery.response_status = answer.status_code
                    except httpx.HTTPError as exc:
                        delivery.error = f"{type(exc).__name__}: {exc}"

    def _seed(self) -> None:
        state = self._state
        created = iso(round(state.clock() * 1_000_000))
        for sid, title, owner, models in (
            (
                "krea-fake-official-watercolor",
                "Watercolor (fake official style)",
                None,
                ["flux_dev", "flux_schnell"],
            ),
            (
                "krea-fake-community-neon",
                "Neon noir (fake community style)",
                {
                    "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "krea-fake-someone-else")),
                    "name": "someone-else",
                    "avatar_url": None,
                },
                ["flux_dev"],
            ),
        ):
            state.seed_style(
                {
                    "id": sid,
                    "title": title,
                    "urls": [f"/_fake/images/512x768/{sid}.png"],
                    "public": True,
                    "cover_url": f"/_fake/images/512x768/{sid}.png",
                    "prompt": title.split(" (")[0],
                    "models": models,
                    "owner": owner,
                    "like_count": 42,
                    "created_at": created,
                },
                owner=None,
            )
        state.node_apps[SAMPLE_NODE_APP_ID] = {
            "id": SAMPLE_NODE_APP_ID,
            "author_id": "krea-fake-author",
            "workspace_id": "fake-workspace",
            "name": "Product shot (fake)",
            "slug": "product-shot-fake",
            "description": "A sample node app of the fake: num_images pictures of a prompt.",
            "scope": "public",
            "created_at": created,
            "updated_at": created,
            "last_version_id": SAMPLE_NODE_APP_ID,
            "version": 1,
            "version_created_at": created,
            "username": "krea-fake",
            "example_outputs": ["/_fake/images/768x768/product-shot.png"],
            "input_openapi_schema": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "minLength": 1, "maxLength": 1800},
                    "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
                    "image_url": {"type": "string", "format": "uri"},
                },
                "required": ["prompt"],
                "additionalProperties": False,
            },
            "output_openapi_schema": {
                "type": "object",
                "properties": {"images": {"type": "array", "items": {"type": "string"}}},
                "required": ["images"],
            },
            "input_key_mapping": {
                "prompt": "node-1-text",
                "num_images": "node-2-count",
                "image_url": "node-3-image",
            },
            "output_key_mapping": {"node-9-images": "images"},
        }

    # -- HTTP ---------------------------------------------------------------------------

    def _auth(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Unauthorized: send an 'Authorization: Bearer <API token>' header")
        if self.api_key is not None and token != self.api_key:
            raise ApiError(401, "Unauthorized: invalid API token")
        return token

    def _submit_job(self, request: Request, owner: str, **job: Any) -> dict[str, Any]:
        headers = {
            k: v for k, v in request.headers.items() if k not in ("authorization", _IN_PROCESS)
        }
        with self._state.lock:
            created = self._state.submit(
                owner=owner, headers=headers, base_url=_base(request), **job
            )
            return self._state.job_json(created, _base(request), submit=True)

    async def _generate(self, request: Request) -> Response:
        owner = self._auth(request)
        info = self._models.get(request.url.path)
        if info is None:
            raise ApiError(404, f"Unknown generation endpoint {request.url.path}")
        body = await _json_body(request)
        validator, aliases = _generation_validator(info.path)
        _validate(validator, body, aliases)
        seconds = info.average_seconds or default_seconds(info.category)
        video = info.category == "video"
        answer = self._submit_job(
            request,
            owner,
            path=info.path,
            type=_JOB_TYPES[info.category],
            body=body,
            duration=seconds * self.time_scale,
            price=price_of(info.path, info.category, body),
            media="mp4" if video else "png",
            size=(64, 64) if video else _media.size_for(body),
        )
        return JSONResponse(answer)

    async def _get_job(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            job = self._state.find(request.path_params["id"], owner)
            return JSONResponse(self._state.job_json(job, _base(request)))

    async def _cancel_job(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            job = self._state.end_job(request.path_params["id"], "cancelled", owner=owner)
            return JSONResponse(self._state.job_json(job, _base(request)))

    async def _list_jobs(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            return JSONResponse(self._state.list_jobs(owner, request.query_params, _base(request)))

    async def _file(self, request: Request) -> Response:
        job_id, name = request.path_params["id"], request.path_params["name"]
        stem, _, ext = name.partition(".")
        with self._state.lock:
            try:
                job = self._state.find(job_id, None)
            except ApiError:
                job = None
            ready = job is not None and job.status == "completed" and job.style is None
        if job is None or not ready or not stem.isdigit() or int(stem) >= job.outputs:
            raise ApiError(404, "File not found")
        if job.media == "mp4" and ext == "mp4":
            return Response(_media.sample_mp4(), media_type="video/mp4")
        if job.media != "png" or ext != "png":
            raise ApiError(404, "File not found")
        prompt = job.body.get("prompt") if isinstance(job.body, dict) else None
        seed = f"{prompt if isinstance(prompt, str) else job.id}#{stem}"
        data = await anyio.to_thread.run_sync(_media.png, job.size[0], job.size[1], seed)
        return Response(data, media_type="image/png")

    async def _image(self, request: Request) -> Response:
        size, seed = request.path_params["size"], request.path_params["seed"]
        w, _, h = size.partition("x")
        if not (w.isdigit() and h.isdigit()) or not seed.endswith(".png"):
            raise ApiError(404, "File not found")
        data = await anyio.to_thread.run_sync(_media.png, int(w), int(h), seed)
        return Response(data, media_type="image/png")

    # assets

    async def _upload(self, request: Request) -> Response:
        owner = self._auth(request)
        limit = self.max_upload_bytes
        too_big = f"file: larger than the maximum of {limit} bytes ({limit / 2**20:g} MB)"
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit + 64 * 1024:
            raise ApiError(400, too_big)
        try:
            form = await request.form(max_files=1, max_fields=10)
        except HTTPException as exc:
            raise ApiError(400, f"Invalid multipart body: {exc.detail}") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "file: required field is missing (multipart/form-data)")
            content = await upload.read()
            filename = upload.filename or "upload"
            description = form.get("description")
        finally:
            await form.close()
        if len(content) > limit:
            raise ApiError(400, too_big)
        mime = _media.sniff(content)
        if mime is None:
            raise ApiError(
                400,
                "file: invalid file type (JPEG, PNG, WebP, HEIC, MP4, MOV, WebM, "
                "GLB, WAV or MP3 expected)",
            )
        size = _media.image_size(content)
        asset_id = str(uuid.uuid4())
        safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
        data: dict[str, Any] = {
            "id": asset_id,
            "image_url": f"{_base(request)}/_fake/assets/{asset_id}/{safe_name}",
            "width": size[0] if size else None,
            "height": size[1] if size else None,
            "size_bytes": len(content),
            "mime_type": mime,
            "metadata": {"filename": filename},
        }
        if isinstance(description, str):
            data["description"] = description
        with self._state.lock:
            return JSONResponse(self._state.add_asset(owner, content, data))

    async def _list_assets(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            return JSONResponse(self._state.list_assets(owner, request.query_params))

    async def _get_asset(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            return JSONResponse(self._state.asset(request.path_params["id"], owner).data)

    async def _delete_asset(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            asset = self._state.asset(request.path_params["id"], owner)
            del self._state.assets[asset.data["id"]]
        return JSONResponse({"success": True, "message": "Asset deleted successfully"})

    async def _asset_file(self, request: Request) -> Response:
        with self._state.lock:
            asset = self._state.assets.get(request.path_params["id"])
        if asset is None:
            raise ApiError(404, "File not found")
        return Response(asset.content, media_type=asset.data["mime_type"])

    # styles

    def _style_json(self, data: Mapping[str, Any], base: str) -> dict[str, Any]:
        return {k: _absolute(v, base) for k, v in data.items()}

    async def _train(self, request: Request) -> Response:
        owner = self._auth(request)
        body = await _json_body(request)
        _validate(_request_validator("/styles/train", "post"), body)
        model = body.get("model", "flux_dev")
        with self._state.lock:
            style = self._state.new_style(
                owner,
                name=body["name"],
                model=model,
                urls=body["urls"],
                trigger_word=body.get("trigger_word"),
            )
        preview = f"/_fake/images/512x768/{style['id']}.png"
        style.update(urls=[preview], cover_url=preview)
        answer = self._submit_job(
            request,
            owner,
            path="/styles/train",
            type="loraTraining",
            body=body,
            duration=TRAINING_SECONDS * self.time_scale,
            price=price_of("/styles/train", "loraTraining", body),
            media="",
            outputs=0,
            style=style,
        )
        return JSONResponse(answer)

    async def _list_styles(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            page = self._state.list_styles(owner, request.query_params)
        page["items"] = [self._style_json(s, _base(request)) for s in page["items"]]
        return JSONResponse(page)

    async def _get_style(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner)
            return JSONResponse(self._style_json(style.data, _base(request)))

    async def _patch_style(self, request: Request) -> Response:
        owner = self._auth(request)
        body = await _json_body(request)
        _validate(_request_validator("/styles/{id}", "patch"), body)
        update = {
            k: v
            for k, v in body.items()
            if k in ("public", "urls", "title", "cover_url") and v is not None
        }
        if not update:
            raise ApiError(400, "No valid fields to update (public, urls, title, cover_url)")
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner, must_own=True)
            style.data.update(update)
            return JSONResponse(self._style_json(style.data, _base(request)))

    async def _share_link(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner, must_own=True)
            is_new = style.share_code is None
            if style.share_code is None:
                style.share_code = uuid.uuid4().hex[:12]
            code = style.share_code
        link = f"{_base(request)}/_fake/share/styles/{code}"
        return JSONResponse(
            {"share_link": link, "is_new": is_new}, status_code=201 if is_new else 200
        )

    async def _share_workspace(self, request: Request) -> Response:
        owner = self._auth(request)
        style_id = request.path_params["id"]
        with self._state.lock:
            style = self._state.style(style_id, owner, must_own=True, forbidden=True)
            if request.method == "POST":
                style.shared = True
                return JSONResponse(
                    {"success": True, "style_id": style_id, "workspace": _WORKSPACE}
                )
            if not style.shared:
                raise ApiError(404, f"Style {style_id} is not shared with this workspace")
            style.shared = False
        return JSONResponse({"success": True})

    # node apps

    def _node_app(self, app_id: str) -> dict[str, Any]:
        app = self._state.node_apps.get(app_id)
        if app is None:
            raise ApiError(404, f"Node app version {app_id} not found")
        return app

    async def _get_node_app(self, request: Request) -> Response:
        self._auth(request)
        with self._state.lock:
            app = self._node_app(request.path_params["id"])
        return JSONResponse(self._style_json(app, _base(request)))

    async def _execute(self, request: Request) -> Response:
        owner = self._auth(request)
        app_id = request.path_params["id"]
        with self._state.lock:
            app = self._node_app(app_id)
        body = await _json_body(request)
        _validate(_schema_validator(json.dumps(app["input_openapi_schema"], sort_keys=True)), body)
        count = body.get("num_images", 1)
        answer = self._submit_job(
            request,
            owner,
            path=f"/node-apps/{app_id}/execute",
            type="nodeApp",
            body=body,
            duration=NODE_APP_SECONDS * self.time_scale,
            price=price_of(f"/node-apps/{app_id}/execute", "nodeApp", body),
            outputs=count if isinstance(count, int) and count > 0 else 1,
            size=_media.size_for(body),
        )
        return JSONResponse([answer])

    def _starlette(self) -> Starlette:
        async def api_error(_: Request, exc: Exception) -> Response:
            assert isinstance(exc, ApiError)
            return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

        async def http_error(_: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

        async def server_error(_: Request, exc: Exception) -> Response:
            log.exception("fake Krea API: internal error", exc_info=exc)
            return JSONResponse({"error": "Internal server error (a bug in the fake)"}, 500)

        routes = [
            Route("/generate/{rest:path}", self._generate, methods=["POST"]),
            Route("/jobs", self._list_jobs, methods=["GET"]),
            Route("/jobs/{id}", self._get_job, methods=["GET"]),
            Route("/jobs/{id}", self._cancel_job, methods=["DELETE"]),
            Route("/assets", self._upload, methods=["POST"]),
            Route("/assets", self._list_assets, methods=["GET"]),
            Route("/assets/{id}", self._get_asset, methods=["GET"]),
            Route("/assets/{id}", self._delete_asset, methods=["DELETE"]),
            Route("/styles/train", self._train, methods=["POST"]),
            Route("/styles", self._list_styles, methods=["GET"]),
            Route("/styles/{id}", self._get_style, methods=["GET"]),
            Route("/styles/{id}", self._patch_style, methods=["PATCH"]),
            Route("/styles/{id}/share/link", self._share_link, methods=["GET"]),
            Route(
                "/styles/{id}/share/workspace", self._share_workspace, methods=["POST", "DELETE"]
            ),
            Route("/node-apps/{id}", self._get_node_app, methods=["GET"]),
            Route("/node-apps/{id}/execute", self._execute, methods=["POST"]),
            Route("/_fake/files/{id}/{name}", self._file, methods=["GET"]),
            Route("/_fake/images/{size}/{seed}", self._image, methods=["GET"]),
            Route("/_fake/assets/{id}/{name}", self._asset_file, methods=["GET"]),
        ]
        handlers: dict[Any, Callable[[Request, Exception], Any]] = {
            ApiError: api_error,
            HTTPException: http_error,
            Exception: server_error,
        }
        return Starlette(routes=routes, exception_handlers=handlers)


@functools.lru_cache(maxsize=64)
def _schema_validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
