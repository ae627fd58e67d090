"""Request-rate limits (429) against the fake's ``rate_limit``: the shared poller
pauses as a whole and recovers, submits wait in the admission queue, and a client
whose webhook URL Krea cannot reach says so once.

All on virtual time: the fake's limit windows and the SDK's pauses move together.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

import anyio
import httpx
import pytest
from _virtual_clock import VirtualClock

from krea_async import JobSettings, JobStatus, WebhookSettings
from krea_async.testing import FakeKrea

pytestmark = pytest.mark.anyio

MODEL = "image/bfl/flux-1-dev"


class Counting(httpx.AsyncBaseTransport):
    """Counts the requests that reach the fake, by kind and status."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.times: list[tuple[float, str, int]] = []  # (virtual time, kind, status)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        path = request.url.path
        if request.method == "POST":
            kind = "submit"
        elif path.rstrip("/") == "/jobs":
            kind = "list"
        else:
            kind = "id"
        self.counts[kind, response.status_code] += 1
        self.times.append((anyio.current_time(), kind, response.status_code))
        return response

    def total(self, *kinds: str, status: int | None = None) -> int:
        return sum(
            n
            for (kind, code), n in self.counts.items()
            if kind in kinds and (status is None or code == status)
        )


async def run_jobs(krea: Any, n: int) -> list[Any]:
    results: list[Any] = []

    async def one(i: int) -> None:
        results.append(await krea.subscribe(MODEL, input={"prompt": f"p{i}"}, deadline=600))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return results


@pytest.mark.virtual_clock
@pytest.mark.parametrize("retry_after", [True, False])
async def test_the_shared_poller_pauses_as_a_whole_on_a_status_rate_limit(
    virtual_clock: VirtualClock, retry_after: bool
) -> None:
    """40 jobs listed 4 times a second against a limit of 2 status requests a second:
    every job completes, the poller takes few pauses (one per 429 period, not one per
    job), and no waiter sees an error."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    limit = fake.rate_limit(2, on="status", retry_after=retry_after)
    counting = Counting(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=counting),
        jobs=JobSettings(polling="list"),
    ) as krea:
        poller = krea.jobs.waiter.poller
        results = await run_jobs(krea, 40)
        elapsed = virtual_clock.now()
    assert len(results) == 40
    assert all(r.job.status is JobStatus.COMPLETED for r in results)
    refused = counting.total("list", "id", status=429)
    sent = counting.total("list", "id")
    print(f"status requests {sent}, 429s {refused}, pauses {poller.pauses}, {elapsed:.1f} s")
    assert refused == limit.hits
    assert refused >= 1  # the limit was met
    # one 429 per pause: the poller sends nothing while it pauses
    assert refused == poller.pauses
    # at most 2 a second get through, and the pauses keep 429s to about one a second
    assert sent <= 3 * elapsed + 3
    assert elapsed < 30  # the jobs end at 7 s: the pauses delay them only a little


@pytest.mark.virtual_clock
async def test_the_shared_poller_recovers_its_cadence_after_the_limit(
    virtual_clock: VirtualClock,
) -> None:
    """A limit of 1 status request a second for the first 3 s, then none: the poller
    sends about one list request a second while limited, then lists every 0.25 s
    again (it does not stay slowed by its pauses)."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    fake.rate_limit(1, on="status", retry_after=False)
    counting = Counting(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=counting),
        jobs=JobSettings(polling="list"),
    ) as krea:
        results: list[Any] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _collect(results, run_jobs(krea, 40)))
            await anyio.sleep(3.0)
            fake.clear_rate_limits()
    assert len(results[0]) == 40
    limited = [t for t in counting.times if t[1] == "list" and t[0] < 3.0]
    after = [t for t in counting.times if t[1] == "list" and 4.0 <= t[0] < 6.0]
    print(f"list requests in 0-3 s: {len(limited)}, in 4-6 s: {len(after)}")
    assert len(limited) <= 9  # paused: fewer than the 12 of a list every 0.25 s
    assert 7 <= len(after) <= 9  # every 0.25 s again
    assert all(status == 200 for _, _, status in after)


async def _collect(out: list[Any], work: Any) -> None:
    out.append(await work)


@pytest.mark.virtual_clock
async def test_polls_by_id_slow_to_the_rate_the_server_accepts(
    virtual_clock: VirtualClock,
) -> None:
    """Per-job polling of 30 jobs in parallel bursts against a limit of 5 a second:
    after the first 429 the poller paces its polls by id, so 429s stay far fewer than
    polls, and every job completes."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    fake.rate_limit(5, on="status", retry_after=True)
    counting = Counting(fake.transport())
    async with fake.client(
        http_client=httpx.AsyncClient(transport=counting),
        jobs=JobSettings(polling="per-job", poll_interval=1.0),
    ) as krea:
        poller = krea.jobs.waiter.poller
        results = await run_jobs(krea, 30)
        elapsed = virtual_clock.now()
    assert len(results) == 30
    assert all(r.job.status is JobStatus.COMPLETED for r in results)
    refused = counting.total("id", status=429)
    sent = counting.total("id")
    print(f"polls by id {sent}, 429s {refused}, pauses {poller.pauses}, {elapsed:.1f} s")
    assert refused <= 40  # the first burst (25) and a few after: not one per job per round
    assert sent - refused >= 30


@pytest.mark.virtual_clock
@pytest.mark.parametrize("retry_after", [True, False])
async def test_submits_under_a_rate_limit_wait_in_the_admission_queue(
    virtual_clock: VirtualClock, retry_after: bool
) -> None:
    """300 gathered submits against 10 submits a second: every one is created once,
    with far fewer 429s than jobs (no herd of retries after each pause)."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    limit = fake.rate_limit(10, on="submit", retry_after=retry_after)
    counting = Counting(fake.transport())
    jobs: list[Any] = []
    async with fake.client(http_client=httpx.AsyncClient(transport=counting)) as krea:

        async def one(i: int) -> None:
            jobs.append(await krea.generate(MODEL, input={"prompt": f"p{i}"}))

        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(one, i)
        elapsed = virtual_clock.now()
    assert len(jobs) == 300
    assert len(fake.ledger) == 300
    refused = counting.total("submit", status=429)
    print(f"submits 300, 429s {refused}, {elapsed:.1f} s")
    assert refused == limit.hits
    # the first burst fills the connection slots (100) before the first 429 comes back;
    # after it, about one 429 per pause
    assert refused <= 100
    assert elapsed < 90  # 300 at 10 a second is 30 s


@pytest.mark.virtual_clock
async def test_an_unreachable_webhook_url_is_reported_once(
    virtual_clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The in-process fake delivers no webhook: the first safety poll that finds a job
    terminal logs one WARNING for the client (not one per job), naming the base URL
    and the safety-poll interval, never a token."""
    fake = FakeKrea(clock=virtual_clock, time_scale=1.0)
    base = "https://app.example/krea/webhooks"
    caplog.set_level(logging.DEBUG, logger="krea_async")
    async with fake.client(
        webhooks=WebhookSettings(url=base, verify="token", safety_poll=20.0)
    ) as krea:
        results = await run_jobs(krea, 5)
    assert all(r.job.status is JobStatus.COMPLETED for r in results)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    text = warnings[0].getMessage()
    assert base in text
    assert "every 20 s" in text
    tokens = [entry.webhook_url for entry in fake.ledger]
    assert all(t and t.startswith(base + "/") for t in tokens)
    for url in tokens:
        assert url is not None
        token = url.rsplit("/", 1)[-1]
        assert token not in text
        assert all(token not in r.getMessage() for r in caplog.records)


def test_the_pause_after_a_429_honours_retry_after_else_grows_with_jitter() -> None:
    """retry.py owns the pause: Retry-After (capped at max_retry_after), else equal
    jitter under an exponential cap; a shared-rate-limit request is not retried."""
    import random

    from krea_async import RetryPolicy
    from krea_async._http.retry import (
        Outcome,
        backoff_enabled,
        decide,
        rate_limit_pause,
        set_backoff_enabled,
    )

    policy = RetryPolicy(initial_backoff=0.5, max_backoff=8.0, max_retry_after=60.0)
    rng = random.Random(1)
    before = backoff_enabled()
    set_backoff_enabled(True)
    try:
        assert rate_limit_pause(policy, 0, 3.0) == 3.0
        assert rate_limit_pause(policy, 5, 600.0) == 60.0
        for strikes, cap in [(0, 0.5), (1, 1.0), (3, 4.0), (10, 8.0)]:
            waits = [rate_limit_pause(policy, strikes, None, rng=rng) for _ in range(50)]
            assert all(cap / 2 <= w <= cap for w in waits)
            assert len(set(waits)) > 1  # jittered
        limited = Outcome(status=429, retry_after=1.0)
        assert decide(policy, attempt=0, outcome=limited, replay_safe=True).wait == 1.0
        assert decide(
            policy, attempt=0, outcome=limited, replay_safe=True, shared_rate_limit=True
        ).stop
    finally:
        set_backoff_enabled(before)
