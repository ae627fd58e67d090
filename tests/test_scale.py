"""Scale (issue 8): admission before httpx's pool, and the client's one shared poller.

Every test runs under asyncio and trio. The 10,000-job test is marked ``scale`` and
left out of the default run (``nox -s scale`` or ``pytest -m scale``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
from _virtual_clock import VirtualClock

import krea_async._jobs.poller_list
from krea_async import (
    AsyncKrea,
    ClientClosedError,
    ConfigurationError,
    Job,
    JobSettings,
    JobTimeoutError,
    Limits,
    PermissionDeniedError,
    RetryPolicy,
    aiohttp_client,
)
from krea_async._converter import parse_datetime
from krea_async._http.admission import Admission
from krea_async._jobs.poller import Poller
from krea_async.testing import FakeKrea, ManualClock, http_error

pytestmark = pytest.mark.anyio

FLUX = "bfl/flux-1-dev"
ENDPOINT = "image/" + FLUX


def poller_of(krea: AsyncKrea) -> Poller:
    return krea.jobs.waiter.poller


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Yield to other tasks until ``cond()`` holds (fails after ``timeout`` s)."""
    with anyio.fail_after(timeout):
        while not cond():
            await anyio.sleep(0.005)


class Wrapping(httpx.AsyncBaseTransport):
    """Wraps the fake's transport: optionally holds requests at a gate and hides jobs
    from ``GET /jobs`` answers."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.gate: anyio.Event | None = None
        self.gate_on: Callable[[httpx.Request], bool] = lambda r: False
        self.held = 0
        self.hidden: set[str] = set()
        self.lists = 0
        self.by_id: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.gate is not None and self.gate_on(request):
            self.held += 1
            await self.gate.wait()
        response = await self.inner.handle_async_request(request)
        if request.method == "GET" and request.url.path.startswith("/jobs/"):
            self.by_id.append(request.url.path.rsplit("/", 1)[1])
        if request.method == "GET" and request.url.path == "/jobs":
            self.lists += 1
            if self.hidden and response.status_code == 200:
                data = json.loads(await response.aread())
                data["items"] = [i for i in data["items"] if i["job_id"] not in self.hidden]
                return httpx.Response(200, json=data, request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- admission ------------------------------------------------------------------------------


class _Inside:
    """Requests inside httpx's pool of a client right now, and at most (sent or waiting
    there for a connection, until their response is closed)."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.now, self.peak = pool, 0, 0
        original = pool.handle_async_request

        async def counting(request: httpcore.Request) -> httpcore.Response:
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                response = await original(request)
            except BaseException:
                self.now -= 1
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_Counted(response.stream, self._leave),
                extensions=response.extensions,
            )

        pool.handle_async_request = counting

    def _leave(self) -> None:
        self.now -= 1


def count_inside(krea: AsyncKrea) -> _Inside:
    """Count the requests inside the pool of ``krea`` (its own httpx transport)."""
    return _Inside(krea._state.http_client._transport._pool)  # type: ignore[attr-defined]


async def test_no_request_waits_inside_httpx_pool_beyond_its_limit(anyio_backend: str) -> None:
    """60 submits at once on a 4-connection client over loopback: at most 4 requests
    are ever inside httpx's pool (sent, or waiting there for a connection, until
    their response is closed); the rest wait in the SDK's FIFO. No error."""
    fake = FakeKrea()
    with fake.serve_in_thread() as url:
        async with AsyncKrea("k", base_url=url, limits=Limits(max_connections=4)) as krea:
            inside = count_inside(krea)
            calls = [lambda i=i: krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(60)]
            jobs = await gather(calls)
            assert len(inside.pool.connections) <= 4
            assert inside.now == 0
    assert len({j.job_id for j in jobs}) == 60
    assert inside.peak == 4
    assert len(fake.ledger) == 60


class _Counted:
    def __init__(self, stream: Any, on_close: Callable[[], None]) -> None:
        self.stream, self.on_close, self.closed = stream, on_close, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.stream:
            yield part

    async def aclose(self) -> None:
        await self.stream.aclose()
        if not self.closed:
            self.closed = True
            self.on_close()


async def gather(calls: list[Callable[[], Any]]) -> list[Any]:
    results: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        results[i] = await calls[i]()

    async with anyio.create_task_group() as tg:
        for i in range(len(calls)):
            tg.start_soon(run, i)
    return results


async def test_saving_many_results_at_once_waits_in_the_sdks_fifo(
    anyio_backend: str, tmp_path: Path
) -> None:
    """40 results saved at once (``result.save(dir)``) on a 4-connection client over
    loopback: at most 4 transfers are ever inside httpx's pool, the rest wait in the
    SDK's FIFO like API requests (before, all 40 queued in the pool, ahead of the
    poller's requests and under the download's own pool timeout). Every file lands."""
    fake = FakeKrea()
    with fake.serve_in_thread() as url:
        async with AsyncKrea(
            "k",
            base_url=url,
            limits=Limits(max_connections=4),
            jobs=JobSettings(poll_interval=0.05),
        ) as krea:
            results = await gather(
                [
                    lambda i=i: krea.subscribe(ENDPOINT, input={"prompt": f"save {i}"})
                    for i in range(40)
                ]
            )
            inside = count_inside(krea)
            saved = await gather([lambda r=r: r.save(tmp_path) for r in results])
            assert inside.now == 0
    assert inside.peak == 4
    paths = [p for group in saved for p in group]
    assert len(paths) == 40
    assert all(p.parent == tmp_path and p.stat().st_size > 0 for p in paths)


async def test_default_pool_keeps_every_connection_it_may_open(anyio_backend: str) -> None:
    async with AsyncKrea("k") as krea:
        pool = krea._state.http_client._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 100
        assert pool._max_keepalive_connections == 100
        assert krea._state.admission.total == 100


async def test_a_cancelled_submit_waiting_for_admission_creates_no_job(
    anyio_backend: str,
) -> None:
    """One slot: submit A holds it (held at the server's door), subscribe B waits for
    admission; cancelling B ends it at once, having sent nothing: one job only."""
    fake = FakeKrea(clock=ManualClock())
    wrap = Wrapping(fake.transport())
    wrap.gate = anyio.Event()
    wrap.gate_on = lambda r: r.method == "POST"
    krea = fake.client(
        http_client=httpx.AsyncClient(transport=wrap), limits=Limits(max_connections=1)
    )
    b_done = anyio.Event()
    async with krea, anyio.create_task_group() as tg:
        a: list[Job] = []

        async def submit_a() -> None:
            a.append(await krea.image(FLUX, {"prompt": "A"}))

        tg.start_soon(submit_a)
        await until(lambda: wrap.held == 1)
        b_scope = anyio.CancelScope()

        async def subscribe_b() -> None:
            with b_scope:
                await krea.subscribe(ENDPOINT, input={"prompt": "B"})
            b_done.set()

        tg.start_soon(subscribe_b)
        await until(lambda: krea._state.admission.waiting == 1)
        b_scope.cancel()
        with anyio.fail_after(5):
            await b_done.wait()  # ended while A still holds the only slot
        assert wrap.held == 1
        wrap.gate.set()
    assert len(a) == 1
    assert [e.prompt for e in fake.ledger] == ["A"]


async def test_admission_is_fifo_with_the_poller_first_and_cancel_safe(anyio_backend: str) -> None:
    admission = Admission(1)
    await admission.acquire()
    order: list[str] = []

    async def take(name: str, priority: bool = False) -> None:
        await admission.acquire(priority=priority)
        order.append(name)
        await anyio.sleep(0)
        admission.release()

    async with anyio.create_task_group() as tg:
        for i, (name, priority) in enumerate([("a", False), ("b", False), ("poll", True)]):
            tg.start_soon(take, name, priority)
            await until(lambda i=i: admission.waiting == i + 1)
        gone = anyio.CancelScope()

        async def cancelled() -> None:
            with gone:
                await take("never")

        tg.start_soon(cancelled)
        await until(lambda: admission.waiting == 4)
        gone.cancel()
        await until(lambda: admission.waiting == 3)
        admission.release()
    assert order == ["poll", "a", "b"]
    assert (admission.used, admission.waiting) == (0, 0)


# -- the shared poller ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["per-job", "list"])
async def test_a_cancelled_waiter_leaves_the_shared_poller(anyio_backend: str, mode: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with fake.client(jobs=JobSettings(polling=mode, poll_interval=0.01)) as krea:
        jobs = [await krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(3)]
        poller = poller_of(krea)
        done: dict[str, Job] = {}
        async with anyio.create_task_group() as tg:
            scopes = [anyio.CancelScope() for _ in jobs]

            async def wait(i: int) -> None:
                with scopes[i]:
                    done[jobs[i].job_id] = await krea.jobs.wait(jobs[i].job_id)

            for i in range(3):
                tg.start_soon(wait, i)
            await until(lambda: poller.waiting == 3)
            scopes[0].cancel()  # may be the leader: the lead passes on
            await until(lambda: poller.waiting == 2)
            requests_before = poller.list_requests + poller.id_requests
            await until(lambda: poller.list_requests + poller.id_requests > requests_before + 2)
            clock.advance(60)
        assert poller.waiting == 0
        assert not poller.leading
    assert set(done) == {jobs[1].job_id, jobs[2].job_id}
    assert all(j.status == "completed" for j in done.values())
    if mode == "list":
        assert poller.list_requests > 0
    else:
        assert poller.list_requests == 0


async def test_a_job_missing_from_the_listing_is_still_found(anyio_backend: str) -> None:
    fake = FakeKrea()  # Flux: 0.35 s
    wrap = Wrapping(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=wrap),
        jobs=JobSettings(polling="list", poll_interval=0.1),
    ) as krea:
        hidden: list[str] = []

        async def subscribe(i: int) -> Any:
            def hide(job: Job) -> None:
                if i == 2:
                    wrap.hidden.add(job.job_id)
                    hidden.append(job.job_id)

            return await krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}, on_queue_update=hide)

        results = await gather([lambda i=i: subscribe(i) for i in range(5)])
    assert all(r.data.urls for r in results)
    assert results[2].job.job_id == hidden[0]
    assert poller_of(krea).list_requests >= 1
    # only the job the listing did not show was asked for by id
    assert wrap.by_id
    assert set(wrap.by_id) == {hidden[0]}


async def test_many_jobs_are_listed_in_time_windows_at_once(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More waiters than one window: each round reads one page per window of creation
    time (Krea's cursor is a time), and finds every job without a check by id."""
    monkeypatch.setattr(krea_async._jobs.poller_list, "_WINDOW", 3)
    fake = FakeKrea()
    wrap = Wrapping(fake.transport())
    cursors: list[str | None] = []
    inner = wrap.handle_async_request

    async def recording(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs":
            cursors.append(request.url.params.get("cursor"))
        return await inner(request)

    wrap.handle_async_request = recording  # type: ignore[method-assign]
    async with fake.client(
        http_client=httpx.AsyncClient(transport=wrap),
        jobs=JobSettings(polling="list", poll_interval=0.05),
    ) as krea:
        results = await gather(
            [lambda i=i: krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}) for i in range(10)]
        )
    assert all(r.data.urls for r in results)
    assert poller_of(krea).id_requests == 0
    windowed = [c for c in cursors if c is not None]
    assert windowed, cursors
    created = {r.job.raw["created_at"] for r in results}
    # each window starts at the creation time of one of the jobs waited for
    assert {parse_datetime(c) for c in windowed} <= {parse_datetime(c) for c in created}


async def test_an_error_in_one_window_reaches_every_waiter_typed(
    anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(krea_async._jobs.poller_list, "_WINDOW", 2)
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)  # nothing finishes until the clock moves
    async with fake.client(jobs=JobSettings(polling="list", poll_interval=0.05)) as krea:
        poller = poller_of(krea)
        errors: list[BaseException] = []

        async def one(i: int) -> None:
            try:
                await krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"})
            except PermissionDeniedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for i in range(7):
                tg.start_soon(one, i)
            await until(lambda: poller.waiting == 7)
            fake.inject(http_error(403), on="list", times=1)
        assert len(errors) == 7  # the typed error, not an ExceptionGroup of the windows
        assert poller.waiting == 0
        # the poller recovers
        job = await krea.image(FLUX, {"prompt": "after"})
        clock.advance(60)
        again = await krea.jobs.wait(job.job_id)
    assert again.status == "completed"


async def test_jobs_of_other_processes_in_the_listing_are_ignored(anyio_backend: str) -> None:
    """Same account, another client (another process): its newer, failing jobs are in
    every listing; this client's waiter only ever gets its own job."""
    fake = FakeKrea()
    fake.script("failed", prompt="theirs", times=None)
    async with (
        fake.client(jobs=JobSettings(polling="list", poll_interval=0.05)) as krea,
        fake.client() as other,
    ):
        mine = await krea.image(FLUX, {"prompt": "mine"})
        for i in range(3):
            await other.image(FLUX, {"prompt": f"theirs {i}"})
        result = await krea.subscribe(ENDPOINT, input={"prompt": "mine too"})
        waited = await krea.jobs.wait(mine.job_id)
    assert result.data.urls
    assert waited.job_id == mine.job_id
    assert waited.status == "completed"
    assert poller_of(krea).list_requests >= 1


async def test_a_poller_error_reaches_every_waiter_and_the_poller_recovers(
    anyio_backend: str,
) -> None:
    fake = FakeKrea()
    wrap = Wrapping(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=wrap),
        jobs=JobSettings(polling="list", poll_interval=0.05),
    ) as krea:
        jobs = [await krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(5)]
        poller = poller_of(krea)
        fake.inject(http_error(403), on="list", times=1)
        wrap.gate = anyio.Event()
        wrap.gate_on = lambda r: r.url.path == "/jobs"
        errors: list[BaseException] = []

        async def wait(job: Job) -> None:
            try:
                await krea.jobs.wait(job.job_id)
            except PermissionDeniedError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(wait, job)
            await until(lambda: poller.waiting == 5 and wrap.held == 1)
            wrap.gate.set()
        assert len(errors) == 5
        assert all(isinstance(e, PermissionDeniedError) and e.status_code == 403 for e in errors)
        assert poller.waiting == 0
        assert not poller.leading
        # the poller recovers: the same waits now succeed
        results = await gather([lambda j=j: krea.jobs.wait(j.job_id) for j in jobs])
    assert [r.status for r in results] == ["completed"] * 5


@pytest.mark.parametrize("mode", ["per-job", "list"])
async def test_closing_the_client_ends_the_poller_with_no_task_left(
    anyio_backend: str, mode: str
) -> None:
    fake = FakeKrea(clock=ManualClock())  # jobs never finish
    krea = fake.client(jobs=JobSettings(polling=mode, poll_interval=0.05))
    jobs = [await krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(10)]
    poller = poller_of(krea)
    tasks_before = asyncio.all_tasks() if anyio_backend == "asyncio" else set()
    outcomes: list[BaseException] = []

    async def wait(job: Job) -> None:
        try:
            await krea.jobs.wait(job.job_id)
        except ClientClosedError as exc:
            outcomes.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(wait, job)
            await until(lambda: poller.waiting >= 1 and poller.rounds >= 2)
            await krea.aclose()
    assert len(outcomes) == 10
    assert poller.waiting == 0
    assert not poller.leading
    if anyio_backend == "asyncio":
        assert asyncio.all_tasks() == tasks_before
    with pytest.raises(ClientClosedError):
        await krea.jobs.wait(jobs[0].job_id)


async def test_auto_lists_many_jobs_and_polls_few_by_id(anyio_backend: str) -> None:
    fake = FakeKrea()
    async with fake.client(jobs=JobSettings(poll_interval=0.05)) as krea:
        one = await krea.subscribe(ENDPOINT, input={"prompt": "alone"})
        poller = poller_of(krea)
        assert poller.list_requests == 0
        assert poller.id_requests >= 1
        by_id = poller.id_requests
        many = await gather(
            [lambda i=i: krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}) for i in range(40)]
        )
    assert one.data.urls
    assert all(r.data.urls for r in many)
    assert poller.list_requests >= 1
    # 40 jobs over ~0.35 s each at 0.05 s: per-job polling would take >= 200 requests
    assert poller.list_requests + poller.id_requests - by_id < 100


async def test_with_options_copies_share_the_clients_poller(anyio_backend: str) -> None:
    """``krea.with_options(...)`` per call (the openai-python habit) gives no call a
    poller of its own: copies on the same account share the client's, so a batch made
    through copies is listed like one made through the client (each copy polling its
    one job by id took 3 requests per job at 2,000 jobs). Another API key is another
    account: another poller."""
    fake = FakeKrea()
    async with fake.client(jobs=JobSettings(poll_interval=0.05)) as krea:
        poller = poller_of(krea)
        many = await gather(
            [
                lambda i=i: krea.with_options(
                    retry=RetryPolicy(max_retries=2), timeout=30
                ).subscribe(ENDPOINT, input={"prompt": f"copy {i}"})
                for i in range(40)
            ]
        )
        assert poller_of(krea.with_options(jobs=JobSettings(poll_interval=1.0))) is poller
        assert poller_of(krea.with_options(api_key="another-key")) is not poller
    assert all(r.data.urls for r in many)
    assert poller.list_requests >= 1
    # 40 jobs over ~0.35 s each at 0.05 s: per-job polling would take >= 200 requests
    assert poller.list_requests + poller.id_requests < 100


@pytest.mark.virtual_clock
async def test_a_sleeping_leader_starts_listing_when_many_jobs_arrive(
    virtual_clock: VirtualClock,
) -> None:
    """subscribe() waits a whole poll interval before its first poll; a leader that
    planned per-job polling for the first few jobs must not sleep through the batch
    that follows (the lag of issue 8 at N = 1,000 came from this)."""
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with fake.client(
        jobs=JobSettings(poll_interval=3.0)
    ) as krea:  # listing 20 jobs: 4 < 6.7 req/s
        poller = poller_of(krea)
        results: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def one(i: int) -> None:
                results.append(await krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}))

            tg.start_soon(one, 0)
            await until(lambda: poller.leading)
            for i in range(1, 20):
                tg.start_soon(one, i)
            await until(lambda: poller.list_requests >= 1)
            assert virtual_clock.now() < 1.0  # a list round soon, not the 3 s poll
            clock.advance(60)
    assert len(results) == 20
    assert all(r.data.urls for r in results)
    assert poller.id_requests == 0


@pytest.mark.virtual_clock
@pytest.mark.parametrize("mode", ["per-job", "list"])
async def test_deadlines_of_the_shared_pollers_waiters(
    virtual_clock: VirtualClock, mode: str
) -> None:
    """The leader and the sleeping waiters each end at their own deadline (a waiter
    holds a timer, not a cancel scope), with JobTimeoutError, and leave the poller."""
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)  # jobs never finish: the clock stands
    # polls far apart, and the first waiter (the leader) has the latest deadline: each
    # sleeping waiter must end by its own timer, not because a round or the lead woke it
    async with fake.client(jobs=JobSettings(polling=mode, poll_interval=30.0)) as krea:
        jobs = [await krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(12)]
        poller = poller_of(krea)
        ended: dict[int, float] = {}
        start = virtual_clock.now()

        async def wait(i: int) -> None:
            with pytest.raises(JobTimeoutError):
                await krea.jobs.wait(jobs[i].job_id, deadline=0.8 - 0.05 * i)
            ended[i] = virtual_clock.now() - start

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for i in range(len(jobs)):
                    tg.start_soon(wait, i)
        assert poller.waiting == 0
        assert not poller.leading
    assert sorted(ended) == list(range(12))
    for i, took in ended.items():
        assert took == pytest.approx(0.8 - 0.05 * i), (i, took)


async def test_per_job_polling_never_lists(anyio_backend: str) -> None:
    fake = FakeKrea()
    async with fake.client(jobs=JobSettings(polling="per-job", poll_interval=0.02)) as krea:
        results = await gather(
            [lambda i=i: krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}) for i in range(20)]
        )
    assert all(r.data.urls for r in results)
    assert poller_of(krea).list_requests == 0
    assert poller_of(krea).id_requests >= 20


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        AsyncKrea("k", jobs=JobSettings(polling="sometimes"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AsyncKrea("k", limits=Limits(max_connections=0))


async def test_aiohttp_client_on_asyncio_httpx_on_trio(anyio_backend: str) -> None:
    """``krea_async.aiohttp_client()`` goes through aiohttp on asyncio and falls back to
    httpx's own transport on trio; the caller closes it, the SDK does not."""
    pytest.importorskip("httpx_aiohttp")
    fake = FakeKrea()
    limits = Limits(max_connections=8)
    with fake.serve_in_thread() as url:
        async with aiohttp_client(limits) as http:
            async with AsyncKrea("k", base_url=url, http_client=http, limits=limits) as krea:
                result = await krea.subscribe(ENDPOINT, input={"prompt": "fox"})
            assert not http.is_closed  # an http_client passed in is the caller's
            inner = http._transport._inner  # type: ignore[attr-defined]
    assert result.data.urls
    expected = "AiohttpTransport" if anyio_backend == "asyncio" else "AsyncHTTPTransport"
    assert type(inner).__name__ == expected


# -- 10,000 at once (not in the default run) -----------------------------------------------


@pytest.mark.scale
async def test_ten_thousand_concurrent_subscribe_on_one_client(anyio_backend: str) -> None:
    n = 10_000
    fake = FakeKrea(time_scale=0.3)  # Flux: ~2 s
    async with fake.client() as krea:
        with anyio.fail_after(300):
            results = await gather(
                [lambda i=i: krea.subscribe(ENDPOINT, input={"prompt": f"p{i}"}) for i in range(n)]
            )
        poller = poller_of(krea)
    assert len({r.job.job_id for r in results}) == n
    assert all(r.data.urls for r in results)
    assert len(fake.ledger) == n
    # status requests: far fewer than fixed per-job polling (>= 1 per job)
    assert poller.list_requests + poller.id_requests < n / 10


def test_generation_methods_hand_back_the_clients_coroutine() -> None:
    """10,000 waiting subscribe() calls: the public method adds no coroutine frame of its
    own (it returns the client's coroutine), and keeps its signature and docs."""
    import inspect

    krea = AsyncKrea("k")
    coro = krea.subscribe(ENDPOINT, input={"prompt": "p"})
    try:
        # the client's waiter's coroutine itself: one frame per waiting call
        assert coro.cr_code.co_name == "subscribe"
        assert coro.cr_code.co_filename.endswith("waiter.py")
    finally:
        coro.close()
    coro = krea.image(FLUX, {"prompt": "p"})
    try:
        assert coro.cr_code.co_name == "_submit_model"
    finally:
        coro.close()
    assert "deadline" in inspect.signature(AsyncKrea.subscribe).parameters
    assert (AsyncKrea.subscribe.__doc__ or "").startswith("Submit a generation job")


def test_import_builds_no_typed_inputs_until_asked() -> None:
    """``import krea_async`` leaves the ~130 generated input classes, the files module
    and asyncio unimported; ``krea_async.inputs`` / ``krea_async.DownloadError`` import
    them on first use."""
    import subprocess
    import sys

    code = (
        "import sys, krea_async\n"
        "lazy = ['krea_async._generated.inputs', 'krea_async.files', 'asyncio']\n"
        "print([m for m in lazy if m in sys.modules])\n"
        "print(krea_async.inputs.BflFlux1DevInput.__name__, krea_async.DownloadError.__name__)\n"
        "from krea_async import inputs, files\n"
        "print(inputs is krea_async.inputs, files.download.__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "BflFlux1DevInput DownloadError", "True download"]


async def test_the_lean_pool_reuses_connections_and_times_out_when_full(
    anyio_backend: str,
) -> None:
    """The pool under httpx's transport: requests outside the admission FIFO (downloads
    use the pool directly) wait for a connection up to the pool timeout
    (``httpx.PoolTimeout``); a freed connection is reused, never more than the limit."""
    fake = FakeKrea()
    with fake.serve_in_thread() as url:
        async with AsyncKrea("k", base_url=url, limits=Limits(max_connections=2)) as krea:
            http = krea._state.http_client
            pool = http._transport._pool  # type: ignore[attr-defined]
            assert type(pool).__name__ == "LeanPool"
            async with http.stream("GET", url + "/jobs"), http.stream("GET", url + "/jobs"):
                with pytest.raises(httpx.PoolTimeout):
                    await http.get(url + "/jobs", timeout=httpx.Timeout(5, pool=0.2))
                assert len(pool.connections) == 2
            for _ in range(5):
                assert (await http.get(url + "/jobs")).status_code in (200, 401)
            assert len(pool.connections) <= 2
            jobs = await gather(
                [lambda i=i: krea.image(FLUX, {"prompt": f"p{i}"}) for i in range(8)]
            )
            assert len(pool.connections) <= 2
    assert len({j.job_id for j in jobs}) == 8
