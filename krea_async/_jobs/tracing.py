"""Jobs in OpenTelemetry traces and metrics (the ``krea-async[otel]`` extra).

One span per job (``krea.job <model>``, kind ``INTERNAL``), from its submit to its
terminal state, parented to the caller's current span, with child spans for the
submit (``krea.submit``), downloads (``krea.download``) and the SDK's own cancel
(``krea.cancel``); each state a wait sees is a span *event* (``krea.job.poll``), not
a span, so 10,000 jobs make 10,000 job spans, not 100,000 poll spans. Metrics: jobs
in flight, job duration and queue time by model and status, submit errors by class.

Names follow OpenTelemetry's semantic conventions where they exist
(https://opentelemetry.io/docs/specs/semconv/gen-ai/ and
https://opentelemetry.io/docs/specs/semconv/general/recording-errors/):
``gen_ai.operation.name`` (``generate_content``), ``gen_ai.provider.name``
(``krea``), ``gen_ai.request.model``, ``gen_ai.response.id`` (the job id),
``error.type``, and the histogram ``gen_ai.client.operation.duration`` (seconds);
what they lack is under ``krea.``. The job lifecycle (queue time: submit until first
seen running) is https://docs.krea.ai/developers/job-lifecycle .

Only ``opentelemetry-api`` is used, imported on the first job. Off, and nearly free,
when it is not installed or when the application set neither a tracer provider nor
a meter provider: :func:`start_job` then answers ``None`` and the job's path makes
no further call. Until the application sets its providers they are looked up at each
job's start (so one set after the client was built is used); once found, they are kept
(OpenTelemetry sets a global provider once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _clock

if TYPE_CHECKING:
    import os

    from .._models import Job
    from .outcome import CancelJob
    from .results import DownloadAll

__all__ = ["JobTrace", "start_job"]

_SCOPE = "krea_async"
_RUNNING = frozenset({"processing", "sampling", "intermediate-complete"})

# The opentelemetry API modules once imported; False when the extra is not installed.
_otel: Any = None
# The tracer and the instruments, once the application set its providers: OpenTelemetry
# lets a global provider be set once, so what was found is kept and never looked up again.
_tracer_found: Any = None
_instruments: Any = None


def _api() -> Any:
    global _otel
    if _otel is None:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            _otel = False
        else:
            _otel = (trace, metrics)
    return _otel


def _tracer(trace: Any) -> Any:
    """The SDK's tracer from the application's tracer provider, or ``None`` while
    the provider is the API's default (proxy or no-op: nothing would be recorded)."""
    global _tracer_found
    if _tracer_found is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            return None
        from .._version import __version__

        _tracer_found = provider.get_tracer(_SCOPE, __version__)
    return _tracer_found


def _meters(metrics: Any) -> Any:
    """The instruments of the application's meter provider, or ``None`` when none is set."""
    global _instruments
    if _instruments is not None:
        return _instruments
    provider = metrics.get_meter_provider()
    # Until the application sets one, the API answers a proxy (a private class) or no-op.
    if isinstance(provider, metrics.NoOpMeterProvider) or type(provider).__name__.startswith(
        "_Proxy"
    ):
        return None
    meter = provider.get_meter(_SCOPE)
    _instruments = (
        provider,
        meter.create_up_down_counter(
            "krea.jobs.in_flight", unit="{job}", description="Jobs submitted and not ended"
        ),
        meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="A job's time from its submit to its terminal state",
        ),
        meter.create_histogram(
            "krea.job.queue_time",
            unit="s",
            description="A job's time from its submit until it was first seen running",
        ),
        meter.create_counter(
            "krea.submit.errors", unit="{error}", description="Submits that raised"
        ),
    )
    return _instruments


def start_job(endpoint: str | None, job_id: str | None = None) -> JobTrace | None:
    """A trace for one job on ``endpoint`` (``"image/bfl/flux-1-dev"``; ``None`` when
    unknown, e.g. ``jobs.wait(job_id)``), started now as a child of the current span;
    ``None`` when OpenTelemetry is off (not installed, or no tracer and no meter
    provider set). ``job_id``: for a job already submitted."""
    api = _api()
    if not api:
        return None
    trace, metrics = api
    tracer = _tracer(trace)
    meters = _meters(metrics)
    if tracer is None and meters is None:
        return None
    return JobTrace(trace, tracer, meters, endpoint, job_id)


def _error_type(exc: BaseException) -> str:
    """``error.type``: the exception's class (qualified outside the SDK)."""
    cls = type(exc)
    if cls.__module__.startswith("krea_async") or cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class JobTrace:
    """The span and metrics of one job. Call :meth:`submitting` around the submit,
    :meth:`submitted` with its answer, :meth:`update` with each later state, and
    :meth:`end` once; :meth:`wrap_cancel` and :meth:`wrap_download` give the child
    spans of the SDK's own cancel and of ``SubscribeResult.save()``."""

    __slots__ = (
        "_attrs",
        "_ended",
        "_meters",
        "_polls",
        "_retries",
        "_running_at",
        "_span",
        "_started",
        "_submitted_at",
        "_trace",
        "_tracer",
        "woken_by",
    )

    def __init__(
        self, trace: Any, tracer: Any, meters: Any, endpoint: str | None, job_id: str | None
    ) -> None:
        endpoint = endpoint or "unknown"
        category, _, model = endpoint.partition("/")
        self._trace = trace
        self._tracer = tracer
        self._meters = meters
        self._attrs = {"gen_ai.request.model": model or endpoint, "krea.endpoint": endpoint}
        self._started = _clock.now()
        self._submitted_at: float | None = None if job_id is None else self._started
        self._running_at: float | None = None
        self._polls = 0
        self._retries = 0
        self._ended = False
        #: What delivered the job's states: ``"webhook"`` or ``"poll"``.
        self.woken_by = "poll"
        self._span = None
        if tracer is not None:
            attributes: dict[str, Any] = {
                "gen_ai.operation.name": "generate_content",
                "gen_ai.provider.name": "krea",
                "krea.job.category": category,
                **self._attrs,
            }
            if job_id is not None:
                attributes["gen_ai.response.id"] = attributes["krea.job.id"] = job_id
            self._span = tracer.start_span(
                f"krea.job {model or endpoint}",
                kind=trace.SpanKind.INTERNAL,
                attributes=attributes,
            )
        if meters is not None and job_id is not None:
            meters[1].add(1, self._attrs)

    @contextmanager
    def child(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[None]:
        """A child span of the job's span (``krea.submit``, ``krea.download``,
        ``krea.cancel``) around the block; an exception marks it as an error."""
        if self._span is None:
            yield
            return
        context = self._trace.set_span_in_context(self._span)
        with self._tracer.start_as_current_span(
            name, context=context, attributes=attributes
        ) as span:
            try:
                yield
            except BaseException as exc:
                span.set_attribute("error.type", _error_type(exc))
                raise

    def retried(self) -> None:
        """One request of this job was retried (an HTTP retry of its submit or poll)."""
        self._retries += 1

    @contextmanager
    def submitting(self, *, lone: bool = False) -> Iterator[None]:
        """Around the submit: a ``krea.submit`` child span; a submit that raises counts
        in ``krea.submit.errors`` and ends the job's span with that error. ``lone``:
        the submit is all this trace covers (the job's span is the submit span)."""
        try:
            if lone and self._span is not None:
                self._span.update_name("krea.submit")
                yield
            else:
                with self.child("krea.submit"):
                    yield
        except BaseException as exc:
            if self._meters is not None:
                self._meters[4].add(1, {**self._attrs, "error.type": _error_type(exc)})
            self.end(error=exc)
            raise
        if lone:
            self._ended = True
            if self._span is not None:
                self._span.end()

    def identify(self, job_id: str) -> None:
        """The job id, once the submit answered (a lone submit span's)."""
        if self._span is not None:
            self._span.set_attributes({"gen_ai.response.id": job_id, "krea.job.id": job_id})

    def submitted(self, job: Job) -> None:
        """The submit's answer: the job id is known; the job counts as in flight."""
        self._submitted_at = _clock.now()
        self.identify(job.job_id)
        if self._meters is not None:
            self._meters[1].add(1, self._attrs)
        self._seen(job)

    def update(self, job: Job) -> None:
        """A later state of the job (a poll's answer or a webhook's): a span event."""
        self._polls += 1
        if self._span is not None:
            self._span.add_event("krea.job.poll", {"krea.job.status": str(job.status)})
        self._seen(job)

    def _seen(self, job: Job) -> None:
        if self._running_at is None and (str(job.status) in _RUNNING or job.is_terminal):
            self._running_at = _clock.now()

    def end(self, job: Job | None = None, *, error: BaseException | None = None) -> None:
        """End the job's span (once): its final status, queue and run time (seconds),
        retries and how it was woken; an ``error`` (a failed job, a deadline, a
        cancellation) sets the span's error status and ``error.type``."""
        if self._ended:
            return
        self._ended = True
        now = _clock.now()
        status = str(job.status) if job is not None else ("error" if error else "unknown")
        queue = run = None
        if self._submitted_at is not None and self._running_at is not None:
            queue = self._running_at - self._submitted_at
            run = now - self._running_at
        span = self._span
        if span is not None:
            final: dict[str, Any] = {
                "krea.job.status": status,
                "krea.job.polls": self._polls,
                "krea.job.retries": self._retries,
                "krea.job.woken_by": self.woken_by,
            }
            if queue is not None and run is not None:
                final["krea.job.queue_time"] = queue
                final["krea.job.run_time"] = run
            if error is not None:
                final["error.type"] = _error_type(error)
            span.set_attributes(final)
            if error is not None:
                span.record_exception(error)
                span.set_status(
                    self._trace.Status(self._trace.StatusCode.ERROR, f"{type(error).__name__}")
                )
            span.end()
        if self._meters is not None and self._submitted_at is not None:
            attrs = {**self._attrs, "krea.job.status": status}
            if error is not None:
                attrs["error.type"] = _error_type(error)
            self._meters[1].add(-1, self._attrs)
            self._meters[2].record(now - self._submitted_at, attrs)
            if queue is not None:
                self._meters[3].record(queue, attrs)

    def wrap_cancel(self, cancel: CancelJob) -> CancelJob:
        """``cancel`` inside a ``krea.cancel`` child span."""

        async def traced(job_id: str, timeout: float) -> Job:
            with self.child("krea.cancel", {"krea.job.id": job_id}):
                return await cancel(job_id, timeout)

        return traced

    def wrap_download(self, download: DownloadAll | None) -> DownloadAll | None:
        """``download`` (``SubscribeResult.save()``) inside a ``krea.download`` child span."""
        if download is None or self._span is None:
            return download
        inner = download

        async def traced(
            urls: Sequence[str], dest: str | os.PathLike[str], job_id: str | None
        ) -> list[Path]:
            with self.child("krea.download", {"krea.download.files": len(urls)}):
                return await inner(urls, dest, job_id)

        return traced
