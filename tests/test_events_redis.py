"""Two replicas on a real Redis: the webhook lands on replica B, the waiter on replica A wakes.

A fixture starts Debian's ``redis-server`` on a free loopback port (no persistence) and
two uvicorn processes (``tests/_replica_app.py``), each with
``AsyncKrea(webhook_url=<B>/krea/webhooks, events=RedisEvents(...))``; ``subscribe()``
waits on A, the fake runs on loopback and POSTs its webhooks for real
(``deliver_webhooks=True``) to replica B. Measured: the time from the webhook request
arriving at B to ``subscribe()`` on A returning (wall clock, same host). asyncio only:
redis-py's asyncio client does not run under trio. Skipped only when ``redis-server`` is
not installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import anyio.to_thread
import httpx
import pytest

from krea_async import Job, JobStatus, RedisEvents
from krea_async.testing import FakeKrea, ManualClock

REDIS = shutil.which("redis-server")

pytestmark = [
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


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``redis-server`` on a free loopback port: ``(url, process)``."""
    assert REDIS is not None
    port = free_port()
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
            str(tmp_path),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
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
                webhook_url="https://app.example/krea/webhooks", events=events, poll_interval=0.05
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
    assert all(r["gets"] == 0 for r in results)  # no status poll: woken by the webhook
    assert {d.response_status for d in deliveries} == {200}
    assert len(deliveries) == len(results)
    assert latencies[0] >= 0
    # "wakes within 100 ms of the delivery": the median and 9 in 10 (the machine is shared)
    assert p50 < 100
    assert p90 < 100
