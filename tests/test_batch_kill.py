"""A 500-line batch killed with SIGKILL three times, then completed: no line billed twice.

The fake runs in this process (on 127.0.0.1), so its job ledger survives the batch
process being killed; the batch runs as ``python -m krea_async._batch_cli`` in a
subprocess. Kills land at random points (after a random number of jobs were
created, plus a random delay), so some land between a line's ``submitting``
record and its job id being written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from krea_async._batch import LEDGER_NAME
from krea_async.testing import FakeKrea, png

pytestmark = pytest.mark.loopback

LINES = 500
KILLS = 3
ENDPOINT = "image/bytedance/seedream-4"
SIZE = 64


def _command(jsonl: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "krea_async._batch_cli",
        str(jsonl),
        "-o",
        str(out),
        "--concurrency",
        "24",
        "--poll-interval",
        "0.05",
        "--uncertain-grace",
        "0",
        "--resubmit-uncertain",
        "--no-progress",
    ]


def _states(out: Path) -> Counter[str]:
    db = sqlite3.connect(out / LEDGER_NAME)
    try:
        return Counter(state for (state,) in db.execute("SELECT state FROM lines"))
    finally:
        db.close()


def test_sigkill_three_times_then_complete(tmp_path: Path) -> None:
    seed = int(os.environ.get("KREA_BATCH_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    token = f"batch-{uuid.uuid4()}"  # its own account on the fake
    fake = FakeKrea(time_scale=0.01)  # 15 s image x 0.01: each job runs 0.15 s
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"line/{i}",  # sanitised to line_<i>
                    "endpoint": ENDPOINT,
                    "input": {"prompt": f"fox {i}", "width": SIZE, "height": SIZE},
                }
            )
            + "\n"
            for i in range(LINES)
        )
    )
    out = tmp_path / "out"
    with fake.serve_in_thread() as base_url:
        env = {**os.environ, "KREA_API_KEY": token, "KREA_BASE_URL": base_url}
        env.pop("KREA_LOG", None)
        started = time.monotonic()
        kills: list[dict[str, object]] = []
        # Three kills after a random share of the jobs were created, spread over the run.
        targets = sorted(rng.sample(range(20, LINES - 40), KILLS))
        for target in targets:
            proc = subprocess.Popen(
                _command(jsonl, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 60
            while len(fake.ledger) < target:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            assert proc.returncode == -signal.SIGKILL
            kills.append({"after_jobs": len(fake.ledger), "ledger": dict(_states(out))})
        final = subprocess.run(
            _command(jsonl, out), env=env, capture_output=True, text=True, timeout=120
        )
        elapsed = time.monotonic() - started
        assert final.returncode == 0, final.stdout + final.stderr

    entries = fake.ledger
    per_line = Counter(e.body["prompt"] for e in entries)
    duplicates = {p: n for p, n in per_line.items() if n > 1}
    completed = Counter(e.body["prompt"] for e in entries if e.status == "completed")
    print(
        f"\nbatch SIGKILL test: seed={seed} lines={LINES} kills={len(kills)} "
        f"jobs created={len(entries)} duplicates={len(duplicates)} "
        f"elapsed={elapsed:.1f}s kills={kills}\nfinal run: {final.stdout.strip()}\n"
        f"{final.stderr.strip()}"
    )
    assert len(kills) == KILLS
    assert duplicates == {}
    assert len(entries) == LINES
    assert set(completed) == {f"fox {i}" for i in range(LINES)}
    assert all(n == 1 for n in completed.values())
    assert _states(out) == Counter({"downloaded": LINES})
    for i in range(LINES):
        data = (out / f"line_{i}.png").read_bytes()
        # The fake's PNG for this line's own prompt: the right file under the right name.
        assert data == png(SIZE, SIZE, f"fox {i}#0"), i
    assert not list(out.glob(".*.part"))
