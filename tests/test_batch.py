"""Batch runs against the fake: resume, uncertain submits, 402/429, cancellation, input files."""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner

from krea_async import AsyncKrea, JobSettings, RetryPolicy
from krea_async._cli._batch import batch as batch_command
from krea_async.batch import (
    LEDGER_NAME,
    Batch,
    BatchLine,
    lines_from_prompts,
    load_lines,
)
from krea_async.files import safe_file_name
from krea_async.testing import FakeKrea, drop_after, drop_before, png, price_of, rate_limited

ENDPOINT = "image/bytedance/seedream-4"
SMALL = {"width": 64, "height": 64}


def _lines(n: int, tag: str = "fox") -> list[BatchLine]:
    return lines_from_prompts([f"{tag} {i}" for i in range(n)], ENDPOINT, input=SMALL)


def _states(out: Path) -> dict[str, str]:
    db = sqlite3.connect(out / LEDGER_NAME)
    try:
        return dict(db.execute("SELECT name, state FROM lines"))
    finally:
        db.close()


def _client(fake: FakeKrea, **kwargs: object) -> AsyncKrea:
    return fake.client(jobs=JobSettings(poll_interval=0.02), **kwargs)


def _batch(krea: AsyncKrea, lines: list[BatchLine], out: Path, **kwargs: object) -> Batch:
    options: dict[str, object] = {
        "concurrency": 4,
        "poll_interval": 0.02,
        "uncertain_grace": 0,
        "progress": False,
    }
    options.update(kwargs)
    return Batch(krea, lines, out, **options)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_batch_downloads_every_line_and_a_rerun_submits_nothing(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = _lines(12)
    async with _client(fake) as krea:
        summary = await _batch(krea, lines, tmp_path).run()
        assert summary.ok, summary.line()
        assert summary.counts == {"downloaded": 12}
        again = await _batch(krea, lines, tmp_path).run()
    assert again.ok
    assert len(fake.ledger) == 12  # the rerun skipped every finished line
    for i in range(12):
        assert (tmp_path / f"{i:06d}.png").read_bytes() == png(64, 64, f"fox {i}#0")
    assert summary.line().startswith("12/12 downloaded in ")


@pytest.mark.anyio
async def test_uncertain_submit_whose_job_exists_is_adopted_not_resubmitted(
    tmp_path: Path,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(drop_after(), on="submit", times=1)  # job created, answer lost
    lines = _lines(5)
    async with _client(fake) as krea:
        summary = await _batch(krea, lines, tmp_path).run()
    assert summary.ok, summary.line()
    assert [r.action for r in summary.uncertain] == ["adopted"]
    report = summary.uncertain[0]
    assert report.name in {ln.name for ln in lines}
    assert len(report.candidates) == 1
    assert "adopted that job" in str(report)
    assert Counter(e.prompt for e in fake.ledger) == Counter(f"fox {i}" for i in range(5))


@pytest.mark.anyio
async def test_uncertain_submit_without_a_job_is_reported_and_only_resubmitted_on_opt_in(
    tmp_path: Path,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(drop_before(), on="submit", times=1)  # no job created, no answer
    lines = _lines(4)
    async with _client(fake) as krea:
        first = await _batch(krea, lines, tmp_path).run()
        assert not first.ok
        assert [(r.action, r.candidates) for r in first.uncertain] == [("left", ())]
        assert _states(tmp_path)[first.uncertain[0].name] == "uncertain"
        assert "NOT submitted again" in str(first.uncertain[0])
        assert first.counts == {"downloaded": 3, "uncertain": 1}
        assert "1 uncertain" in first.line()
        # Same command again: still not resubmitted.
        second = await _batch(krea, lines, tmp_path).run()
        assert second.counts == {"downloaded": 3, "uncertain": 1}
        assert len(fake.ledger) == 3
        # Opt in: the line is submitted once more.
        third = await _batch(krea, lines, tmp_path, resubmit_uncertain=True).run()
    assert third.ok, third.line()
    assert len(fake.ledger) == 4
    assert sorted(e.prompt or "" for e in fake.ledger) == [f"fox {i}" for i in range(4)]


@pytest.mark.anyio
async def test_a_line_left_in_submitting_by_a_crash_is_looked_up(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = _lines(3)
    async with _client(fake) as krea:
        await _batch(krea, lines[:0], tmp_path).run()  # creates the ledger
        # A crash after the POST went out, before its answer was recorded:
        started = datetime.datetime.now(datetime.timezone.utc).isoformat()
        job = await krea.generate(ENDPOINT, dict(lines[1].input))
        db = sqlite3.connect(tmp_path / LEDGER_NAME)
        with db:
            db.execute(
                "INSERT INTO lines (name, idx, fingerprint, state, submitting_at, updated_at) "
                "VALUES (?, 1, ?, 'submitting', ?, ?)",
                (lines[1].name, lines[1].fingerprint, started, "x"),
            )
        db.close()
        summary = await _batch(krea, lines, tmp_path).run()
    assert summary.ok, summary.line()
    assert [(r.name, r.action, r.candidates) for r in summary.uncertain] == [
        ("000001", "adopted", (job.job_id,))
    ]
    assert len(fake.ledger) == 3


@pytest.mark.anyio
async def test_402_stops_the_whole_batch_cleanly(tmp_path: Path) -> None:
    price = price_of(f"/generate/{ENDPOINT}", "image", SMALL)
    fake = FakeKrea(time_scale=0.01, balance=round(price * 5, 6))
    lines = _lines(20)
    async with _client(fake) as krea:
        summary = await _batch(krea, lines, tmp_path).run()
    assert summary.stopped is not None
    assert summary.stopped.startswith("insufficient credits (402)")
    assert summary.counts == {"downloaded": 5, "pending": 15}
    assert summary.errors == {}  # one stop, not one error per job
    assert len(fake.ledger) == 5
    text = summary.line()
    assert "\n" not in text
    assert text.startswith("5/20 downloaded, 15 not submitted")
    assert "stopped: insufficient credits (402)" in text


@pytest.mark.anyio
async def test_429_slows_the_batch_down_and_it_still_completes(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(rate_limited(retry_after=0), on="submit", times=3)
    lines = _lines(8)
    async with _client(fake, retry=RetryPolicy(max_retries=0)) as krea:
        summary = await _batch(krea, lines, tmp_path, concurrency=8).run()
    assert summary.ok, summary.line()
    assert summary.rate_limited == 3
    assert summary.concurrency < 8
    assert "rate limited 3x (429)" in summary.line()
    assert len(fake.ledger) == 8


@pytest.mark.anyio
async def test_429_without_end_stops_the_batch(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(rate_limited(retry_after=0), on="submit")
    async with _client(fake, retry=RetryPolicy(max_retries=0)) as krea:
        summary = await _batch(krea, _lines(6), tmp_path, max_rate_limits=3).run()
    assert summary.stopped is not None
    assert summary.stopped.startswith("rate limited (429) 3 times in a row")
    assert summary.counts == {"pending": 6}
    assert fake.ledger == []


@pytest.mark.anyio
async def test_cancellation_cancels_running_jobs_and_leaves_the_ledger_consistent(
    tmp_path: Path,
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("completed", times=None, seconds=30)  # jobs that would run 30 s
    lines = _lines(10)
    async with _client(fake) as krea:
        job = _batch(krea, lines, tmp_path, concurrency=4)
        with anyio.move_on_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(job.run)
                while len(fake.ledger) < 4:
                    await anyio.sleep(0.01)
                await anyio.sleep(0.05)
                tg.cancel_scope.cancel()
        summary = job.summary
        assert summary is not None
        assert summary.interrupted
        created = fake.ledger
        assert created
        assert all(e.status == "cancelled" for e in created), [
            (e.status, e.created_at) for e in created
        ]
        assert summary.cancelled_jobs == len(created)
        states = _states(tmp_path)
        assert set(states.values()) <= {"cancelled", "pending"}
        assert Counter(states.values())["cancelled"] == len(created)
        assert "interrupted" in summary.line()
        # Next run: cancelled lines are submitted again and complete.
        for rule in fake._state.scripts:
            rule.times = 0
        again = await _batch(krea, lines, tmp_path).run()
    assert again.ok, again.line()
    completed = Counter(e.prompt for e in fake.ledger if e.status == "completed")
    assert completed == Counter(f"fox {i}" for i in range(10))


@pytest.mark.anyio
async def test_failed_jobs_are_recorded_and_retried_only_on_request(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("failed", prompt="fox 2", error="nsfw")
    lines = _lines(4)
    async with _client(fake) as krea:
        first = await _batch(krea, lines, tmp_path).run()
        assert first.counts == {"downloaded": 3, "failed": 1}
        assert first.errors == {"000002": "nsfw"}
        second = await _batch(krea, lines, tmp_path).run()
        assert len(fake.ledger) == 4
        assert second.counts == {"downloaded": 3, "failed": 1}
        third = await _batch(krea, lines, tmp_path, retry_failed=True).run()
    assert third.ok
    assert len(fake.ledger) == 5


@pytest.mark.anyio
async def test_a_line_the_api_rejects_fails_alone(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    lines = [
        *_lines(2),
        BatchLine(name="bad", endpoint=ENDPOINT, input={"width": 64, "height": 64}, index=2),
    ]
    async with _client(fake) as krea:
        summary = await _batch(krea, lines, tmp_path).run()
    assert summary.counts == {"downloaded": 2, "failed": 1}
    assert "prompt" in summary.errors["bad"]
    assert summary.stopped is None


@pytest.mark.anyio
async def test_a_changed_line_is_refused_on_resume(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    async with _client(fake) as krea:
        await _batch(krea, _lines(2), tmp_path).run()
        with pytest.raises(ValueError, match="differs from the one recorded"):
            await _batch(krea, _lines(2, tag="cat"), tmp_path).run()


def test_line_ids_become_safe_distinct_names(tmp_path: Path) -> None:
    """Line ids go through the SDK's one file-name rule: kept when safe, else made
    safe and given a hash, so that ``a/b`` and ``a_b`` do not share files."""
    ids = ["cat-01", "../../etc/passwd", "a b/c\\d", ".hidden", "CON", "x" * 300, "né", "a/b"]
    ids += ["a_b", "..", "/", "_-."]
    src = tmp_path / "ids.jsonl"
    src.write_text("\n".join(json.dumps({"prompt": "p", "id": i}) for i in ids))
    names = [ln.name for ln in load_lines(src, default_endpoint=ENDPOINT)]
    assert names[0] == "cat-01"
    assert names == [safe_file_name(i, max_chars=100) for i in ids]
    assert len({n.lower() for n in names}) == len(ids)
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}", name), name
        assert name.split(".")[0].upper() != "CON"
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"prompt": "a", "id": ""}\n')
    with pytest.raises(ValueError, match="'id' is empty"):
        load_lines(empty, default_endpoint=ENDPOINT)


def test_line_ids_whose_files_could_collide_are_refused(tmp_path: Path) -> None:
    """``x`` with two results writes ``x-0.png``: a line ``x-0`` would overwrite it."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "X-0"}\n')
    with pytest.raises(ValueError, match=r"lines 0 and 1 both write files named"):
        load_lines(src, default_endpoint=ENDPOINT)
    src.write_text('{"prompt": "a", "id": "x"}\n{"prompt": "b", "id": "x-a"}\n')
    assert [ln.name for ln in load_lines(src, default_endpoint=ENDPOINT)] == ["x", "x-a"]


def test_load_lines_reads_every_shape(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            [
                json.dumps({"endpoint": "image/bfl/flux-1-dev", "input": {"prompt": "a"}, "id": 7}),
                json.dumps({"prompt": "b", "id": "../b", "width": 512}),
                json.dumps("c"),
                "",
            ]
        )
    )
    lines = load_lines(src, default_endpoint=ENDPOINT)
    assert [(ln.name, ln.endpoint, dict(ln.input), ln.index) for ln in lines] == [
        ("7", "image/bfl/flux-1-dev", {"prompt": "a"}, 0),
        (safe_file_name("../b", max_chars=100), ENDPOINT, {"prompt": "b", "width": 512}, 1),
        ("000002", ENDPOINT, {"prompt": "c"}, 2),
    ]
    txt = tmp_path / "p.txt"
    txt.write_text("one\n\ntwo\n")
    assert [ln.input["prompt"] for ln in load_lines(txt, default_endpoint=ENDPOINT)] == [
        "one",
        "two",
    ]
    with pytest.raises(ValueError, match="default model"):
        load_lines(txt)
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"prompt": "a", "id": "X"}\n{"prompt": "b", "id": "x"}\n')
    with pytest.raises(ValueError, match="both write files named"):
        load_lines(dup, default_endpoint=ENDPOINT)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{nope\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not JSON"):
        load_lines(bad, default_endpoint=ENDPOINT)
    with pytest.raises(ValueError, match="no 'endpoint'"):
        load_lines(src)


@pytest.mark.loopback
def test_cli_prints_one_summary_line_when_credits_run_out(tmp_path: Path) -> None:
    price = price_of(f"/generate/{ENDPOINT}", "image", SMALL)
    fake = FakeKrea(time_scale=0.01, balance=round(price * 3, 6))
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"fox {i}", **SMALL}) + "\n" for i in range(10)))
    with fake.serve_in_thread() as url:
        result = CliRunner().invoke(
            batch_command,
            [
                str(src),
                "-o",
                str(tmp_path / "out"),
                "-m",
                ENDPOINT,
                "--poll-interval",
                "0.02",
                "--no-progress",
            ],
            env={"KREA_API_KEY": "k", "KREA_BASE_URL": url},
        )
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("3/10 downloaded, 7 not submitted in ")
    assert "stopped: insufficient credits (402)" in lines[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == [
        "000000.png",
        "000001.png",
        "000002.png",
    ]


@pytest.mark.slow  # SIGINT to the CLI in a subprocess
@pytest.mark.loopback
def test_ctrl_c_on_the_command_cancels_the_running_jobs(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("completed", times=None, seconds=60)
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"fox {i}", **SMALL}) + "\n" for i in range(6)))
    out = tmp_path / "out"
    with fake.serve_in_thread() as url:
        env = {**os.environ, "KREA_API_KEY": f"k-{uuid.uuid4()}", "KREA_BASE_URL": url}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "krea_async._cli",
                "batch",
                str(src),
                "-o",
                str(out),
                "-m",
                ENDPOINT,
                "-c",
                "3",
                "--poll-interval",
                "0.05",
                "--no-progress",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(fake.ledger) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
        created = fake.ledger
    assert proc.returncode == 130, stdout + stderr
    assert len(created) == 3
    assert all(e.status == "cancelled" for e in created), [e.status for e in created]
    assert "interrupted: 3 running job(s) cancelled" in stderr
    assert Counter(_states(out).values()) == Counter({"cancelled": 3, "pending": 3})


@pytest.mark.loopback
def test_cli_refuses_a_changed_batch_in_the_same_directory(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    src = tmp_path / "prompts.jsonl"
    out = tmp_path / "out"
    args = [str(src), "-o", str(out), "-m", ENDPOINT, "--poll-interval", "0.02", "--no-progress"]
    with fake.serve_in_thread() as url:
        env = {"KREA_API_KEY": "k", "KREA_BASE_URL": url}
        src.write_text(json.dumps({"prompt": "fox", **SMALL}) + "\n")
        assert CliRunner().invoke(batch_command, args, env=env).exit_code == 0
        src.write_text(json.dumps({"prompt": "cat", **SMALL}) + "\n")
        result = CliRunner().invoke(batch_command, args, env=env)
    assert result.exit_code == 1
    assert "differs from the one recorded" in result.output
    assert "Traceback" not in result.output


@pytest.mark.anyio
async def test_a_failed_look_up_leaves_the_line_for_the_next_run(tmp_path: Path) -> None:
    from krea_async.testing import http_error

    fake = FakeKrea(time_scale=0.01)
    fake.inject(drop_after(), on="submit", times=1)
    fake.inject(http_error(400), on="list", times=1)
    lines = _lines(3)
    async with _client(fake) as krea:
        first = await _batch(krea, lines, tmp_path).run()
        assert [r.action for r in first.uncertain] == ["unresolved"]
        assert "the look-up failed" in str(first.uncertain[0])
        assert first.counts == {"downloaded": 2, "uncertain": 1}
        second = await _batch(krea, lines, tmp_path).run()
    assert [r.action for r in second.uncertain] == ["adopted"]
    assert second.ok
    assert len(fake.ledger) == 3


@pytest.mark.anyio
async def test_the_progress_bar_shows_counts_by_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeKrea(time_scale=0.01)
    async with _client(fake) as krea:
        summary = await _batch(krea, _lines(6), tmp_path, progress=True).run()
    assert summary.ok
    err = capsys.readouterr().err
    assert "downloaded=6" in err
    assert "6/6" in err


@pytest.mark.anyio
async def test_two_runs_never_share_an_output_directory(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.script("completed", times=None, seconds=0.5)
    lines = _lines(2)
    async with _client(fake) as krea:
        first = _batch(krea, lines, tmp_path)
        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run)
            while not (tmp_path / LEDGER_NAME).exists():
                await anyio.sleep(0.01)
            with pytest.raises(ValueError, match="another batch is running in"):
                await _batch(krea, lines, tmp_path).run()
        assert first.summary is not None
        assert first.summary.ok
        again = await _batch(krea, lines, tmp_path).run()  # the lock was released
    assert again.ok
    assert len(fake.ledger) == 2


@pytest.mark.loopback
def test_krea_async_batch_uses_the_global_key_and_base_url(tmp_path: Path) -> None:
    from krea_async._cli import cli

    fake = FakeKrea(time_scale=0.01, api_key="the-key")
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"fox {i}", **SMALL}) + "\n" for i in range(3)))
    out = tmp_path / "out"
    no_env = {"KREA_API_KEY": None, "KREA_BASE_URL": None}
    args = [str(src), "-o", str(out), "-m", ENDPOINT, "--poll-interval", "0.02", "--no-progress"]
    with fake.serve_in_thread() as url:
        result = CliRunner().invoke(
            cli, ["--api-key", "the-key", "--base-url", url, "batch", *args], env=no_env
        )
    assert result.exit_code == 0, result.output
    assert "3/3 downloaded" in result.output
    assert len(fake.ledger) == 3
    assert Counter(_states(out).values()) == Counter({"downloaded": 3})


def test_krea_async_batch_refuses_the_embedded_fake(tmp_path: Path) -> None:
    from krea_async._cli import cli

    src = tmp_path / "prompts.txt"
    src.write_text("a fox\n")
    no_env = {"KREA_API_KEY": None, "KREA_BASE_URL": None}
    args = ["batch", str(src), "-o", str(tmp_path / "out"), "-m", ENDPOINT]
    result = CliRunner().invoke(cli, args, env=no_env)
    assert result.exit_code == 2, result.output
    assert "batch runs need KREA_API_KEY" in result.output
    assert not (tmp_path / "out").exists()  # nothing started
