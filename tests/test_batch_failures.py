"""Batch failures stay reachable: every failed line is listed or counted, a rerun
repeats the reasons and says how to retry, errors point to CLI commands, and
progress shows without a terminal."""

from __future__ import annotations

import functools
import io
import json
import shlex
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from krea_async import JobSettings
from krea_async._cli._batch import batch as batch_command
from krea_async.batch import Batch, BatchLine, lines_from_prompts
from krea_async.testing import FakeKrea

ENDPOINT = "image/bytedance/seedream-4"
SMALL = {"width": 64, "height": 64}


def _report(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.strip()]


@pytest.mark.loopback
def test_forty_failed_lines_are_all_reachable_and_a_rerun_says_how_to_retry(
    tmp_path: Path,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    rule = fake.script("failed", prompt="bad", times=None, error="nsfw content")
    src = tmp_path / "prompts.jsonl"
    prompts = [f"bad fox {i}" for i in range(40)] + [f"good fox {i}" for i in range(5)]
    src.write_text("".join(json.dumps({"prompt": p, **SMALL}) + "\n" for p in prompts))
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "-m", ENDPOINT, "--poll-interval", "0.02", "--no-progress"]
    base = shlex.join(["krea-async", "batch", str(src), "-o", str(out), "-m", ENDPOINT])
    runner = CliRunner()
    with fake.serve_in_thread() as url:
        env = {"KREA_API_KEY": "k", "KREA_BASE_URL": url}
        runs = [runner.invoke(batch_command, args, env=env) for _ in range(2)]
        listing = runner.invoke(batch_command, [*args, "--failed"], env=env)
        assert len(fake.ledger) == 45  # the rerun and the listing submitted nothing
        rule.times = 0
        retried = runner.invoke(batch_command, [*args, "--retry-failed"], env=env)
    for result in runs:  # the first run and the rerun report alike
        assert result.exit_code == 1, result.output
        report = _report(result.stderr)
        assert report[:20] == [f"line {i:06d}: nsfw content" for i in range(20)]
        assert report[20:] == [
            "... and 20 more",
            f"every failed line and its reason: {base} --failed",
            f"retry the 40 failed line(s) with: {base} --retry-failed",
        ]
        assert result.stdout.startswith("5/45 downloaded, 40 failed in ")
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.splitlines() == [f"line {i:06d}: nsfw content" for i in range(40)]
    assert f"retry them with: {base} --retry-failed" in listing.stderr
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.startswith("45/45 downloaded in ")
    assert "retry" not in retried.stderr
    assert len(fake.ledger) == 85


def test_failed_without_a_ledger_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "p.txt"
    src.write_text("a fox\n")
    result = CliRunner().invoke(
        batch_command, [str(src), "-o", str(tmp_path / "none"), "-m", ENDPOINT, "--failed"]
    )
    assert result.exit_code == 1
    assert "no batch ledger in" in result.output
    assert "Traceback" not in result.output


@pytest.mark.anyio
async def test_without_a_terminal_progress_prints_plain_lines_on_each_tick() -> None:
    from krea_async._batch._progress import print_progress

    ticks, wait_tick = anyio.create_memory_object_stream[None]()
    asked: list[float] = []

    async def tick(seconds: float) -> None:
        asked.append(seconds)
        await wait_tick.receive()

    counts = {"pending": 3}
    out = io.StringIO()
    show = functools.partial(print_progress, every=15.0, tick=tick, file=out)
    async with ticks, wait_tick, anyio.create_task_group() as tg:
        tg.start_soon(show, lambda: dict(counts), 3)
        await anyio.wait_all_tasks_blocked()
        assert out.getvalue() == "batch: 0/3 finished (pending=3)\n"
        counts = {"downloaded": 1, "failed": 1, "submitted": 1}
        await ticks.send(None)
        await anyio.wait_all_tasks_blocked()
        counts = {"downloaded": 2, "failed": 1}
        await ticks.send(None)
        await anyio.wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    assert out.getvalue().splitlines() == [
        "batch: 0/3 finished (pending=3)",
        "batch: 2/3 finished (downloaded=1 failed=1 submitted=1)",
        "batch: 3/3 finished (downloaded=2 failed=1)",
    ]
    assert asked == [15.0, 15.0, 15.0]


@pytest.mark.anyio
async def test_a_batch_without_a_terminal_prints_plain_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = lines_from_prompts(["a", "b", "c"], ENDPOINT, input=SMALL)
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        summary = await Batch(krea, lines, tmp_path, poll_interval=0.02, progress=None).run()
    assert summary.ok, summary.line()
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "batch: 0/3 finished (pending=3)"


@pytest.mark.anyio
async def test_rejected_lines_point_to_cli_commands(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = [
        BatchLine(name="no-prompt", endpoint=ENDPOINT, input=SMALL, index=0),
        BatchLine(name="no-model", endpoint="image/nope/x", input={"prompt": "a"}, index=1),
    ]
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        summary = await Batch(krea, lines, tmp_path, progress=False).run()
    assert summary.counts == {"failed": 2}
    assert summary.failures == summary.errors
    assert summary.errors["no-prompt"].startswith("400: ")
    assert summary.errors["no-prompt"].endswith(f"(see krea-async models show {ENDPOINT})")
    assert summary.errors["no-model"] == "404: no model 'image/nope/x' (see krea-async models list)"
    assert not any("krea.models" in e for e in summary.errors.values())
