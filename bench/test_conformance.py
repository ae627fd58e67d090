"""The benchmark's lean server answers the job endpoints as the project fake does.

Drives ``bench/server.py`` (its own process) and :class:`krea_async.testing.FakeKrea`
(uvicorn in a thread) with the same requests over loopback HTTP and compares status
codes, JSON shapes, statuses over time, list order, cursor paging, filters, cancellation
and ``completed_at``. Not part of ``tests``: ``pytest bench/test_conformance.py``
(``nox -s bench-smoke`` runs it before the smoke run).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from krea_async.testing import FakeKrea

ROOT = Path(__file__).resolve().parent.parent
FLUX = "/generate/image/bfl/flux-1-dev"
FLUX_SECONDS = 7.0  # the spec's average completion time of Flux, which the fake scales
JOB_SECONDS = 5.0  # both servers: 30 % queued (1.5 s), then processing, completed at 5 s
AUTH = {"Authorization": "Bearer conformance"}


@pytest.fixture(scope="module")
def bench_url() -> Iterator[str]:
    cmd = [sys.executable, "-m", "bench.server", "--port", "0"]
    proc = subprocess.Popen(  # noqa: S603
        [*cmd, "--job-seconds", str(JOB_SECONDS)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    fake = FakeKrea(time_scale=JOB_SECONDS / FLUX_SECONDS)
    with fake.serve_in_thread() as url:
        yield url


def _ts(value: str) -> float:
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _sleep_until(when: float) -> None:
    """Sleep until the wall clock (the servers' clock: same machine) reaches ``when``."""
    time.sleep(max(0.0, when - time.time()))


def _scenario(base: str) -> dict[str, Any]:
    """The same requests against one server; what came back, with ids made positional."""
    out: dict[str, Any] = {}
    with httpx.Client(base_url=base, headers=AUTH, timeout=10) as c:
        out["no_auth"] = httpx.get(base + "/jobs", timeout=10).status_code
        out["bad_token"] = c.get("/jobs", headers={"Authorization": "Basic x"}).status_code
        submits = [c.post(FLUX, json={"prompt": f"job {i}"}) for i in range(5)]
        out["submit_status"] = [r.status_code for r in submits]
        jobs = [r.json() for r in submits]
        ids = [j["job_id"] for j in jobs]
        pos = {job_id: i for i, job_id in enumerate(ids)}
        out["submit"] = [
            {k: v for k, v in j.items() if k not in ("job_id", "created_at")} for j in jobs
        ]
        out["submit_keys"] = sorted(jobs[0])
        first = c.get(f"/jobs/{ids[0]}").json()
        out["first_poll"] = (first["status"], first["result"], first["completed_at"], sorted(first))
        # Paging: newest first, limit 2, cursor = created_at of the page's last item.
        pages = []
        cursor = None
        for _ in range(5):
            params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = c.get("/jobs", params=params).json()
            pages.append([pos[i["job_id"]] for i in page["items"]])
            items_cursor = page["items"][-1]["created_at"] if page["items"] else None
            assert page["next_cursor"] in (None, items_cursor)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        out["pages"] = pages
        out["list_keys"] = sorted(c.get("/jobs", params={"limit": "1"}).json())
        out["bad_queries"] = [
            c.get("/jobs", params=p).status_code
            for p in (
                {"limit": "0"},
                {"limit": "1001"},
                {"limit": "x"},
                {"cursor": "yesterday"},
                {"status": "done"},
            )
        ]
        out["limit_1000"] = c.get("/jobs", params={"limit": "1000"}).status_code
        out["unknown"] = c.get("/jobs/00000000-0000-0000-0000-000000000000").status_code
        other = {"Authorization": "Bearer someone-else"}
        out["other_account_get"] = c.get(f"/jobs/{ids[1]}", headers=other).status_code
        out["other_account_list"] = c.get("/jobs", headers=other).json()["items"]
        out["bad_body"] = c.post(FLUX, content=b"not json").status_code
        cancel = c.delete(f"/jobs/{ids[0]}")
        cancelled = cancel.json()
        out["cancel"] = (
            cancel.status_code,
            cancelled["status"],
            cancelled["completed_at"] is not None,
        )
        out["cancelled_filter"] = [
            pos[i["job_id"]] for i in c.get("/jobs", params={"status": "cancelled"}).json()["items"]
        ]
        _sleep_until(_ts(jobs[1]["created_at"]) + 0.5 * JOB_SECONDS)  # processing
        mid = c.get(f"/jobs/{ids[1]}").json()
        out["mid"] = (mid["status"], mid["result"], mid["completed_at"])
        out["processing_filter"] = sorted(
            pos[i["job_id"]]
            for i in c.get("/jobs", params={"status": "processing"}).json()["items"]
        )
        _sleep_until(_ts(jobs[-1]["created_at"]) + JOB_SECONDS + 0.1)  # every job is done
        done = c.get(f"/jobs/{ids[1]}").json()
        out["done"] = (done["status"], len(done["result"]["urls"]), sorted(done))
        out["url_shape"] = done["result"]["urls"][0].replace(ids[1], "ID").replace(base, "BASE")
        out["run_seconds"] = round(_ts(done["completed_at"]) - _ts(done["created_at"]), 3)
        out["completed_filter"] = [
            pos[i["job_id"]] for i in c.get("/jobs", params={"status": "completed"}).json()["items"]
        ]
        out["cancel_completed"] = c.delete(f"/jobs/{ids[1]}").json()["status"]
        out["still_cancelled"] = c.get(f"/jobs/{ids[0]}").json()["status"]
    return out


@pytest.mark.loopback
def test_bench_server_answers_like_the_project_fake(bench_url: str, fake_url: str) -> None:
    with ThreadPoolExecutor(2) as pool:  # both at once: the scenario waits for job time
        bench, fake = pool.map(_scenario, (bench_url, fake_url))
    assert bench == fake
    # And the figures are the expected ones, not merely equal.
    assert bench["pages"] == [[4, 3], [2, 1], [0]]
    assert bench["bad_queries"] == [400] * 5
    assert bench["run_seconds"] == JOB_SECONDS
    assert bench["completed_filter"] == [4, 3, 2, 1]
    assert bench["cancel"] == (200, "cancelled", True)
    assert bench["mid"] == ("processing", {}, None)
