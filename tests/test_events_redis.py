"""Two replicas on a real Redis: the webhook lands on replica B, the waiter on replica A wakes.

A fixture starts Debian's ``redis-server`` on a free loopback port (no persistence) and
two uvicorn processes (``tests/_replica_app.py``), each with
``AsyncKrea(webhooks=WebhookSettings(url=<B>/krea/webhooks, events=RedisEvents(...)))``;
``subscribe()`` waits on A, the fake runs on loopback and POSTs its webhooks for real
(``deliver_webhooks=True``) to replica B. Measured: the time from the webhook request
arriving at B to ``subscribe()`` on A returning (wall clock, same host). asyncio only:
redis-py's asyncio client does not run under trio. Skipped only when ``redis-server`` is
not installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
import redis.asyncio as aioredis

from krea_async import (
    EventsUnavailableError,
    Job,
    JobSettings,
    JobStatus,
    RedisEvents,
    WebhookSettings,
    parse_job,
)
from krea_async._webhooks.events import token_digest
from krea_async.testing import FakeKrea, ManualClock

REDIS = shutil.which("redis-server")

pytestmark = [
    pytest.mark.slow,  # a real redis-server and replicas on the real clock
    pytest.mark.redis,
    pytest.mark.loopback,
    pytest.mark.skipif(REDIS is None, reason="no redis-server (apt-get install redis-server)"),
]

TESTS = Path(__file__).parent
MODEL = "image/bfl/flux-1-dev"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """``redis-server`` on ``127.0.0.1:port`` (no persistence), once it listens."""
    assert REDIS is not None
    proc = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
    except BaseException:
        stop(proc)
        raise
    return proc


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``redis-server`` on a free loopback port: ``(url, process)``."""
    port = free_port()
    proc = start_redis(port, tmp_path)
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        stop(proc)


@pytest.fixture
def redis_url(redis_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    return redis_server[0]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only
async def test_redis_dying_mid_wait_falls_back_to_polling(
    anyio_backend: str,
    redis_server: tuple[str, subprocess.Popen[bytes]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proc = redis_server
    clock = ManualClock()  # the job stays pending until the clock moves
    caplog.set_level(logging.WARNING, "krea_async")
    with FakeKrea(clock=clock) as fake:
        async with (
            RedisEvents(url, connect_timeout=0.5) as events,
            fake.client(
                jobs=JobSettings(poll_interval=0.05),
                webhooks=WebhookSettings(url="https://app.example/krea/webhooks", events=events),
            ) as krea,
        ):
            results: list[Job] = []

            async def waiter() -> None:
                results.append(
                    (await krea.subscribe(MODEL, input={"prompt": "x"}, deadline=20)).job
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                with anyio.fail_after(5):
                    while not fake.ledger:
                        await anyio.sleep(0.01)
                assert (fake.ledger[0].webhook_url or "").startswith("https://app.example/")
                await anyio.sleep(0.2)  # the waiter is on the bus now
                await anyio.to_thread.run_sync(stop, proc)
                clock.advance(3600)
                with anyio.fail_after(10):
                    while not results:
                        await anyio.sleep(0.01)
    assert results[0].status is JobStatus.COMPLETED
    assert any("job events unavailable" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("verify", ["fetch", "token"])
def test_webhook_on_replica_b_wakes_waiter_on_replica_a(
    redis_url: str, tmp_path: Path, verify: str
) -> None:
    arrivals = tmp_path / "arrivals.txt"
    arrivals.touch()
    with (
        FakeKrea(time_scale=0.05, deliver_webhooks=True) as fake,
        fake.serve_in_thread() as fake_url,
    ):
        port_a, port_b = free_port(), free_port()
        env = dict(
            os.environ,
            REDIS_URL=redis_url,
            KREA_BASE_URL=fake_url,
            WEBHOOK_BASE=f"http://127.0.0.1:{port_b}/krea/webhooks",
            ARRIVALS=str(arrivals),
            VERIFY=verify,
        )
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(TESTS),
                    "_replica_app:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            for port in (port_a, port_b)
        ]
        try:
            for port, proc in zip((port_a, port_b), procs, strict=True):
                wait_for_port(port, proc)
            with httpx.Client(base_url=f"http://127.0.0.1:{port_a}", timeout=60) as http:

                def one(_: int) -> dict[str, object]:
                    answer = http.post("/start")
                    answer.raise_for_status()
                    return dict(answer.json())

                with ThreadPoolExecutor(8) as pool:
                    results = list(pool.map(one, range(40)))
        finally:
            for proc in procs:
                stop(proc)
        deliveries = fake.webhooks
    token_of = {e.job_id: (e.webhook_url or "").rsplit("/", 1)[-1] for e in fake.ledger}
    arrived: dict[str, float] = {}
    answered: dict[str, float] = {}
    for line in arrivals.read_text().splitlines():
        token, at, done = line.split()
        arrived.setdefault(token, float(at))
        answered.setdefault(token, float(done))
    latencies = sorted(float(r["woke"]) - arrived[token_of[str(r["job_id"])]] for r in results)
    receiver_ms = statistics.median(answered[t] - arrived[t] for t in arrived) * 1000
    print(f"\n[verify={verify}] receiver on B answered in p50 {receiver_ms:.1f} ms")
    p50 = statistics.median(latencies) * 1000
    p90 = latencies[int(len(latencies) * 0.9) - 1] * 1000
    print(
        f"[verify={verify}] webhook arrival on B -> subscribe() on A returns, "
        f"{len(latencies)} jobs: "
        f"p50 {p50:.1f} ms, p90 {p90:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    assert all(r["status"] == "completed" and r["urls"] for r in results)
    # no status poll: woken by the webhook; under verify="fetch" the state that came over
    # Redis from replica B is a hint that A confirms with one GET
    assert all(r["gets"] == (1 if verify == "fetch" else 0) for r in results)
    assert {d.response_status for d in deliveries} == {200}
    assert len(deliveries) == len(results)
    assert latencies[0] >= 0
    # "wakes within 100 ms of the delivery" holds for the median; the tail is bounded
    # loosely because this runs on the real clock of a shared 2-core CI machine (bench/
    # holds the latency figures)
    assert p50 < 100
    assert p90 < 500


# ------------------------------------------------------- one pub/sub connection per instance

asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only


def job(job_id: str, status: str) -> Job:
    return parse_job({"job_id": job_id, "status": status, "created_at": "2026-01-02T03:04:05Z"})


async def clients(admin: aioredis.Redis, name: str) -> list[dict[str, str]]:
    """``CLIENT LIST`` entries named ``name`` (each a dict of its fields)."""
    found = []
    for line in (await admin.execute_command("CLIENT", "LIST")).splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if fields.get("name") == name:
            found.append(fields)
    return found


async def numsub(admin: aioredis.Redis, *channels: str) -> list[int]:
    pairs = await admin.pubsub_numsub(*channels)
    return [int(n) for _, n in pairs]


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    with anyio.fail_after(within):
        while not await check():
            await anyio.sleep(0.01)


@asyncio_only
async def test_500_waiters_share_two_connections_and_all_wake(
    anyio_backend: str, redis_url: str
) -> None:
    n = 500
    async with (
        aioredis.Redis.from_url(redis_url, decode_responses=True) as admin,
        RedisEvents(f"{redis_url}?client_name=waiters") as events,
        RedisEvents(f"{redis_url}?client_name=publisher") as publisher,
    ):
        woke: dict[int, Job | None] = {}
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, len(await clients(admin, "waiters")))
                await anyio.sleep(0.005)

        async def wait(i: int) -> None:
            woke[i] = await events.next_state(f"job-{i}", after=None, timeout=30)

        channels = [f"krea:job:job-{i}" for i in range(n)]
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            for i in range(n):
                tg.start_soon(wait, i)
            await until(lambda: _all_one(admin, channels))
            subscribed = time.perf_counter() - started
            during_wait = await clients(admin, "waiters")
            info = await admin.info("clients")
            await anyio.sleep(0.1)  # one more sample with everyone subscribed
            started = time.perf_counter()
            limit = anyio.CapacityLimiter(50)  # redis-py's pool: at most 100 connections

            async def publish(i: int) -> None:
                async with limit:
                    await publisher.publish(job(f"job-{i}", "completed"))

            async with anyio.create_task_group() as pub:
                for i in range(n):
                    pub.start_soon(publish, i)
            await until(lambda: _true(len(woke) == n))
            wake_all = time.perf_counter() - started
            sampling = False
        after = await clients(admin, "waiters")
    print(
        f"\n{n} waiters: {len(during_wait)} connections of the waiting instance "
        f"(peak {peak} while joining/waking; server connected_clients "
        f"{info['connected_clients']} incl. publisher and admin); all subscribed in "
        f"{subscribed * 1000:.0f} ms, all {n} woken {wake_all * 1000:.0f} ms after the "
        f"publishes began"
    )
    assert peak <= 2
    assert sum(1 for c in during_wait if int(c.get("sub", "0")) > 0) == 1
    assert max(int(c.get("sub", "0")) for c in during_wait) == n  # one connection, n channels
    assert all(j is not None and j.status is JobStatus.COMPLETED for j in woke.values())
    assert sorted(woke) == list(range(n))
    assert all(int(c.get("sub", "0")) == 0 for c in after)  # the pub/sub connection is gone


async def _all_one(admin: aioredis.Redis, channels: list[str]) -> bool:
    return set(await numsub(admin, *channels)) == {1}


async def _true(value: bool) -> bool:
    return value


@asyncio_only
async def test_a_cancelled_waiter_leaves_its_channel(anyio_backend: str, redis_url: str) -> None:
    async with (
        aioredis.Redis.from_url(redis_url, decode_responses=True) as admin,
        RedisEvents(f"{redis_url}?client_name=waiters") as events,
    ):
        a, b = "krea:job:a", "krea:job:b"
        scopes: dict[str, list[anyio.CancelScope]] = {"a": [], "b": []}
        returned: list[object] = []

        async def wait(job_id: str) -> None:
            with anyio.CancelScope() as scope:
                scopes[job_id].append(scope)
                returned.append(await events.next_state(job_id, after=None, timeout=30))

        async with anyio.create_task_group() as tg:
            for job_id in ("a", "b", "b"):
                tg.start_soon(wait, job_id)
            await until(lambda: _equal(numsub(admin, a, b), [1, 1]))
            scopes["a"][0].cancel()
            await until(lambda: _equal(numsub(admin, a, b), [0, 1]))
            scopes["b"][0].cancel()  # one of two waiters of b: b stays subscribed
            await anyio.sleep(0.1)
            assert await numsub(admin, a, b) == [0, 1]
            assert len(await clients(admin, "waiters")) <= 2
            scopes["b"][1].cancel()  # the last waiter: the reader and connection end
        assert not any(_is_reader(t) for t in asyncio.all_tasks())
        await until(lambda: _equal(numsub(admin, a, b), [0, 0]))
        await until(lambda: _no_subscriber(admin))
        assert returned == []


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _no_subscriber(admin: aioredis.Redis) -> bool:
    return all(int(c.get("sub", "0")) == 0 for c in await clients(admin, "waiters"))


@asyncio_only
async def test_waiters_that_come_and_go_on_one_job_stay_subscribed(
    anyio_backend: str, redis_url: str
) -> None:
    # the last waiter of a job leaving (UNSUBSCRIBE) while the next one arrives
    # (SUBSCRIBE): the newcomer must end up subscribed and woken
    async with (
        aioredis.Redis.from_url(redis_url, decode_responses=True) as admin,
        RedisEvents(redis_url) as events,
        RedisEvents(redis_url) as publisher,
    ):
        keeper_done: list[Job | None] = []

        async def keeper() -> None:  # holds the connection open throughout
            keeper_done.append(await events.next_state("other", after=None, timeout=30))

        async with anyio.create_task_group() as tg:
            tg.start_soon(keeper)
            for _ in range(50):
                with anyio.move_on_after(0.003):
                    await events.next_state("churn", after=None, timeout=30)
            results: list[Job | None] = []

            async def last() -> None:
                results.append(await events.next_state("churn", after=None, timeout=30))

            tg.start_soon(last)
            await until(lambda: _equal(numsub(admin, "krea:job:churn"), [1]))
            await publisher.publish(job("churn", "completed"))
            await publisher.publish(job("other", "completed"))
        assert [j.status if j else None for j in results] == [JobStatus.COMPLETED]
        assert keeper_done
        assert keeper_done[0] is not None


@asyncio_only
async def test_a_state_published_just_before_subscribing_is_not_missed(
    anyio_backend: str, redis_url: str
) -> None:
    async with RedisEvents(redis_url) as events, RedisEvents(redis_url) as publisher:
        await publisher.publish(job("early", "completed"))
        with anyio.fail_after(5):
            got = await events.next_state("early", after=None, timeout=30)
        assert got is not None
        assert got.status is JobStatus.COMPLETED
        # racing: publish and subscribe at the same moment, 100 jobs; none may be missed
        # (the timeout would return None instead of a state)
        got_all: dict[str, Job | None] = {}

        async def wait(job_id: str) -> None:
            got_all[job_id] = await events.next_state(job_id, after=None, timeout=5)

        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(wait, f"race-{i}")
                tg.start_soon(publisher.publish, job(f"race-{i}", "completed"))
        assert len(got_all) == 100
        assert all(j is not None and j.status is JobStatus.COMPLETED for j in got_all.values())


@asyncio_only
async def test_redis_killed_mid_wait_every_waiter_polls_then_reconnects(
    anyio_backend: str,
    redis_server: tuple[str, subprocess.Popen[bytes]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proc = redis_server
    clock = ManualClock()  # the jobs stay pending until the clock moves
    caplog.set_level(logging.WARNING, "krea_async")
    with FakeKrea(clock=clock) as fake:
        async with (
            RedisEvents(url, connect_timeout=0.5) as events,
            fake.client(
                jobs=JobSettings(poll_interval=0.05),
                webhooks=WebhookSettings(url="https://app.example/krea/webhooks", events=events),
            ) as krea,
        ):
            results: list[Job] = []

            async def waiter(i: int) -> None:
                result = await krea.subscribe(MODEL, input={"prompt": f"{i}"}, deadline=20)
                results.append(result.job)

            async with anyio.create_task_group() as tg:
                for i in range(20):
                    tg.start_soon(waiter, i)
                with anyio.fail_after(5):
                    while len(fake.ledger) < 20:
                        await anyio.sleep(0.01)
                await anyio.sleep(0.3)  # the waiters are on the bus now
                await anyio.to_thread.run_sync(stop, proc)
                clock.advance(3600)
                with anyio.fail_after(10):
                    while len(results) < 20:
                        await anyio.sleep(0.01)
            assert all(j.status is JobStatus.COMPLETED for j in results)
            assert any("job events unavailable" in r.getMessage() for r in caplog.records)
            # Redis is back: the next waiter gets a new pub/sub connection
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            again = start_redis(port, tmp_path)
            try:
                async with RedisEvents(url) as publisher:
                    got: list[Job | None] = []

                    async def wait_again() -> None:
                        got.append(await events.next_state("back", after=None, timeout=10))

                    async with (
                        aioredis.Redis.from_url(url, decode_responses=True) as admin,
                        anyio.create_task_group() as tg,
                    ):
                        tg.start_soon(wait_again)
                        await until(lambda: _equal(numsub(admin, "krea:job:back"), [1]))
                        await publisher.publish(job("back", "completed"))
                    assert got[0] is not None
                    assert got[0].status is JobStatus.COMPLETED
            finally:
                stop(again)


def _is_reader(task: asyncio.Task[Any]) -> bool:
    """The pub/sub reader of a RedisEvents (krea_async._webhooks.redis._Hub._read)."""
    return getattr(task.get_coro(), "__qualname__", "") == "_Hub._read"


@asyncio_only
async def test_aclose_ends_the_reader_and_wakes_the_waiters(
    anyio_backend: str, redis_url: str
) -> None:
    before = asyncio.all_tasks()
    async with aioredis.Redis.from_url(redis_url, decode_responses=True) as admin:
        events = RedisEvents(f"{redis_url}?client_name=waiters")
        errors: list[BaseException] = []

        async def wait(job_id: str) -> None:
            try:
                await events.next_state(job_id, after=None, timeout=30)
            except EventsUnavailableError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(10):
                tg.start_soon(wait, f"j{i}")
            await until(lambda: _equal(numsub(admin, "krea:job:j9"), [1]))
            readers = [t for t in asyncio.all_tasks() if _is_reader(t)]
            assert len(readers) == 1  # one reader task for the 10 waiters
            with anyio.fail_after(5):
                await events.aclose()
        assert len(errors) == 10
        assert readers[0].done()
        assert asyncio.all_tasks() == before  # no task left behind
        await until(lambda: _equal(clients(admin, "waiters"), []))
        with pytest.raises(EventsUnavailableError):
            await events.next_state("late", after=None, timeout=1)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only
@pytest.mark.parametrize("verify", ["fetch", "token"])
async def test_a_forged_publish_on_the_channel_cannot_end_a_wait_under_verify_fetch(
    anyio_backend: str, redis_url: str, verify: str
) -> None:
    evil = "https://evil.example/forged.png"
    clock = ManualClock()  # the job stays pending until the clock moves
    with FakeKrea(clock=clock) as fake:
        async with (
            RedisEvents(redis_url, connect_timeout=0.5) as events,
            fake.client(
                webhooks=WebhookSettings(
                    url="https://app.example/krea/webhooks",
                    events=events,
                    verify=verify,  # type: ignore[arg-type]
                    safety_poll=0.2,
                ),
            ) as krea,
        ):
            results: list[Job] = []

            async def waiter() -> None:
                result = await krea.subscribe(MODEL, input={"prompt": "x"}, deadline=20)
                results.append(result.job)

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                with anyio.fail_after(5):
                    while not fake.ledger:
                        await anyio.sleep(0.01)
                job_id = fake.ledger[0].job_id
                await anyio.sleep(0.1)  # the waiter is subscribed to the job's channel
                forged = {
                    "job_id": job_id,
                    "status": "completed",
                    "created_at": "2026-08-01T00:00:00Z",
                    "completed_at": "2026-08-01T00:00:05Z",
                    "result": {"urls": [evil]},
                }
                raw = aioredis.Redis.from_url(redis_url)
                try:
                    assert await raw.publish(f"krea:job:{job_id}", json.dumps(forged)) == 1
                finally:
                    await raw.aclose()
                with anyio.move_on_after(0.5):
                    while not results:
                        await anyio.sleep(0.01)
                if verify == "token":  # trusting the bus: the forgery ends the wait
                    assert [list(j.urls) for j in results] == [[evil]]
                    return
                assert results == []  # a hint: confirmed with GET, Krea says queued
                clock.advance(3600)  # the real job completes; the safety poll finds it
                with anyio.fail_after(10):
                    while not results:
                        await anyio.sleep(0.01)
            (done,) = results
            assert done.status is JobStatus.COMPLETED
            assert list(done.urls) == fake.job(job_id)["result"]["urls"]
            assert evil not in done.urls


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only
async def test_a_malformed_publish_is_dropped_and_the_reader_survives(
    anyio_backend: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()  # the job stays pending until the clock moves
    caplog.set_level(logging.DEBUG, "krea_async.events")
    with FakeKrea(clock=clock) as fake:
        async with (
            RedisEvents(redis_url, connect_timeout=0.5) as events,
            fake.client(
                webhooks=WebhookSettings(
                    url="https://app.example/krea/webhooks",
                    events=events,
                    verify="token",
                    safety_poll=60,  # neither the safety poll nor polling can help
                ),
                jobs=JobSettings(poll_interval=60),
            ) as krea,
        ):
            results: list[Job] = []

            async def waiter() -> None:
                result = await krea.subscribe(MODEL, input={"prompt": "x"}, deadline=120)
                results.append(result.job)

            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                with anyio.fail_after(5):
                    while not fake.ledger:
                        await anyio.sleep(0.01)
                job_id = fake.ledger[0].job_id
                await anyio.sleep(0.1)  # the waiter is subscribed to the job's channel
                raw = aioredis.Redis.from_url(redis_url)
                try:
                    channel = f"krea:job:{job_id}"
                    for bad in (b"\xff\xfe\x00", b'{"job_id": "' + b"\xc3" + b'", "status": 1}'):
                        await raw.publish(channel, bad)
                    await anyio.sleep(0.1)
                    clock.advance(3600)
                    real = await krea.jobs.get(job_id)
                    await events.publish(real)  # a good message still wakes the waiter
                finally:
                    await raw.aclose()
                with anyio.fail_after(5):
                    while not results:
                        await anyio.sleep(0.01)
            assert results[0].status is JobStatus.COMPLETED
            assert list(results[0].urls) == fake.job(job_id)["result"]["urls"]
    warnings = [r for r in caplog.records if "unreadable data" in r.getMessage()]
    assert warnings
    assert sum(r.levelno == logging.WARNING for r in warnings) <= 1  # logged once


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only
async def test_redis_revokes_tokens_now_or_after_a_grace(
    anyio_backend: str, redis_url: str
) -> None:
    """A failed submit's URL is gone at once; a released one answers for the grace only,
    and a second release never lengthens it."""
    from krea_async._webhooks.receiver import WebhookReceiver

    async with RedisEvents(redis_url, prefix="revoke:") as events:
        receiver = WebhookReceiver("https://app.example/hooks", events=events, verify="token")
        _url, failed = await receiver.new_url()
        await receiver.revoke(failed)
        assert await events.token_job(failed) is None
        _url, done = await receiver.new_url("job-1")
        receiver.grace = 2
        await receiver.release(done)
        assert await events.token_job(done) is not None
        receiver.grace = 100
        await receiver.release(done)  # never lengthens the life
        ttl = await events._redis.ttl(f"revoke:token:{token_digest(done)}")
        assert 0 < ttl <= 2
