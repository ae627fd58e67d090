"""The SDK's one clock (``krea_async/_clock.py``): every time read and sleep of the
package goes through it, so a test that runs the event loop on virtual time
(tests/_virtual_clock.py) runs the whole SDK on it."""

from __future__ import annotations

import ast
from pathlib import Path

import anyio
import pytest
from _virtual_clock import VirtualClock

from krea_async import InternalServerError, JobSettings, JobTimeoutError, RetryPolicy, _clock
from krea_async.testing import FakeKrea, ManualClock, http_error

PACKAGE = Path(__file__).resolve().parent.parent / "krea_async"

#: Ways to read the time or sleep that bypass the owner (module -> names).
FORBIDDEN = {
    "time": {"monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "time", "sleep"},
    "anyio": {"current_time", "sleep", "sleep_until"},
    "asyncio": {"sleep"},
    "trio": {"current_time", "sleep", "sleep_until"},
}
#: The owner, and the fake (a server of its own, with its own injectable clock).
ALLOWED = ("_clock.py", "testing/")


def _bypasses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr in FORBIDDEN.get(node.value.id, ())
        ):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN:
            names = {a.name for a in node.names} & FORBIDDEN[node.module]
            found.extend(f"from {node.module} import {n} (line {node.lineno})" for n in names)
    return found


def test_every_time_read_and_sleep_goes_through_the_clock_module() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if not str(path.relative_to(PACKAGE)).startswith(ALLOWED) and (found := _bypasses(path))
    }
    assert offenders == {}, "read the time through krea_async._clock"


def test_the_scan_finds_a_bypass(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time, anyio\nfrom asyncio import sleep\n"
        "t = time.monotonic()\nasync def f():\n    await anyio.sleep(1)\n"
    )
    assert _bypasses(sample) == [
        "from asyncio import sleep (line 2)",
        "time.monotonic (line 3)",
        "anyio.sleep (line 5)",
    ]


@pytest.mark.anyio
@pytest.mark.virtual_clock
async def test_the_clock_is_the_event_loops(virtual_clock: VirtualClock) -> None:
    read = _clock.clock()
    assert _clock.now() == read() == virtual_clock.now() == 0.0
    await _clock.sleep(3600)
    assert _clock.now() == read() == pytest.approx(3600.0)
    with anyio.move_on_after(5):
        await anyio.sleep_forever()
    assert virtual_clock.now() == pytest.approx(3605.0)
    assert virtual_clock() == pytest.approx(virtual_clock.start + 3605.0)


@pytest.mark.anyio
@pytest.mark.virtual_clock
async def test_a_job_deadline_and_poll_interval_run_on_the_virtual_clock(
    virtual_clock: VirtualClock,
) -> None:
    """An hour-long deadline and a minute between polls take no real time: the
    deadline ends the wait at exactly 3600 s of the event loop's clock."""
    fake = FakeKrea(clock=ManualClock())  # the job never ends: the fake's clock stands
    async with fake.client(jobs=JobSettings(poll_interval=60.0, max_poll_interval=60.0)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "a patient fox"})
        started = virtual_clock.now()
        with pytest.raises(JobTimeoutError):
            await krea.jobs.wait(job.job_id, deadline=3600)
    assert virtual_clock.now() - started == pytest.approx(3600.0)


@pytest.mark.anyio
@pytest.mark.virtual_clock
async def test_the_total_deadline_of_a_call_runs_on_the_virtual_clock(
    virtual_clock: VirtualClock,
) -> None:
    """``Retry-After: 4`` on every attempt and a 10 s total deadline: attempts at 0, 4
    and 8 s, then no retry (8 + 4 > 10). A deadline kept on another clock (the real
    one) would see no time pass and retry 100 times."""
    fake = FakeKrea(clock=ManualClock())
    rule = fake.inject(http_error(503, retry_after=4), on="poll")
    async with fake.client(retry=RetryPolicy(max_retries=100, deadline=10.0)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "refused"})
        started = virtual_clock.now()
        with pytest.raises(InternalServerError):
            await krea.jobs.get(job.job_id)
    assert rule.hits == 3
    assert virtual_clock.now() - started == pytest.approx(8.0)
