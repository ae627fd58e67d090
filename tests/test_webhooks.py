"""The webhook receiver and the in-process job-event bus, under asyncio and trio.

Deliveries are the fake's own recorded webhooks (``fake.webhooks``), plus forged ones:
a wrong token, a right token with a lying body, replays, out-of-order states, oversized
and non-JSON bodies. None of them may change a result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from krea_async import AsyncKrea, Job, JobStatus
from krea_async._webhooks.events import LocalEvents, status_rank
from krea_async._webhooks.receiver import WebhookReceiver
from krea_async._webhooks.redis import RedisEvents
from krea_async.testing import FakeKrea, ManualClock
from krea_async.web import wait_job

pytestmark = pytest.mark.anyio

BASE = "https://app.example/krea/webhooks"
MODEL = "image/bfl/flux-1-dev"


class Counted:
    """``krea.jobs.get`` that counts its calls."""

    def __init__(self, krea: AsyncKrea) -> None:
        self.krea = krea
        self.calls = 0

    async def __call__(self, job_id: str) -> Job:
        self.calls += 1
        return await self.krea.jobs.get(job_id)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeKrea:
    return FakeKrea(clock=clock, time_scale=1.0)


@pytest.fixture
async def krea(fake: FakeKrea) -> AsyncIterator[AsyncKrea]:
    async with fake.client() as client:
        yield client


async def submit(krea: AsyncKrea, receiver: WebhookReceiver) -> tuple[Job, str, str]:
    url, token = await receiver.new_url()
    job = await krea.generate(MODEL, {"prompt": "a fox"}, webhook_url=url)
    await receiver.bind(token, job.job_id)
    return job, url, token


def finish(fake: FakeKrea, clock: ManualClock, job_id: str) -> bytes:
    """Run the job to completion on the fake clock; return the body the fake POSTs."""
    clock.advance(3600)
    delivery = next(d for d in fake.webhooks if d.job_id == job_id)
    return json.dumps(dict(delivery.payload)).encode()


async def test_capability_urls_are_unguessable_and_distinct(krea: AsyncKrea) -> None:
    receiver = WebhookReceiver(BASE, fetch=krea.jobs.get)
    urls = {(await receiver.new_url())[0] for _ in range(50)}
    assert len(urls) == 50
    for url in urls:
        assert url.startswith(BASE + "/")
        token = url.rsplit("/", 1)[1]
        assert len(token) >= 43  # 32 random bytes, base64url: 256 bits (>= 128 required)


async def test_delivery_wakes_waiter_without_status_polls(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get, verify="token")
    job, url, token = await submit(krea, receiver)
    assert fake.ledger[-1].webhook_url == url
    get = Counted(krea)
    woken: list[Job] = []

    async def waiter() -> None:
        woken.append(await wait_job(events, job.job_id, get=get, deadline=10, safety_poll=30))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0.01)
        assert woken == []
        body = finish(fake, clock, job.job_id)
        assert await receiver.handle(token, body) == 200
    assert woken[0].status is JobStatus.COMPLETED
    assert woken[0].urls == tuple(json.loads(body)["result"]["urls"])
    assert get.calls == 0  # no status request while the job ran


async def test_waiter_started_after_delivery_still_sees_it(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get)
    job, _, token = await submit(krea, receiver)
    assert await receiver.handle(token, finish(fake, clock, job.job_id)) == 200
    get = Counted(krea)
    done = await wait_job(events, job.job_id, get=get, deadline=5)
    assert done.status is JobStatus.COMPLETED
    assert get.calls == 0


async def test_wrong_token_is_404_and_wakes_nothing(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get)
    job, _, token = await submit(krea, receiver)
    body = finish(fake, clock, job.job_id)
    for wrong in ("", "nope", token[:-1], token + "x", token.upper(), "a/b", "x" * 5000):
        result = await receiver.handle_full(wrong, body)
        assert (result.status, result.reason) == (404, "unknown webhook token")
    assert await events.latest(job.job_id) is None


async def test_lying_body_cannot_change_the_result_with_fetch(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    get = Counted(krea)
    receiver = WebhookReceiver(BASE, events=events, fetch=get)
    job, _, token = await submit(krea, receiver)
    lie = {
        "job_id": job.job_id,
        "status": "completed",
        "created_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:01Z",
        "result": {"urls": ["https://evil.example/x.png"]},
    }
    result = await receiver.handle_full(token, json.dumps(lie).encode())
    assert result.status == 200
    assert get.calls == 1  # one confirming GET /jobs/{id}
    published = await events.latest(job.job_id)
    assert published is not None
    assert published.status is not JobStatus.COMPLETED  # what Krea says: still pending
    assert "https://evil.example/x.png" not in published.urls
    # the real completion then arrives and wins
    real = finish(fake, clock, job.job_id)
    assert await receiver.handle(token, real) == 200
    final = await events.latest(job.job_id)
    assert final is not None
    assert final.status is JobStatus.COMPLETED
    assert final.urls == tuple(json.loads(real)["result"]["urls"])


async def test_body_for_another_job_is_refused(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    for verify in ("fetch", "token"):
        events = LocalEvents()
        receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get, verify=verify)
        mine, _, token = await submit(krea, receiver)
        other, _, _ = await submit(krea, receiver)
        body = finish(fake, clock, other.job_id)
        result = await receiver.handle_full(token, body)
        assert (result.status, result.reason) == (400, "job_id does not match this webhook URL")
        assert await events.latest(other.job_id) is None
        assert await events.latest(mine.job_id) is None


async def test_replay_and_out_of_order_are_no_ops(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get, verify="token")
    job, _, token = await submit(krea, receiver)
    body = finish(fake, clock, job.job_id)
    first = await receiver.handle_full(token, body)
    assert (first.status, first.reason) == (200, "ok")
    again = await receiver.handle_full(token, body)
    assert (again.status, again.reason, again.job) == (200, "already known", None)
    older = dict(json.loads(body), status="processing", result={}, completed_at=None)
    late = await receiver.handle_full(token, json.dumps(older).encode())
    assert (late.status, late.reason) == (200, "already known")
    # a different terminal status after completed does not replace it either
    flipped = dict(json.loads(body), status="failed")
    assert (await receiver.handle_full(token, json.dumps(flipped).encode())).status == 200
    latest = await events.latest(job.job_id)
    assert latest is not None
    assert latest.status is JobStatus.COMPLETED


async def test_oversized_and_non_json_bodies(krea: AsyncKrea) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get, max_body=1000)
    _, token = await receiver.new_url("some-job")
    big = await receiver.handle_full(token, b"{" + b" " * 1000 + b"}")
    assert (big.status, big.reason) == (413, "body over 1000 bytes")
    for body, reason in (
        (b"not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "body is not a job"),
        (b'{"status": "completed"}', "body is not a job"),
    ):
        result = await receiver.handle_full(token, body)
        assert (result.status, result.reason) == (400, reason)


async def test_verify_token_rejects_malformed_job(krea: AsyncKrea) -> None:
    receiver = WebhookReceiver(BASE, fetch=None, verify="token")
    _, token = await receiver.new_url("j")
    body = json.dumps({"job_id": "j", "status": 5}).encode()
    assert (await receiver.handle_full(token, body)).status == 400


def test_receiver_arguments() -> None:
    with pytest.raises(ValueError, match="fetch"):
        WebhookReceiver(BASE)
    with pytest.raises(ValueError, match="http"):
        WebhookReceiver("app.example/hooks", verify="token")
    with pytest.raises(ValueError, match="verify"):
        WebhookReceiver(BASE, verify="trust")  # type: ignore[arg-type]


def test_status_rank_orders_the_life_of_a_job() -> None:
    order = ["backlogged", "queued", "scheduled", "processing", "sampling"]
    order += ["intermediate-complete", "completed"]
    ranks = [status_rank(JobStatus(s)) for s in order]
    assert ranks == sorted(ranks)
    assert len(set(ranks)) == len(ranks)
    assert status_rank(JobStatus.FAILED) == status_rank(JobStatus.CANCELLED) == ranks[-1]


async def test_safety_poll_finds_a_lost_delivery(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get)
    job, _, _ = await submit(krea, receiver)
    clock.advance(3600)  # completed; the webhook is "lost" (never handled)
    get = Counted(krea)
    seen: list[str] = []

    async def on_state(state: Job) -> None:  # async callbacks are awaited
        await anyio.sleep(0)
        seen.append(str(state.status))

    done = await wait_job(
        events, job.job_id, get=get, deadline=5, safety_poll=0.05, on_state=on_state
    )
    assert done.status is JobStatus.COMPLETED
    assert get.calls == 1
    assert seen == ["completed"]
    assert events._events == {}  # a waiter that timed out leaves nothing behind
    assert events._waiting == {}


async def test_deadline_bounds_the_wait(krea: AsyncKrea) -> None:
    receiver = WebhookReceiver(BASE, fetch=krea.jobs.get)
    job, _, _ = await submit(krea, receiver)
    with pytest.raises(TimeoutError):
        await wait_job(receiver.events, job.job_id, get=krea.jobs.get, deadline=0.2)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_redis_down_falls_back_to_polling(
    krea: AsyncKrea, fake: FakeKrea, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # redis-py's asyncio client runs under asyncio only.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    events = RedisEvents(f"redis://127.0.0.1:{port}/0", connect_timeout=0.5)
    job = await krea.generate(MODEL, {"prompt": "a fox"})
    get = Counted(krea)
    seen: list[str] = []

    async def advancing_get(job_id: str) -> Job:
        clock.advance(2)
        return await get(job_id)

    caplog.set_level(logging.WARNING, logger="krea_async.events")
    with anyio.fail_after(10):
        done = await wait_job(
            events,
            job.job_id,
            get=advancing_get,
            deadline=10,
            fallback_poll=0.01,
            on_state=lambda j: seen.append(str(j.status)),
        )
    await events.aclose()
    assert done.status is JobStatus.COMPLETED
    assert get.calls >= 2
    assert seen[-1] == "completed"
    assert any("polling job" in r.getMessage() for r in caplog.records)
    receiver = WebhookReceiver(BASE, events=events, verify="token")
    with pytest.raises(Exception, match="Redis is unavailable"):
        await receiver.new_url()
    assert await receiver.handle("w" * 43, b"{}") == 503


# -- the ASGI app, mounted in Starlette and FastAPI --------------------------------------


def _starlette_app(receiver: WebhookReceiver) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    return Starlette(routes=[Mount("/krea/webhooks", app=receiver.asgi_app())])


def _fastapi_app(receiver: WebhookReceiver) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    app.mount("/krea/webhooks", receiver.asgi_app())
    return app


@pytest.mark.parametrize("make_app", [_starlette_app, _fastapi_app], ids=["starlette", "fastapi"])
async def test_asgi_app_mounted(
    krea: AsyncKrea,
    fake: FakeKrea,
    clock: ManualClock,
    make_app: Callable[[WebhookReceiver], Any],
) -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, fetch=krea.jobs.get, max_body=64 * 1024)
    job, url, _token = await submit(krea, receiver)
    body = finish(fake, clock, job.job_id)
    transport = httpx.ASGITransport(app=make_app(receiver))
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as http:
        post: Callable[..., Awaitable[httpx.Response]] = http.post
        wrong = await post("/krea/webhooks/not-a-token", content=body)
        assert (wrong.status_code, wrong.text) == (404, "unknown webhook token")
        assert await events.latest(job.job_id) is None
        assert (await http.get(url)).status_code == 405
        big = await post(url, content=b"x" * (64 * 1024 + 1))
        assert (big.status_code, big.text) == (413, "body over 65536 bytes")

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: capped while read
            for _ in range(100):
                yield b"x" * 1024

        streamed = await post(url, content=chunks())
        assert streamed.status_code == 413
        bad = await post(url, content=b"<xml/>")
        assert (bad.status_code, bad.text) == (400, "body is not JSON")
        ok = await post(url, content=body, headers={"content-type": "application/json"})
        assert (ok.status_code, ok.text) == (200, "ok")
        again = await post(url, content=body)
        assert (again.status_code, again.text) == (200, "already known")
    latest = await events.latest(job.job_id)
    assert latest is not None
    assert latest.status is JobStatus.COMPLETED
