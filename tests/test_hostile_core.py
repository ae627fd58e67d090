"""The core against a hostile server (issue 11: items 2, 3, 5-11 and the risks).

Each test was written before the fix it checks (wave 1, marked ``xfail``); wave 2
fixed the SDK and removed the markers. Only the public API is used. The server
(``tests/hostile.py``) writes every byte on raw asyncio streams in its own thread,
so each async test runs under asyncio and trio; every scripted stall is bounded
(``duration=``), so each test ends in a few seconds even if a bug comes back.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import pickle
import time
import traceback
from collections.abc import Iterator

import anyio
import httpx
import pytest
import trio
from hostile import HostileServer, drop, hang, job_json, nested_json, raw, respond, trickle

from krea_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncKrea,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    ConfigurationError,
    JobSettings,
    KreaError,
    RetryPolicy,
    UncertainSubmitError,
    parse_job,
)

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-0123456789abcdef"
ENDPOINT = "image/bfl/flux-1-dev"
INPUT = {"prompt": "a red fox"}
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        srv.on("DELETE", "/jobs/", respond(200, json=job_json("job-1", "cancelled")))
        yield srv


def client(server: HostileServer, **kwargs: object) -> AsyncKrea:
    options: dict[str, object] = {
        "timeout": httpx.Timeout(1.0),
        "retry": RetryPolicy(max_retries=0),
        "jobs": JobSettings(poll_interval=0.01, cancel_deadline=0.5, submit_grace=0.5),
    }
    options.update(kwargs)
    return AsyncKrea(api_key=KEY, base_url=server.url, **options)  # type: ignore[arg-type]


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable from it (cause, context, ``.cause``)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        for nxt in (item.__cause__, item.__context__, getattr(item, "cause", None)):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def assert_no_key(exc: BaseException) -> None:
    """No exception reachable from ``exc`` holds the key: messages, attributes,
    requests' headers, and tracebacks formatted with their local variables."""
    for item in chain(exc):
        assert KEY not in str(item)
        assert KEY not in repr(item.args)
        for value in vars(item).values():
            assert KEY not in repr(value)
        request = getattr(item, "request", None)
        with_request = getattr(item, "_request", None)
        for req in (request, with_request):
            if isinstance(req, httpx.Request):
                assert all(KEY not in v for v in req.headers.values())
        response = getattr(item, "response", None)
        if isinstance(response, httpx.Response):
            assert all(KEY not in v for v in response.request.headers.values())
    formatted = "".join(
        traceback.TracebackException.from_exception(exc, capture_locals=True).format()
    )
    assert KEY not in formatted


# --------------------------------------------------------------------------- item 2


@pytest.mark.slow  # a real server trickling on the real clock
async def test_cancel_during_a_trickled_submit_is_honoured_quickly(server: HostileServer) -> None:
    server.on("POST", "/generate/", trickle(JSON_HEAD, interval=0.2, duration=2.0))
    async with client(server) as krea:
        started = time.monotonic()
        with anyio.move_on_after(0.3):
            await krea.subscribe(ENDPOINT, input=INPUT)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"cancellation took {elapsed:.2f} s"


@pytest.mark.slow  # a real server trickling on the real clock
async def test_trickled_answer_is_bounded_by_the_total_deadline(server: HostileServer) -> None:
    """``RetryPolicy.deadline`` bounds the whole request, not just retries."""
    server.on("GET", "/jobs/", trickle(JSON_HEAD, interval=0.2, duration=2.0))
    async with client(server, retry=RetryPolicy(max_retries=0, deadline=0.5)) as krea:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await krea.jobs.get("job-1")
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"the request ran {elapsed:.2f} s"


@pytest.mark.slow  # a real server trickling on the real clock
async def test_trickled_submit_is_bounded_and_uncertain(server: HostileServer) -> None:
    server.on("POST", "/generate/", trickle(JSON_HEAD, interval=0.2, duration=2.0))
    async with client(server, retry=RetryPolicy(max_retries=0, deadline=0.5)) as krea:
        started = time.monotonic()
        with pytest.raises(UncertainSubmitError):
            await krea.generate(ENDPOINT, INPUT)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"the submit ran {elapsed:.2f} s"


# --------------------------------------------------------------------------- item 3


async def test_deeply_nested_submit_answer_is_uncertain(server: HostileServer) -> None:
    server.on("POST", "/generate/", respond(200, nested_json(), content_type="application/json"))
    async with client(server) as krea:
        with pytest.raises(UncertainSubmitError) as info:
            await krea.generate(ENDPOINT, INPUT)
    assert isinstance(info.value.cause, APIResponseValidationError)


async def test_deeply_nested_poll_answer_is_a_validation_error(server: HostileServer) -> None:
    server.on("GET", "/jobs/", respond(200, nested_json(), content_type="application/json"))
    async with client(server) as krea:
        with pytest.raises(APIResponseValidationError):
            await krea.jobs.get("job-1")


async def test_deeply_nested_error_body_is_a_status_error(server: HostileServer) -> None:
    server.on("GET", "/jobs/", respond(400, nested_json(), content_type="application/json"))
    async with client(server) as krea:
        with pytest.raises(BadRequestError) as info:
            await krea.jobs.get("job-1")
    assert len(str(info.value)) < 2000


def test_parse_job_rejects_deep_nesting_with_its_value_error() -> None:
    with pytest.raises(ValueError):
        parse_job(b'{"job_id": "j", "status": "completed", "x": ' + nested_json() + b"}")


def test_parse_job_caps_the_body_size() -> None:
    body = b'{"job_id": "j", "status": "completed", "padding": "' + b"x" * (64 << 20) + b'"}'
    with pytest.raises(ValueError):
        parse_job(body)


def test_parse_job_rejects_duplicate_keys() -> None:
    body = b'{"job_id": "mine", "job_id": "attacker", "status": "completed"}'
    with pytest.raises(ValueError):
        parse_job(body)


async def test_duplicate_keys_in_a_poll_are_a_validation_error(server: HostileServer) -> None:
    body = b'{"job_id": "job-1", "job_id": "job-2", "status": "queued"}'
    server.on("GET", "/jobs/", respond(200, body, content_type="application/json"))
    async with client(server) as krea:
        with pytest.raises(APIResponseValidationError):
            await krea.jobs.get("job-1")


# --------------------------------------------------------------------------- item 4


async def test_a_cancel_that_gets_no_answer_is_logged_and_reported(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The server takes an hour on the DELETE: after ``cancel_timeout`` the caller's
    cancellation propagates, a WARNING names the job and the client's
    ``on_cancel_failed`` hook hears of it."""
    server.on("POST", "/generate/", respond(200, json=job_json("job-7", "queued")))
    server.on("GET", "/jobs/", respond(200, json=job_json("job-7", "queued")))
    server.on("DELETE", "/jobs/", hang(3600.0))
    failed: list[tuple[str, str]] = []
    caplog.set_level(logging.WARNING, logger="krea_async")
    async with client(
        server,
        jobs=JobSettings(
            poll_interval=0.01,
            cancel_deadline=0.3,
            submit_grace=0.3,
            on_cancel_failed=lambda j, r: failed.append((j, r)),
        ),
    ) as krea:
        # the DELETE hangs for an hour: cancel_timeout ends the wait (the outer bound
        # only keeps a broken build from hanging the suite)
        with anyio.fail_after(60), anyio.move_on_after(0.3):
            await krea.subscribe(ENDPOINT, input=INPUT)
    assert server.count("DELETE", "/jobs/job-7") == 1
    assert [j for j, _ in failed] == ["job-7"]
    assert "cancel_deadline" in failed[0][1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("job-7" in m for m in warnings), warnings


async def test_a_stream_tells_that_its_cancel_failed(server: HostileServer) -> None:
    server.on("GET", "/jobs/", respond(200, json=job_json("job-8", "queued")))
    server.on("DELETE", "/jobs/", hang(30.0))
    krea = client(server, jobs=JobSettings(poll_interval=0.01, cancel_deadline=0.3))
    async with krea, krea.jobs.stream("job-8", cancel_on_exit=True) as states:
        async for _ in states:
            break
    assert not states.cancelled_remote
    assert states.cancel_error is not None
    assert "job-8" in states.cancel_error


async def test_a_cancel_during_a_trickled_submit_says_the_job_is_uncertain(
    server: HostileServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("POST", "/generate/", trickle(JSON_HEAD, interval=0.2, duration=2.0))
    caplog.set_level(logging.WARNING, logger="krea_async")
    async with client(server) as krea:
        with anyio.move_on_after(0.3):
            await krea.subscribe(ENDPOINT, input=INPUT)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("uncertain" in m and "created_after" in m for m in warnings), warnings


# --------------------------------------------------------------------------- item 5


async def test_no_key_after_a_connect_error() -> None:
    with anyio.fail_after(5):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        await listener.aclose()  # nothing listens there any more
    krea = AsyncKrea(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{port}",
        timeout=httpx.Timeout(1.0),
        retry=RetryPolicy(max_retries=0),
    )
    async with krea:
        with pytest.raises(APIConnectionError) as info:
            await krea.jobs.get("job-1")
    assert_no_key(info.value)


async def test_no_key_after_a_read_timeout(server: HostileServer) -> None:
    server.on("GET", "/jobs/", hang(2.0))
    async with client(server, timeout=httpx.Timeout(0.3)) as krea:
        with pytest.raises(APITimeoutError) as info:
            await krea.jobs.get("job-1")
    assert_no_key(info.value)


async def test_no_key_after_a_protocol_error(server: HostileServer) -> None:
    server.on("GET", "/jobs/", raw(b"NOT HTTP AT ALL\r\n\r\n"))
    async with client(server) as krea:
        with pytest.raises(APIConnectionError) as info:
            await krea.jobs.get("job-1")
    assert_no_key(info.value)


async def test_no_key_after_a_dropped_submit(server: HostileServer) -> None:
    server.on("POST", "/generate/", drop())
    async with client(server) as krea:
        with pytest.raises(KreaError) as info:
            await krea.generate(ENDPOINT, INPUT)
    assert_no_key(info.value)


# --------------------------------------------------------------------------- item 6


async def test_a_key_echoed_by_the_server_is_redacted(server: HostileServer) -> None:
    body = {"error": f"invalid token: Bearer {KEY}", "detail": {"token": KEY}}
    server.on("GET", "/jobs/", respond(401, json=body))
    async with client(server) as krea:
        with pytest.raises(AuthenticationError) as info:
            await krea.jobs.get("job-1")
    err = info.value
    assert KEY not in str(err)
    assert KEY not in err.message
    assert KEY not in repr(err.body)
    assert "invalid token" in str(err)  # the rest of the message stays


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize(
    "bad", ["sk-a\nb-secret", "sk-a\rb-secret", "sk-a\x00b-secret", "sk-é-secret"]
)
def test_a_key_that_cannot_be_a_header_is_refused_at_construction(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncKrea(api_key=bad, base_url="http://127.0.0.1:9")
    assert "secret" not in str(info.value)


# --------------------------------------------------------------------------- item 8


async def _status_error(server: HostileServer, status: int) -> KreaError:
    server.on("GET", "/jobs/", respond(status, json={"error": f"status {status} for {KEY}"}))
    async with client(server) as krea:
        with pytest.raises(KreaError) as info:
            await krea.jobs.get("job-1")
    return info.value


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 422, 429, 500])
async def test_status_errors_round_trip_through_pickle(server: HostileServer, status: int) -> None:
    err = await _status_error(server, status)
    assert isinstance(err, APIStatusError)
    data = pickle.dumps(err)
    assert KEY.encode() not in data
    back = pickle.loads(data)
    assert type(back) is type(err)
    assert back.status_code == status
    assert str(back) == str(err)


async def test_connection_and_uncertain_errors_round_trip_through_pickle(
    server: HostileServer,
) -> None:
    server.on("GET", "/jobs/", drop())
    server.on("POST", "/generate/", drop())
    async with client(server) as krea:
        with pytest.raises(APIConnectionError) as conn:
            await krea.jobs.get("job-1")
        with pytest.raises(UncertainSubmitError) as uncertain:
            await krea.generate(ENDPOINT, INPUT)
    for err in (conn.value, uncertain.value):
        data = pickle.dumps(err)
        assert KEY.encode() not in data
        back = pickle.loads(data)
        assert type(back) is type(err)
        assert str(back) == str(err)
    assert pickle.loads(pickle.dumps(uncertain.value)).check_since == uncertain.value.check_since


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize("job_id", ["..", ".", "x" * 100_000], ids=["dotdot", "dot", "100k"])
async def test_unusable_job_ids_from_the_server_are_typed_errors(
    server: HostileServer, job_id: str
) -> None:
    server.on("POST", "/generate/", respond(200, json=job_json(job_id, "queued")))
    server.on(
        "GET", "/jobs/", respond(200, json=job_json(job_id, "completed", ["https://x/a.png"]))
    )
    async with client(server) as krea:
        with pytest.raises(KreaError) as info:
            await krea.subscribe(ENDPOINT, input=INPUT)
    assert isinstance(info.value, (APIResponseValidationError, UncertainSubmitError))
    assert len(str(info.value)) < 1000


# --------------------------------------------------------------------------- item 10


async def test_a_poll_answering_another_jobs_id_is_refused(server: HostileServer) -> None:
    server.on("POST", "/generate/", respond(200, json=job_json("job-1", "queued")))
    server.on(
        "GET",
        "/jobs/",
        respond(200, json=job_json("SOMEONE-ELSES", "completed", ["https://x/theirs.png"])),
    )
    async with client(server) as krea:
        with pytest.raises(APIResponseValidationError):
            await krea.subscribe(ENDPOINT, input=INPUT)
        with pytest.raises(APIResponseValidationError):
            await krea.jobs.get("job-1")


# --------------------------------------------------------------------------- item 11


def _run_twice_then_close(backend: str, server: HostileServer) -> BaseException | None:
    """Use a client on one event loop, then ``aclose()`` it on another."""
    server.on("GET", "/jobs/", respond(200, json=job_json("job-1", "queued")))
    krea = client(server)

    async def use() -> None:
        await krea.jobs.get("job-1")

    async def close() -> BaseException | None:
        try:
            await krea.aclose()
        except Exception as exc:
            return exc
        return None

    if backend == "asyncio":
        asyncio.run(use())
        return asyncio.run(close())
    trio.run(use)
    return trio.run(close)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_aclose_from_another_event_loop(server: HostileServer, backend: str) -> None:
    error = _run_twice_then_close(backend, server)
    assert error is None or isinstance(error, ClientStateError), repr(error)
    deadline = time.monotonic() + 2
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.open_connections == 0, "the client's socket leaked"


# --------------------------------------------------------------------------- risks


def test_repr_hides_credentials_in_the_base_url() -> None:
    krea = AsyncKrea(api_key=KEY, base_url="http://user:hunter2@127.0.0.1:9")
    assert "hunter2" not in repr(krea)
    assert KEY not in repr(krea)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_used_and_closed_client_is_freed_without_the_cycle_collector(
    server: HostileServer, backend: str
) -> None:
    """A closed client's pool (and its SSL context, about 0.8 MB) goes with the
    last reference to the client, not at the next run of the cycle collector."""
    server.on("GET", "/jobs/", respond(200, json=job_json("job-1", "queued")))

    async def use_and_close() -> None:
        krea = client(server)
        await krea.jobs.get("job-1")
        await krea.aclose()

    def run() -> None:
        if backend == "asyncio":
            asyncio.run(use_and_close())
        else:
            trio.run(use_and_close)

    run()  # warm up: first-use caches are not garbage
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        kinds = {type(o).__module__ + "." + type(o).__qualname__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    held = {k for k in kinds if k.startswith(("httpx.", "httpcore.", "krea_async.", "ssl."))}
    assert not held, sorted(held)
