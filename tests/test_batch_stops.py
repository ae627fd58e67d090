"""Batch runs that hit a wall (issue 10 §1): a 429 that does not end stops the whole
batch with one summary line, as a 402 does (``tests/test_batch.py`` has the 402 runs,
the 429 slow-down and a 429 stop's state)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from krea_async import JobSettings, RetryPolicy
from krea_async._cli._batch import batch as batch_command
from krea_async.batch import Batch, lines_from_prompts
from krea_async.testing import FakeKrea, no_backoff, rate_limited

ENDPOINT = "image/bytedance/seedream-4"
SMALL = {"width": 64, "height": 64}


@pytest.mark.anyio
async def test_endless_429_stops_the_batch_with_one_line_not_one_error_per_job(
    anyio_backend: str, tmp_path: Path
) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(rate_limited(retry_after=0), on="submit")
    lines = lines_from_prompts([f"fox {i}" for i in range(12)], ENDPOINT, input=SMALL)
    async with fake.client(
        retry=RetryPolicy(max_retries=0), jobs=JobSettings(poll_interval=0.02)
    ) as krea:
        batch = Batch(krea, lines, tmp_path, concurrency=4, max_rate_limits=3, progress=False)
        summary = await batch.run()
    assert summary.errors == {}  # the lines are not failed, one by one
    assert summary.counts == {"pending": 12}
    text = summary.line()
    assert "\n" not in text
    assert text.startswith("0/12 downloaded, 12 not submitted in "), text
    assert "stopped: rate limited (429) 3 times in a row" in text
    assert fake.ledger == []


@pytest.mark.loopback
def test_cli_prints_one_line_when_rate_limits_do_not_end(tmp_path: Path) -> None:
    fake = FakeKrea(time_scale=0.01)
    fake.inject(rate_limited(retry_after=0), on="submit")
    src = tmp_path / "prompts.jsonl"
    src.write_text("".join(json.dumps({"prompt": f"fox {i}", **SMALL}) + "\n" for i in range(10)))
    with no_backoff(), fake.serve_in_thread() as url:
        result = CliRunner().invoke(
            batch_command,
            [str(src), "-o", str(tmp_path / "out"), "-m", ENDPOINT, "--no-progress"],
            env={"KREA_API_KEY": "k", "KREA_BASE_URL": url},
        )
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("0/10 downloaded, 10 not submitted in "), lines[0]
    assert "stopped: rate limited (429)" in lines[0]
    assert fake.ledger == []
