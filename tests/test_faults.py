"""A transport you can trust: retries, never double-billing, deadlines, cancellation,
the error tree, and secrets, driven through the public API against the faulty fake."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
from _virtual_clock import VirtualClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krea_async import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncKrea,
    InternalServerError,
    Job,
    JobNotFoundError,
    JobSettings,
    JobStatus,
    JobTimeoutError,
    KreaError,
    Limits,
    RateLimitError,
    RetryPolicy,
    UncertainSubmitError,
)
from krea_async.testing import (
    FakeKrea,
    ManualClock,
    drop_after,
    drop_before,
    http_error,
    malformed,
    no_backoff,
    rate_limited,
    refuse_connection,
    set_backoff_enabled,
    slow,
)

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]
FLUX = "image/bfl/flux-1-dev"
SECRET = "sk-krea-very-secret-token-1234567890"


@pytest.fixture
def fake() -> Iterator[FakeKrea]:
    with FakeKrea(time_scale=0.02) as fake:
        yield fake


@pytest.fixture
async def krea(fake: FakeKrea) -> AsyncIterator[AsyncKrea]:
    async with fake.client(jobs=JobSettings(poll_interval=0.01)) as client:
        yield client


# -- retries of idempotent requests --------------------------------------------------


async def test_get_retries_transient_statuses_then_succeeds(
    krea: AsyncKrea, fake: FakeKrea
) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "retry my polls"})
    rule = fake.inject(http_error(503), on="poll", times=2)
    assert (await krea.jobs.get(job.job_id)).job_id == job.job_id
    assert rule.hits == 2


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_each_retryable_status_is_retried(
    krea: AsyncKrea, fake: FakeKrea, status: int
) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "statuses"})
    rule = fake.inject(http_error(status), on="poll", times=1)
    await krea.jobs.get(job.job_id)
    assert rule.hits == 1


async def test_max_retries_zero_means_exactly_one_attempt(krea: AsyncKrea, fake: FakeKrea) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "one attempt"})
    rule = fake.inject(http_error(503, html=True), on="poll")
    with pytest.raises(InternalServerError) as info:
        await krea.with_options(retry=RetryPolicy(max_retries=0)).jobs.get(job.job_id)
    assert rule.hits == 1
    assert info.value.status_code == 503
    assert "503" in info.value.message  # summary of the HTML page, not a KeyError
    fake.faults.clear()


async def test_retries_are_capped(krea: AsyncKrea, fake: FakeKrea) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "capped"})
    rule = fake.inject(http_error(502), on="poll")
    with pytest.raises(InternalServerError):
        await krea.jobs.get(job.job_id)
    assert rule.hits == 4  # 1 attempt + max_retries=3


@pytest.mark.virtual_clock
async def test_retry_after_is_honoured_in_both_forms(virtual_clock: VirtualClock) -> None:
    # With backoff on, a Retry-After of 20 s is waited for (on the virtual clock); as
    # an HTTP-date (whole seconds of the wall clock) "2 s from now" is 1 to 2 s.
    fake = FakeKrea(clock=virtual_clock)
    async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "retry-after"})
        set_backoff_enabled(True)
        try:
            fake.inject(rate_limited(retry_after=20), on="poll", times=1)
            t0 = virtual_clock.now()
            await krea.jobs.get(job.job_id)
            assert virtual_clock.now() - t0 == pytest.approx(20)
            fake.inject(http_error(503, retry_after=2, http_date=True), on="poll", times=1)
            t0 = virtual_clock.now()
            await krea.jobs.get(job.job_id)
            assert 1.0 <= virtual_clock.now() - t0 <= 2.0
            too_long = fake.inject(rate_limited(retry_after=3600), on="poll", times=1)
            t0 = virtual_clock.now()
            with pytest.raises(RateLimitError) as info:
                await krea.jobs.get(job.job_id)
            assert info.value.retry_after == 3600
            assert virtual_clock.now() == t0  # not waited for: over max_retry_after
            assert too_long.hits == 1
        finally:
            set_backoff_enabled(False)


# -- the submit POST is never replayed when it may have created a job -------------------


async def test_submit_429_is_retried_and_creates_one_job(krea: AsyncKrea, fake: FakeKrea) -> None:
    rule = fake.inject(rate_limited(), on="submit", times=2)
    job = await krea.image("bfl/flux-1-dev", {"prompt": "after a burst of 429"})
    assert rule.hits == 2
    assert [e.job_id for e in fake.ledger] == [job.job_id]


async def test_refused_connection_on_submit_is_retried(krea: AsyncKrea, fake: FakeKrea) -> None:
    rule = fake.inject(refuse_connection(), on="submit", times=1)
    job = await krea.image("bfl/flux-1-dev", {"prompt": "connect failed once"})
    assert rule.hits == 1
    assert [e.job_id for e in fake.ledger] == [job.job_id]


async def test_dropped_after_creation_raises_uncertain_and_is_not_replayed(
    krea: AsyncKrea, fake: FakeKrea
) -> None:
    rule = fake.inject(drop_after(), on="submit", times=1)
    with pytest.raises(UncertainSubmitError) as info:
        await krea.image("bfl/flux-1-dev", {"prompt": "dropped after"})
    err = info.value
    assert rule.hits == 1
    assert isinstance(err.cause, APIConnectionError)
    assert "NOT retried" in str(err)
    assert len(fake.ledger) == 1  # created once, never twice
    found = [job async for job in krea.jobs.list(created_after=err.submitted_at)]
    assert [j.job_id for j in found] == [fake.ledger[0].job_id]


async def test_dropped_before_creation_is_uncertain_and_creates_nothing(
    krea: AsyncKrea, fake: FakeKrea
) -> None:
    fake.inject(drop_before(), on="submit", times=1)
    with pytest.raises(UncertainSubmitError) as info:
        await krea.image("bfl/flux-1-dev", {"prompt": "dropped before"})
    assert fake.ledger == []
    assert [j async for j in krea.jobs.list(created_after=info.value.submitted_at)] == []


async def test_submit_5xx_is_uncertain_and_not_replayed(krea: AsyncKrea, fake: FakeKrea) -> None:
    rule = fake.inject(http_error(502), on="submit")
    with pytest.raises(UncertainSubmitError) as info:
        await krea.image("bfl/flux-1-dev", {"prompt": "bad gateway"})
    assert isinstance(info.value.cause, InternalServerError)
    assert rule.hits == 1


async def test_submit_read_timeout_is_uncertain(fake: FakeKrea) -> None:
    fake.inject(slow(0.5, phase="after"), on="submit", times=1)
    async with fake.client(jobs=JobSettings(poll_interval=0.01), timeout=0.1) as krea:
        with pytest.raises(UncertainSubmitError) as info:
            await krea.image("bfl/flux-1-dev", {"prompt": "slow answer"})
    assert isinstance(info.value.cause, APITimeoutError)
    assert len(fake.ledger) == 1


# -- polling through faults, deadlines, 404 ---------------------------------------------


async def test_transient_poll_failures_do_not_end_the_stream(fake: FakeKrea) -> None:
    async with fake.client(
        retry=RetryPolicy(max_retries=0), jobs=JobSettings(poll_interval=0.01)
    ) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "flaky polls"})
        fake.inject(http_error(503), on="poll", times=2)
        fake.inject(drop_before(), on="poll", times=1)
        fake.inject(malformed(b"<html>oops</html>"), on="poll", times=1)
        states = [s async for s in krea.jobs.stream(job.job_id)]
        assert states[-1].status is JobStatus.COMPLETED


async def test_malformed_bodies_become_typed_errors(krea: AsyncKrea, fake: FakeKrea) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "malformed"})
    for body in (b"", b"not json", b'{"job_id": "', b'{"unexpected": true}', b"[1, 2]"):
        fake.inject(malformed(body), on="poll", times=1)
        with pytest.raises(APIResponseValidationError):
            await krea.with_options(retry=RetryPolicy(max_retries=0)).jobs.get(job.job_id)


async def test_deadline_raises_with_last_state_and_subscribe_cancels(anyio_backend: str) -> None:
    clock = ManualClock()  # never advanced: the job stays queued
    fake = FakeKrea(clock=clock)
    async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
        with pytest.raises(JobTimeoutError) as info:
            await krea.subscribe(FLUX, input={"prompt": "stuck"}, deadline=0.2)
        err = info.value
        assert err.job is not None
        assert err.job.status is JobStatus.QUEUED
        assert err.job_id == fake.ledger[0].job_id
        assert err.cancelled_remote
        assert fake.ledger[0].status == "cancelled"

        job = await krea.image("bfl/flux-1-dev", {"prompt": "stuck too"})
        with pytest.raises(JobTimeoutError):
            await krea.jobs.wait(job.job_id, deadline=0.1)
        assert (await krea.jobs.get(job.job_id)).status is JobStatus.QUEUED  # wait() leaves it


@pytest.mark.virtual_clock
async def test_cancelling_the_awaiting_task_cancels_the_remote_job(
    virtual_clock: VirtualClock,
) -> None:
    fake = FakeKrea(clock=ManualClock())  # the job stays queued
    async with fake.client(jobs=JobSettings(poll_interval=5.0)) as krea:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: krea.subscribe(FLUX, input={"prompt": "abandoned"}))
            while not fake.ledger:
                await anyio.sleep(0.005)
            t0 = virtual_clock.now()
            tg.cancel_scope.cancel()
        # the DELETE went out at once: no timer (a poll interval, a backoff) ran first
        assert virtual_clock.now() == t0
        assert fake.ledger[0].status == "cancelled"


async def test_cancelling_a_wait_leaves_the_job_running(krea: AsyncKrea, fake: FakeKrea) -> None:
    job = await krea.image("bfl/flux-1-dev", {"prompt": "keep me"})
    with anyio.move_on_after(0.02):
        await krea.jobs.wait(job.job_id)
    assert (await krea.jobs.wait(job.job_id)).status is JobStatus.COMPLETED


async def test_404_while_polling_ends_the_stream(krea: AsyncKrea) -> None:
    with pytest.raises(JobNotFoundError, match="not"):
        await krea.jobs.wait("00000000-0000-0000-0000-000000000000")


# -- property-based: any body from the server becomes a Job or a typed error -------------

bodies = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(str.encode),
    st.sampled_from([b"", b"null", b"{}", b"[]", b"<html>502</html>", b'{"error": 5}']),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=10,
    ).map(lambda v: __import__("json").dumps(v).encode()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, status=st.sampled_from([200, 200, 400, 404, 429, 500, 502, 418]))
def test_any_answer_becomes_a_job_or_a_typed_error(body: bytes, status: int) -> None:
    fake = FakeKrea(time_scale=0.0)

    async def main() -> None:
        async with fake.client(retry=RetryPolicy(max_retries=0)) as krea:
            job = await krea.image("bfl/flux-1-dev", {"prompt": "fuzz"})
            if status == 200:
                fake.inject(malformed(body), on="poll", times=1)
            else:
                fault = http_error(status)
                fake.inject(
                    type(fault)(kind="status", status=status, body=body), on="poll", times=1
                )
            if status != 200:
                with pytest.raises(APIStatusError) as info:
                    await krea.jobs.get(job.job_id)
                assert info.value.status_code == status
                return
            try:
                got = await krea.jobs.get(job.job_id)
            except APIResponseValidationError:
                return
            assert isinstance(got, Job)

    with no_backoff():
        anyio.run(main)


# -- secrets -----------------------------------------------------------------------------


async def test_the_key_never_shows_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeKrea(api_key="not-the-secret", time_scale=0.0)
    caplog.set_level(logging.DEBUG, logger="krea_async")
    krea = fake.client(api_key=SECRET, jobs=JobSettings(poll_interval=0.01))
    errors: list[BaseException] = []
    try:
        await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    except KreaError as exc:
        errors.append(exc)
    fake.api_key = None
    fake.inject(drop_after(), on="submit", times=1)
    try:
        await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    except KreaError as exc:
        errors.append(exc)
    fake.inject(http_error(503), on="poll", times=2)
    job = await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    await krea.jobs.wait(job.job_id)
    await krea.aclose()
    assert len(errors) == 2
    assert caplog.records, "the SDK logged nothing at DEBUG"
    assert "POST /generate/image/bfl/flux-1-dev" in caplog.text
    texts = [caplog.text, repr(krea), str(krea), repr(vars(krea)), repr(krea.with_options())]
    for err in errors:
        texts += [str(err), repr(err)]
        texts += traceback.TracebackException.from_exception(err, capture_locals=True).format()
    for text in texts:
        assert SECRET not in text


@pytest.mark.slow  # Python subprocesses
@pytest.mark.parametrize("level", ["debug", "info", ""])
def test_krea_log_switches_on_request_logging_without_the_key(level: str) -> None:
    code = (
        "import anyio\n"
        "from krea_async.testing import FakeKrea\n"
        "async def main():\n"
        f"    async with FakeKrea(time_scale=0).client(api_key={SECRET!r}) as krea:\n"
        "        await krea.image('bfl/flux-1-dev', {'prompt': 'x'})\n"
        "anyio.run(main)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KREA_LOG"}
    if level:
        env["KREA_LOG"] = level
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    logged = "POST /generate/image/bfl/flux-1-dev -> 200 (attempt 1," in proc.stderr
    assert logged == bool(level)
    assert SECRET not in proc.stderr + proc.stdout


# -- cancellation while the submit is in flight ------------------------------------------


@pytest.mark.virtual_clock
async def test_cancel_during_the_submit_cancels_the_job_it_created(anyio_backend: str) -> None:
    """The job exists on the server but its answer is late: the caller is cancelled in
    between, through an anyio scope (and, on asyncio, task.cancel() and wait_for)."""
    import asyncio

    async def cancel_mid_submit(how: str) -> None:
        fake = FakeKrea(clock=ManualClock())
        fake.inject(slow(0.3, phase="after"), on="submit", times=1)
        async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
            call = krea.subscribe(FLUX, input={"prompt": f"cancelled mid-submit by {how}"})
            if how == "anyio scope":
                with anyio.move_on_after(0.1) as scope:
                    await call
                assert scope.cancelled_caught
            elif how == "task.cancel()":
                task = asyncio.ensure_future(call)
                while not fake.ledger:
                    await asyncio.sleep(0.005)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(call, 0.1)
        [entry] = fake.ledger
        assert entry.status == "cancelled", how

    await cancel_mid_submit("anyio scope")
    if anyio_backend == "asyncio":
        await cancel_mid_submit("task.cancel()")
        await cancel_mid_submit("asyncio.wait_for")


@pytest.mark.virtual_clock
async def test_a_submit_slower_than_the_grace_is_abandoned_with_a_warning(
    anyio_backend: str, virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Past ``submit_grace`` the in-flight submit is given up: the cancellation
    propagates (after the grace), a WARNING names the uncertain job, and
    the child task that sent the POST is gone (the client closes with nothing left)."""
    import asyncio

    grace = 0.2
    before = asyncio.all_tasks() if anyio_backend == "asyncio" else set()
    fake = FakeKrea(clock=ManualClock())
    fake.inject(slow(3.0, phase="after"), on="submit", times=2)
    async with fake.client(
        jobs=JobSettings(poll_interval=0.01, cancel_deadline=grace, submit_grace=grace)
    ) as krea:
        hows = ["anyio scope"] + (["task.cancel()"] if anyio_backend == "asyncio" else [])
        for how in hows:
            caplog.clear()
            call = krea.subscribe(FLUX, input={"prompt": f"abandoned by {how}"})
            t0 = virtual_clock.now()
            if how == "anyio scope":
                with anyio.move_on_after(0.1) as scope:
                    await call
                assert scope.cancelled_caught
            else:
                task = asyncio.ensure_future(call)
                await asyncio.sleep(0.1)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            elapsed = virtual_clock.now() - t0
            # cancelled at 0.1 s, the POST in flight given ``grace`` more, then abandoned
            assert elapsed == pytest.approx(0.1 + grace), (how, elapsed)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert any("abandoned on cancellation" in r.getMessage() for r in warnings), how
            assert "krea.jobs.list(created_after=" in warnings[-1].getMessage()
    assert len(fake.ledger) == len(hows)  # each POST reached the server; no answer was read
    if anyio_backend == "asyncio":
        left = [t for t in asyncio.all_tasks() - before if not t.done()]
        assert left == [], [t.get_coro() for t in left]


async def _cancel_a_waiting_batch(krea: AsyncKrea, fake: FakeKrea, n: int) -> float:
    """Start ``n`` subscribe() calls, wait until the fake holds their ``n`` jobs, cancel
    them all at once; return the seconds (of the event loop's clock: run the test on
    the virtual clock) until the last call ended."""
    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(lambda i=i: krea.subscribe(FLUX, input={"prompt": f"batch {i}"}))
        with anyio.fail_after(10):
            while len(fake.ledger) < n:
                await anyio.sleep(0.01)
        t0 = anyio.current_time()
        tg.cancel_scope.cancel()
    return anyio.current_time() - t0


@pytest.mark.virtual_clock
async def test_cancelling_many_waiting_subscribes_at_once_cancels_every_job(
    anyio_backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    """100 waiting subscribe() calls cancelled together, on 1 connection, each DELETE
    answered in 20 ms: sending the 100 DELETEs takes about 2 s, four times
    cancel_deadline. Every job is still cancelled: a DELETE waits for a connection as
    long as the server keeps answering (before, only the first ~25 made it)."""
    n, grace = 100, 0.5
    caplog.set_level(logging.WARNING, logger="krea_async")
    fake = FakeKrea(clock=ManualClock())  # the jobs stay queued
    fake.inject(slow(0.02), on="cancel")
    async with fake.client(
        limits=Limits(max_connections=1),
        jobs=JobSettings(poll_interval=0.05, cancel_deadline=grace, submit_grace=grace),
    ) as krea:
        elapsed = await _cancel_a_waiting_batch(krea, fake, n)
    assert [e.status for e in fake.ledger] == ["cancelled"] * n
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    # 100 DELETEs of 20 ms one after another: they did outlast cancel_deadline
    assert elapsed == pytest.approx(n * 0.02), elapsed


@pytest.mark.virtual_clock
async def test_cancels_stop_waiting_when_the_server_answers_nothing(anyio_backend: str) -> None:
    """The same mass cancellation against a server that never answers a DELETE: the
    DELETEs sent time out after cancel_deadline, and those waiting for a connection
    give up once nothing was answered for cancel_deadline (a timeout is no progress).
    Each failure reaches on_cancel_failed; the whole cancellation takes about twice
    cancel_deadline, not (20 / 2) times."""
    n, grace = 20, 0.3
    failed: list[tuple[str, str]] = []
    fake = FakeKrea(clock=ManualClock())
    fake.inject(slow(30.0), on="cancel")
    async with fake.client(
        limits=Limits(max_connections=2),
        jobs=JobSettings(
            poll_interval=0.05,
            cancel_deadline=grace,
            submit_grace=grace,
            on_cancel_failed=lambda job_id, reason: failed.append((job_id, reason)),
        ),
    ) as krea:
        elapsed = await _cancel_a_waiting_batch(krea, fake, n)
    assert elapsed <= 2 * grace + 0.01, elapsed  # sent 2 by 2, it would be 10 * grace
    assert sorted(j for j, _ in failed) == sorted(e.job_id for e in fake.ledger)
    reasons = [r for _, r in failed]
    timed_out = sum("did not complete within cancel_deadline" in r for r in reasons)
    gave_up = sum("answered no request" in r and "nothing was sent" in r for r in reasons)
    # the 2 sent first time out; of the rest, whether one was handed a connection just
    # as it freed or gave up is a tie on the virtual clock (both at the same instant):
    # the total time above shows that they did not go 2 by 2
    assert timed_out >= 2, reasons
    assert timed_out + gave_up == n, reasons


@pytest.mark.virtual_clock
async def test_cancel_during_submit_retries_stops_waiting_at_once(
    fake: FakeKrea, virtual_clock: VirtualClock
) -> None:
    """A cancelled subscribe() does not sit out the submit's retry waits."""
    set_backoff_enabled(True)
    try:
        rule = fake.inject(rate_limited(retry_after=2), on="submit")
        async with fake.client(jobs=JobSettings(poll_interval=0.01)) as krea:
            t0 = virtual_clock.now()
            with anyio.move_on_after(0.1):
                await krea.subscribe(FLUX, input={"prompt": "refused, then abandoned"})
            assert virtual_clock.now() - t0 == pytest.approx(0.1)
        assert rule.hits == 1
        assert fake.ledger == []
    finally:
        set_backoff_enabled(False)


async def test_unreadable_answer_to_a_submit_is_uncertain(krea: AsyncKrea, fake: FakeKrea) -> None:
    """A 200 whose body cannot be read came from a server that probably created the job."""
    for body in (b"<html>ok</html>", b'{"unexpected": true}'):
        fake.inject(malformed(body), on="submit", times=1)
        with pytest.raises(UncertainSubmitError) as info:
            await krea.image("bfl/flux-1-dev", {"prompt": "unreadable"})
        assert isinstance(info.value.cause, APIResponseValidationError)
        assert info.value.check_since < info.value.submitted_at


async def test_retried_job_delete_still_reports_an_unknown_job(
    krea: AsyncKrea, fake: FakeKrea
) -> None:
    """A 404 after a 502 on DELETE /jobs/{id} means "unknown", not "done"."""
    fake.inject(http_error(502), method="DELETE", path="/jobs/", times=1)
    with pytest.raises(JobNotFoundError):
        await krea.jobs.cancel("4d0e5f97-9721-4422-b88c-73a9032d7de1")


async def test_bad_ids_endpoints_and_webhooks_are_value_errors(krea: AsyncKrea) -> None:
    for job_id in ("", " ", ".", ".."):
        with pytest.raises(ValueError, match="job_id"):
            await krea.jobs.get(job_id)
    for endpoint in ("image/bfl/flux-1-dev?x=1", "image/../jobs", "image", "image/a b"):
        with pytest.raises(ValueError, match="endpoint"):
            await krea.generate(endpoint, {"prompt": "x"})
    for url in ("http://[::1", "ftp://example.com/hook", "not a url"):
        with pytest.raises(ValueError, match="webhook_url"):
            await krea.image("bfl/flux-1-dev", {"prompt": "x"}, webhook_url=url)


async def test_errors_keep_no_key_in_the_request_they_carry() -> None:
    fake = FakeKrea(api_key="the-right-key")
    async with fake.client(api_key=SECRET) as krea:
        with pytest.raises(KreaError) as info:
            await krea.image("bfl/flux-1-dev", {"prompt": "x"})
    assert isinstance(info.value, APIStatusError)
    sent = info.value.response.request.headers["authorization"]
    assert SECRET not in sent
