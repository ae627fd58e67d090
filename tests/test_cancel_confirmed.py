"""A cancel is confirmed by the job's state, not assumed from a 2xx: Krea cancels a
job only while it is queued or processing (docs.krea.ai/developers/job-lifecycle).
Against the in-process fake, which follows that rule, on a virtual clock: a flux job
runs about 7 s (time_scale=1), and with ``concurrency=1`` a second job waits
``backlogged`` until the first ends."""

from __future__ import annotations

import logging

import anyio
import pytest
from _virtual_clock import VirtualClock

from krea_async import AsyncKrea, Job, JobSettings, JobStatus, JobStream, JobTimeoutError
from krea_async.testing import FakeKrea

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_clock]

MODEL = "image/bfl/flux-1-dev"


def _client(fake: FakeKrea, failed: list[tuple[str, str]], cancel_deadline: float) -> AsyncKrea:
    return fake.client(
        jobs=JobSettings(
            cancel_deadline=cancel_deadline,
            on_cancel_failed=lambda job_id, reason: failed.append((job_id, reason)),
        )
    )


async def _drain(states: JobStream) -> None:
    async with states:
        async for _ in states:
            pass


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_a_completed_job_is_reported_as_billed(
    virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="krea_async")
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    failed: list[tuple[str, str]] = []
    async with _client(fake, failed, 5.0) as krea:
        job = await krea.generate(MODEL, {"prompt": "a fox"})
        await anyio.sleep(30)  # virtual: the job completes
        assert not await krea.jobs.waiter.cancel_quietly(job.job_id)
        state = await krea.jobs.cancel(job.job_id)
    assert state.status is JobStatus.COMPLETED
    assert [j for j, _ in failed] == [job.job_id]
    assert "completed" in failed[0][1]
    assert "billed" in failed[0][1]
    warnings = _warnings(caplog)
    assert len(warnings) == 2  # the SDK's own cancel, and krea.jobs.cancel
    assert all(job.job_id in w and "billed" in w for w in warnings), warnings
    assert [(r.job_id, r.status) for r in fake.ledger] == [(job.job_id, "completed")]


async def test_a_queued_job_is_confirmed_cancelled(
    virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="krea_async")
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    failed: list[tuple[str, str]] = []
    async with _client(fake, failed, 5.0) as krea:
        first = await krea.generate(MODEL, {"prompt": "one"})
        second = await krea.generate(MODEL, {"prompt": "two"})
        assert (await krea.jobs.get(first.job_id)).status in ("queued", "processing")
        assert await krea.jobs.waiter.cancel_quietly(first.job_id)
        state = await krea.jobs.cancel(second.job_id)
    assert state.status is JobStatus.CANCELLED
    assert failed == []
    assert _warnings(caplog) == []
    assert {r.status for r in fake.ledger} == {"cancelled"}


@pytest.mark.parametrize("refused", [200, 409])
async def test_a_backlogged_job_gets_its_cancel_retried(
    virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture, refused: int
) -> None:
    """The DELETE of a backlogged job does not take (the fake answers the job as it
    stands, or 409): the cancel is sent again until the job is queued (the first job
    ends at about 7 s), within cancel_deadline."""
    caplog.set_level(logging.WARNING, logger="krea_async")
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0, concurrency=1, cancel_refused=refused)  # type: ignore[arg-type]
    failed: list[tuple[str, str]] = []
    async with _client(fake, failed, 15.0) as krea:
        await krea.generate(MODEL, {"prompt": "runs"})
        waiting = await krea.generate(MODEL, {"prompt": "waits"})
        assert (await krea.jobs.get(waiting.job_id)).status is JobStatus.BACKLOGGED
        start = virtual_clock.now()
        assert await krea.jobs.waiter.cancel_quietly(waiting.job_id)
        took = virtual_clock.now() - start
        assert (await krea.jobs.get(waiting.job_id)).status is JobStatus.CANCELLED
    assert 5.0 < took < 10.0, took  # retried until the backlog moved, not given up
    assert failed == []
    assert _warnings(caplog) == []
    assert fake.ledger[-1].status == "cancelled"


async def test_a_stream_whose_cancel_does_not_take_says_the_job_runs_on(
    virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Past ``cancel_deadline`` the job is still backlogged: the stream's deadline
    error, ``cancel_error``, ``on_cancel_failed`` and a WARNING say it runs on."""
    caplog.set_level(logging.WARNING, logger="krea_async")
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0, concurrency=1)
    failed: list[tuple[str, str]] = []
    async with _client(fake, failed, 1.0) as krea:
        await krea.generate(MODEL, {"prompt": "runs"})
        waiting = await krea.generate(MODEL, {"prompt": "waits"})
        states = krea.jobs.stream(waiting.job_id, cancel_on_exit=True, deadline=2.0)
        with pytest.raises(JobTimeoutError) as caught:
            await _drain(states)
        last: Job = await krea.jobs.get(waiting.job_id)
    assert not caught.value.cancelled_remote
    assert not states.cancelled_remote
    assert states.cancel_error is not None
    assert "backlogged" in states.cancel_error
    assert "runs on" in str(caught.value)
    assert "billed" in str(caught.value)
    assert [j for j, _ in failed] == [waiting.job_id]
    assert any(waiting.job_id in w for w in _warnings(caplog))
    assert last.status is JobStatus.BACKLOGGED  # not cancelled: it will run and bill
