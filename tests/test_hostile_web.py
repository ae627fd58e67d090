"""Hostile peers against the web side: the webhook receiver (in-process and in real
uvicorn over loopback, raw sockets), ``follow_client``, the SSE helper and the example
app. Async tests run under asyncio and trio.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from _web_helpers import serve, wait_until
from hostile import Conn, HostileServer, Request, job_json, respond

from krea_async import AsyncKrea, BadRequestError, Job, RetryPolicy, WebhookSettings, parse_job
from krea_async._webhooks.events import LocalEvents
from krea_async._webhooks.receiver import WebhookReceiver
from krea_async.testing import FakeKrea, ManualClock
from krea_async.web import (
    NO_RETRY_MS,
    TokenLogFilter,
    follow_client,
    job_event_source,
    job_sse_events,
)

BASE = "https://app.example/krea/webhooks"
MODEL = "image/bfl/flux-1-dev"
KEY = "sk-hostile-web-key-0123456789"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def hostile_client(server: HostileServer, **kwargs: Any) -> AsyncKrea:
    return AsyncKrea(
        api_key=KEY,
        base_url=server.url,
        timeout=httpx.Timeout(2.0),
        retry=RetryPolicy(max_retries=0),
        allow_insecure_http=True,
        **kwargs,
    )


class Counted:
    def __init__(self, krea: AsyncKrea) -> None:
        self.krea = krea
        self.calls = 0

    async def __call__(self, job_id: str) -> Job:
        self.calls += 1
        return await self.krea.jobs.get(job_id)


# -- capability URLs: revoked, redacted, never unbound ---------------------------------


@pytest.mark.anyio
async def test_a_failed_submit_revokes_its_url_and_no_error_shows_it(
    server: HostileServer,
) -> None:
    """A 400 that echoes the capability URL: the URL is revoked (404) and appears
    neither in ``str(exc)`` nor in the request the error keeps."""

    async def echo(request: Request, conn: Conn) -> None:
        url = request.headers["x-webhook-url"]
        token = url.rsplit("/", 1)[1]
        body = json.dumps({"error": f"bad input for {url} (token {token})"}).encode()
        await respond(400, json=body, headers=[("X-Echo", url)], reason="Bad Request")(
            request, conn
        )

    server.on("POST", "/generate/", echo)
    async with hostile_client(server, webhooks=WebhookSettings(url=BASE, verify="token")) as krea:
        with pytest.raises(BadRequestError) as caught:
            await krea.generate(MODEL, {"prompt": "a fox"})
        url = server.requests[0].headers["x-webhook-url"]
        token = url.rsplit("/", 1)[1]
        exc = caught.value
        kept = [str(exc), repr(exc.body), str(exc.response.request.headers)]
        kept += [str(exc.response.headers)]
        for text in kept:
            assert token not in text, text
            assert url not in text, text
        body = json.dumps(job_json("someone-elses-job")).encode()
        result = await krea.webhooks.handle_full(token, body)
        assert (result.status, result.reason) == (404, "unknown webhook token")


@pytest.mark.anyio
async def test_an_unbound_url_ends_no_wait() -> None:
    events = LocalEvents()
    receiver = WebhookReceiver(BASE, events=events, verify="token")
    _url, token = await receiver.new_url()
    body = json.dumps(job_json("victim-job", urls=["https://evil.example/x.png"])).encode()
    result = await receiver.handle_full(token, body)
    assert (result.status, result.job) == (202, None)  # held, nothing published
    assert await events.latest("victim-job") is None
    await receiver.bind(token, "my-job")  # bound to another job: the held body is refused
    assert await events.latest("victim-job") is None
    assert await events.latest("my-job") is None


@pytest.mark.anyio
@pytest.mark.parametrize("verify", ["token", "fetch"])
async def test_a_delivery_before_the_binding_counts_once_the_url_is_bound(verify: str) -> None:
    """A job that ends before its submit's answer is read: its delivery is held, then
    processed (verified as any delivery) when the URL is bound to that job."""
    events = LocalEvents()
    fetched: list[str] = []

    async def fetch(job_id: str) -> Job:
        fetched.append(job_id)
        return parse_job(job_json(job_id, urls=["https://krea.example/a.png"]))

    receiver = WebhookReceiver(BASE, events=events, verify=verify, fetch=fetch)  # type: ignore[arg-type]
    _url, token = await receiver.new_url()
    body = json.dumps(job_json("job-1", urls=["https://krea.example/a.png"])).encode()
    assert await receiver.handle(token, body) == 202
    assert await events.latest("job-1") is None
    await receiver.bind(token, "job-1")
    latest = await events.latest("job-1")
    assert latest is not None
    assert latest.is_terminal
    assert list(latest.urls) == ["https://krea.example/a.png"]
    assert fetched == (["job-1"] if verify == "fetch" else [])
    _url, revoked = await receiver.new_url()
    assert await receiver.handle(revoked, body) == 202
    await receiver.revoke(revoked)  # its submit failed: the held body is dropped
    assert await receiver.handle(revoked, body) == 404


@pytest.mark.anyio
async def test_the_end_of_a_wait_revokes_the_url_after_the_grace() -> None:
    clock = ManualClock()
    events = LocalEvents(clock=clock)
    receiver = WebhookReceiver(BASE, events=events, verify="token", grace=60)
    _url, token = await receiver.new_url()
    await receiver.bind(token, "job-1")
    await receiver.release(token)
    body = json.dumps(job_json("job-1")).encode()
    assert await receiver.handle(token, body) == 200  # within the grace
    clock.advance(61)
    assert await receiver.handle(token, body) == 404


@pytest.mark.anyio
async def test_replays_after_the_terminal_state_send_no_request() -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with fake.client() as krea:
        get = Counted(krea)
        receiver = WebhookReceiver(BASE, fetch=get)
        url, token = await receiver.new_url()
        job = await krea.generate(MODEL, {"prompt": "a fox"}, webhook_url=url)
        await receiver.bind(token, job.job_id)
        clock.advance(3600)
        body = json.dumps(dict(fake.webhooks[-1].payload)).encode()
        assert (await receiver.handle_full(token, body)).reason == "ok"
        for _ in range(200):
            assert (await receiver.handle_full(token, body)).status == 200
    assert get.calls == 1


@pytest.mark.anyio
@pytest.mark.parametrize("job_id", ["jöb-ü", "\u202ejob", "\ud800"])
async def test_a_non_ascii_job_id_is_400(job_id: str) -> None:
    receiver = WebhookReceiver(BASE, verify="token")
    _url, token = await receiver.new_url("job-1")
    body = json.dumps(job_json(job_id)).encode()
    result = await receiver.handle_full(token, body)
    assert (result.status, result.reason) == (400, "job_id does not match this webhook URL")


# -- the receiver in real uvicorn, raw sockets -------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def served_receiver() -> Iterator[tuple[WebhookReceiver, str, _Lines]]:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    receiver = WebhookReceiver(BASE, verify="token", body_timeout=0.5)
    app = Starlette(routes=[Mount("/krea/webhooks", app=receiver.asgi_app())])
    lines = _Lines()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "krea_async.webhooks")]
    for logger in loggers:
        logger.addHandler(lines)
    try:
        with serve(app) as base:
            yield receiver, base, lines
    finally:
        for logger in loggers:
            logger.removeHandler(lines)


def _raw(base: str, head: str, body: bytes = b"") -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(head.encode() + body)
    return sock


def _status(sock: socket.socket) -> int:
    return int(sock.recv(4096).split(b" ", 2)[1])


@pytest.mark.loopback
def test_the_token_is_checked_before_the_body_is_read(
    served_receiver: tuple[WebhookReceiver, str, _Lines],
) -> None:
    _receiver, base, _lines = served_receiver
    head = f"POST /krea/webhooks/{'x' * 43} HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n"
    with _raw(base, head) as sock:  # headers only: the answer comes without the body
        assert _status(sock) == 404


@pytest.mark.loopback
def test_a_body_that_never_ends_times_out_and_a_hang_up_logs_at_most_a_line(
    served_receiver: tuple[WebhookReceiver, str, _Lines],
) -> None:
    receiver, base, lines = served_receiver
    _url, token = anyio.run(receiver.new_url, "job-1")
    head = f"POST /krea/webhooks/{token} HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n"
    with _raw(base, head, b"{" * 10) as sock:  # a valid token, then nothing more
        assert _status(sock) == 408
    before = len(lines.records)
    for _ in range(5):
        sock = _raw(base, head, b"{" * 10)
        time.sleep(0.05)
        sock.close()
    time.sleep(0.8)
    new = lines.records[before:]
    assert len(new) <= 5
    assert not [r for r in new if r.exc_info or r.levelno >= logging.WARNING]


# -- follow_client ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_follow_client_raises_the_blocks_exception_as_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from fastapi import HTTPException

    fake = FakeKrea(time_scale=100.0)

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError

    async with fake.client() as krea:
        with pytest.raises(HTTPException) as caught:
            async with follow_client(receive, krea):
                raise HTTPException(502, "the job failed")
    assert caught.value.status_code == 502

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    caplog.set_level(logging.DEBUG, logger="krea_async.web")
    async with fake.client() as krea, follow_client(gone, krea) as watch:
        await anyio.sleep(1)
    assert watch.disconnected
    assert not [r for r in caplog.records if "cancelled jobs" in r.getMessage()]


@pytest.mark.anyio
async def test_a_hang_up_during_the_submit_cancels_the_job(server: HostileServer) -> None:
    """``generate -> track -> wait`` (the documented recipe): the client leaves while
    the POST is in flight; the job is cancelled once its id comes back."""

    async def slow_submit(request: Request, conn: Conn) -> None:
        await asyncio.sleep(0.5)
        await respond(200, json=job_json("job-late", "queued"))(request, conn)

    server.on("POST", "/generate/", slow_submit)
    server.on("DELETE", "/jobs/", respond(200, json=job_json("job-late", "cancelled")))
    send, stream = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def receive() -> dict[str, Any]:
        return await stream.receive()

    async with hostile_client(server) as krea:
        tracked: list[str] = []
        async with anyio.create_task_group() as tg:

            async def hang_up() -> None:
                await anyio.sleep(0.1)  # the POST is in flight
                await send.send({"type": "http.disconnect"})

            tg.start_soon(hang_up)
            with anyio.fail_after(10):
                async with follow_client(receive, krea) as watch:
                    job = await krea.generate(MODEL, {"prompt": "a fox"})
                    watch.track(job.job_id)
                    tracked.append(job.job_id)
                    await krea.jobs.wait(job.job_id)
        assert watch.disconnected
        assert tracked == []
    assert [r.path for r in server.requests if r.method == "DELETE"] == ["/jobs/job-late"]


# -- the SSE helper -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_sse_for_an_unknown_job_is_404_before_any_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeKrea()
    async with fake.client() as krea:
        response = await job_event_source(krea, "no-such-job")
    assert response.status_code == 404
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.anyio
async def test_an_error_that_cannot_heal_ends_the_stream_with_an_error_event(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on(
        "GET",
        "/jobs/job-1",
        respond(200, json=job_json("job-1", "queued")),
        respond(404, json={"error": "not found"}, reason="Not Found"),
    )
    async with hostile_client(server) as krea:
        with anyio.fail_after(10):
            events = [e async for e in job_sse_events(krea, "job-1", poll_interval=0.01)]
    assert [e["event"] for e in events] == ["status", "error"]
    assert events[-1]["retry"] == NO_RETRY_MS
    assert json.loads(events[-1]["data"])["job_id"] == "job-1"
    assert not [r for r in caplog.records if r.exc_info]
    assert server.count("DELETE") == 0


@pytest.mark.anyio
async def test_watching_never_cancels_and_a_bool_is_refused() -> None:
    fake = FakeKrea(time_scale=100.0)
    async with fake.client() as krea:
        job = await krea.generate(MODEL, {"prompt": "a fox"})
        events = job_sse_events(krea, job.job_id, poll_interval=0.01)
        assert (await events.__anext__())["event"] == "status"
        await events.aclose()  # the viewer left mid-job
        assert fake.job(job.job_id)["status"] != "cancelled"
        owned = job_sse_events(
            krea, job.job_id, poll_interval=0.01, cancel_on_disconnect=lambda: True
        )
        await owned.__anext__()
        await owned.aclose()
        assert fake.job(job.job_id)["status"] == "cancelled"
        with pytest.raises(TypeError, match="owner check"):
            await job_sse_events(krea, job.job_id, cancel_on_disconnect=True).__anext__()  # type: ignore[arg-type]


# -- tokens in access logs ----------------------------------------------------------------


def test_the_log_filter_hides_tokens_in_uvicorn_and_gunicorn_records() -> None:
    receiver = WebhookReceiver(BASE, verify="token")
    token = "T0k3n_" + "a" * 37
    log_filter = TokenLogFilter([receiver.path])
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"/krea/webhooks/{token}?x=1", "1.1", 200),
        None,
    )
    assert log_filter.filter(record)
    line = record.getMessage()
    assert token not in line
    assert "/krea/webhooks/**********?x=1" in line
    atoms = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s", None, None)
    atoms.args = {"r": f"POST /krea/webhooks/{token} HTTP/1.1"}
    log_filter.filter(atoms)
    assert token not in atoms.getMessage()


# -- the example app -----------------------------------------------------------------------


@pytest.mark.loopback
def test_the_example_app_binds_jobs_to_their_browser() -> None:
    from examples.fastapi_app.app import create_app

    with FakeKrea(time_scale=100.0) as fake, fake.serve_in_thread() as fake_url:

        def make() -> AsyncKrea:
            return AsyncKrea(
                api_key="fake-key",
                base_url=fake_url,
                allow_insecure_http=True,
                webhooks=WebhookSettings(url="http://127.0.0.1:9/krea/webhooks"),
            )

        with serve(create_app(make, poll_interval=0.05)) as base:
            assert any(
                isinstance(f, TokenLogFilter) for f in logging.getLogger("uvicorn.access").filters
            )
            with httpx.Client(base_url=base, timeout=10) as owner:
                job_id = owner.post("/api/jobs", json={"prompt": "a fox"}).json()["job_id"]
                with (
                    httpx.Client(base_url=base, timeout=10) as stranger,
                    stranger.stream("GET", f"/api/jobs/{job_id}/events") as answer,
                ):
                    assert answer.status_code == 404
                with owner.stream("GET", f"/api/jobs/{job_id}/events") as answer:
                    assert answer.status_code == 200
                    for line in answer.iter_lines():
                        if line.startswith("event:"):
                            break  # the owner leaves mid-job
                wait_until(lambda: fake.job(job_id)["status"] == "cancelled", timeout=5)


@pytest.mark.anyio
async def test_subscribe_revokes_its_url_on_a_failed_submit_and_releases_it_after_the_wait(
    server: HostileServer,
) -> None:
    server.on(
        "POST",
        "/generate/",
        respond(400, json={"error": "bad"}, reason="Bad Request"),
        respond(200, json=job_json("job-2", "queued")),
    )
    server.on("GET", "/jobs/job-2", respond(200, json=job_json("job-2", urls=["https://x/a.png"])))
    async with hostile_client(
        server, webhooks=WebhookSettings(url=BASE, verify="token", safety_poll=0.01)
    ) as krea:
        with pytest.raises(BadRequestError):
            await krea.subscribe(MODEL, input={"prompt": "a fox"})
        failed = server.requests[0].headers["x-webhook-url"].rsplit("/", 1)[1]
        assert await krea.webhooks.events.token_job(failed) is None
        with anyio.fail_after(10):
            await krea.subscribe(MODEL, input={"prompt": "a fox"})
        waited = server.requests[1].headers["x-webhook-url"].rsplit("/", 1)[1]
        body = json.dumps(job_json("job-2", urls=["https://x/a.png"])).encode()
        assert await krea.webhooks.handle(waited, body) == 200  # within the grace
        events = krea.webhooks.events
        assert isinstance(events, LocalEvents)
        later = anyio.current_time() + krea.webhooks.grace + 1  # the bus runs on the loop's clock
        events._clock = lambda: later
        assert await krea.webhooks.handle(waited, body) == 404  # after it
