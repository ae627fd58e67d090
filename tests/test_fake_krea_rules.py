"""The fake follows Krea's documented rules where money is decided: cancellation
only while queued or processing (docs.krea.ai/developers/job-lifecycle), failures
with each documented cause and the automatic time-outs (same page), model
deprecation and sunset (docs.krea.ai/developers/deprecations), request-rate
limits, both cursor spellings, the routes Krea's docs show beyond the bundled
snapshot, and its own ``/openapi.json``. Time runs on a ManualClock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import httpx
import pytest

from krea_async.testing import (
    KREA_SUNSETS,
    SAMPLE_NODE_APP_ID,
    FakeKrea,
    ManualClock,
    time_out_of,
)

pytestmark = pytest.mark.anyio

FLUX = "/generate/image/bfl/flux-1-dev"  # ~7 s, external provider
KREA2 = "/generate/image/krea/krea-2/medium"  # hosted
KREA2_BODY = {"prompt": "a fox", "aspect_ratio": "1:1", "resolution": "1K"}


@asynccontextmanager
async def api(fake: FakeKrea, token: str = "tester") -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def submit(c: httpx.AsyncClient, prompt: str, path: str = FLUX) -> str:
    body = dict(KREA2_BODY, prompt=prompt) if path == KREA2 else {"prompt": prompt}
    answer = await c.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["job_id"])


async def status(c: httpx.AsyncClient, job_id: str) -> str:
    return str((await c.get(f"/jobs/{job_id}")).json()["status"])


# -- cancellation (job-lifecycle: "only while queued or processing") ------------------


async def test_delete_cancels_a_queued_and_a_processing_job(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, balance=1.0)
    async with api(fake) as c:
        queued = await submit(c, "one")
        answer = await c.delete(f"/jobs/{queued}")
        assert (answer.status_code, answer.json()["status"]) == (200, "cancelled")
        processing = await submit(c, "two")
        clock.advance(3)  # 30 % of 7 s is queued
        assert await status(c, processing) == "processing"
        answer = await c.delete(f"/jobs/{processing}")
        assert (answer.status_code, answer.json()["status"]) == (200, "cancelled")
    assert fake.balance == 1.0  # cancelled jobs are not billed


async def test_a_backlogged_job_runs_on_and_is_billed(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, concurrency=1, balance=1.0)
    async with api(fake) as c:
        await submit(c, "first")
        waiting = await submit(c, "second")
        answer = await c.delete(f"/jobs/{waiting}")
        assert answer.status_code == 200
        assert answer.json()["status"] == "backlogged"  # the job as it stands
        clock.advance(20)
        assert await status(c, waiting) == "completed"
    assert fake.balance == pytest.approx(1.0 - 2 * 0.007)


async def test_a_scheduled_job_runs_on(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, lifecycle="full")
    async with api(fake) as c:
        job = await submit(c, "scheduled")
        clock.advance(7 * 0.2)  # 15..25 % of the run is scheduled
        assert await status(c, job) == "scheduled"
        answer = await c.delete(f"/jobs/{job}")
        assert answer.json()["status"] == "scheduled"
        clock.advance(10)
        assert await status(c, job) == "completed"


async def test_a_completed_job_stays_completed(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with api(fake) as c:
        job = await submit(c, "done")
        clock.advance(10)
        answer = await c.delete(f"/jobs/{job}")
        assert (answer.status_code, answer.json()["status"]) == (200, "completed")
        assert answer.json()["result"]["urls"]


@pytest.mark.parametrize("code", [400, 409])
async def test_cancel_refused_can_answer_an_error(anyio_backend: str, code: int) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, concurrency=1, cancel_refused=code)  # type: ignore[arg-type]
    async with api(fake) as c:
        await submit(c, "first")
        waiting = await submit(c, "second")
        answer = await c.delete(f"/jobs/{waiting}")
        assert answer.status_code == code
        assert "only queued or processing" in answer.json()["error"]
        assert "backlogged" in answer.json()["error"]
        assert await status(c, waiting) == "backlogged"


async def test_cancel_job_control_cancels_any_pending_job(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, concurrency=1)
    async with api(fake) as c:
        await submit(c, "first")
        waiting = await submit(c, "second")
    assert fake.cancel_job(waiting)["status"] == "cancelled"  # a test control, not the API


# -- failures (job-lifecycle: causes and time-outs) -----------------------------------


@pytest.mark.parametrize("cause", ["provider_error", "invalid_parameters", "nsfw", "ip_detected"])
async def test_fail_jobs_by_prompt_pattern_with_each_cause(anyio_backend: str, cause: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, balance=1.0)
    rule = fake.fail_jobs(cause, prompt=r"^cat\b")
    async with api(fake) as c:
        failing = await submit(c, "cat on a mat")
        fine = await submit(c, "a concatenation")  # "cat" but not at the start
        clock.advance(10)
        failed = (await c.get(f"/jobs/{failing}")).json()
        assert await status(c, fine) == "completed"
    assert failed["status"] == "failed"
    assert failed["result"]["error"]["code"] == cause
    assert failed["error"] == failed["result"]["error"]
    assert set(failed["error"]) == {"code", "message"}
    assert failed["completed_at"] is not None
    assert rule.hits == 1
    assert fake.balance == pytest.approx(1.0 - 0.007)  # the failed one is refunded


async def test_fail_jobs_share_is_seeded_and_partial(anyio_backend: str) -> None:
    outcomes = []
    for _ in range(2):
        clock = ManualClock()
        fake = FakeKrea(clock=clock, time_scale=1.0, seed=7)
        fake.fail_jobs("provider_error", share=0.5)
        async with api(fake) as c:
            jobs = [await submit(c, f"job {i}") for i in range(40)]
            clock.advance(10)
            outcomes.append([await status(c, j) for j in jobs])
    assert outcomes[0] == outcomes[1]  # same seed, same draws
    assert 5 < outcomes[0].count("failed") < 35
    assert set(outcomes[0]) == {"failed", "completed"}


async def test_failure_detail_where(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    fake.fail_jobs("nsfw", prompt="top", where="top", times=1)
    fake.fail_jobs("nsfw", prompt="res", where="result", times=1)
    async with api(fake) as c:
        top, res = await submit(c, "top"), await submit(c, "res")
        clock.advance(10)
        top_job = (await c.get(f"/jobs/{top}")).json()
        res_job = (await c.get(f"/jobs/{res}")).json()
    assert top_job["error"]["code"] == "nsfw"
    assert "error" not in top_job["result"]
    assert res_job["result"]["error"]["code"] == "nsfw"
    assert "error" not in res_job


@pytest.mark.parametrize(("path", "limit"), [(KREA2, 180.0), (FLUX, 7200.0)])
async def test_timeout_cause_hangs_until_krea_time_out(
    anyio_backend: str, path: str, limit: float
) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    fake.fail_jobs("timeout", prompt="hang")
    async with api(fake) as c:
        job = await submit(c, "hang", path)
        clock.advance(limit - 1)
        assert await status(c, job) == "processing"
        clock.advance(2)
        failed = (await c.get(f"/jobs/{job}")).json()
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "timeout"
    assert f"{limit:g} seconds" in failed["error"]["message"]
    assert failed["completed_at"].startswith(
        "2026-08-01T00:03:00" if limit == 180 else "2026-08-01T02:00:00"
    )


async def test_a_run_longer_than_the_time_out_fails_at_it(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    fake.script("completed", seconds=600, times=None)
    async with api(fake) as c:
        hosted = await submit(c, "slow hosted", KREA2)
        external = await submit(c, "slow external", FLUX)
        clock.advance(181)
        assert await status(c, hosted) == "failed"
        assert await status(c, external) == "processing"
        clock.advance(600)
        assert await status(c, external) == "completed"


async def test_time_outs_can_be_turned_off(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0, time_outs=False)
    fake.script("completed", seconds=600)
    async with api(fake) as c:
        job = await submit(c, "slow hosted", KREA2)
        clock.advance(601)
        assert await status(c, job) == "completed"


def test_time_out_of_reads_hosted_and_external() -> None:
    assert time_out_of("/generate/enhance/krea/enhance") == 180.0
    assert time_out_of(f"/node-apps/{SAMPLE_NODE_APP_ID}/execute") == 180.0
    assert time_out_of("/generate/video/kling/kling-1") == 7200.0
    assert time_out_of("/styles/train") is None


async def test_fail_job_with_a_cause(anyio_backend: str) -> None:
    fake = FakeKrea(clock=ManualClock())
    async with api(fake) as c:
        job = await submit(c, "x")
    failed = fake.fail_job(job, cause="ip_detected")
    assert failed["error"]["code"] == "ip_detected" == failed["result"]["error"]["code"]


def test_unknown_cause_is_refused() -> None:
    with pytest.raises(ValueError, match="cause"):
        FakeKrea().fail_jobs("gremlins")


# -- model lifecycle (deprecations page) --------------------------------------------


async def test_deprecated_model_answers_with_headers_then_410(anyio_backend: str) -> None:
    clock = ManualClock()  # 2026-08-01
    fake = FakeKrea(clock=clock, time_scale=1.0)
    fake.deprecate("image/bfl/flux-1-dev", "2026-08-03", replacement="image/krea/krea-2/medium")
    async with api(fake) as c:
        ok = await c.post(FLUX, json={"prompt": "x"})
        assert ok.status_code == 200
        assert ok.headers["deprecation"] == "true"
        assert ok.headers["sunset"] == "Mon, 03 Aug 2026 00:00:00 GMT"
        assert ok.headers["link"].startswith("<https://docs.krea.ai/developers/deprecations#")
        assert ok.headers["link"].endswith('>; rel="deprecation"; type="text/html"')
        poll = await c.get(f"/jobs/{ok.json()['job_id']}")
        assert "deprecation" not in poll.headers  # only the deprecated endpoint's answers
        clock.advance(2 * 86400)
        gone = await c.post(FLUX, json={"prompt": "x"})
    assert gone.status_code == 410
    body = gone.json()
    assert body["error"] == "model_unavailable"
    assert body["reason"] == "deprecated"
    assert body["sunset_date"] == "2026-08-03"
    assert body["replacement"] == "image/krea/krea-2/medium"
    assert body["migration_url"].startswith("https://docs.krea.ai/developers/deprecations")
    assert len(fake.ledger) == 1  # the 410 created no job


async def test_sunset_now_and_documented_sunsets(anyio_backend: str) -> None:
    fake = FakeKrea(clock=ManualClock())
    fake.sunset("video/kling/kling-1")
    async with api(fake) as c:
        gone = await c.post("/generate/video/kling/kling-1", json={"prompt": "x"})
        assert gone.status_code == 410
        assert "replacement" not in gone.json()
        for model, (day, replacement) in KREA_SUNSETS.items():
            answer = await c.post(f"/generate/{model}", json={"prompt": "x"})
            assert answer.status_code == 410, model
            assert answer.json()["sunset_date"] == day
            assert answer.json().get("replacement") == replacement


async def test_openapi_json_is_served_with_deprecated_operations(anyio_backend: str) -> None:
    fake = FakeKrea()
    fake.deprecate("image/bfl/flux-1-dev", "2027-01-31")
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://f") as c:
        answer = await c.get("/openapi.json")  # no token: Krea serves it publicly
    spec = answer.json()
    bundled = json.loads(
        resources.files("krea_async").joinpath("_spec/openapi.json").read_text("utf-8")
    )
    assert answer.status_code == 200
    assert set(spec["paths"]) == set(bundled["paths"])
    assert spec["paths"][FLUX]["post"]["deprecated"] is True
    assert "deprecated" not in spec["paths"][KREA2]["post"]


# -- routes Krea's docs show beyond the snapshot ---------------------------------------


async def test_seedance_2_and_krea_enhance_run(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with api(fake) as c:
        video = await c.post("/generate/video/bytedance/seedance-2", json={"prompt": "waves"})
        enhance = await c.post(
            "/generate/enhance/krea/enhance", json={"image_url": "https://example.com/a.png"}
        )
        missing = await c.post("/generate/enhance/krea/enhance", json={})
        clock.advance(200)
        assert await status(c, video.json()["job_id"]) == "completed"
        assert await status(c, enhance.json()["job_id"]) == "completed"
    assert video.json()["type"] == "externalVideo"
    assert enhance.json()["type"] == "enhance"
    assert missing.status_code == 400
    assert "image_url" in missing.json()["error"]


async def test_node_app_versions(anyio_backend: str) -> None:
    fake = FakeKrea(clock=ManualClock())
    clock = fake.clock
    assert isinstance(clock, ManualClock)
    clock.advance(5)
    newer = fake.add_node_app(
        {
            "node_app_id": SAMPLE_NODE_APP_ID,
            "version": 2,
            "version_created_at": "2026-08-01T00:00:05Z",
            "input_openapi_schema": {"type": "object"},
        }
    )
    async with api(fake) as c:
        page = (await c.get(f"/node-apps/{SAMPLE_NODE_APP_ID}/versions")).json()
        first = (await c.get(f"/node-apps/{SAMPLE_NODE_APP_ID}/versions?limit=1")).json()
        rest = await c.get(
            f"/node-apps/{SAMPLE_NODE_APP_ID}/versions",
            params={"limit": 1, "cursor": first["next_cursor"]},
        )
        unknown = await c.get("/node-apps/nope/versions")
        bad = await c.get(f"/node-apps/{SAMPLE_NODE_APP_ID}/versions?limit=0")
    assert [i["node_app_version_id"] for i in page["items"]] == [newer, SAMPLE_NODE_APP_ID]
    assert page["next_cursor"] is None
    assert [i["version"] for i in page["items"]] == [2, 1]
    assert [i["node_app_version_id"] for i in rest.json()["items"]] == [SAMPLE_NODE_APP_ID]
    assert unknown.status_code == 404
    assert bad.status_code == 400


# -- request rates --------------------------------------------------------------------


async def test_status_rate_limit_with_retry_after_then_recovers(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    limit = fake.rate_limit(3, on="status")
    async with api(fake) as c:
        job = await submit(c, "x")
        codes = [(await c.get(f"/jobs/{job}")).status_code for _ in range(3)]
        refused = await c.get("/jobs")
        other = await submit(c, "submits are another class")
        clock.advance(1.0)
        again = await c.get(f"/jobs/{job}")
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "per second" in refused.json()["error"]
    assert other
    assert again.status_code == 200
    assert limit.hits == 1


async def test_submit_rate_limit_without_retry_after(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    fake.rate_limit(1, on="submit", retry_after=False)
    async with api(fake) as c:
        await submit(c, "one")
        refused = await c.post(FLUX, json={"prompt": "two"})
        polled = await c.get("/jobs")
        clock.advance(0.5)
        still = await c.post(FLUX, json={"prompt": "three"})
        clock.advance(0.6)
        later = await c.post(FLUX, json={"prompt": "four"})
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert polled.status_code == 200
    assert still.status_code == 429
    assert later.status_code == 200
    assert [e.prompt for e in fake.ledger] == ["one", "four"]
    fake.clear_rate_limits()


# -- answer shapes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "present", "absent"),
    [
        ("nextCursor", {"nextCursor"}, {"next_cursor"}),
        ("both", {"nextCursor", "next_cursor"}, set()),
        ("next_cursor", {"next_cursor"}, {"nextCursor"}),
    ],
)
async def test_cursor_key(
    anyio_backend: str, key: str, present: set[str], absent: set[str]
) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, cursor_key=key)  # type: ignore[arg-type]
    async with api(fake) as c:
        for i in range(3):
            await submit(c, f"job {i}")
            clock.advance(1)
        pages: list[dict[str, Any]] = [
            (await c.get("/jobs?limit=2")).json(),
            (await c.get("/assets")).json(),
            (await c.get("/styles")).json(),
        ]
    for page in pages:
        assert present <= set(page)
        assert not absent & set(page)
    cursor = pages[0].get("next_cursor") or pages[0].get("nextCursor")
    assert isinstance(cursor, str)


async def test_empty_status_filter_is_400(anyio_backend: str) -> None:
    async with api(FakeKrea()) as c:
        empty = await c.get("/jobs?status=")
        unknown = await c.get("/jobs?status=done")
        fine = await c.get("/jobs?status=queued")
    assert (empty.status_code, unknown.status_code, fine.status_code) == (400, 400, 200)
    assert "status" in empty.json()["error"]
