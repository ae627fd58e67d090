"""The fake Krea API in-process (``fake.transport()``): contract, job clock, resources."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from krea_async import JobSettings
from krea_async._converter import structure
from krea_async._models import Asset, Job, JobPage, NodeApp, Style
from krea_async._spec.bundle import generation_endpoints, load_spec
from krea_async.testing import (
    MAX_ASSET_BYTES,
    SAMPLE_NODE_APP_ID,
    FakeKrea,
    ManualClock,
    png,
    sample_mp4,
)

pytestmark = pytest.mark.anyio

BASE = "http://fake.krea.test"
FLUX = "/generate/image/bfl/flux-1-dev"


@contextlib.asynccontextmanager
async def api(fake: FakeKrea, token: str = "test-token") -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        transport=fake.transport(), base_url=BASE, headers=headers
    ) as client:
        yield client


def manual(**kwargs: Any) -> tuple[FakeKrea, ManualClock]:
    clock = ManualClock()
    return FakeKrea(clock=clock, time_scale=1.0, **kwargs), clock


def png_size(data: bytes) -> tuple[int, int]:
    """Parse a PNG fully (signature, chunk CRCs, IHDR, IDAT length); answer (w, h)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, ihdr, idat, kinds = 8, b"", b"", []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        ihdr = body if kind == b"IHDR" else ihdr
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    assert kinds[0] == b"IHDR"
    assert kinds[-1] == b"IEND"
    w, h, depth, color = struct.unpack(">IIBB", ihdr[:10])
    assert (depth, color) == (8, 2)
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w)
    return w, h


def minimal_body(path: str) -> dict[str, Any]:
    """The spec's example for a path, completed with its missing required fields."""
    op = load_spec()["paths"][path]["post"]
    content = op["requestBody"]["content"]["application/json"]
    body = dict(content.get("example") or {})
    for name in content["schema"].get("required", []):
        prop = content["schema"]["properties"][name]
        if name in body:
            continue
        if "const" in prop:
            body[name] = prop["const"]
        elif "enum" in prop:
            body[name] = prop["enum"][0]
        elif name == "reference_images":
            body[name] = [{"url": "https://example.com/a.png", "tag": "subject"}]
        elif prop.get("type") == "number":
            body[name] = 1024
        else:
            is_url = "url" in name or "video" in name
            body[name] = "https://example.com/a.png" if is_url else "a cat"
    return body


# -- the job ------------------------------------------------------------------------------


async def test_job_moves_queued_processing_completed(anyio_backend: str) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        r = await c.post(FLUX, json={"prompt": "a fox", "width": 1024, "height": 576})
        assert r.status_code == 200
        submitted = r.json()
        assert submitted["status"] == "queued"
        assert submitted["result"] is None
        assert submitted["completed_at"] is None
        assert submitted["type"] == "externalImage"
        assert submitted["created_at"].endswith("Z")
        job_id = submitted["job_id"]
        seen = []
        for step in (0.0, 2.0, 2.0, 2.0, 1.5):  # Flux: ~7 s, 30% queued
            clock.advance(step)
            job = (await c.get(f"/jobs/{job_id}")).json()
            seen.append(job["status"])
            if job["status"] != "completed":
                assert job["result"] == {}
                assert job["completed_at"] is None
        assert seen == ["queued", "queued", "processing", "processing", "completed"]
        assert job["completed_at"].endswith("Z")
        parsed = structure(job, Job)
        assert parsed.is_terminal
        assert len(parsed.urls) == 1
        image = await c.get(parsed.urls[0], headers={"Authorization": ""})
        assert image.headers["content-type"] == "image/png"
        assert png_size(image.content) == (1024, 576)


async def test_backlogged_fifo_under_concurrency(anyio_backend: str) -> None:
    fake, clock = manual(concurrency=2)
    async with api(fake) as c:
        ids = [(await c.post(FLUX, json={"prompt": f"p{i}"})).json() for i in range(4)]
        assert [j["status"] for j in ids] == ["queued", "queued", "backlogged", "backlogged"]
        clock.advance(7.0)  # the first two finish, the next two start (FIFO)
        states = [(await c.get(f"/jobs/{j['job_id']}")).json()["status"] for j in ids]
        assert states == ["completed", "completed", "queued", "queued"]
        clock.advance(7.0)
        states = [(await c.get(f"/jobs/{j['job_id']}")).json()["status"] for j in ids]
        assert states == ["completed"] * 4


async def test_429_when_backlog_full_creates_no_job(anyio_backend: str) -> None:
    fake, _ = manual(concurrency=1, max_backlog=1)
    async with api(fake) as c:
        assert (await c.post(FLUX, json={"prompt": "a"})).json()["status"] == "queued"
        assert (await c.post(FLUX, json={"prompt": "b"})).json()["status"] == "backlogged"
        r = await c.post(FLUX, json={"prompt": "c"})
    assert r.status_code == 429
    assert r.json() == {"error": "Maximum number of concurrent jobs reached"}
    assert [e.prompt for e in fake.ledger] == ["a", "b"]


async def test_cancel_and_404(anyio_backend: str) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        job_id = (await c.post(FLUX, json={"prompt": "x"})).json()["job_id"]
        r = await c.delete(f"/jobs/{job_id}")
        assert r.status_code == 200
        assert r.json()["status"] == "cancelled"
        assert r.json()["completed_at"] is not None
        clock.advance(60)
        assert (await c.get(f"/jobs/{job_id}")).json()["status"] == "cancelled"
        assert (await c.delete(f"/jobs/{job_id}")).json()["status"] == "cancelled"
        for r in (await c.get("/jobs/nope"), await c.delete("/jobs/nope")):
            assert r.status_code == 404
            assert "error" in r.json()
    async with api(fake, token="someone-else") as other:  # not yours: 404
        assert (await other.get(f"/jobs/{job_id}")).status_code == 404


async def test_jobs_list_pagination_and_filters(anyio_backend: str) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        made = []
        for i in range(5):
            made.append((await c.post(FLUX, json={"prompt": f"p{i}"})).json()["job_id"])
            clock.advance(1)
        video = await c.post("/generate/video/kling/kling-2.1", json={"prompt": "v"})
        assert video.json()["type"] == "externalVideo"
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, "types": "externalImage"}
            if cursor:
                params["cursor"] = cursor
            page = (await c.get("/jobs", params=params)).json()
            assert set(page) == {"items", "next_cursor"}
            structure(page, JobPage)
            seen += [j["job_id"] for j in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == made[::-1]
        assert pages == 3
        clock.advance(3.5)  # now t=8.5: jobs made at t=0 and t=1 are done (Flux: 7 s)
        completed = (await c.get("/jobs", params={"status": "completed"})).json()["items"]
        assert [j["job_id"] for j in completed] == made[:2][::-1]
        for bad in (
            {"limit": 0},
            {"limit": 1001},
            {"limit": "x"},
            {"cursor": "yesterday"},
            {"status": "done"},
        ):
            r = await c.get("/jobs", params=bad)
            assert r.status_code == 400, bad
            assert next(iter(bad)) in r.json()["error"]


# -- validation, auth, balance ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        (FLUX, {"width": 1024}, "prompt: required field is missing"),
        (FLUX, {"prompt": "x", "steps": 500}, "steps: 500 is greater than the maximum of 100"),
        (FLUX, {"prompt": "x", "colour": "red"}, "unknown field 'colour'"),
        (
            FLUX,
            {"prompt": "x", "imageUrl": "https://a/b.png"},
            "unknown field 'imageUrl' (renamed to image_url on 2026-06-19)",
        ),
        (
            "/generate/image/google/nano-banana-pro",
            {"prompt": "abc", "imageUrls": ["https://a"]},
            "unknown field 'imageUrls' (renamed to image_urls on 2026-06-19)",
        ),
        (
            FLUX,
            {"prompt": "x", "styles": [{"id": "s", "strength": 9}]},
            "styles[0].strength: 9 is greater than the maximum of 2",
        ),
        (FLUX, ["prompt"], "body: ['prompt'] is not of type 'object'"),
        (
            "/generate/image/krea/krea-2/medium",
            {"prompt": "x", "aspect_ratio": "5:1", "resolution": "1K"},
            "aspect_ratio: '5:1'",
        ),
    ],
)
async def test_400_names_the_field(anyio_backend: str, path: str, body: Any, needle: str) -> None:
    fake, _ = manual()
    async with api(fake) as c:
        r = await c.post(path, json=body)
    assert r.status_code == 400
    assert needle in r.json()["error"]
    assert fake.ledger == []


async def test_400_on_non_json_body(anyio_backend: str) -> None:
    fake, _ = manual()
    async with api(fake) as c:
        r = await c.post(FLUX, content=b"prompt=x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400
    assert r.json()["error"].startswith("Invalid JSON body")


async def test_every_generation_path_accepts_its_spec_example(anyio_backend: str) -> None:
    fake, clock = manual()
    paths = [m.path for m in generation_endpoints()]
    assert len(paths) == 61
    async with api(fake) as c:
        for path in paths:
            r = await c.post(path, json=minimal_body(path))
            assert r.status_code == 200, (path, r.text)
        clock.advance(3600)
        page = (await c.get("/jobs", params={"limit": 1000})).json()
    assert len(page["items"]) == 61
    assert {j["status"] for j in page["items"]} == {"completed"}
    assert {j["type"] for j in page["items"]} == {"externalImage", "externalVideo", "enhance"}


async def test_401_without_a_bearer_token(anyio_backend: str) -> None:
    fake, _ = manual()
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        async with httpx.AsyncClient(transport=fake.transport(), base_url=BASE) as c:
            for r in (
                await c.post(FLUX, json={"prompt": "x"}, headers=headers),
                await c.get("/jobs", headers=headers),
                await c.get("/styles", headers=headers),
            ):
                assert r.status_code == 401
                assert "error" in r.json()
    strict, _ = manual(api_key="k")
    async with api(strict, token="wrong") as c:
        assert (await c.post(FLUX, json={"prompt": "x"})).status_code == 401
    async with api(strict, token="k") as c:
        assert (await c.post(FLUX, json={"prompt": "x"})).status_code == 200


async def test_402_when_balance_runs_out_and_refund_on_failure(anyio_backend: str) -> None:
    fake, _clock = manual(balance=0.02)
    async with api(fake) as c:
        assert (await c.post(FLUX, json={"prompt": "a"})).status_code == 200  # $0.007
        assert (await c.post(FLUX, json={"prompt": "b"})).status_code == 200
        assert fake.balance == pytest.approx(0.006)
        r = await c.post(FLUX, json={"prompt": "c"})
        assert r.status_code == 402
        assert r.json()["error"].startswith("Insufficient credits")
        fake.fail_job(fake.ledger[0].job_id, error="provider error")  # failed: not billed
        assert fake.balance == pytest.approx(0.013)
        assert (await c.post(FLUX, json={"prompt": "c"})).status_code == 200
        r = await c.post("/generate/image/google/nano-banana-pro", json={"prompt": "abc"})
        assert r.status_code == 402  # $0.15
    assert len(fake.ledger) == 3


# -- test controls ------------------------------------------------------------------------


async def test_script_fail_job_ledger_and_webhooks(anyio_backend: str) -> None:
    fake, clock = manual()
    fake.script("failed", error={"code": "nsfw", "message": "flagged"}, prompt="forbidden")
    fake.script("cancelled", path="/generate/video/")
    hook = {"X-Webhook-URL": "https://hooks.example.com/krea"}
    async with api(fake) as c:
        bad = (await c.post(FLUX, json={"prompt": "a forbidden fox"}, headers=hook)).json()
        vid = (await c.post("/generate/video/kling/kling-2.1", json={"prompt": "v"})).json()
        ok = (
            await c.post(
                FLUX, json={"prompt": "a forbidden owl"}, headers={**hook, "X-Request-Trace": "t-1"}
            )
        ).json()
        doomed = (await c.post(FLUX, json={"prompt": "z"}, headers=hook)).json()
        fake.fail_job(doomed["job_id"], error="boom")
        assert [w.job_id for w in fake.webhooks] == [doomed["job_id"]]
        clock.advance(300)
        got = {
            j: (await c.get(f"/jobs/{j}")).json()
            for j in (bad["job_id"], vid["job_id"], ok["job_id"], doomed["job_id"])
        }
    assert got[bad["job_id"]]["status"] == "failed"
    assert got[bad["job_id"]]["result"] == {"error": {"code": "nsfw", "message": "flagged"}}
    assert structure(got[bad["job_id"]], Job).result.error_message == "flagged"
    assert got[vid["job_id"]]["status"] == "cancelled"
    assert got[ok["job_id"]]["status"] == "completed"  # the script applied once only
    assert got[doomed["job_id"]]["result"] == {"error": "boom"}
    ledger = fake.ledger
    assert [e.status for e in ledger] == ["failed", "cancelled", "completed", "failed"]
    assert [e.trace for e in ledger] == [None, None, "t-1", None]
    assert ledger[0].webhook_url == "https://hooks.example.com/krea"
    assert "authorization" not in ledger[0].headers
    assert ledger[0].path == FLUX
    assert {w.job_id: w.status for w in fake.webhooks} == {
        doomed["job_id"]: "failed",
        bad["job_id"]: "failed",
        ok["job_id"]: "completed",
    }
    assert all(w.payload["status"] == w.status for w in fake.webhooks)
    completed = next(w for w in fake.webhooks if w.status == "completed")
    assert completed.payload["result"]["urls"]
    assert completed.response_status is None
    with pytest.raises(KeyError):
        fake.fail_job("nope")


async def test_manual_clock_rejects_going_back(anyio_backend: str) -> None:
    clock = ManualClock(start=10.0)
    assert clock() == 10.0
    assert clock.advance(1.5) == 11.5
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)


# -- media --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "size"),
    [
        (FLUX, {"prompt": "x"}, (1024, 1024)),
        (
            "/generate/image/bfl/flux-1.1-pro-ultra",
            {"prompt": "x", "width": 4000, "height": 600},
            (2048, 600),
        ),
        (
            "/generate/image/krea/krea-2/medium",
            {"prompt": "x", "aspect_ratio": "16:9", "resolution": "1K"},
            (1360, 768),
        ),
        (
            "/generate/enhance/topaz/generative-enhance",
            {"image_url": "https://a/b.png", "width": 3000, "height": 200},
            (2048, 200),
        ),
    ],
)
async def test_result_pngs_have_the_requested_size(
    anyio_backend: str, path: str, body: dict[str, Any], size: tuple[int, int]
) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        job_id = (await c.post(path, json=body)).json()["job_id"]
        clock.advance(3600)
        url = (await c.get(f"/jobs/{job_id}")).json()["result"]["urls"][0]
        assert url.startswith(f"{BASE}/_fake/files/{job_id}/")
        async with httpx.AsyncClient(transport=fake.transport()) as anonymous:
            r = await anonymous.get(url)  # no auth needed
    assert r.status_code == 200
    assert png_size(r.content) == size


async def test_video_serves_a_real_mp4(anyio_backend: str) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        job_id = (await c.post("/generate/video/google/veo-3", json={"prompt": "x"})).json()[
            "job_id"
        ]
        assert (await c.get(f"/_fake/files/{job_id}/0.mp4")).status_code == 404  # not yet
        clock.advance(3600)
        url = (await c.get(f"/jobs/{job_id}")).json()["result"]["urls"][0]
        r = await c.get(url)
    assert r.headers["content-type"] == "video/mp4"
    assert r.content == sample_mp4()
    assert r.content[4:8] == b"ftyp"
    assert b"moov" in r.content
    assert len(r.content) < 10_000


def test_upload_limit_defaults_to_75_mb() -> None:
    assert MAX_ASSET_BYTES == 75 * 1024 * 1024
    assert FakeKrea().max_upload_bytes == MAX_ASSET_BYTES


def test_png_is_deterministic_and_capped() -> None:
    assert png(64, 32, "a") == png(64, 32, "a") != png(64, 32, "b")
    assert png_size(png(5000, 1, "x")) == (2048, 1)


# -- assets -------------------------------------------------------------------------------


async def test_assets_upload_list_get_delete(anyio_backend: str) -> None:
    fake = FakeKrea(max_upload_bytes=10_000)
    image = png(40, 30, "asset")
    async with api(fake) as c:
        r = await c.post(
            "/assets",
            files={"file": ("cat.png", image, "application/octet-stream")},
            data={"description": "a cat"},
        )
        assert r.status_code == 200, r.text
        asset = structure(r.json(), Asset)
        assert (asset.width, asset.height, asset.size_bytes) == (40, 30, len(image))
        assert asset.mime_type == "image/png"
        assert asset.description == "a cat"
        second = (await c.post("/assets", files={"file": ("b.mp4", sample_mp4())})).json()
        assert second["mime_type"] == "video/mp4"
        assert second["width"] is None
        page = (await c.get("/assets", params={"limit": 1})).json()
        assert [a["id"] for a in page["items"]] == [second["id"]]
        assert page["next_cursor"]
        page = (await c.get("/assets", params={"limit": 1, "cursor": page["next_cursor"]})).json()
        assert [a["id"] for a in page["items"]] == [asset.id]
        assert page["next_cursor"] is None
        assert (await c.get(f"/assets/{asset.id}")).json()["id"] == asset.id
        assert (await c.get(asset.image_url)).content == image
        r = await c.delete(f"/assets/{asset.id}")
        assert r.json() == {"success": True, "message": "Asset deleted successfully"}
        assert (await c.get(f"/assets/{asset.id}")).status_code == 404
        assert (await c.delete(f"/assets/{asset.id}")).status_code == 404
        big = await c.post("/assets", files={"file": ("big.png", image + b"\0" * 10_000)})
        assert big.status_code == 400
        assert "file: larger than" in big.json()["error"]
        odd = await c.post("/assets", files={"file": ("a.txt", b"hello")})
        assert odd.status_code == 400
        assert "invalid file type" in odd.json()["error"]
        none = await c.post("/assets", data={"description": "no file"})
        assert none.status_code == 400
        assert "file: required" in none.json()["error"]
    async with api(fake, token="other") as other:
        assert (await other.get(f"/assets/{second['id']}")).status_code == 404


# -- styles -------------------------------------------------------------------------------


async def test_style_training_creates_an_owned_shareable_style(anyio_backend: str) -> None:
    fake, clock = manual()
    body = {"name": "My cat", "urls": ["https://example.com/1.png"], "trigger_word": "mycat"}
    async with api(fake) as c:
        bad = await c.post("/styles/train", json={"name": "x", "urls": [], "batch_size": 0})
        assert bad.status_code == 400
        assert "batch_size" in bad.json()["error"]
        job = (await c.post("/styles/train", json=body)).json()
        assert job["type"] == "loraTraining"
        assert job["result"] is None
        clock.advance(3600)
        done = (await c.get(f"/jobs/{job['job_id']}")).json()
        assert done["status"] == "completed"
        assert set(done["result"]) == {"style_id"}
        style_id = done["result"]["style_id"]
        style = structure((await c.get(f"/styles/{style_id}")).json(), Style)
        assert style.title == "My cat"
        assert style.owner is not None
        assert not style.public
        assert style.models == ("flux_dev",)
        assert style.prompt == "mycat"
        mine = (await c.get("/styles", params={"filter": "user"})).json()
        assert [s["id"] for s in mine["items"]] == [style_id]
        assert mine["next_cursor"] is None
        first = await c.get(f"/styles/{style_id}/share/link")
        again = await c.get(f"/styles/{style_id}/share/link")
        assert (first.status_code, first.json()["is_new"]) == (201, True)
        assert (again.status_code, again.json()["is_new"]) == (200, False)
        assert first.json()["share_link"] == again.json()["share_link"]
        assert (await c.delete(f"/styles/{style_id}/share/workspace")).status_code == 404
        shared = await c.post(f"/styles/{style_id}/share/workspace")
        assert shared.status_code == 200
        assert shared.json()["success"] is True
        assert shared.json()["workspace"]["is_default"] is True
        assert (await c.delete(f"/styles/{style_id}/share/workspace")).json() == {"success": True}
        patched = await c.patch(f"/styles/{style_id}", json={"public": True, "title": "Cat"})
        assert patched.json()["public"] is True
        assert patched.json()["title"] == "Cat"
        assert (await c.patch(f"/styles/{style_id}", json={"foo": 1})).status_code == 400
        community = (await c.get("/styles", params={"filter": "community"})).json()["items"]
        assert community
        assert all(s["owner"] for s in community)
        forbidden = await c.post(f"/styles/{community[0]['id']}/share/workspace")
        assert forbidden.status_code == 403
        assert "error" in forbidden.json()
        krea = (await c.get("/styles", params={"filter": "krea"})).json()["items"]
        assert krea
        assert all(s["owner"] is None for s in krea)
        assert (await c.get("/styles", params={"filter": "bogus"})).status_code == 400
        cover = await c.get(krea[0]["cover_url"])
        assert cover.headers["content-type"] == "image/png"
        assert (await c.get("/styles/nope")).status_code == 404
    async with api(fake, token="other") as other:
        assert (await other.get(f"/styles/{style_id}")).status_code == 200  # now public
        assert (await other.patch(f"/styles/{style_id}", json={"title": "x"})).status_code == 404
        assert (await other.delete(f"/styles/{style_id}/share/workspace")).status_code == 403


# -- node apps ----------------------------------------------------------------------------


async def test_node_app_get_and_execute(anyio_backend: str) -> None:
    fake, clock = manual()
    async with api(fake) as c:
        app = structure((await c.get(f"/node-apps/{SAMPLE_NODE_APP_ID}")).json(), NodeApp)
        assert app.input_openapi_schema is not None
        assert app.example_outputs[0].startswith(BASE)
        r = await c.post(
            f"/node-apps/{SAMPLE_NODE_APP_ID}/execute", json={"prompt": "a chair", "num_images": 2}
        )
        assert r.status_code == 200
        assert isinstance(r.json(), list)
        assert len(r.json()) == 1
        job = r.json()[0]
        assert job["type"] == "nodeApp"
        assert job["status"] == "queued"
        clock.advance(3600)
        done = (await c.get(f"/jobs/{job['job_id']}")).json()
        assert len(done["result"]["urls"]) == 2
        for body, needle in (
            ({}, "prompt: required"),
            ({"prompt": "x", "num_images": 9}, "num_images: 9"),
            ({"prompt": "x", "extra": 1}, "'extra'"),
        ):
            r = await c.post(f"/node-apps/{SAMPLE_NODE_APP_ID}/execute", json=body)
            assert r.status_code == 400
            assert needle in r.json()["error"]
        assert (await c.get("/node-apps/nope")).status_code == 404
        assert (await c.post("/node-apps/nope/execute", json={})).status_code == 404
        custom = fake.add_node_app(
            {
                "name": "Echo",
                "input_openapi_schema": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                },
            }
        )
        ran = await c.post(f"/node-apps/{custom}/execute", json={"text": "hi"})
        assert ran.status_code == 200
        assert (await c.post(f"/node-apps/{custom}/execute", json={})).status_code == 400
    assert [e.path for e in fake.ledger] == [
        f"/node-apps/{SAMPLE_NODE_APP_ID}/execute",
        f"/node-apps/{custom}/execute",
    ]


async def test_unknown_routes_answer_json_errors(anyio_backend: str) -> None:
    fake, _ = manual()
    async with api(fake) as c:
        missing = await c.post("/generate/image/nobody/nothing", json={"prompt": "x"})
        wrong_method = await c.get(FLUX)
        nowhere = await c.get("/nowhere")
    assert missing.status_code == 404
    assert "error" in missing.json()
    assert wrong_method.status_code == 405
    assert "error" in wrong_method.json()
    assert nowhere.status_code == 404
    assert "error" in nowhere.json()


# -- the SDK against the fake ----------------------------------------------------------------


async def test_async_krea_client_bound_to_the_fake(anyio_backend: str, tmp_path: Any) -> None:
    fake = FakeKrea(time_scale=0.01)
    async with fake.client(jobs=JobSettings(poll_interval=0.02)) as krea:
        result = await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "a fox"})
        assert result.job.status == "completed"
        assert len(result.urls) == 1
        saved = await krea.download(result.urls[0], tmp_path / "fox.png")
    assert png_size(saved.read_bytes()) == (1024, 1024)
    assert [e.prompt for e in fake.ledger] == ["a fox"]
