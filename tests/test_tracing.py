"""Jobs in OpenTelemetry traces and metrics (``krea-async[otel]``), asyncio and trio.

The OpenTelemetry SDK's global tracer and meter providers can be set once per process:
a session fixture sets them (an in-memory span exporter, an in-memory metric reader),
each test clears the exporter. "No provider" is the API's default proxy provider,
patched in for that one test (the SDK reads the provider at each job's start).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from krea_async import AsyncKrea, JobFailedError, JobSettings, RetryPolicy, WebhookSettings
from krea_async._jobs import tracing
from krea_async.testing import FakeKrea, ManualClock, rate_limited

pytestmark = pytest.mark.anyio

MODEL = "image/bfl/flux-1-dev"
FAST = JobSettings(poll_interval=0.01, max_poll_interval=0.01)


@pytest.fixture(scope="session")
def otel() -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


@pytest.fixture
def spans(
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
) -> Iterator[InMemorySpanExporter]:
    otel[0].clear()
    yield otel[0]
    otel[0].clear()


@pytest.fixture
async def krea() -> AsyncIterator[AsyncKrea]:
    async with FakeKrea(time_scale=0.01).client(jobs=FAST) as client:
        yield client


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        out.setdefault(span.name, []).append(span)
    return out


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


async def test_subscribe_is_one_job_span_under_the_callers_span(
    krea: AsyncKrea,
    spans: InMemorySpanExporter,
    otel: tuple[InMemorySpanExporter, InMemoryMetricReader],
    tmp_path: Any,
) -> None:
    tracer = trace.get_tracer("app")
    with tracer.start_as_current_span("request") as parent:
        result = await krea.subscribe(MODEL, input={"prompt": "a fox"})
        await result.save(tmp_path)
    names = by_name(spans)
    (job,) = names[f"krea.job {MODEL.partition('/')[2]}"]
    (submit,) = names["krea.submit"]
    (download,) = names["krea.download"]
    assert "krea.poll" not in names
    assert len(spans.get_finished_spans()) == 4
    assert job.kind is SpanKind.INTERNAL
    assert job.parent is not None
    assert job.parent.span_id == parent.get_span_context().span_id
    assert submit.parent is not None
    assert submit.parent.span_id == job.context.span_id
    assert download.parent is not None
    assert download.parent.span_id == job.context.span_id
    attrs = job.attributes or {}
    assert attrs["gen_ai.request.model"] == "bfl/flux-1-dev"
    assert attrs["krea.endpoint"] == MODEL
    assert attrs["gen_ai.response.id"] == attrs["krea.job.id"] == result.request_id
    assert attrs["krea.job.status"] == "completed"
    assert attrs["krea.job.woken_by"] == "poll"
    assert attrs["krea.job.retries"] == 0
    assert float(attrs["krea.job.queue_time"]) >= 0
    assert float(attrs["krea.job.run_time"]) >= 0
    polls = [e for e in job.events if e.name == "krea.job.poll"]
    assert polls
    assert attrs["krea.job.polls"] == len(polls)
    assert (polls[-1].attributes or {})["krea.job.status"] == "completed"
    assert job.status.status_code is StatusCode.UNSET
    reader = otel[1]
    in_flight = [
        p
        for p in points(reader, "krea.jobs.in_flight")
        if p.attributes.get("krea.endpoint") == MODEL
    ]
    assert sum(p.value for p in in_flight) == 0
    durations = [
        p
        for p in points(reader, "gen_ai.client.operation.duration")
        if p.attributes.get("krea.job.status") == "completed"
    ]
    assert durations
    assert sum(p.count for p in durations) >= 1
    assert points(reader, "krea.job.queue_time")


async def test_failed_job_span_has_error_status_and_type(
    spans: InMemorySpanExporter,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("failed", prompt="doomed")
    async with fake.client(jobs=FAST) as krea:
        with pytest.raises(JobFailedError):
            await krea.subscribe(MODEL, input={"prompt": "doomed fox"})
    (job,) = [s for s in spans.get_finished_spans() if s.name.startswith("krea.job ")]
    attrs = job.attributes or {}
    assert job.status.status_code is StatusCode.ERROR
    assert attrs["error.type"] == "JobFailedError"
    assert attrs["krea.job.status"] == "failed"
    assert any(e.name == "exception" for e in job.events)


async def test_submit_error_counts_and_ends_the_span(
    spans: InMemorySpanExporter, otel: tuple[InMemorySpanExporter, InMemoryMetricReader]
) -> None:
    async with FakeKrea().client(jobs=FAST, retry=RetryPolicy(max_retries=0)) as krea:
        with pytest.raises(Exception) as caught:
            await krea.subscribe("image/nobody/no-such-model", input={"prompt": "x"})
    names = by_name(spans)
    (submit,) = names["krea.submit"]
    (job,) = names["krea.job nobody/no-such-model"]
    assert submit.status.status_code is StatusCode.ERROR
    assert job.status.status_code is StatusCode.ERROR
    assert (job.attributes or {})["error.type"] == type(caught.value).__qualname__
    errors = [
        p
        for p in points(otel[1], "krea.submit.errors")
        if p.attributes.get("krea.endpoint") == "image/nobody/no-such-model"
    ]
    assert errors
    assert errors[0].attributes["error.type"] == type(caught.value).__qualname__


async def test_submit_retries_are_counted(spans: InMemorySpanExporter) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(rate_limited(retry_after=0), on="submit", times=2)
    async with fake.client(jobs=FAST, retry=RetryPolicy(max_retries=3, deadline=30)) as krea:
        from krea_async._http.retry import no_backoff

        with no_backoff():
            await krea.subscribe(MODEL, input={"prompt": "a fox"})
    (job,) = [s for s in spans.get_finished_spans() if s.name.startswith("krea.job ")]
    assert (job.attributes or {})["krea.job.retries"] == 2


async def test_webhook_woken_job_says_so(spans: InMemorySpanExporter) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock)
    hooks = WebhookSettings(url="https://app.example/hooks", safety_poll=3600)
    async with fake.client(jobs=FAST, webhooks=hooks) as krea:
        results: list[Any] = []

        async def run() -> None:
            results.append(await krea.subscribe(MODEL, input={"prompt": "a fox"}))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run)
                while not fake.ledger:
                    await anyio.sleep(0.01)
                entry = fake.ledger[-1]
                token = (entry.webhook_url or "").rsplit("/", 1)[1]
                await anyio.sleep(0.05)  # the wait is bound and on the bus
                clock.advance(3600)
                delivery = next(d for d in fake.webhooks if d.job_id == entry.job_id)
                receiver = krea.webhooks
                assert receiver is not None
                assert (
                    await receiver.handle(token, json.dumps(dict(delivery.payload)).encode()) == 200
                )
    assert results
    assert results[0].job.status == "completed"
    (job,) = [s for s in spans.get_finished_spans() if s.name.startswith("krea.job ")]
    assert (job.attributes or {})["krea.job.woken_by"] == "webhook"


async def test_cancel_on_exit_is_a_child_span(spans: InMemorySpanExporter) -> None:
    fake = FakeKrea(clock=ManualClock())  # jobs never finish on their own
    async with fake.client(jobs=FAST) as krea:
        with anyio.move_on_after(0.3):
            await krea.subscribe(MODEL, input={"prompt": "a fox"}, cancel_on_exit=True)
    names = by_name(spans)
    (job,) = names["krea.job bfl/flux-1-dev"]
    cancels = names["krea.cancel"]
    assert cancels[-1].parent is not None
    assert cancels[-1].parent.span_id == job.context.span_id
    assert job.status.status_code is StatusCode.ERROR


async def test_generate_then_wait(krea: AsyncKrea, spans: InMemorySpanExporter) -> None:
    job = await krea.generate(MODEL, {"prompt": "a fox"})
    await krea.jobs.wait(job.job_id)
    names = by_name(spans)
    (submit,) = names["krea.submit"]
    (wait,) = names["krea.job unknown"]
    assert (submit.attributes or {})["krea.job.id"] == job.job_id
    assert (wait.attributes or {})["krea.job.id"] == job.job_id
    assert (wait.attributes or {})["krea.job.status"] == "completed"


async def test_no_spans_without_a_provider(
    krea: AsyncKrea, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    monkeypatch.setattr(metrics, "get_meter_provider", metrics.NoOpMeterProvider)
    monkeypatch.setattr(tracing, "_tracer_found", None)
    monkeypatch.setattr(tracing, "_instruments", None)
    assert tracing.start_job(MODEL) is None
    await krea.subscribe(MODEL, input={"prompt": "a fox"})
    assert spans.get_finished_spans() == ()


def test_off_when_the_extra_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_otel", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    assert tracing.start_job(MODEL) is None
