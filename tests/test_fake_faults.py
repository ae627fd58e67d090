"""Injected faults of the fake Krea API, in-process (``fake.transport()``)."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from _virtual_clock import VirtualClock

from krea_async.testing import (
    FakeKrea,
    ManualClock,
    drop_after,
    drop_before,
    http_error,
    malformed,
    operation_of,
    rate_limited,
    refuse_connection,
    slow,
)

pytestmark = pytest.mark.anyio

FLUX = "/generate/image/bfl/flux-1-dev"


@contextlib.asynccontextmanager
async def api(fake: FakeKrea, timeout: float | None = 5.0) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": "Bearer t"},
        timeout=timeout,
    ) as client:
        yield client


def new_fake(**kwargs: object) -> FakeKrea:
    return FakeKrea(clock=ManualClock(), time_scale=1.0, **kwargs)  # type: ignore[arg-type]


async def test_http_errors_json_html_and_retry_after(anyio_backend: str) -> None:
    fake = new_fake()
    fake.inject(http_error(503), on="submit", times=1)
    fake.inject(http_error(502, html=True), on="submit", times=1)
    fake.inject(rate_limited(retry_after=2), on="submit", times=1)
    fake.inject(rate_limited(retry_after=30, http_date=True), on="submit", times=1)
    fake.inject(rate_limited(), on="submit", times=1)
    async with api(fake) as c:
        before = time.time()
        answers = [await c.post(FLUX, json={"prompt": "x"}) for _ in range(6)]
        after = time.time()
    r503, r502, r429s, r429d, r429, ok = answers
    assert (r503.status_code, r503.json()) == (503, {"error": "Service Unavailable"})
    assert r502.status_code == 502
    assert r502.headers["content-type"].startswith("text/html")
    assert "<html>" in r502.text
    assert r429s.status_code == 429
    assert r429s.headers["retry-after"] == "2"
    assert r429s.json() == {"error": "Maximum number of concurrent jobs reached"}
    when = email.utils.parsedate_to_datetime(r429d.headers["retry-after"])
    # 30 s after the answer was made, in whole seconds of the wall clock
    assert int(before) + 30 <= when.timestamp() <= after + 30
    assert r429.status_code == 429
    assert "retry-after" not in r429.headers
    assert ok.status_code == 200
    assert len(fake.ledger) == 1  # error answers created no job
    assert [rule.hits for rule in fake.faults.rules] == [1, 1, 1, 1, 1]


async def test_drop_before_creates_no_job_drop_after_does(anyio_backend: str) -> None:
    fake = new_fake()
    fake.inject(drop_before(), on="submit", times=1)
    fake.inject(drop_after(), on="submit", times=1)
    async with api(fake) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post(FLUX, json={"prompt": "x"}, headers={"X-Request-Trace": "call-1"})
        assert fake.ledger == []
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post(FLUX, json={"prompt": "x"}, headers={"X-Request-Trace": "call-2"})
        assert [e.trace for e in fake.ledger] == ["call-2"]  # created, answer lost
        assert (await c.post(FLUX, json={"prompt": "x"})).status_code == 200


async def test_drop_after_on_poll_keeps_state(anyio_backend: str) -> None:
    fake = new_fake()
    async with api(fake) as c:
        job_id = (await c.post(FLUX, json={"prompt": "x"})).json()["job_id"]
        fake.inject(drop_after(), on="cancel", times=1)
        with pytest.raises(httpx.RemoteProtocolError):
            await c.delete(f"/jobs/{job_id}")
        assert (await c.get(f"/jobs/{job_id}")).json()["status"] == "cancelled"


async def test_refuse_connection(anyio_backend: str) -> None:
    fake = new_fake()
    fake.inject(refuse_connection(), times=2)
    async with api(fake) as c:
        with pytest.raises(httpx.ConnectError):
            await c.post(FLUX, json={"prompt": "x"})
        with pytest.raises(httpx.ConnectError):
            await c.get("/jobs")
        assert (await c.get("/jobs")).status_code == 200
    assert fake.ledger == []


@pytest.mark.virtual_clock
async def test_slow_before_and_after_with_client_timeout(virtual_clock: VirtualClock) -> None:
    fake = new_fake()
    fake.inject(slow(0.3), on="submit", times=1)
    fake.inject(slow(0.3, phase="after"), on="submit", times=1)
    fake.inject(slow(0.1), on="poll", times=1)
    async with api(fake, timeout=0.05) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.post(FLUX, json={"prompt": "before"})
        assert fake.ledger == []  # gave up before the API handled it
        with pytest.raises(httpx.ReadTimeout):
            await c.post(FLUX, json={"prompt": "after"})
        assert [e.prompt for e in fake.ledger] == ["after"]  # handled, answer late
    async with api(fake) as c:
        started = virtual_clock.now()
        r = await c.get(f"/jobs/{fake.ledger[0].job_id}")
        assert r.status_code == 200
        assert virtual_clock.now() - started == pytest.approx(0.1)


async def test_malformed_bodies(anyio_backend: str) -> None:
    fake = new_fake()
    fake.inject(malformed(), on="submit", times=1)
    fake.inject(malformed("<html>oops</html>"), on="submit", times=1)
    fake.inject(malformed({"unexpected": True}), on="submit", times=1)
    async with api(fake) as c:
        truncated, html, shape = [await c.post(FLUX, json={"prompt": "x"}) for _ in range(3)]
    assert truncated.status_code == 200
    with pytest.raises(ValueError, match=r"."):
        truncated.json()
    assert html.text == "<html>oops</html>"
    assert shape.json() == {"unexpected": True}
    assert fake.ledger == []


async def test_matchers_rate_and_seed(anyio_backend: str) -> None:
    async def pattern(seed: int) -> list[int]:
        fake = new_fake(seed=seed)
        fake.inject(http_error(500), on="list", rate=0.5)
        async with api(fake) as c:
            return [(await c.get("/jobs")).status_code for _ in range(30)]

    first, again, other = await pattern(7), await pattern(7), await pattern(8)
    assert first == again != other
    assert {200, 500} == set(first)

    fake = new_fake()
    fake.inject(http_error(504), path="/generate/video/")
    fake.inject(http_error(500, error="boom"), method="DELETE")
    async with api(fake) as c:
        image = await c.post(FLUX, json={"prompt": "x"})
        video = await c.post("/generate/video/kling/kling-2.1", json={"prompt": "x"})
        cancel = await c.delete(f"/jobs/{image.json()['job_id']}")
        poll = await c.get(f"/jobs/{image.json()['job_id']}")
    assert (image.status_code, video.status_code, poll.status_code) == (200, 504, 200)
    assert cancel.json() == {"error": "boom"}
    fake.faults.clear()
    assert fake.faults.rules == []


def test_operation_kinds() -> None:
    assert operation_of("POST", FLUX) == "submit"
    assert operation_of("POST", "/styles/train") == "submit"
    assert operation_of("POST", "/node-apps/a/execute") == "submit"
    assert operation_of("GET", "/jobs/1") == "poll"
    assert operation_of("DELETE", "/jobs/1") == "cancel"
    assert operation_of("GET", "/styles") == "list"
    assert operation_of("POST", "/assets") == "upload"
    assert operation_of("GET", "/assets/1") == "get"
    assert operation_of("DELETE", "/assets/1") == "delete"
    assert operation_of("GET", "/_fake/files/1/0.png") == "download"
    with pytest.raises(ValueError, match="rate"):
        FakeKrea().inject(slow(1), rate=2)
