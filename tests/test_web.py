"""Hang-ups cancel jobs, and job states stream as Server-Sent Events.

Over real uvicorn on 127.0.0.1 (the example app in ``examples/fastapi_app`` and a plain
Starlette app) against the fake served on loopback; ``follow_client`` itself also runs
in-process under asyncio and trio.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from _web_helpers import free_port, serve, wait_until

from examples.fastapi_app.app import create_app
from krea_async import AsyncKrea, WebhookSettings
from krea_async.testing import FakeKrea
from krea_async.web import follow_client, job_event_source, job_sse_events

pytestmark = pytest.mark.loopback

MODEL = "image/bfl/flux-1-dev"


@pytest.fixture
def fake() -> Iterator[FakeKrea]:
    # Flux takes 7 s x time_scale: 2.1 s queued, then processing. Slow enough to hang up.
    with FakeKrea(time_scale=3.0) as fake:
        yield fake


@pytest.fixture
def fake_url(fake: FakeKrea) -> Iterator[str]:
    with fake.serve_in_thread() as url:
        yield url


def factory(url: str) -> Callable[[], AsyncKrea]:
    def make() -> AsyncKrea:
        return AsyncKrea(api_key="fake-key", base_url=url, allow_insecure_http=True)

    return make


def hang_up_after_submit(base: str, path: str, fake: FakeKrea) -> str:
    """POST a prompt on a raw socket, wait for the job to exist, hang up; return the job id
    once the fake marks the job ``cancelled`` (the hang-up cancelled it)."""
    host, port = base.removeprefix("http://").split(":")
    before = len(fake.ledger)
    body = json.dumps({"prompt": "a fox who leaves early"}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection((host, int(port)))
    sock.sendall(request)
    wait_until(lambda: len(fake.ledger) > before)
    job_id = fake.ledger[-1].job_id
    time.sleep(0.3)  # the handler is now waiting on the job
    assert fake.job(job_id)["status"] in ("queued", "processing")
    sock.close()
    wait_until(lambda: fake.job(job_id)["status"] == "cancelled")
    return job_id


def test_render_with_webhooks_returns_on_the_webhook_and_hang_ups_still_cancel() -> None:
    """The example app with ``AsyncKrea(webhook_url=<app>/krea/webhooks)``: ``jobs.wait``
    in ``/api/render`` returns on the fake's webhook with no status poll, and a client
    that hangs up while the call waits on the bus still gets its job cancelled."""
    from krea_async.testing._server import serve_in_thread

    gets: list[str] = []

    async def logged(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            gets.append(scope["path"])
        await fake.app(scope, receive, send)

    port = free_port()
    with FakeKrea(time_scale=3.0, deliver_webhooks=True) as fake, serve_in_thread(logged) as url:
        fake.script("completed", seconds=0.3)  # the first job is quick, the next take 21 s

        def make() -> AsyncKrea:
            return AsyncKrea(
                api_key="fake-key",
                base_url=url,
                allow_insecure_http=True,
                webhooks=WebhookSettings(
                    url=f"http://127.0.0.1:{port}/krea/webhooks", verify="token"
                ),
            )

        with serve(create_app(make, poll_interval=0.1), port=port) as base:
            answer = httpx.post(f"{base}/api/render", json={"prompt": "a fox"}, timeout=10)
            assert answer.status_code == 200, answer.text
            job_id = answer.json()["job_id"]
            assert answer.json()["url"] == fake.job(job_id)["result"]["urls"][0]
            assert (fake.ledger[0].webhook_url or "").startswith(f"{base}/krea/webhooks/")
            assert f"/jobs/{job_id}" not in gets  # woken by the webhook, not by polling
            wait_until(lambda: not fake.webhooks_pending())
            assert [d.response_status for d in fake.webhooks] == [200]
            left = hang_up_after_submit(base, "/api/render", fake)
    assert fake.job(left)["status"] == "cancelled"


def test_hang_up_cancels_the_job_fastapi(fake: FakeKrea, fake_url: str) -> None:
    app = create_app(factory(fake_url), poll_interval=0.1)
    with serve(app) as base:
        job_id = hang_up_after_submit(base, "/api/render", fake)
    assert fake.job(job_id)["status"] == "cancelled"


def test_hang_up_cancels_subscribe_starlette(fake: FakeKrea, fake_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    clients: list[AsyncKrea] = []
    left: list[bool] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        async with factory(fake_url)() as krea:
            clients.append(krea)
            yield

    async def render(request: Request) -> JSONResponse:
        prompt = (await request.json())["prompt"]
        krea = clients[0]
        async with follow_client(request.receive, krea) as watch:
            result = await krea.subscribe(MODEL, input={"prompt": prompt}, poll_interval=0.1)
            return JSONResponse({"url": result.data.urls[0]})
        left.append(watch.disconnected)
        return JSONResponse({})

    app = Starlette(routes=[Route("/render", render, methods=["POST"])], lifespan=lifespan)
    with serve(app) as base:
        hang_up_after_submit(base, "/render", fake)
        wait_until(lambda: bool(left))
        # a client that stays gets its image (a quick job this time)
        fake.time_scale = 0.05
        answer = httpx.post(f"{base}/render", json={"prompt": "a patient fox"}, timeout=30)
    assert left == [True]
    assert answer.status_code == 200
    assert answer.json()["url"].startswith(fake_url)


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE stream; comments come as ("comment", text)."""
    event, data = "message", ""
    for line in lines:
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()
        elif line == "" and data:
            yield event, data
            event, data = "message", ""


def test_sse_streams_each_state_then_the_urls(fake_url: str) -> None:
    with FakeKrea(time_scale=0.2) as quick, quick.serve_in_thread() as url:
        app = create_app(factory(url), poll_interval=0.05)
        with serve(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            job_id = http.post("/api/jobs", json={"prompt": "a fox"}).json()["job_id"]
            got: list[tuple[str, dict[str, Any]]] = []
            with http.stream("GET", f"/api/jobs/{job_id}/events") as answer:
                assert answer.headers["content-type"].startswith("text/event-stream")
                for event, data in sse_events(answer.iter_lines()):
                    if event != "comment":
                        got.append((event, json.loads(data)))
            png = http.get(got[-1][1]["urls"][0])
    assert [e for e, _ in got] == ["status", "status", "done"]
    assert [d["status"] for _, d in got] == ["queued", "processing", "completed"]
    assert all(d["job_id"] == job_id for _, d in got)
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")


def test_sse_keep_alive_and_client_leaving_cancels(fake: FakeKrea, fake_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    clients: list[AsyncKrea] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        async with factory(fake_url)() as krea:
            clients.append(krea)
            yield

    async def events(request: Request) -> Any:
        # the app checked that the requester owns the job (here: everyone does)
        return await job_event_source(
            clients[0], request.path_params["job_id"], ping=0.2, cancel_on_disconnect=lambda: True
        )

    app = Starlette(routes=[Route("/events/{job_id}", events)], lifespan=lifespan)
    with serve(app) as base:

        async def submit() -> str:
            async with factory(fake_url)() as krea:
                return (await krea.generate(MODEL, {"prompt": "a fox"})).job_id

        job_id = anyio.run(submit)
        seen: list[tuple[str, str]] = []
        with (
            httpx.Client(base_url=base, timeout=10) as http,
            http.stream("GET", f"/events/{job_id}") as answer,
        ):
            for item in sse_events(answer.iter_lines()):
                seen.append(item)
                if item[0] == "comment":
                    break  # a keep-alive arrived: leave mid-job
        wait_until(lambda: fake.job(job_id)["status"] == "cancelled")
    assert seen[0][0] == "status"
    assert json.loads(seen[0][1])["status"] == "queued"
    assert ("comment", "ping") in [(e, d.split(" ")[0]) for e, d in seen]


# -- follow_client in-process, asyncio and trio -------------------------------------------


@pytest.mark.anyio
async def test_follow_client_cancels_tracked_jobs_on_disconnect() -> None:
    fake = FakeKrea(time_scale=100.0)
    send, receive_stream = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def receive() -> dict[str, Any]:
        return await receive_stream.receive()

    async with fake.client() as krea:
        ran_to_end = False
        with anyio.fail_after(5):
            async with follow_client(receive, krea) as watch:
                job = await krea.generate(MODEL, {"prompt": "a fox"})
                watch.track(job.job_id)
                await send.send({"type": "http.request", "body": b"", "more_body": False})
                await send.send({"type": "http.disconnect"})
                await krea.jobs.wait(job.job_id)
                ran_to_end = True
        assert not ran_to_end
        assert watch.disconnected
        assert watch.cancelled_jobs == [job.job_id]
        assert fake.job(job.job_id)["status"] == "cancelled"
        # a request that ends normally cancels nothing
        async with follow_client(receive, krea) as watch2:
            other = await krea.generate(MODEL, {"prompt": "a fox"})
            third = await krea.generate(MODEL, {"prompt": "a fox"})
            watch2.track(other.job_id)
            watch2.track(third.job_id)
            watch2.untrack(third.job_id)
            assert watch2.tracked == (other.job_id,)
        assert not watch2.disconnected
        assert fake.job(other.job_id)["status"] != "cancelled"


@pytest.mark.anyio
async def test_sse_events_in_process() -> None:
    """The SSE event dicts, under asyncio and trio: one per state change, then ``done``."""
    fake = FakeKrea(time_scale=0.05)
    async with fake.client() as krea:
        job = await krea.generate(MODEL, {"prompt": "a fox"})
        events = [e async for e in job_sse_events(krea, job.job_id, poll_interval=0.02)]
    kinds = [e["event"] for e in events]
    data = [json.loads(e["data"]) for e in events]
    assert kinds == ["status"] * (len(events) - 1) + ["done"]
    statuses = [d["status"] for d in data]
    assert statuses[-1] == "completed"
    assert len(statuses) == len(set(statuses))  # one event per change
    assert data[-1]["urls"] == list(fake.job(job.job_id)["result"]["urls"])
    assert [e["id"] for e in events] == [f"{job.job_id}:{s}" for s in statuses]


@pytest.mark.anyio
async def test_sse_events_failed_job_carries_error() -> None:
    fake = FakeKrea(time_scale=100.0)
    async with fake.client() as krea:
        job = await krea.generate(MODEL, {"prompt": "a fox"})
        fake.fail_job(job.job_id, "out of foxes")
        events = [e async for e in job_sse_events(krea, job.job_id, poll_interval=0.02)]
    done = json.loads(events[-1]["data"])
    assert (events[-1]["event"], done["status"], done["urls"]) == ("done", "failed", [])
    assert "out of foxes" in done["error"]


@pytest.mark.slow  # the example app in a subprocess
def test_example_runs_with_one_command() -> None:
    """``python -m examples.fastapi_app`` serves the page and renders a job on the fake."""
    import os
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "KREA_API_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "examples.fastapi_app", "--port", str(port), "--time-scale", "0.05"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.poll() is None, "the example exited"
            try:
                return httpx.get(base, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=20)
        page = httpx.get(base).text
        answer = httpx.post(f"{base}/api/render", json={"prompt": "a fox"}, timeout=30)
    finally:
        proc.terminate()
        proc.wait(10)
    assert 'id="prompt"' in page
    assert "EventSource" in page
    assert answer.status_code == 200
    assert answer.json()["url"].startswith("http://127.0.0.1:")
