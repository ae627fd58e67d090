"""``GET /jobs`` on the fake behaves like Krea's list (spec ``GET /jobs``): newest
first, ``limit`` 1..1000 (400 outside), ``cursor`` paging with no gap and no
repeat, ``status`` filter, and items that carry ``status``, ``result.urls`` and
``completed_at`` only once terminal (the key is omitted, never ``null``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from krea_async.testing import FakeKrea, ManualClock

pytestmark = pytest.mark.anyio

FLUX = "/generate/image/bfl/flux-1-dev"  # ~7 s


def list_schema() -> dict[str, Any]:
    text = resources.files("krea_async").joinpath("_spec/openapi.json").read_text("utf-8")
    op = json.loads(text)["paths"]["/jobs"]["get"]
    schema: dict[str, Any] = op["responses"]["200"]["content"]["application/json"]["schema"]
    return schema


@asynccontextmanager
async def api(fake: FakeKrea, token: str = "lister") -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client


async def test_items_carry_status_result_and_completed_at_only_when_terminal(
    anyio_backend: str,
) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    validator = Draft202012Validator(list_schema())
    async with api(fake) as c:
        done = (await c.post(FLUX, json={"prompt": "done"})).json()["job_id"]
        clock.advance(10)
        cancelled = (await c.post(FLUX, json={"prompt": "stop"})).json()["job_id"]
        await c.delete(f"/jobs/{cancelled}")
        failed = (await c.post(FLUX, json={"prompt": "fails"})).json()["job_id"]
        fake.fail_job(failed, "provider error")
        pending = (await c.post(FLUX, json={"prompt": "later"})).json()["job_id"]
        page = (await c.get("/jobs")).json()
    validator.validate(page)
    by_id = {item["job_id"]: item for item in page["items"]}
    assert [i["job_id"] for i in page["items"]] == [pending, failed, cancelled, done]
    assert page["next_cursor"] is None
    assert by_id[pending]["status"] == "queued"
    assert "completed_at" not in by_id[pending]
    for job_id, status in ((done, "completed"), (cancelled, "cancelled"), (failed, "failed")):
        assert by_id[job_id]["status"] == status
        assert by_id[job_id]["completed_at"].endswith("Z")
    urls = by_id[done]["result"]["urls"]
    assert len(urls) == 1
    assert urls[0].startswith("http://fake.krea.test/_fake/files/")
    assert by_id[done]["completed_at"] == fake.job(done)["completed_at"]


async def test_cursor_pages_cover_every_job_once_newest_first(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock)
    async with api(fake) as c:
        made = [(await c.post(FLUX, json={"prompt": f"p{i}"})).json()["job_id"] for i in range(25)]
        async with api(fake, token="someone-else") as other:  # not listed for "lister"
            await other.post(FLUX, json={"prompt": "theirs"})
        seen: list[str] = []
        cursor: str | None = None
        sizes = []
        while True:
            params: dict[str, Any] = {"limit": 7}
            if cursor is not None:
                params["cursor"] = cursor
            page = (await c.get("/jobs", params=params)).json()
            seen += [i["job_id"] for i in page["items"]]
            sizes.append(len(page["items"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
            assert cursor == page["items"][-1]["created_at"]
    assert seen == made[::-1]  # same clock time for all: still strictly ordered, no repeat
    assert sizes == [7, 7, 7, 4]


async def test_limit_bounds_and_status_filter(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with api(fake) as c:
        first = (await c.post(FLUX, json={"prompt": "early"})).json()["job_id"]
        clock.advance(8)
        second = (await c.post(FLUX, json={"prompt": "late"})).json()["job_id"]
        for limit in (1, 1000):
            r = await c.get("/jobs", params={"limit": limit})
            assert r.status_code == 200
            assert len(r.json()["items"]) == min(limit, 2)
        one = (await c.get("/jobs", params={"limit": 1})).json()
        assert [i["job_id"] for i in one["items"]] == [second]
        assert one["next_cursor"] is not None
        for limit in (0, -1, 1001, "ten"):
            r = await c.get("/jobs", params={"limit": limit})
            assert r.status_code == 400, limit
            assert r.json()["error"].startswith("limit:")
        completed = (await c.get("/jobs", params={"status": "completed"})).json()["items"]
        queued = (await c.get("/jobs", params={"status": "queued"})).json()["items"]
        failed = (await c.get("/jobs", params={"status": "failed"})).json()["items"]
    assert [i["job_id"] for i in completed] == [first]
    assert [i["job_id"] for i in queued] == [second]
    assert failed == []


async def test_the_sdk_lists_through_the_fake(anyio_backend: str) -> None:
    clock = ManualClock()
    fake = FakeKrea(clock=clock, time_scale=1.0)
    async with fake.client() as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "sdk"})
        clock.advance(10)
        page = await krea.jobs.list_page(limit=5, status="completed")
    [item] = page.items
    assert item.job_id == job.job_id
    assert item.status == "completed"
    assert item.completed_at is not None
    assert item.result is not None
    assert item.result.urls


@pytest.mark.parametrize(
    "urls",
    [["not a url at all"], ["https://"], ["http:///path-only"], ["a b:c"]],
)
async def test_uri_fields_are_checked_like_krea(anyio_backend: str, urls: list[str]) -> None:
    fake = FakeKrea()
    path = "/generate/image/google/nano-banana-pro"
    async with api(fake) as c:
        bad = await c.post(path, json={"prompt": "a red fox", "image_urls": urls})
        good = await c.post(
            path,
            json={
                "prompt": "a red fox",
                "image_urls": ["https://example.com/a.png", "data:image/png;base64,AA=="],
            },
        )
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("image_urls[0]:")
    assert good.status_code == 200, good.text
    assert len(fake.ledger) == 1
