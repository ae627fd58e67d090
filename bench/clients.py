"""Client runners of the benchmark, each run in its own process by ``bench/run.py``.

Every runner does the same work against ``bench/server.py``: for each of N jobs, submit
``POST /generate/image/bfl/flux-1-dev`` then wait until the job is terminal, all N at
once on one client, on the standard asyncio loop:

- ``sdk``: ``asyncio.gather`` of N ``krea.subscribe(...)`` on one ``AsyncKrea`` with
  default settings (the SDK's own transport and polling).
- ``sdk-aiohttp``: the same with ``AsyncKrea(http_client=krea_async.aiohttp_client())``
  (needs ``httpx-aiohttp``; an older SDK gets its ``http_transport="aiohttp"``, or
  ``http_client=httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())``).
- ``sdk-copies``: the ``sdk`` runner with a
  ``krea.with_options(retry=RetryPolicy(max_retries=3))`` copy
  made for each call (the openai-python habit); not in the default runners
  (``--runners sdk,sdk-copies``).
- ``sdk-save``: the ``sdk`` runner, each call then saving its result file
  (``result.save(dir)``: one more request per job, ``GET /_fake/files/...``); not in the
  default runners.
- ``sdk-otel``: the ``sdk`` runner with OpenTelemetry on: the OpenTelemetry SDK's
  ``TracerProvider`` (a ``BatchSpanProcessor`` into an exporter that counts and drops the
  spans) and ``MeterProvider`` (an in-memory reader) set as the global providers, so
  each job makes its span, events and metrics (``--runners sdk,sdk-otel``: the overhead
  is the ``sdk-otel / sdk`` ratio). Needs ``opentelemetry-sdk`` (the ``bench`` extra).
- ``httpx``: a raw loop, ``httpx.AsyncClient(limits=Limits(max_connections=100))`` and an
  ``asyncio.Semaphore(100)`` around each request; polls ``GET /jobs/{id}`` every 2 s.
- ``httpx2``: the same loop on ``httpx2`` (same API).
- ``httpx-aiohttp``: the ``httpx`` loop over ``httpx_aiohttp.AiohttpTransport``, built as
  ``krea_async.aiohttp_client()`` builds it: what httpx's API costs over aiohttp.
- ``aiohttp``: the same loop on ``aiohttp.ClientSession(connector=TCPConnector(limit=100))``.

The whole run is bounded (``--bound`` seconds, default 180): jobs not finished by then are
cancelled and counted as lost, so a client that collapses cannot hang the benchmark. Each
job also carries that deadline (the SDK's per-job deadline, the raw loops' own).

Output: one JSON line on stdout with ``wall_s``, ``cpu_s`` (process CPU time of the work,
imports excluded), ``ok`` (jobs that returned their URLs), ``errors`` (by exception type),
``unfinished``, ``lags_s`` (client's completion time minus the server's ``completed_at``,
per finished job), ``maxrss_kb`` (peak RSS of the process).

``python -m bench.clients --runner sdk --n 100 --base-url http://127.0.0.1:PORT``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import importlib.util
import inspect
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["DEFAULT_RUNNERS", "RUNNERS", "available", "main"]

ENDPOINT = "image/bfl/flux-1-dev"
PATH = "/generate/" + ENDPOINT
TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: The raw loops' fixed poll interval (seconds), as Krea's docs poll images.
POLL_INTERVAL = 2.0
#: The raw loops' connection limit and semaphore size.
CONNECTIONS = 100
API_KEY = "bench-key"

#: Runner name -> modules it needs.
RUNNERS: dict[str, tuple[str, ...]] = {
    "sdk": ("krea_async",),
    "sdk-aiohttp": ("krea_async", "httpx_aiohttp"),
    "sdk-copies": ("krea_async",),
    "sdk-save": ("krea_async",),
    "sdk-otel": ("krea_async", "opentelemetry.sdk"),
    "httpx": ("httpx",),
    "httpx2": ("httpx2",),
    "httpx-aiohttp": ("httpx", "httpx_aiohttp"),
    "aiohttp": ("aiohttp",),
}


def available(runner: str) -> bool:
    """Whether the modules ``runner`` needs are importable here."""
    return all(importlib.util.find_spec(m) is not None for m in RUNNERS[runner])


class Record:
    """What one run saw: finished jobs (seen time, server completion time) and errors."""

    def __init__(self) -> None:
        self.done: list[tuple[float, str]] = []  # (time.time() seen, completed_at ISO)
        self.errors: Counter[str] = Counter()
        self.bad: int = 0  # terminal but not completed with URLs

    def finish(self, job_id: str, status: str, completed_at: str | None, urls: Any) -> None:
        seen = time.time()
        if status == "completed" and completed_at and urls and job_id in str(urls[0]):
            self.done.append((seen, completed_at))
        else:
            self.bad += 1
            self.errors[f"job-{status}"] += 1


def _epoch(value: str) -> float:
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# -- the SDK --------------------------------------------------------------------------------


def _deadline_kw(subscribe: Callable[..., Any], seconds: float) -> dict[str, float]:
    """The SDK's per-job deadline keyword: ``deadline=`` (new) or ``timeout=`` (old)."""
    params = inspect.signature(subscribe).parameters
    return {"deadline" if "deadline" in params else "timeout": seconds}


#: Runners measured by default (``sdk-copies`` and ``sdk-save`` only when asked for).
DEFAULT_RUNNERS = (
    "sdk",
    "sdk-otel",
    "sdk-aiohttp",
    "httpx",
    "httpx2",
    "httpx-aiohttp",
    "aiohttp",
)


async def _sdk(
    n: int,
    base_url: str,
    bound: float,
    record: Record,
    aiohttp_transport: bool,
    copies: bool = False,
    save_to: str | None = None,
) -> Callable[[], Awaitable[None]]:
    import httpx

    import krea_async
    from krea_async import AsyncKrea, RetryPolicy

    http_client = None
    kwargs: dict[str, Any] = {}
    if aiohttp_transport and hasattr(krea_async, "aiohttp_client"):
        http_client = krea_async.aiohttp_client()
        kwargs["http_client"] = http_client
    elif aiohttp_transport and "http_transport" in inspect.signature(AsyncKrea).parameters:
        kwargs["http_transport"] = "aiohttp"  # an SDK from before aiohttp_client()
    elif aiohttp_transport:
        import httpx_aiohttp

        http_client = httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())
        kwargs["http_client"] = http_client
    krea = AsyncKrea(api_key=API_KEY, base_url=base_url, **kwargs)
    deadline = _deadline_kw(krea.subscribe, bound)

    async def one(i: int) -> None:
        try:
            client = krea.with_options(retry=RetryPolicy(max_retries=3)) if copies else krea
            res = await client.subscribe(ENDPOINT, input={"prompt": f"bench {i}"}, **deadline)
        except Exception as exc:  # counted, by type
            record.errors[type(exc).__name__] += 1
            return
        job = res.job
        done = job.completed_at.isoformat() if job.completed_at is not None else None
        record.finish(job.job_id, job.status, done, list(res.data.urls or ()))
        if save_to is not None:
            try:
                await res.save(save_to)
            except Exception as exc:  # counted, by type
                record.errors[f"save-{type(exc).__name__}"] += 1

    await _gather_bounded([one(i) for i in range(n)], bound, record)

    async def close() -> None:
        await krea.aclose()
        if http_client is not None:
            await http_client.aclose()

    return close


# -- raw loops ------------------------------------------------------------------------------


async def _raw_jobs(
    n: int,
    bound: float,
    record: Record,
    request: Callable[[str, str, Any], Awaitable[dict[str, Any]]],
) -> None:
    async def wait(job: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Poll every ``POLL_INTERVAL`` s until terminal (``TimeoutError`` at ``deadline``)."""
        while job["status"] not in TERMINAL:
            if time.monotonic() + POLL_INTERVAL > deadline:
                raise TimeoutError(f"job {job['job_id']} not terminal within {bound} s")
            await asyncio.sleep(POLL_INTERVAL)
            job = await request("GET", f"/jobs/{job['job_id']}", None)
        return job

    async def one(i: int) -> None:
        deadline = time.monotonic() + bound
        try:
            job = await request("POST", PATH, {"prompt": f"bench {i}"})
            job_id = job["job_id"]
            job = await wait(job, deadline)
        except Exception as exc:  # counted, by type
            record.errors[type(exc).__name__] += 1
            return
        result = job.get("result") or {}
        record.finish(job_id, job["status"], job.get("completed_at"), result.get("urls"))

    await _gather_bounded([one(i) for i in range(n)], bound, record)


class HttpStatusError(Exception):
    """A raw loop got a non-2xx answer."""


async def _httpx_like(
    module_name: str, n: int, base_url: str, bound: float, record: Record, *, aiohttp: bool = False
) -> Callable[[], Awaitable[None]]:
    mod = __import__(module_name)
    extra: dict[str, Any] = {}
    if aiohttp:  # httpx's API over httpx-aiohttp's transport: the floor of sdk-aiohttp
        import httpx_aiohttp

        extra["transport"] = httpx_aiohttp.AiohttpTransport(  # as AsyncKrea builds it
            limits=mod.Limits(max_connections=CONNECTIONS)
        )
    client = mod.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        limits=mod.Limits(max_connections=CONNECTIONS),
        timeout=mod.Timeout(60.0),
        **extra,
    )
    sem = asyncio.Semaphore(CONNECTIONS)

    async def request(method: str, path: str, body: Any) -> dict[str, Any]:
        async with sem:
            resp = await client.request(method, path, json=body)
        if resp.status_code >= 300:
            raise HttpStatusError(str(resp.status_code))
        data: dict[str, Any] = resp.json()
        return data

    await _raw_jobs(n, bound, record, request)
    return client.aclose  # type: ignore[no-any-return]


async def _aiohttp(
    n: int, base_url: str, bound: float, record: Record
) -> Callable[[], Awaitable[None]]:
    import aiohttp

    session = aiohttp.ClientSession(
        base_url=base_url,
        headers={"Authorization": f"Bearer {API_KEY}"},
        connector=aiohttp.TCPConnector(limit=CONNECTIONS),
        timeout=aiohttp.ClientTimeout(total=60.0),
    )

    async def request(method: str, path: str, body: Any) -> dict[str, Any]:
        async with session.request(method, path, json=body) as resp:
            if resp.status >= 300:
                raise HttpStatusError(str(resp.status))
            data: dict[str, Any] = await resp.json()
            return data

    await _raw_jobs(n, bound, record, request)
    return session.close


# -- the run --------------------------------------------------------------------------------

#: Seconds a run waits for its cancelled jobs to wind down after the bound.
CANCEL_GRACE = 20.0


async def _gather_bounded(coros: list[Awaitable[None]], bound: float, record: Record) -> None:
    """Run every job at once; at ``bound`` seconds cancel the rest (counted unfinished)."""
    if not coros:
        return
    tasks = [asyncio.ensure_future(c) for c in coros]
    _, pending = await asyncio.wait(tasks, timeout=bound)
    if pending:
        record.errors["unfinished-at-bound"] += len(pending)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=CANCEL_GRACE)


async def _run(runner: str, n: int, base_url: str, bound: float, record: Record) -> None:
    if runner == "sdk-save":
        with tempfile.TemporaryDirectory(prefix="bench-save-") as tmp:
            close = await _sdk(n, base_url, bound, record, False, save_to=tmp)
            await asyncio.wait_for(close(), CANCEL_GRACE)
        return
    if runner == "sdk-otel":
        spans = _otel_on(n)
        close = await _sdk(n, base_url, bound, record, False)
        await asyncio.wait_for(close(), CANCEL_GRACE)
        exported = spans()
        if exported < 2 * len(record.done):  # a job span and its submit span per job
            record.errors["otel-spans-missing"] += 2 * len(record.done) - exported
        return
    if runner in ("sdk", "sdk-aiohttp", "sdk-copies"):
        close = await _sdk(
            n, base_url, bound, record, runner == "sdk-aiohttp", copies=runner == "sdk-copies"
        )
    elif runner in ("httpx", "httpx2"):
        close = await _httpx_like(runner, n, base_url, bound, record)
    elif runner == "httpx-aiohttp":
        close = await _httpx_like("httpx", n, base_url, bound, record, aiohttp=True)
    elif runner == "aiohttp":
        close = await _aiohttp(n, base_url, bound, record)
    else:
        raise SystemExit(f"unknown runner {runner!r}")
    await asyncio.wait_for(close(), CANCEL_GRACE)


def _otel_on(n: int) -> Callable[[], int]:
    """Set the OpenTelemetry SDK's tracer and meter providers (global, once per process,
    before the measured window); return a function that flushes them and answers how
    many spans were exported."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Counting(SpanExporter):
        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.count += len(spans)
            return SpanExportResult.SUCCESS

    exporter = Counting()
    provider = TracerProvider()
    # a queue for every span of the run: a full queue drops spans, which is not the cost
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=4 * n + 2048))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(meters)

    def flush() -> int:
        provider.force_flush()
        reader.get_metrics_data()
        provider.shutdown()
        meters.shutdown()
        return exporter.count

    return flush


def _import_first(*names: str) -> Any:
    """The first of ``names`` that imports (``None`` if none does)."""
    for name in names:
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    return None


def _preimport(runner: str) -> None:
    """Import what the runner needs before the measured window, including what is
    imported or built on first use (once per process, not per request): httpx's
    httpcore and anyio's asyncio backend; the SDK's wire-format converter and its
    bundled spec (the input check of the first submit)."""
    for name in RUNNERS[runner]:
        __import__(name)
    if runner in ("sdk", "sdk-aiohttp", "httpx", "httpx-aiohttp"):
        import anyio._backends._asyncio  # noqa: F401
        import httpcore  # noqa: F401
    if runner == "httpx2":
        import httpcore2  # noqa: F401
    if runner.startswith("sdk"):
        # today's module paths first, then those of an SDK before the 0.1.0 layout
        _import_first("krea_async._client.client", "krea_async._client")
        runtime = _import_first("krea_async._spec.inputs_runtime", "krea_async._inputs_runtime")
        with contextlib.suppress(ImportError, AttributeError):  # an older SDK
            from krea_async import _converter

            _converter._get_converter()
        if runtime is not None and hasattr(runtime, "to_body"):
            runtime.to_body(ENDPOINT, {"prompt": "warm-up"})
    if runner == "sdk-otel":
        import opentelemetry.sdk.metrics
        import opentelemetry.sdk.trace  # noqa: F401
    if runner == "aiohttp":
        import aiohttp  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Run one runner once; print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.clients")
    parser.add_argument("--runner", choices=sorted(RUNNERS), required=True)
    parser.add_argument("--n", type=int, required=True, help="jobs (0: the memory baseline)")
    parser.add_argument("--base-url", required=True, help="the bench server, http://127.0.0.1:PORT")
    parser.add_argument("--bound", type=float, default=180.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    if not args.base_url.startswith(("http://127.0.0.1:", "http://[::1]:")):
        parser.error("the benchmark runs on loopback only")
    _preimport(args.runner)
    record = Record()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(_run(args.runner, args.n, args.base_url, args.bound, record))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    out = {
        "runner": args.runner,
        "n": args.n,
        "wall_s": wall,
        "cpu_s": cpu,
        "ok": len(record.done),
        "errors": dict(record.errors),
        "lags_s": [round(seen - _epoch(done), 6) for seen, done in record.done],
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
