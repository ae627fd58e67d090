"""A 500-line batch killed with SIGKILL three times, then completed: no line billed twice.

The fake runs in this process (on 127.0.0.1), so its job ledger survives the batch
process being killed; the batch runs as ``python -m krea_async._cli batch``
(``krea-async batch``) in a subprocess. Kills land at random points (after a
random number of jobs were started, plus a random delay), so some land between a
line's ``submitting`` record and its job id being written.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from krea_async.batch import LEDGER_NAME
from krea_async.files import safe_file_name
from krea_async.testing import FakeKrea, png

pytestmark = [pytest.mark.loopback, pytest.mark.slow]  # a subprocess SIGKILLed, many times

LINES = 500
KILLS = 3
ENDPOINT = "image/bytedance/seedream-4"
SIZE = 64


@contextlib.contextmanager
def _serve(fake: FakeKrea) -> Iterator[str]:
    """``fake.app`` under uvicorn on 127.0.0.1, like ``fake.serve_in_thread()`` but on a
    ``TCP_NODELAY`` socket: without it each loopback request here waits ~45 ms for a
    delayed ACK (measured: 45 ms vs 3 ms a request), which makes this test 3x slower."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(
        fake.app,
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        http="h11",
        ws="none",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.005)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _command(jsonl: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "krea_async._cli",
        "batch",
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


def _started(out: Path) -> int:
    """Lines past ``pending`` in the batch's ledger (read-only; cheap, unlike
    ``fake.ledger``, which would compete with the fake server for the GIL)."""
    try:
        db = sqlite3.connect(f"file:{out / LEDGER_NAME}?mode=ro", uri=True, timeout=1)
    except sqlite3.OperationalError:
        return 0
    try:
        (n,) = db.execute("SELECT count(*) FROM lines WHERE state != 'pending'").fetchone()
        return int(n)
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


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
                    "id": f"line/{i}",  # sanitised to line_<i>-<hash> (files.safe_file_name)
                    "endpoint": ENDPOINT,
                    "input": {"prompt": f"fox {i}", "width": SIZE, "height": SIZE},
                }
            )
            + "\n"
            for i in range(LINES)
        )
    )
    out = tmp_path / "out"
    with _serve(fake) as base_url:
        env = {**os.environ, "KREA_API_KEY": token, "KREA_BASE_URL": base_url}
        env.pop("KREA_LOG", None)
        started = time.monotonic()
        kills: list[dict[str, object]] = []
        # Three kills after a random number of lines were started, spread over the run.
        targets = sorted(rng.sample(range(20, LINES - 40), KILLS))
        for target in targets:
            proc = subprocess.Popen(
                _command(jsonl, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            deadline = time.monotonic() + 60
            while _started(out) < target:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the batch made no progress"
                time.sleep(0.01)
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
        data = (out / f"{safe_file_name(f'line/{i}')}.png").read_bytes()
        # The fake's PNG for this line's own prompt: the right file under the right name.
        assert data == png(SIZE, SIZE, f"fox {i}#0"), i
    assert not list(out.glob(".*.part"))
