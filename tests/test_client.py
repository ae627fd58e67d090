"""The main job end to end through the public API, against the fake server.

Each async test runs under asyncio and trio; the ``krea`` fixture runs it both
in-process (httpx ASGI transport) and over real loopback HTTP (uvicorn).
"""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from _virtual_clock import VirtualClock

from krea_async import (
    AsyncKrea,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClientStateError,
    ConfigurationError,
    Job,
    JobCancelledError,
    JobFailedError,
    JobNotFoundError,
    JobSettings,
    JobStatus,
    RetryPolicy,
    files,
    parse_job,
)
from krea_async.testing import FakeKrea

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]

DOCS_TEXT_TO_IMAGE = {
    "prompt": "a serene mountain landscape at sunset",
    "width": 1024,
    "height": 576,
    "steps": 28,
}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def fake() -> Iterator[FakeKrea]:
    with FakeKrea(time_scale=0.02) as fake:
        yield fake


@pytest.fixture(params=["in-process", "loopback"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def base_url(fake: FakeKrea, mode: str) -> Iterator[str | None]:
    if mode == "in-process":
        yield None
    else:
        with fake.serve_in_thread() as url:
            yield url


@pytest.fixture
async def krea(fake: FakeKrea, base_url: str | None) -> AsyncIterator[AsyncKrea]:
    if base_url is None:
        client = fake.client(jobs=JobSettings(poll_interval=0.01))
    else:
        client = AsyncKrea("test-key", base_url=base_url, jobs=JobSettings(poll_interval=0.01))
    async with client:
        yield client


def _ordered(statuses: list[JobStatus]) -> bool:
    order = ["backlogged", "queued", "processing", "completed"]
    ranks = [order.index(s.value) for s in statuses]
    return ranks == sorted(ranks)


async def test_image_then_stream_yields_states_in_order(krea: AsyncKrea) -> None:
    job = await krea.image("bfl/flux-1-dev", DOCS_TEXT_TO_IMAGE)
    assert isinstance(job, Job)
    assert job.status is JobStatus.QUEUED
    assert job.created_at is not None
    assert job.created_at.tzinfo is not None
    states = [state async for state in krea.jobs.stream(job.job_id)]
    statuses = [s.status for s in states]
    assert statuses[-1] is JobStatus.COMPLETED
    assert _ordered(statuses)
    assert all(not s.is_terminal for s in states[:-1])
    final = states[-1]
    assert final.completed_at is not None
    assert len(final.result.urls) == 1


@pytest.mark.virtual_clock
async def test_stream_sees_every_state_of_a_job_on_the_virtual_clock(
    virtual_clock: VirtualClock,
) -> None:
    """Polled every 0.5 s, a 7 s Flux job shows queued, processing and completed in
    order (on a real clock a loaded machine may poll past a short processing window)."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    async with fake.client(jobs=JobSettings(poll_interval=0.5, max_poll_interval=0.5)) as krea:
        job = await krea.image("bfl/flux-1-dev", DOCS_TEXT_TO_IMAGE)
        statuses = [s.status async for s in krea.jobs.stream(job.job_id)]
    assert JobStatus.PROCESSING in statuses
    assert statuses[-1] is JobStatus.COMPLETED
    assert _ordered(statuses)


async def test_subscribe_reports_updates_and_returns_urls(krea: AsyncKrea, tmp_path: Path) -> None:
    seen: list[JobStatus] = []

    async def on_update(job: Job) -> None:
        seen.append(job.status)

    result = await krea.subscribe(
        "image/bfl/flux-1-dev", input=DOCS_TEXT_TO_IMAGE, on_queue_update=on_update
    )
    assert result.job.status is JobStatus.COMPLETED
    assert result.request_id == result.job.job_id
    assert result.data.urls == result.job.result.urls
    assert seen[0] is JobStatus.QUEUED
    assert seen[-1] is JobStatus.COMPLETED
    assert _ordered(seen)
    [path] = await result.save(tmp_path)
    assert png_size(path.read_bytes()) == (1024, 576)
    assert not list(tmp_path.glob("*.part"))


async def test_plain_callback_and_download_to_a_file(krea: AsyncKrea, tmp_path: Path) -> None:
    seen: list[str] = []
    result = await krea.subscribe(
        "image/bfl/flux-1-dev",
        input={"prompt": "a red fox", "width": 640, "height": 512},
        on_queue_update=lambda job: seen.append(job.status.value),
    )
    assert seen[-1] == "completed"
    out = await krea.download(result.data.urls[0], tmp_path / "fox.png")
    assert out == tmp_path / "fox.png"
    assert png_size(out.read_bytes()) == (640, 512)


async def test_breaking_out_of_stream_early_leaves_nothing_open(
    fake: FakeKrea, anyio_backend: str
) -> None:
    with fake.serve_in_thread() as url:
        async with AsyncKrea("k", base_url=url, jobs=JobSettings(poll_interval=0.01)) as krea:
            job = await krea.image("bfl/flux-1-dev", {"prompt": "early break"})
            tasks_before = len(asyncio.all_tasks()) if anyio_backend == "asyncio" else 0
            async for state in krea.jobs.stream(job.job_id):
                assert not state.is_terminal
                break
            if anyio_backend == "asyncio":
                assert len(asyncio.all_tasks()) == tasks_before
            pool = krea._state.http_client._transport._pool  # type: ignore[attr-defined]
            assert all(conn.is_idle() for conn in pool.connections)
            # The job was left alone (no cancel_on_exit by default) and completes.
            done = await krea.jobs.wait(job.job_id)
            assert done.status is JobStatus.COMPLETED
    assert [e.status for e in fake.ledger] == ["completed"]


async def test_stream_as_context_manager_cancels_on_early_exit(fake: FakeKrea) -> None:
    async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "cancel me on break"})
        async with krea.jobs.stream(job.job_id, cancel_on_exit=True) as states:
            async for _ in states:
                break
        assert states.cancelled_remote
        assert (await krea.jobs.get(job.job_id)).status is JobStatus.CANCELLED


async def test_failed_job_raises_with_the_job(krea: AsyncKrea, fake: FakeKrea) -> None:
    fake.script("failed", error={"code": "nsfw", "message": "moderation"}, prompt="forbidden")
    with pytest.raises(JobFailedError) as info:
        await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "something forbidden"})
    err = info.value
    assert err.job is not None
    assert err.job.status is JobStatus.FAILED
    assert err.job_id == err.job.job_id
    assert err.job.result.error_message == "moderation"
    assert "moderation" in str(err)


async def test_cancelled_job_raises(krea: AsyncKrea, fake: FakeKrea) -> None:
    fake.script("cancelled", prompt="doomed")
    with pytest.raises(JobCancelledError) as info:
        await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "doomed"})
    assert info.value.job is not None
    assert info.value.job.status is JobStatus.CANCELLED


async def test_jobs_cancel_then_wait_raises_cancelled(krea: AsyncKrea) -> None:
    job = await krea.video(
        "kling/kling-2.1", {"prompt": "a slow pan", "start_image": "https://x.test/a.png"}
    )
    cancelled = await krea.jobs.cancel(job.job_id)
    assert cancelled is not None  # the fake answers the cancelled job
    assert cancelled.job_id == job.job_id
    assert cancelled.status is JobStatus.CANCELLED
    with pytest.raises(JobCancelledError):
        await krea.jobs.wait(job.job_id)


async def test_400_names_the_field(krea: AsyncKrea, fake: FakeKrea) -> None:
    with pytest.raises(BadRequestError) as info:
        await krea.generate("image/bfl/flux-1-dev", {"prompt": "x", "steps": 500})
    err = info.value
    assert err.status_code == 400
    assert "steps" in err.message
    assert err.response.status_code == 400
    with pytest.raises(BadRequestError, match="prompt"):
        await krea.generate("image/bfl/flux-1-dev", {"width": 1024})
    with pytest.raises(BadRequestError, match="colour"):
        await krea.generate("image/bfl/flux-1-dev", {"prompt": "x", "colour": "red"})
    assert fake.ledger == []


async def test_401_with_a_wrong_key(anyio_backend: str) -> None:
    fake = FakeKrea(api_key="the-right-key")
    async with fake.client(api_key="a-wrong-key") as krea:
        with pytest.raises(AuthenticationError) as info:
            await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    assert info.value.status_code == 401
    assert "KREA_API_KEY" in str(info.value)
    assert "a-wrong-key" not in str(info.value)


async def test_404_for_an_unknown_job(krea: AsyncKrea) -> None:
    with pytest.raises(JobNotFoundError) as info:
        await krea.jobs.get("4d0e5f97-9721-4422-b88c-73a9032d7de1")
    assert info.value.job_id == "4d0e5f97-9721-4422-b88c-73a9032d7de1"
    with pytest.raises(JobNotFoundError):
        async for _ in krea.jobs.stream("4d0e5f97-9721-4422-b88c-73a9032d7de1"):
            pass


async def test_docs_image_to_image_example_with_a_data_uri(krea: AsyncKrea) -> None:
    fake_jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    uri = files.data_uri(fake_jpeg)
    assert uri.startswith("data:image/jpeg;base64,")
    for image in (uri, "https://example.com/photo.jpg"):
        result = await krea.subscribe(
            "image/google/nano-banana-pro",
            input={"image_urls": [image], "prompt": "make it a watercolor painting"},
        )
        assert result.data.urls


async def test_with_options_shares_the_pool(fake: FakeKrea) -> None:
    from krea_async import InternalServerError
    from krea_async.testing import http_error

    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        seen.append(request)

    # Observed through the public API: both clients send through the same
    # httpx client (its event hook sees both), and only the copy has RetryPolicy(max_retries=0).
    krea = fake.client(jobs=JobSettings(poll_interval=0.01))
    fast = krea.with_options(
        retry=RetryPolicy(max_retries=0),
        jobs=JobSettings(poll_interval=0.01, deadline=10),
        timeout=5,
    )
    probe = await krea.image("bfl/flux-1-dev", {"prompt": "probe"})
    fake.inject(http_error(503), on="poll", times=1)
    with pytest.raises(InternalServerError):
        await fast.jobs.get(probe.job_id)
    fake.inject(http_error(503), on="poll", times=1)
    assert (await krea.jobs.get(probe.job_id)).job_id == probe.job_id  # retried
    async with httpx.AsyncClient(
        transport=fake.transport(), event_hooks={"request": [record]}
    ) as http:
        own = AsyncKrea(
            "fake-key", base_url="http://fake.krea.test", http_client=http, allow_insecure_http=True
        )
        copy = own.with_options(retry=RetryPolicy(max_retries=0))
        await own.jobs.get(probe.job_id)
        await copy.jobs.get(probe.job_id)
        assert len(seen) == 2
    job = await fast.image("bfl/flux-1-dev", {"prompt": "shared pool"})
    assert (await krea.jobs.wait(job.job_id)).status is JobStatus.COMPLETED
    await fast.aclose()
    assert krea.is_closed
    with pytest.raises(ClientClosedError):
        await krea.jobs.get(job.job_id)


async def test_caller_owned_http_client_is_not_closed(fake: FakeKrea) -> None:
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        async with AsyncKrea(
            "fake-key", base_url="http://fake.krea.test", http_client=http, allow_insecure_http=True
        ) as krea:
            await krea.image("bfl/flux-1-dev", {"prompt": "mine"})
        assert not http.is_closed
    assert len(fake.ledger) == 1


def test_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KREA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="KREA_API_KEY"):
        AsyncKrea()


def test_key_and_base_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KREA_API_KEY", "env-key")
    monkeypatch.setenv("KREA_BASE_URL", "http://127.0.0.1:9")
    krea = AsyncKrea()
    assert krea.base_url == "http://127.0.0.1:9"
    monkeypatch.delenv("KREA_BASE_URL")
    assert AsyncKrea().base_url == "https://api.krea.ai"


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="clear text"):
        AsyncKrea("k", base_url="http://api.example.com")
    AsyncKrea("k", base_url="http://api.example.com", allow_insecure_http=True)
    for url in ("http://localhost:8000", "http://127.0.0.5:1", "http://[::1]:8000"):
        AsyncKrea("k", base_url=url)


def test_a_client_is_bound_to_its_first_event_loop(fake: FakeKrea) -> None:
    krea = fake.client(jobs=JobSettings(poll_interval=0.01))

    async def use() -> None:
        await krea.image("bfl/flux-1-dev", {"prompt": "loop one"})

    anyio.run(use)
    with pytest.raises(ClientStateError, match="another event loop"):
        anyio.run(use)
    with pytest.raises(ClientStateError):
        anyio.run(use, backend="trio")


async def test_every_pending_status_of_a_full_lifecycle(anyio_backend: str) -> None:
    """Against jobs that pass through all six pending statuses, stream() yields them in
    order and subscribe() still ends with the completed job."""
    from krea_async.testing import ManualClock

    clock = ManualClock()
    fake = FakeKrea(clock=clock, lifecycle="full", time_scale=1.0)  # Flux: 7 s of clock
    async with fake.client(jobs=JobSettings(poll_interval=0)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "all the statuses"})
        seen: list[str] = []
        async for state in krea.jobs.stream(job.job_id):
            if not seen or seen[-1] != state.status.value:
                seen.append(state.status.value)
            clock.advance(0.5)
        assert seen == [
            "queued",
            "scheduled",
            "processing",
            "sampling",
            "intermediate-complete",
            "completed",
        ]
        updates: list[JobStatus] = []

        def on_update(job: Job) -> None:
            updates.append(job.status)
            clock.advance(0.5)  # each poll sees the job 0.5 s of clock later

        result = await krea.subscribe(
            "image/bfl/flux-1-dev",
            input={"prompt": "all the statuses again"},
            on_queue_update=on_update,
        )
        # intermediate-complete (a preview) did not end the wait: only completed did.
        assert JobStatus.INTERMEDIATE_COMPLETE in updates
        assert result.job.status is JobStatus.COMPLETED
        assert updates[-1] is JobStatus.COMPLETED


async def test_webhook_payloads_parse_into_jobs(fake: FakeKrea) -> None:
    async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
        result = await krea.subscribe(
            "image/bfl/flux-1-dev",
            input={"prompt": "notify me"},
            webhook_url="https://my.app/krea-webhook",
        )
    [delivery] = fake.webhooks
    assert delivery.url == "https://my.app/krea-webhook"
    body = json.dumps(delivery.payload).encode()
    for payload in (body, body.decode(), delivery.payload):
        job = parse_job(payload)
        assert job.job_id == result.job.job_id
        assert job.status is JobStatus.COMPLETED
        assert job.urls == result.urls
    for junk in (b"<html>", b'{"status": "completed"}', b"[]"):
        with pytest.raises(ValueError):
            parse_job(junk)
