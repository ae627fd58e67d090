"""Issue 9: ``AsyncKrea(webhook_url=...)`` makes ``subscribe()`` and ``jobs.wait()`` return
on the webhook, under asyncio and trio, over loopback HTTP.

- The fake runs behind uvicorn on loopback (its own thread) and POSTs its webhooks for
  real (``deliver_webhooks``). A small ASGI wrapper logs every request the fake receives,
  so status ``GET /jobs/{id}`` requests are counted on the server side.
- The webhooks land on a loopback HTTP server (a thread) that hands each request to
  ``krea.webhooks.asgi_app()`` on the test's own event loop through an anyio blocking
  portal, so the same receiver code runs under asyncio and trio. The latency test under
  asyncio instead mounts the receiver in a real uvicorn running on the test's loop.
- Forged deliveries go to the same URLs over HTTP.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import statistics
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import attrs
import httpx
import pytest
from _virtual_clock import VirtualClock

from krea_async import (
    AsyncKrea,
    ConfigurationError,
    Job,
    JobSettings,
    JobStatus,
    LocalEvents,
    RedisEvents,
    RetryPolicy,
    WebhookReceiver,
    WebhookSettings,
)
from krea_async.testing import FakeKrea, ManualClock, WebhookPolicy
from krea_async.testing._server import bind, serve_in_thread

pytestmark = [pytest.mark.anyio, pytest.mark.loopback]

MODEL = "image/bfl/flux-1-dev"
EVIL = "https://evil.example/forged.png"


class RequestLog:
    """ASGI wrapper in front of the fake: logs ``(method, path)`` of every request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)

    def status_gets(self, job_id: str) -> int:
        """How many ``GET /jobs/{job_id}`` the fake received."""
        return self.seen.count(("GET", f"/jobs/{job_id}"))


class CountingTransport(httpx.AsyncBaseTransport):
    """The fake's in-process transport, counting ``GET /jobs/{id}`` per job id."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gets: collections.Counter[str] = collections.Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/jobs/"):
            self.gets[request.url.path.rsplit("/", 1)[1]] += 1
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class Arrivals:
    """ASGI wrapper: note (``time.perf_counter()``) when each webhook request arrives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.arrived: dict[str, float] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.arrived.setdefault(
                scope["path"].rstrip("/").rsplit("/", 1)[-1], time.perf_counter()
            )
        await self.app(scope, receive, send)


class Bridge:
    """A loopback HTTP server in a thread that hands each POST to an ASGI app on the
    test's event loop (asyncio or trio) through a blocking portal."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, arrived: dict[str, float]) -> None:
        self.portal = portal
        self.app: httpx.AsyncClient | None = None
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                arrived.setdefault(self.path.rstrip("/").rsplit("/", 1)[-1], time.perf_counter())
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, text = bridge.portal.call(bridge.forward, self.path, body)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    async def forward(self, path: str, body: bytes) -> tuple[int, str]:
        assert self.app is not None
        answer = await self.app.post(path, content=body)
        return answer.status_code, answer.text


@attrs.define
class Env:
    fake: FakeKrea
    log: RequestLog
    krea: AsyncKrea
    arrivals: Arrivals
    hook_base: str
    http: httpx.AsyncClient  # for forged deliveries

    def token_of(self, job_id: str) -> str:
        url = next(e.webhook_url for e in self.fake.ledger if e.job_id == job_id)
        assert url is not None
        assert url.startswith(self.hook_base + "/")
        return url.rsplit("/", 1)[1]

    async def post(self, token: str, body: bytes) -> tuple[int, str]:
        answer = await self.http.post(f"{self.hook_base}/{token}", content=body)
        return answer.status_code, answer.text


@contextlib.contextmanager
def served_fake(fake: FakeKrea) -> Iterator[tuple[str, RequestLog]]:
    log = RequestLog(fake.app)
    with serve_in_thread(log) as url:
        yield url, log


@contextlib.asynccontextmanager
async def uvicorn_on_this_loop(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on the running (asyncio) loop; yield its base URL."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        app, lifespan="off", log_level="warning", http="h11", loop="asyncio", access_log=False
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.005)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
    sock.close()


@contextlib.asynccontextmanager
async def wired(
    *,
    verify: str = "fetch",
    server: str = "bridge",
    time_scale: float = 0.05,
    clock: ManualClock | None = None,
    policy: WebhookPolicy | bool = True,
    safety_poll: float = 30.0,
    events: Any = None,
    **client: Any,
) -> AsyncIterator[Env]:
    """The fake on loopback delivering webhooks to ``krea.webhooks`` of a client with
    ``webhook_url`` set; torn down so that no delivery is left blocked on the loop."""
    fake = FakeKrea(time_scale=time_scale, clock=clock, deliver_webhooks=policy)
    with contextlib.ExitStack() as stack:
        stack.callback(fake.close)
        fake_url, log = stack.enter_context(served_fake(fake))
        async with contextlib.AsyncExitStack() as astack:
            holder: dict[str, Any] = {}

            async def receiver_app(scope: Any, receive: Any, send: Any) -> None:
                await holder["app"](scope, receive, send)

            arrivals = Arrivals(receiver_app)
            if server == "uvicorn":
                from starlette.applications import Starlette
                from starlette.routing import Mount

                root = Starlette(routes=[Mount("/krea/webhooks", app=arrivals)])
                url = await astack.enter_async_context(uvicorn_on_this_loop(root))
            else:
                portal = await astack.enter_async_context(anyio.from_thread.BlockingPortal())
                bridge = Bridge(portal, arrivals.arrived)
                thread = threading.Thread(
                    target=bridge.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                thread.start()
                astack.push_async_callback(anyio.to_thread.run_sync, bridge.server.server_close)
                astack.push_async_callback(anyio.to_thread.run_sync, bridge.server.shutdown)
                url = bridge.url
            hook_base = f"{url}/krea/webhooks"
            krea = AsyncKrea(
                api_key="fake-key",
                base_url=fake_url,
                allow_insecure_http=True,
                webhooks=WebhookSettings(
                    url=hook_base,
                    verify=verify,  # type: ignore[arg-type]
                    safety_poll=safety_poll,
                    events=events,
                ),
                **client,
            )
            await astack.enter_async_context(krea)
            receiver = krea.webhooks.asgi_app()
            holder["app"] = receiver
            if server != "uvicorn":
                bridge.app = await astack.enter_async_context(
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=StripPrefix(arrivals)),
                        base_url="http://receiver",
                    )
                )
            http = await astack.enter_async_context(httpx.AsyncClient(timeout=10))
            # Last in, first out: the delivery thread stops while the loop still serves it.
            astack.push_async_callback(anyio.to_thread.run_sync, fake.close)
            yield Env(fake, log, krea, arrivals, hook_base, http)


class StripPrefix:
    """Strip the ``/krea/webhooks`` prefix (what a ``Mount`` does) before the receiver."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = dict(scope, path=scope["path"].removeprefix("/krea/webhooks"))
        await self.app(scope, receive, send)


async def settle(fake: FakeKrea) -> None:
    """Wait until every webhook copy has been sent and answered."""
    with anyio.fail_after(5):
        while fake.webhooks_pending():
            await anyio.sleep(0.005)


async def wait_for_submit(fake: FakeKrea, count: int = 1) -> list[str]:
    with anyio.fail_after(5):
        while len(fake.ledger) < count:
            await anyio.sleep(0.002)
    return [e.job_id for e in fake.ledger]


# --------------------------------------------------------------------------- the wake path


@pytest.mark.parametrize("verify", ["fetch", "token"])
async def test_subscribe_returns_on_the_webhook_without_status_polls(verify: str) -> None:
    async with wired(verify=verify) as env:
        seen: list[list[JobStatus]] = [[] for _ in range(5)]

        async def one(i: int) -> None:
            result = await env.krea.subscribe(
                MODEL,
                input={"prompt": f"fox {i}"},
                deadline=10,
                on_queue_update=lambda job: seen[i].append(job.status),
            )
            results[i] = result.job

        results: list[Job | None] = [None] * 5
        async with anyio.create_task_group() as tg:
            for i in range(5):
                tg.start_soon(one, i)
        tokens = set()
        for job in results:
            assert job is not None
            assert job.status is JobStatus.COMPLETED
            assert list(job.urls) == env.fake.job(job.job_id)["result"]["urls"]
            token = env.token_of(job.job_id)
            assert len(token) >= 43  # secrets.token_urlsafe(32): 256 bits (>= 128 asked)
            tokens.add(token)
            # verify="token": no status request at all; "fetch": only the receiver's one
            # confirming GET per delivery (the fake delivered once).
            assert env.log.status_gets(job.job_id) == (1 if verify == "fetch" else 0)
        assert len(tokens) == 5
        assert all(s == [JobStatus.QUEUED, JobStatus.COMPLETED] for s in seen)
        await settle(env.fake)
        assert {d.response_status for d in env.fake.webhooks} == {200}


async def test_jobs_wait_on_a_job_this_client_submitted_wakes_on_the_webhook() -> None:
    async with wired(verify="token") as env:
        job = await env.krea.image("bfl/flux-1-dev", {"prompt": "a fox"})
        assert env.token_of(job.job_id)
        done = await env.krea.jobs.wait(job.job_id, deadline=10)
        assert done.status is JobStatus.COMPLETED
        assert env.log.status_gets(job.job_id) == 0
        # A job submitted with a URL of the caller's own is polled, as without webhooks.
        own = await env.krea.generate(MODEL, {"prompt": "x"}, webhook_url="https://me.example/h")
        assert env.fake.ledger[-1].webhook_url == "https://me.example/h"
        with anyio.fail_after(5):  # not the 30 s safety net
            polled = await env.krea.jobs.wait(own.job_id, poll_interval=0.02)
        assert polled.status is JobStatus.COMPLETED
        assert env.log.status_gets(own.job_id) >= 1


async def test_jobs_stream_and_the_sse_helper_wake_on_the_webhook_without_polling() -> None:
    from krea_async.web import job_sse_events

    async with wired(verify="token") as env:
        job = await env.krea.image("bfl/flux-1-dev", {"prompt": "a fox"})
        with anyio.fail_after(10):
            states = [s.status async for s in env.krea.jobs.stream(job.job_id, deadline=10)]
        assert states[-1] is JobStatus.COMPLETED
        other = await env.krea.image("bfl/flux-1-dev", {"prompt": "a cat"})
        with anyio.fail_after(10):
            events = [e async for e in job_sse_events(env.krea, other.job_id, deadline=10)]
        assert events[-1]["event"] == "done"
        # woken by the webhooks (the client's waiter), not one status poll
        assert env.log.status_gets(job.job_id) == 0
        assert env.log.status_gets(other.job_id) == 0


async def test_subscribe_with_its_own_webhook_url_polls() -> None:
    async with wired(verify="token") as env:
        with anyio.fail_after(5):
            result = await env.krea.subscribe(
                MODEL, input={"prompt": "x"}, webhook_url="https://me.example/h", poll_interval=0.02
            )
        assert env.fake.ledger[-1].webhook_url == "https://me.example/h"
        assert env.log.status_gets(result.job.job_id) >= 1


async def test_a_lost_webhook_is_caught_by_the_safety_net_poll() -> None:
    async with wired(verify="token", policy=WebhookPolicy(loss=1.0), safety_poll=0.3) as env:
        result = await env.krea.subscribe(MODEL, input={"prompt": "x"}, deadline=10)
        assert result.job.status is JobStatus.COMPLETED
        assert env.fake.webhook_attempts[0].lost
        assert 1 <= env.log.status_gets(result.job.job_id) <= 2


@pytest.mark.virtual_clock
async def test_the_safety_net_poll_runs_every_safety_poll_seconds(
    virtual_clock: VirtualClock,
) -> None:
    """No webhook ever comes (the in-process fake delivers none): the job ends at 7 s
    (a Flux job's length, time_scale=1), and the safety poll finds it at 30 s, with one
    status request and no poll before."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    counting = CountingTransport(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=counting),
        webhooks=WebhookSettings(
            url="https://app.example/krea/webhooks", verify="token", safety_poll=30.0
        ),
    ) as krea:
        result = await krea.subscribe(MODEL, input={"prompt": "x"}, deadline=100)
    assert result.job.status is JobStatus.COMPLETED
    assert fake.ledger[0].webhook_url is not None
    assert virtual_clock.now() == pytest.approx(30.0)
    assert counting.gets == {result.job.job_id: 1}


async def test_the_deadline_and_cancel_on_exit_still_apply() -> None:
    clock = ManualClock()
    async with wired(verify="token", clock=clock) as env:
        from krea_async import JobTimeoutError

        with pytest.raises(JobTimeoutError) as info:
            await env.krea.subscribe(MODEL, input={"prompt": "x"}, deadline=0.2)
        assert info.value.cancelled_remote
        assert env.fake.job(info.value.job_id)["status"] == "cancelled"
        assert env.log.status_gets(info.value.job_id) == 0


# --------------------------------------------------------------------------- forged deliveries


def job_body(job_id: str, status: str, urls: list[str] | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "job_id": job_id,
        "status": status,
        "created_at": "2026-08-01T00:00:00Z",
        "completed_at": "2026-08-01T00:00:05Z" if status in ("completed", "failed") else None,
        "result": {"urls": urls} if urls is not None else {},
        **extra,
    }
    return json.dumps(body).encode()


async def test_forged_deliveries_never_change_the_result_with_verify_fetch() -> None:
    clock = ManualClock()  # the jobs stay pending until the clock moves
    async with wired(verify="fetch", clock=clock) as env:
        results: list[Job] = []

        async def waiter() -> None:
            results.append(
                (await env.krea.subscribe(MODEL, input={"prompt": "a"}, deadline=10)).job
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            (job_id,) = await wait_for_submit(env.fake)
            other = await env.krea.generate(MODEL, {"prompt": "b"})
            token, other_token = env.token_of(job_id), env.token_of(other.job_id)
            lie = job_body(job_id, "completed", [EVIL])
            forged = [
                (secrets.token_urlsafe(32), lie, 404),  # a token nobody minted
                (token[:-1], lie, 404),
                (token, lie, 200),  # right token, lying body: confirmed with GET, not trusted
                (token, job_body(job_id, "failed", error="forged"), 200),
                (token, job_body(other.job_id, "completed", [EVIL]), 400),  # another job
                (other_token, lie, 400),  # this job's body on another job's URL
                (token, b"x" * (1024 * 1024 + 1), 413),
                (token, b"not json", 400),
                (token, b'{"status": "completed"}', 400),
            ]
            for tok, body, want in forged:
                status, reason = await env.post(tok, body)
                assert status == want, (tok[:8], body[:40], status, reason)
                assert "\n" not in reason.strip()
            await anyio.sleep(0.05)
            assert results == []  # nothing woke the waiter
            clock.advance(3600)  # the jobs complete; the fake delivers the real webhooks
        (done,) = results
        real = env.fake.job(job_id)["result"]["urls"]
        assert done.status is JobStatus.COMPLETED
        assert list(done.urls) == real
        assert EVIL not in done.urls
        # Replays and out-of-order deliveries after the end are no-ops...
        delivered = next(d for d in env.fake.webhooks if d.job_id == job_id)
        replay = json.dumps(dict(delivered.payload)).encode()
        for body in (replay, job_body(job_id, "processing"), lie):
            assert await env.post(token, body) == (200, "already known")
        # ... and a later wait still sees the real result, without a status poll.
        gets = env.log.status_gets(job_id)
        again = await env.krea.jobs.wait(job_id, deadline=5)
        assert list(again.urls) == real
        assert env.log.status_gets(job_id) == gets


async def test_replayed_and_out_of_order_deliveries_never_change_the_result_with_verify_token() -> (
    None
):
    policy = WebhookPolicy(duplicates=2, reorder=0.05, seed=3)
    async with wired(verify="token", policy=policy) as env:
        result = await env.krea.subscribe(MODEL, input={"prompt": "a"}, deadline=10)
        job_id = result.job.job_id
        token = env.token_of(job_id)
        real = env.fake.job(job_id)["result"]["urls"]
        assert list(result.job.urls) == real
        await settle(env.fake)
        answers = [a.response_status for a in env.fake.webhook_attempts if a.job_id == job_id]
        assert answers == [200, 200, 200]  # three copies, all accepted, two of them no-ops
        # Later (older) states and a second terminal state do not move the job.
        for body in (job_body(job_id, "processing"), job_body(job_id, "failed", error="late")):
            assert await env.post(token, body) == (200, "already known")
        again = await env.krea.jobs.wait(job_id, deadline=5)
        assert again.status is JobStatus.COMPLETED
        assert list(again.urls) == real
        assert env.log.status_gets(job_id) == 0


# --------------------------------------------------------------------------- configuration


async def test_without_webhook_url_subscribe_polls_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)
    with FakeKrea(time_scale=0.05) as fake, served_fake(fake) as (url, log):
        async with AsyncKrea(api_key="k", base_url=url) as krea:
            with pytest.raises(ConfigurationError, match="webhooks are off"):
                _ = krea.webhooks
            result = await krea.subscribe(MODEL, input={"prompt": "x"}, poll_interval=0.02)
            job = await krea.image("bfl/flux-1-dev", {"prompt": "y"})
            await krea.jobs.wait(job.job_id, poll_interval=0.02)
        assert [e.webhook_url for e in fake.ledger] == [None, None]
        assert fake.ledger[0].headers.get("x-webhook-url") is None
        assert log.status_gets(result.job.job_id) >= 1
        assert log.status_gets(job.job_id) >= 1


@pytest.mark.virtual_clock
async def test_polling_status_requests_per_job(virtual_clock: VirtualClock) -> None:
    """Without webhooks, status requests per job at the docs' ratio of a Flux job's
    length (7 s) to the image poll interval (2 s): polls at 2, 4, 6 and 8 s."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    counting = CountingTransport(fake.transport())
    async with (
        # per job: with 10 jobs, polling="auto" would list them instead (issue 8)
        fake.client(
            http_client=httpx.AsyncClient(transport=counting),
            jobs=JobSettings(poll_interval=2.0, polling="per-job"),
        ) as krea,
        anyio.create_task_group() as tg,
    ):
        for i in range(10):
            tg.start_soon(lambda i=i: krea.subscribe(MODEL, input={"prompt": str(i)}))
    assert [counting.gets[e.job_id] for e in fake.ledger] == [4] * 10
    assert virtual_clock.now() == pytest.approx(8.0)


async def test_webhook_status_requests_per_job() -> None:
    """With webhooks, the status requests per job: verify="fetch" makes the receiver's
    one confirming GET per delivery, verify="token" none."""
    jobs = 10
    counts = {}
    for verify in ("fetch", "token"):
        async with wired(verify=verify, time_scale=0.05) as env:
            async with anyio.create_task_group() as tg:
                for i in range(jobs):
                    tg.start_soon(lambda i=i: env.krea.subscribe(MODEL, input={"prompt": str(i)}))
            counts[verify] = [env.log.status_gets(e.job_id) for e in env.fake.ledger]
    assert counts["fetch"] == [1] * jobs
    assert counts["token"] == [0] * jobs


async def test_env_webhook_url_and_the_empty_string(monkeypatch: pytest.MonkeyPatch) -> None:
    base = "https://app.example/krea/webhooks"
    monkeypatch.setenv("KREA_WEBHOOK_URL", base)
    with FakeKrea() as fake:
        async with fake.client() as krea:
            assert isinstance(krea.webhooks, WebhookReceiver)
            assert krea.webhooks.base_url == base
            assert isinstance(krea.webhooks.events, LocalEvents)
            copy = krea.with_options(retry=RetryPolicy(max_retries=0))
            assert copy.webhooks is krea.webhooks  # copies share the receiver and bus
            job = await krea.generate(MODEL, {"prompt": "x"})
            assert (fake.ledger[-1].webhook_url or "").startswith(base + "/")
            assert job.job_id == fake.ledger[-1].job_id
        async with fake.client(webhooks=WebhookSettings(url="")) as off:
            with pytest.raises(ConfigurationError):
                _ = off.webhooks
            await off.generate(MODEL, {"prompt": "x"})
            assert fake.ledger[-1].webhook_url is None
        monkeypatch.setenv("KREA_WEBHOOK_URL", "")
        async with fake.client() as off:
            with pytest.raises(ConfigurationError):
                _ = off.webhooks


@pytest.fixture
def webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KREA_WEBHOOK_URL", "https://app.example/krea/webhooks")


async def test_the_pytest_plugin_client_and_env_poll_whatever_krea_webhook_url_says(
    webhook_env: None, krea_client: AsyncKrea, krea_env: str
) -> None:
    # Nothing delivers webhooks to a test's client: it polls (krea_client has
    # webhook_url="", krea_env unsets the variable for apps that read it).
    with pytest.raises(ConfigurationError):
        _ = krea_client.webhooks
    assert "KREA_WEBHOOK_URL" not in os.environ
    with anyio.fail_after(5):
        result = await krea_client.subscribe(MODEL, input={"prompt": "x"})
    assert result.job.status is JobStatus.COMPLETED


def test_bad_webhook_settings_are_configuration_errors() -> None:
    def make(**kw: Any) -> AsyncKrea:
        return AsyncKrea(api_key="k", base_url="http://127.0.0.1:1", **kw)

    with pytest.raises(ConfigurationError, match="clear text"):
        make(webhooks=WebhookSettings(url="http://app.example/hooks"))
    make(webhooks=WebhookSettings(url="http://app.example/hooks"), allow_insecure_http=True)
    make(webhooks=WebhookSettings(url="http://127.0.0.1:8000/hooks"))
    with pytest.raises(ConfigurationError, match="http"):
        make(webhooks=WebhookSettings(url="ftp://app.example/hooks"))
    with pytest.raises(ConfigurationError, match="query"):
        make(webhooks=WebhookSettings(url="https://app.example/hooks?k=v"))
    for relative in ("https:///hooks", "/krea/webhooks"):
        with pytest.raises(ConfigurationError, match="absolute"):
            make(webhooks=WebhookSettings(url=relative))
    with pytest.raises(ConfigurationError, match="verify"):
        WebhookSettings(url="https://app.example/hooks", verify="nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="safety_poll"):
        WebhookSettings(url="https://app.example/hooks", safety_poll=0)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # redis-py: asyncio only
async def test_redis_down_falls_back_to_polling_and_says_so(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    events = RedisEvents(f"redis://127.0.0.1:{port}/0", connect_timeout=0.2)
    async with events, wired(verify="token", events=events) as env:
        caplog.set_level(logging.WARNING, "krea_async")
        with anyio.fail_after(10):
            result = await env.krea.subscribe(MODEL, input={"prompt": "x"}, poll_interval=0.05)
        assert result.job.status is JobStatus.COMPLETED
        assert env.fake.ledger[-1].webhook_url is None  # submitted without a webhook
        assert env.log.status_gets(result.job.job_id) >= 1
        assert any("webhooks off for this submit" in r.getMessage() for r in caplog.records)
        assert not any("fake-key" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_redis_events_under_trio_is_a_clear_configuration_error(anyio_backend: str) -> None:
    with FakeKrea() as fake:
        async with fake.client(
            webhooks=WebhookSettings(
                url="https://app.example/krea/webhooks",
                events=RedisEvents("redis://127.0.0.1:6379/0"),
            ),
        ) as krea:
            with pytest.raises(ConfigurationError, match="asyncio only"):
                await krea.subscribe(MODEL, input={"prompt": "x"})
        assert fake.ledger == []  # refused before anything was submitted


# --------------------------------------------------------------------------- latency


@pytest.mark.slow  # latency on real servers and the real clock
@pytest.mark.parametrize("verify", ["fetch", "token"])
async def test_webhook_to_wake_latency_over_200_jobs(anyio_backend: str, verify: str) -> None:
    """From the webhook request reaching the app to ``subscribe()`` returning: 200 jobs,
    20 at a time. asyncio: the receiver mounted in a real uvicorn on the test's loop;
    trio: the receiver behind the loopback bridge (uvicorn does not run on trio)."""
    jobs, at_once = 200, 20
    server = "uvicorn" if anyio_backend == "asyncio" else "bridge"
    async with wired(verify=verify, server=server, time_scale=0.02) as env:
        woke: dict[str, float] = {}

        async def worker(k: int) -> None:
            for i in range(jobs // at_once):
                result = await env.krea.subscribe(MODEL, input={"prompt": f"{k}-{i}"}, deadline=30)
                woke[result.job.job_id] = time.perf_counter()

        async with anyio.create_task_group() as tg:
            for k in range(at_once):
                tg.start_soon(worker, k)
        latencies = sorted(woke[j] - env.arrivals.arrived[env.token_of(j)] for j in woke)
        gets = [env.log.status_gets(j) for j in woke]
    p50 = statistics.median(latencies) * 1000
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"\n[{anyio_backend}/{server}, verify={verify}] webhook arrival -> subscribe() "
        f"returns, {len(latencies)} jobs: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms; status GETs per job {statistics.mean(gets):.2f}"
    )
    assert len(latencies) == jobs
    assert latencies[0] > 0  # woken by the webhook, not before it arrived
    assert p50 < 50  # the bound
    assert p95 < 500  # generous: a shared 2-core machine
    assert gets == [1 if verify == "fetch" else 0] * jobs


def test_served_fake_sets_tcp_nodelay() -> None:
    """The listening socket has TCP_NODELAY (accepted sockets inherit it): without it a
    GET on loopback took 44 ms (Nagle + delayed ACK) instead of about 1 ms."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        sock.close()


@pytest.mark.slow  # latency on a real server and the real clock
def test_served_fake_answers_a_get_on_loopback_without_nagles_delay() -> None:
    with FakeKrea() as fake, fake.serve_in_thread() as url, httpx.Client(base_url=url) as http:
        headers = {"Authorization": "Bearer k"}
        job_id = http.post(f"/generate/{MODEL}", json={"prompt": "x"}, headers=headers).json()[
            "job_id"
        ]
        times = []
        for _ in range(30):
            start = time.perf_counter()
            http.get(f"/jobs/{job_id}", headers=headers).raise_for_status()
            times.append(time.perf_counter() - start)
    assert statistics.median(times) < 0.02  # 44 ms with Nagle's algorithm on
