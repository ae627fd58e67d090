"""The resource namespaces and file helpers through the public API, against the fake.

``krea.jobs`` (listing and filters), ``krea.assets``, ``krea.styles`` (the README's
LoRA flow), ``krea.node_apps``, ``krea.models``, deprecated aliases, typed input
validation, :mod:`krea_async.files` (``data:`` URIs, safe downloads) and
``SubscribeResult.save()``. Each async test runs under asyncio and trio.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import stat
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from krea_async import (
    MAX_ASSET_BYTES,
    APIConnectionError,
    Asset,
    AssetTooLargeError,
    AsyncKrea,
    BadRequestError,
    DownloadError,
    Job,
    JobSettings,
    JobStatus,
    NotFoundError,
    PermissionDeniedError,
    SubscribeResult,
    files,
)
from krea_async.inputs import BflFlux1DevInput, KreaKrea2MediumInput
from krea_async.testing import SAMPLE_NODE_APP_ID, FakeKrea, drop_after, malformed, png

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_backoff_waits")]

BASE_URL = "http://fake.krea.test"
PNG = png(16, 8, "resources")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
COMMUNITY_STYLE = "krea-fake-community-neon"
OFFICIAL_STYLE = "krea-fake-official-watercolor"
UNKNOWN_ID = "4d0e5f97-9721-4422-b88c-73a9032d7de1"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def fake() -> FakeKrea:
    """Jobs end as soon as they are polled (``time_scale=0``) unless a test scripts a
    duration with ``fake.script("completed", seconds=...)``."""
    return FakeKrea(time_scale=0.0)


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    """``(method, path)`` of every request the client sent, in order."""
    return []


@pytest.fixture
def file_requests() -> list[httpx.Request]:
    """Every request the client sent for a file (``/_fake/...``)."""
    return []


@pytest.fixture
async def krea(
    fake: FakeKrea, sent: list[tuple[str, str]], file_requests: list[httpx.Request]
) -> AsyncIterator[AsyncKrea]:
    async def record(request: httpx.Request) -> None:
        sent.append((request.method, request.url.path))
        if request.url.path.startswith("/_fake/"):
            file_requests.append(request)

    http = httpx.AsyncClient(transport=fake.transport(), event_hooks={"request": [record]})
    client = AsyncKrea(
        "test-key",
        base_url=BASE_URL,
        http_client=http,
        allow_insecure_http=True,
        jobs=JobSettings(poll_interval=0.005),
    )
    async with http, client:
        yield client


def slow_jobs(fake: FakeKrea, prompt: str) -> None:
    """Jobs whose prompt contains ``prompt`` stay pending for an hour."""
    fake.script("completed", prompt=prompt, seconds=3600, times=None)


# --------------------------------------------------------------------------- jobs


async def _make_jobs(krea: AsyncKrea, n: int, prompt: str = "job") -> list[Job]:
    return [await krea.image("bfl/flux-1-dev", {"prompt": f"{prompt} {i}"}) for i in range(n)]


async def test_jobs_list_follows_the_cursor_newest_first(
    krea: AsyncKrea, sent: list[tuple[str, str]]
) -> None:
    made = await _make_jobs(krea, 7)
    sent.clear()
    found = [job async for job in krea.jobs.list(limit=3)]
    assert [j.job_id for j in found] == [j.job_id for j in reversed(made)]
    assert len({j.job_id for j in found}) == 7
    created = [j.created_at for j in found]
    assert all(c is not None for c in created)
    assert created == sorted(created, reverse=True)  # type: ignore[type-var]
    assert sent == [("GET", "/jobs")] * 3  # pages of 3, 3, 1

    page = await krea.jobs.list_page(limit=3)
    assert [j.job_id for j in page.items] == [j.job_id for j in found[:3]]
    assert page.next_cursor is not None
    older = await krea.jobs.list_page(limit=3, cursor=page.next_cursor)
    assert [j.job_id for j in older.items] == [j.job_id for j in found[3:6]]
    last = await krea.jobs.list_page(limit=3, cursor=older.next_cursor)
    assert [j.job_id for j in last.items] == [found[6].job_id]
    assert last.next_cursor is None
    # A datetime cursor works too: what was created strictly before it.
    assert found[2].created_at is not None
    by_time = await krea.jobs.list_page(limit=10, cursor=found[2].created_at)
    assert [j.job_id for j in by_time.items] == [j.job_id for j in found[3:]]


async def test_jobs_list_limit_out_of_range(krea: AsyncKrea, sent: list[tuple[str, str]]) -> None:
    for limit in (0, 1001):
        with pytest.raises(ValueError, match="limit"):
            await krea.jobs.list_page(limit=limit)
        with pytest.raises(ValueError, match="limit"):
            _ = [j async for j in krea.jobs.list(limit=limit)]
    assert sent == []


async def test_jobs_list_status_and_types_filters(krea: AsyncKrea, fake: FakeKrea) -> None:
    slow_jobs(fake, "slow")
    done = await krea.subscribe("image/bfl/flux-1-dev", input={"prompt": "fast one"})
    pending = await krea.image("bfl/flux-1-dev", {"prompt": "slow one"})
    video = await krea.video(
        "kling/kling-2.1", {"prompt": "slow video", "start_image": "https://example.com/a.png"}
    )
    await krea.jobs.cancel(video.job_id)

    completed = [j async for j in krea.jobs.list(status=JobStatus.COMPLETED)]
    assert [j.job_id for j in completed] == [done.request_id]
    queued = [j async for j in krea.jobs.list(status="queued")]
    assert [j.job_id for j in queued] == [pending.job_id]
    cancelled = [j async for j in krea.jobs.list(status="cancelled")]
    assert [j.job_id for j in cancelled] == [video.job_id]

    videos = [j async for j in krea.jobs.list(types=["externalVideo"])]
    assert [j.job_id for j in videos] == [video.job_id]
    assert all(j.type == "externalVideo" for j in videos)
    images = [j async for j in krea.jobs.list(types=["externalImage", "loraTraining"])]
    assert {j.job_id for j in images} == {done.request_id, pending.job_id}
    assert [j async for j in krea.jobs.list(types=["nodeApp"])] == []
    page = await krea.jobs.list_page(status="queued", types=["externalImage"])
    assert [j.job_id for j in page.items] == [pending.job_id]
    # One type as a plain string is that type, not its letters ("e,x,t,...").
    one = [j async for j in krea.jobs.list(types="externalVideo")]
    assert [j.job_id for j in one] == [video.job_id]

    with pytest.raises(BadRequestError, match="status"):
        await krea.jobs.list_page(status="lost")


async def test_jobs_list_created_after_stops_early(
    krea: AsyncKrea, sent: list[tuple[str, str]]
) -> None:
    made = await _make_jobs(krea, 5)
    threshold = made[2].created_at
    assert threshold is not None
    sent.clear()
    found = [j async for j in krea.jobs.list(created_after=threshold, limit=2)]
    assert [j.job_id for j in found] == [j.job_id for j in reversed(made[2:])]
    # It stopped at the first older job: the fourth page was never asked for.
    assert sent == [("GET", "/jobs")] * 2
    later = threshold + dt.timedelta(days=1)
    assert [j async for j in krea.jobs.list(created_after=later)] == []
    # A naive datetime is taken as UTC, as for ``cursor``, not a TypeError.
    naive = threshold.astimezone(dt.timezone.utc).replace(tzinfo=None)
    found = [j async for j in krea.jobs.list(created_after=naive)]
    assert [j.job_id for j in found] == [j.job_id for j in reversed(made[2:])]


async def test_jobs_list_follows_a_camel_case_next_cursor(
    krea: AsyncKrea, fake: FakeKrea, sent: list[tuple[str, str]]
) -> None:
    made = await _make_jobs(krea, 4)
    newest = [fake.job(j.job_id) for j in reversed(made[2:])]
    # One docs example spells the cursor "nextCursor": the first page uses it.
    first_page = {"items": newest, "nextCursor": newest[-1]["created_at"]}
    rule = fake.inject(malformed(first_page), on="list", path="/jobs", times=1)
    sent.clear()
    found = [j async for j in krea.jobs.list(limit=2)]
    assert rule.hits == 1
    assert [j.job_id for j in found] == [j.job_id for j in reversed(made)]
    assert sent == [("GET", "/jobs")] * 2


async def test_jobs_list_stops_on_a_repeated_cursor(krea: AsyncKrea, fake: FakeKrea) -> None:
    made = await _make_jobs(krea, 1)
    page = {"items": [fake.job(made[0].job_id)], "next_cursor": "2026-01-01T00:00:00Z"}
    rule = fake.inject(malformed(page), on="list", path="/jobs", times=5)
    found = [j async for j in krea.jobs.list()]
    # A server answering the same cursor forever does not loop forever.
    assert {j.job_id for j in found} == {made[0].job_id}
    assert rule.hits == 2


# --------------------------------------------------------------------------- assets


async def test_upload_from_path_bytes_and_file_object(krea: AsyncKrea, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(PNG)
    from_path = await krea.assets.upload(path, description="from a path")
    assert isinstance(from_path, Asset)
    assert from_path.mime_type == "image/png"
    assert from_path.description == "from a path"
    assert from_path.size_bytes == len(PNG)
    assert (from_path.width, from_path.height) == (16, 8)
    assert from_path.metadata == {"filename": "photo.png"}
    assert from_path.uploaded_at is not None
    assert from_path.uploaded_at.tzinfo is not None

    from_bytes = await krea.assets.upload(PNG)  # sniffed: image/png, named upload.png
    assert from_bytes.mime_type == "image/png"
    assert from_bytes.description is None
    assert from_bytes.metadata == {"filename": "upload.png"}

    with path.open("rb") as fh:
        from_file = await krea.assets.upload(fh, description="from a file object")
    assert from_file.mime_type == "image/png"
    assert from_file.metadata == {"filename": "photo.png"}

    jpeg = await krea.assets.upload(io.BytesIO(JPEG), filename="cat.jpg")
    assert jpeg.mime_type == "image/jpeg"
    assert jpeg.metadata == {"filename": "cat.jpg"}

    # The asset's URL serves the bytes uploaded.
    out = await krea.download(from_path.image_url, tmp_path / "back.png")
    assert out.read_bytes() == PNG


async def test_upload_over_75_mb_is_refused_before_any_request(
    krea: AsyncKrea, tmp_path: Path, sent: list[tuple[str, str]]
) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(MAX_ASSET_BYTES + 1024 * 1024)  # sparse: 76 MB, no disk used
    with pytest.raises(AssetTooLargeError) as info:
        await krea.assets.upload(big)
    assert info.value.size == MAX_ASSET_BYTES + 1024 * 1024
    assert info.value.limit == MAX_ASSET_BYTES == 75 * 1024 * 1024
    assert isinstance(info.value, ValueError)

    class Huge(io.BytesIO):
        """A file object claiming 76 MB from ``tell``/``seek``; reading it is a bug."""

        def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
            return 76 * 1024 * 1024 if whence == os.SEEK_END else 0

        def tell(self) -> int:
            return 0

        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("read before the size check")

    with pytest.raises(AssetTooLargeError):
        await krea.assets.upload(Huge(b"x"))
    assert sent == []
    assert (await krea.assets.list_page()).items == ()


async def test_upload_rejected_type(krea: AsyncKrea) -> None:
    with pytest.raises(BadRequestError, match="file type"):
        await krea.assets.upload(b"just some text", filename="notes.txt")


async def test_assets_list_get_delete(krea: AsyncKrea, sent: list[tuple[str, str]]) -> None:
    made = [await krea.assets.upload(PNG, description=f"n{i}") for i in range(5)]
    listed = [a async for a in krea.assets.list(limit=2)]
    assert [a.id for a in listed] == [a.id for a in reversed(made)]
    page = await krea.assets.list_page(limit=2)
    assert len(page.items) == 2
    assert page.next_cursor is not None

    got = await krea.assets.get(made[0].id)
    assert got.id == made[0].id
    assert got.description == "n0"
    assert got.image_url == made[0].image_url

    sent.clear()
    assert await krea.assets.delete(made[0].id) is None
    assert sent == [("DELETE", f"/assets/{made[0].id}")]
    with pytest.raises(NotFoundError) as info:
        await krea.assets.get(made[0].id)
    assert info.value.status_code == 404
    with pytest.raises(NotFoundError):
        await krea.assets.delete(made[0].id)
    assert made[0].id not in {a.id async for a in krea.assets.list()}
    with pytest.raises(ValueError, match="asset_id"):
        await krea.assets.get(" ")


async def test_delete_whose_answer_was_lost_is_not_a_404(krea: AsyncKrea, fake: FakeKrea) -> None:
    asset = await krea.assets.upload(PNG)
    fake.inject(drop_after(), method="DELETE", path="/assets/", times=1)
    await krea.assets.delete(asset.id)
    with pytest.raises(NotFoundError):
        await krea.assets.get(asset.id)
    with pytest.raises(NotFoundError):  # without a lost answer, a 404 is still an error
        await krea.assets.delete(asset.id)


async def test_assets_are_per_account(fake: FakeKrea, anyio_backend: str) -> None:
    async with fake.client(api_key="alice") as alice, fake.client(api_key="bob") as bob:
        mine = await alice.assets.upload(PNG)
        with pytest.raises(NotFoundError):
            await bob.assets.get(mine.id)
        assert (await bob.assets.list_page()).items == ()


# --------------------------------------------------------------------------- README flows


async def test_readme_upload_then_image_to_image(
    krea: AsyncKrea, fake: FakeKrea, tmp_path: Path
) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    asset = await krea.assets.upload(photo, description="my photo")
    result = await krea.subscribe(
        "image/google/nano-banana-pro",
        input={"image_urls": [asset.image_url], "prompt": "make it a watercolor"},
    )
    assert result.job.status is JobStatus.COMPLETED
    assert len(result.data.urls) == 1
    [entry] = fake.ledger
    assert entry.path == "/generate/image/google/nano-banana-pro"
    assert entry.body["image_urls"] == [asset.image_url]
    [saved] = await result.save(tmp_path / "out")
    assert png_size(saved.read_bytes())[0] > 0


async def test_readme_lora_training_then_generation(
    krea: AsyncKrea, fake: FakeKrea, tmp_path: Path
) -> None:
    uploaded = [await krea.assets.upload(PNG, description=f"dog {i}") for i in range(3)]
    job = await krea.styles.train(
        name="my-dog", urls=[a.image_url for a in uploaded], trigger_word="sks dog"
    )
    assert job.type == "loraTraining"
    assert not job.is_terminal
    done = await krea.jobs.wait(job.job_id, deadline=3 * 3600)
    style_id = done.result.style_id
    assert style_id
    assert done.result.urls == ()

    result = await krea.subscribe(
        "image/bfl/flux-1-dev",
        input={"prompt": "my dog on the moon", "styles": [{"id": style_id, "strength": 1.0}]},
    )
    assert result.data.urls
    assert fake.ledger[-1].body["styles"] == [{"id": style_id, "strength": 1.0}]

    style = await krea.styles.get(style_id)
    assert style.id == style_id
    assert style.title == "my-dog"
    assert style.prompt == "sks dog"
    assert style.models == ("flux_dev",)
    assert style.public is False
    assert style.owner is not None

    updated = await krea.styles.update(style_id, title="Rex", public=True)
    assert (updated.title, updated.public) == ("Rex", True)
    assert (await krea.styles.get(style_id)).title == "Rex"

    first = await krea.styles.share_link(style_id)
    again = await krea.styles.share_link(style_id)
    assert first.is_new
    assert not again.is_new
    assert again.share_link == first.share_link

    shared = await krea.styles.share_with_workspace(style_id)
    assert shared.success
    assert shared.style_id == style_id
    assert shared.workspace is not None
    assert shared.workspace.is_default
    assert await krea.styles.unshare_from_workspace(style_id) is None
    with pytest.raises(NotFoundError):  # no longer shared
        await krea.styles.unshare_from_workspace(style_id)
    # The styles resource owns the "404 after a lost DELETE answer is done" rule too.
    await krea.styles.share_with_workspace(style_id)
    fake.inject(drop_after(), method="DELETE", path=f"/styles/{style_id}/share", times=1)
    assert await krea.styles.unshare_from_workspace(style_id) is None

    mine = [s.id async for s in krea.styles.list(filter="user")]
    assert mine == [style_id]
    everything = {s.id async for s in krea.styles.list(limit=1)}
    assert {style_id, OFFICIAL_STYLE, COMMUNITY_STYLE} <= everything
    official = [s async for s in krea.styles.list(filter="krea")]
    assert [s.id for s in official] == [OFFICIAL_STYLE]
    assert official[0].owner is None
    by_model = {s.id async for s in krea.styles.list(model="flux_schnell")}
    assert by_model == {OFFICIAL_STYLE}
    page = await krea.styles.list_page(ids=[style_id, COMMUNITY_STYLE], liked=False)
    assert {s.id for s in page.items} == {style_id, COMMUNITY_STYLE}
    page = await krea.styles.list_page(ids=style_id)  # one id as a plain string
    assert [s.id for s in page.items] == [style_id]
    assert (await krea.styles.list_page(liked=True)).items == ()


async def test_styles_errors(krea: AsyncKrea, sent: list[tuple[str, str]]) -> None:
    with pytest.raises(PermissionDeniedError) as denied:
        await krea.styles.share_with_workspace(COMMUNITY_STYLE)
    assert denied.value.status_code == 403
    with pytest.raises(NotFoundError):  # someone else's style cannot be changed
        await krea.styles.update(COMMUNITY_STYLE, title="mine now")
    with pytest.raises(NotFoundError):
        await krea.styles.get(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await krea.styles.share_link(OFFICIAL_STYLE)
    assert (await krea.styles.get(COMMUNITY_STYLE)).title != "mine now"

    sent.clear()
    with pytest.raises(ValueError, match="at least one"):
        await krea.styles.update(OFFICIAL_STYLE)
    with pytest.raises(ValueError, match="Default"):
        await krea.styles.train(name="x", urls=["https://example.com/a.png"], model="qwen",
                                type="Default")  # fmt: skip
    with pytest.raises(ValueError, match="urls"):
        await krea.styles.train(name="x", urls="https://example.com/a.png")
    with pytest.raises(ValueError, match="max_train_steps"):
        await krea.styles.train(name="x", urls=["https://example.com/a.png"], max_train_steps=0)
    assert sent == []


# --------------------------------------------------------------------------- node apps


async def test_node_app_get_and_execute(krea: AsyncKrea, fake: FakeKrea) -> None:
    app = await krea.node_apps.get(SAMPLE_NODE_APP_ID)
    assert app.id == SAMPLE_NODE_APP_ID
    assert app.name
    assert app.input_openapi_schema is not None
    assert app.input_openapi_schema["required"] == ["prompt"]
    assert app.output_openapi_schema is not None
    assert app.example_outputs
    assert app.example_outputs[0].startswith(BASE_URL)

    jobs = await krea.node_apps.execute(
        SAMPLE_NODE_APP_ID, {"prompt": "a perfume bottle", "num_images": 3}
    )
    assert isinstance(jobs, tuple)
    [job] = jobs
    assert job.type == "nodeApp"
    done = await krea.jobs.wait(job.job_id)
    assert len(done.result.urls) == 3
    assert fake.ledger[-1].path == f"/node-apps/{SAMPLE_NODE_APP_ID}/execute"

    with pytest.raises(BadRequestError, match="prompt"):
        await krea.node_apps.execute(SAMPLE_NODE_APP_ID, {"num_images": 1})
    with pytest.raises(NotFoundError):
        await krea.node_apps.get(UNKNOWN_ID)
    with pytest.raises(NotFoundError):
        await krea.node_apps.execute(UNKNOWN_ID, {"prompt": "x"})


async def test_node_app_answering_several_jobs(krea: AsyncKrea, fake: FakeKrea) -> None:
    # The fake answers one job per run; Krea may answer several (the answer is an
    # array). Two real runs, then an answer listing both, served by the fake.
    runs = [
        (await krea.node_apps.execute(SAMPLE_NODE_APP_ID, {"prompt": f"shot {i}"}))[0]
        for i in range(2)
    ]
    answer = [fake.job(j.job_id) for j in runs]
    fake.inject(malformed(answer), on="submit", path="/node-apps/", times=1)
    jobs = await krea.node_apps.execute(SAMPLE_NODE_APP_ID, {"prompt": "both"})
    assert [j.job_id for j in jobs] == [j.job_id for j in runs]
    finished = [await krea.jobs.wait(j.job_id) for j in jobs]
    assert all(j.status is JobStatus.COMPLETED for j in finished)
    assert all(len(j.urls) == 1 for j in finished)


# --------------------------------------------------------------------------- models


async def test_models_from_the_bundled_spec(krea: AsyncKrea, sent: list[tuple[str, str]]) -> None:
    everything = await krea.models.list()
    assert len(everything) == 61
    per_category = {c: await krea.models.list(c) for c in ("image", "video", "enhance")}
    assert len(per_category["image"]) == 25
    assert sum(len(v) for v in per_category.values()) == 61
    for category, models in per_category.items():
        assert models
        assert all(m.category == category for m in models)
        assert all(m.endpoint == f"{category}/{m.id}" for m in models)
    schema = await krea.models.get_schema("bfl/flux-1-dev")
    assert "prompt" in schema["required"]
    assert "prompt" in schema["properties"]
    info = await krea.models.get("image/bfl/flux-1-dev")
    assert info == await krea.models.get("/generate/image/bfl/flux-1-dev")
    assert info.path == "/generate/image/bfl/flux-1-dev"
    assert info.average_seconds == 7
    with pytest.raises(KeyError, match="acme/nope"):
        await krea.models.get_schema("acme/nope")
    with pytest.raises(ValueError, match="category"):
        await krea.models.list("audio")  # type: ignore[arg-type]
    assert sent == []  # returned from the bundled spec


# --------------------------------------------------------------------------- inputs


async def test_deprecated_camel_case_alias_is_rewritten(krea: AsyncKrea, fake: FakeKrea) -> None:
    with pytest.warns(DeprecationWarning, match="imageUrls") as record:
        job = await krea.image(
            "google/nano-banana-pro",
            {"prompt": "make it a watercolor", "imageUrls": ["https://example.com/a.png"]},
        )
    assert record[0].filename == __file__  # points at the caller
    [entry] = fake.ledger
    assert entry.job_id == job.job_id
    assert entry.body == {
        "prompt": "make it a watercolor",
        "image_urls": ["https://example.com/a.png"],
    }
    # Sent as is (krea.generate skips nothing), the fake refuses the old key like Krea.
    with pytest.raises(BadRequestError, match="imageUrls"):
        await krea.generate(
            "image/krea/krea-2/medium",
            {"prompt": "x", "aspect_ratio": "1:1", "resolution": "1K", "imageUrls": ["u"]},
        )


async def test_invalid_typed_input_raises_before_any_request(
    krea: AsyncKrea, fake: FakeKrea, sent: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValueError, match="steps"):
        await krea.image("bfl/flux-1-dev", BflFlux1DevInput(prompt="a fox", steps=500))
    with pytest.raises(ValueError, match="width"):
        await krea.subscribe("image/bfl/flux-1-dev", input=BflFlux1DevInput(prompt="x", width=1))
    medium: Any = KreaKrea2MediumInput(prompt="x", aspect_ratio="1:1")
    with pytest.raises(TypeError, match="krea-2/medium"):  # another endpoint's input
        await krea.image("bfl/flux-1-dev", medium)
    assert sent == []
    assert fake.ledger == []
    job = await krea.image("bfl/flux-1-dev", BflFlux1DevInput(prompt="a fox", steps=28))
    assert fake.ledger[0].body == {"prompt": "a fox", "steps": 28}
    assert fake.ledger[0].job_id == job.job_id


# --------------------------------------------------------------------------- data URIs


def test_data_uri(tmp_path: Path) -> None:
    uri = files.data_uri(PNG)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == PNG
    assert files.data_uri(JPEG).startswith("data:image/jpeg;base64,")
    webp = tmp_path / "photo.webp"
    webp.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 16)
    assert files.data_uri(webp).startswith("data:image/webp;base64,")
    unknown = tmp_path / "photo.jpg"  # no known signature: the extension decides
    unknown.write_bytes(b"\x00\x01\x02")
    assert files.data_uri(unknown).startswith("data:image/jpeg;base64,")
    assert files.data_uri(b"\x00\x01", media_type="image/heic").startswith("data:image/heic;")
    assert files.data_uri(io.BytesIO(PNG)) == uri


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
        (b"\x00\x00\x00\x18ftypqt  ", "video/quicktime"),
        (b"\x00\x00\x00\x18ftypheic", "image/heic"),
        (b"\x00\x00\x00\x1cftypavif", "image/avif"),  # an image, not MP4 video
        (b"\x00\x00\x00\x1cftypM4A ", "audio/mp4"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"glTF\x02\x00\x00\x00", "model/gltf-binary"),
        (b"ID3\x04", "audio/mpeg"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
    ],
)
def test_media_type_sniffing(head: bytes, expected: str) -> None:
    assert files.media_type(head + b"\x00" * 16) == expected


def test_data_uri_limits(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        files.data_uri(PNG, max_bytes=len(PNG) - 1)
    assert files.data_uri(PNG, max_bytes=len(PNG)).startswith("data:image/png")
    big = tmp_path / "big.png"
    with big.open("wb") as fh:
        fh.truncate(files.DATA_URI_MAX_BYTES + 1)
    with pytest.raises(ValueError, match=r"krea\.assets\.upload"):
        files.data_uri(big)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        files.data_uri(empty)
    with pytest.raises(ValueError, match="empty"):
        files.data_uri(b"")
    with pytest.raises(TypeError):
        files.data_uri(io.StringIO("text"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- downloads


async def _image_url(krea: AsyncKrea, prompt: str = "a red fox") -> str:
    result = await krea.subscribe(
        "image/bfl/flux-1-dev", input={"prompt": prompt, "width": 512, "height": 512}
    )
    return result.data.urls[0]


async def test_download_to_a_file_and_to_a_directory(
    krea: AsyncKrea, tmp_path: Path, file_requests: list[httpx.Request]
) -> None:
    url = await _image_url(krea)
    out = await krea.download(url, tmp_path / "fox.png")
    assert out == tmp_path / "fox.png"
    assert png_size(out.read_bytes()) == (512, 512)
    into_dir = await krea.download(url, tmp_path)
    assert into_dir == tmp_path / "0.png"  # named after the URL
    assert into_dir.read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob("*.part"))
    # Result files are fetched without the API key.
    assert len(file_requests) == 2
    assert all("authorization" not in r.headers for r in file_requests)


async def test_failed_download_leaves_nothing_behind(
    krea: AsyncKrea, fake: FakeKrea, tmp_path: Path
) -> None:
    url = await _image_url(krea)
    target = tmp_path / "fox.png"
    fake.inject(drop_after(), on="download", times=1)
    with pytest.raises(APIConnectionError):
        await krea.download(url, target)
    assert list(tmp_path.iterdir()) == []

    # A JSON body (what the fake sends for a malformed answer) is not a media file.
    fake.inject(malformed(b"<html><body>Access denied</body></html>"), on="download", times=1)
    with pytest.raises(DownloadError, match="not a media file") as info:
        await krea.download(url, target)
    assert info.value.url == url
    assert list(tmp_path.iterdir()) == []

    # An existing file is not touched by a failed download.
    target.write_bytes(b"previous")
    fake.inject(malformed(b"{}"), on="download", times=1)
    with pytest.raises(DownloadError):
        await krea.download(url, target)
    assert target.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [target]
    # A 404 for a file that does not exist.
    with pytest.raises(DownloadError, match="HTTP 404") as missing:
        await krea.download(url.replace("/0.png", "/7.png"), tmp_path / "x.png")
    assert missing.value.status_code == 404
    assert list(tmp_path.iterdir()) == [target]


async def test_download_interrupted_mid_body_over_loopback(
    fake: FakeKrea, tmp_path: Path, anyio_backend: str
) -> None:
    with fake.serve_in_thread() as url:
        async with AsyncKrea("k", base_url=url, jobs=JobSettings(poll_interval=0.005)) as krea:
            result_url = await _image_url(krea)
            # Headers and half of the body are sent, then the connection drops.
            fake.inject(drop_after(), on="download", times=1)
            with pytest.raises(APIConnectionError, match="interrupted"):
                await krea.download(result_url, tmp_path / "fox.png")
            assert list(tmp_path.iterdir()) == []
            out = await krea.download(result_url, tmp_path / "fox.png")
            assert png_size(out.read_bytes()) == (512, 512)


def _mock_http(routes: dict[str, httpx.Response], seen: list[str]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        assert "authorization" not in request.headers
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_download_redirects(tmp_path: Path) -> None:
    seen: list[str] = []
    png_answer = httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
    routes = {
        "https://cdn.example/evil": httpx.Response(
            302, headers={"location": "http://evil.example/x.png"}
        ),
        "https://cdn.example/good": httpx.Response(
            302, headers={"location": "https://cdn2.example/x.png"}
        ),
        "https://cdn.example/relative": httpx.Response(302, headers={"location": "/x.png"}),
        "https://cdn.example/loop": httpx.Response(302, headers={"location": "/loop"}),
        "https://cdn2.example/x.png": png_answer,
        "https://cdn.example/x.png": png_answer,
        "http://evil.example/x.png": png_answer,
    }
    async with _mock_http(routes, seen) as http:
        with pytest.raises(DownloadError, match="non-HTTPS") as info:
            await files.download("https://cdn.example/evil", tmp_path / "a.png", http_client=http)
        assert info.value.url == "https://cdn.example/evil"
        assert "http://evil.example/x.png" not in seen
        assert list(tmp_path.iterdir()) == []

        out = await files.download("https://cdn.example/good", tmp_path / "b.png", http_client=http)
        assert out.read_bytes() == PNG
        rel = await files.download("https://cdn.example/relative", tmp_path, http_client=http)
        assert rel == tmp_path / "x.png"
        with pytest.raises(DownloadError, match="redirects"):
            await files.download("https://cdn.example/loop", tmp_path / "c.png", http_client=http)
        with pytest.raises(DownloadError, match="non-HTTPS"):
            await files.download("http://evil.example/x.png", tmp_path / "d.png", http_client=http)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "x.png"]


async def test_download_refuses_html_served_as_200(tmp_path: Path) -> None:
    seen: list[str] = []
    routes = {
        "https://cdn.example/x.png": httpx.Response(
            200, content=b"<html>login</html>", headers={"content-type": "text/html"}
        ),
        "https://cdn.example/none.png": httpx.Response(200, content=PNG),
    }
    async with _mock_http(routes, seen) as http:
        with pytest.raises(DownloadError, match="text/html"):
            await files.download("https://cdn.example/x.png", tmp_path / "x.png", http_client=http)
        with pytest.raises(DownloadError, match="none"):
            await files.download(
                "https://cdn.example/none.png", tmp_path / "n.png", http_client=http
            )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
async def test_downloaded_file_mode_follows_the_umask(
    krea: AsyncKrea, tmp_path: Path, umask: int
) -> None:
    url = await _image_url(krea)
    old = os.umask(umask)
    try:
        out = await krea.download(url, tmp_path / "fox.png")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode == 0o666 & ~umask
    assert mode != 0o600


async def test_download_never_changes_the_process_umask(
    krea: AsyncKrea, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The umask is process-wide: setting it to 0, even for an instant, would let a
    # file another thread creates meanwhile be world-writable.
    url = await _image_url(krea)

    def no_umask(mask: int) -> int:
        raise AssertionError(f"os.umask({mask:#o}) called during a download")

    monkeypatch.setattr(os, "umask", no_umask)
    out = await krea.download(url, tmp_path / "fox.png")
    assert png_size(out.read_bytes()) == (512, 512)


# --------------------------------------------------------------------------- save


async def test_subscribe_result_save(krea: AsyncKrea, tmp_path: Path) -> None:
    result = await krea.subscribe(
        "image/bfl/flux-1-dev", input={"prompt": "save me", "width": 640, "height": 512}
    )
    assert isinstance(result, SubscribeResult)
    into = tmp_path / "new-dir"  # created
    [saved] = await result.save(into)
    assert saved == into / f"{result.request_id}.png"
    assert png_size(saved.read_bytes()) == (640, 512)
    single = tmp_path / "fox.png"
    assert await result.save(single) == [single]
    assert single.read_bytes() == saved.read_bytes()
    assert not list(tmp_path.rglob("*.part"))

    video = await krea.subscribe(
        "video/kling/kling-2.1",
        input={"prompt": "a slow pan", "start_image": "https://example.com/a.png"},
    )
    [clip] = await video.save(tmp_path / "clips")
    assert clip.suffix == ".mp4"
    data = clip.read_bytes()
    assert data[4:8] == b"ftyp"
    assert files.media_type(data) == "video/mp4"
    [one] = await video.save(tmp_path / "clip.mp4")
    assert one.read_bytes() == data


async def test_save_several_urls_over_loopback(
    fake: FakeKrea, tmp_path: Path, anyio_backend: str
) -> None:
    with fake.serve_in_thread() as url:
        async with AsyncKrea("k", base_url=url, jobs=JobSettings(poll_interval=0.005)) as krea:
            [job] = await krea.node_apps.execute(
                SAMPLE_NODE_APP_ID, {"prompt": "three shots", "num_images": 3}
            )
            done = await krea.jobs.wait(job.job_id)
        # A result built by hand downloads with its own client (loopback http is allowed).
        result = SubscribeResult(data=done.result, job=done, request_id=done.job_id)
        saved = await result.save(tmp_path)
    assert [p.name for p in saved] == [f"{done.job_id}-{i}.png" for i in range(3)]
    assert all(png_size(p.read_bytes()) == (1024, 1024) for p in saved)
    with pytest.raises(ValueError, match="no result URLs"):
        await SubscribeResult(data=job.result, job=job, request_id=job.job_id).save(tmp_path)
