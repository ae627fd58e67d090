"""The model catalog: ``krea.models.refresh()`` (Krea's live OpenAPI document), "did you
mean" on an unknown model, deprecation headers as one warning per model, and the submit
answer without a ``status`` (docs.krea.ai/developers/deprecations; Krea's API reference).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from krea_async import (
    APIResponseValidationError,
    AsyncKrea,
    EndpointNotFoundError,
    JobStatus,
    ModelDeprecationWarning,
    ModelNotFoundError,
)
from krea_async._cli import cli
from krea_async._spec import bundle, lifecycle

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.anyio

NEW_MODEL = "/generate/video/acme/rocket-1"
JOB = {
    "job_id": "2f1e9c1e-5b7a-4c2e-9a51-0c4d6f3e8a10",
    "status": "queued",
    "created_at": "2026-12-05T10:00:00Z",
    "completed_at": None,
    "result": None,
}


def _document(extra_path: str = NEW_MODEL) -> dict[str, Any]:
    """The bundled spec plus one model it lacks, as a live document would list it."""
    doc = json.loads(json.dumps(bundle.load_spec()))
    doc["paths"][extra_path] = {
        "post": {
            "summary": "Rocket",
            "description": "A model newer than the SDK.\n| Average Completion Time | ~40 seconds |",
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"prompt": {"type": "string"}},
                            "required": ["prompt"],
                        }
                    }
                }
            },
        }
    }
    return doc


@pytest.fixture(autouse=True)
def _bundled_catalog_after() -> Iterator[None]:
    yield
    bundle.use_bundled()
    lifecycle._warned.clear()


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> AsyncKrea:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AsyncKrea("sk-test-0123456789", base_url="https://api.krea.test", http_client=http)


async def test_refresh_makes_models_newer_than_the_sdk_known() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json=_document())

    async with _client(handler) as krea:
        with pytest.raises(ModelNotFoundError):
            await krea.models.get("acme/rocket-1")
        before = len(await krea.models.list())
        models = await krea.models.refresh()
        assert seen == ["GET /openapi.json"]
        assert len(models) == before + 1
        info = await krea.models.get("acme/rocket-1")
        assert (info.endpoint, info.category, info.average_seconds) == (
            "video/acme/rocket-1",
            "video",
            40.0,
        )
        assert (await krea.models.get_schema("video/acme/rocket-1"))["required"] == ["prompt"]
        assert info in await krea.models.list("video")
    # the input rules read the same catalog
    assert bundle.model_info("video/acme/rocket-1") == info


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"openapi": "3.1.0"},
        {"paths": []},
        {"paths": {"/jobs": {"get": {}}}},  # no generation model at all
        {"paths": {"/generate/image/x/y": {"post": {"requestBody": "nope"}}}},
    ],
)
async def test_a_document_the_sdk_cannot_read_keeps_the_catalog(answer: object) -> None:
    async with _client(lambda _: httpx.Response(200, json=answer)) as krea:
        with pytest.raises(APIResponseValidationError, match=r"openapi\.json"):
            await krea.models.refresh()
        assert len(await krea.models.list()) == len(
            bundle._Catalog.of(bundle.load_spec()).endpoints
        )
        assert await krea.models.get("bfl/flux-1-dev")


async def test_one_malformed_model_of_a_live_document_hides_only_itself() -> None:
    doc = _document()
    doc["paths"]["/generate/image/broken/one"] = {"post": {"requestBody": {"content": {}}}}
    async with _client(lambda _: httpx.Response(200, json=doc)) as krea:
        ids = {m.id for m in await krea.models.refresh()}
    assert "acme/rocket-1" in ids
    assert "broken/one" not in ids


async def test_an_unknown_model_suggests_the_closest_names() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "Not found"})

    async with _client(handler) as krea:
        with pytest.raises(EndpointNotFoundError) as info:
            await krea.generate("image/bfl/flux-1-devv", {"prompt": "a fox"})
        assert info.value.suggestions[0] == "image/bfl/flux-1-dev"
        assert "did you mean image/bfl/flux-1-dev" in str(info.value)
        with pytest.raises(ModelNotFoundError) as model_info:
            await krea.models.get("bfl/flux1-dev")
        assert "image/bfl/flux-1-dev" in model_info.value.suggestions
        assert "did you mean" in str(model_info.value)
        with pytest.raises(EndpointNotFoundError) as far:
            await krea.generate("image/zzz/qqqqqqqq", {"prompt": "a fox"})
        assert far.value.suggestions == ()
        assert "did you mean" not in str(far.value)


async def test_a_model_the_catalog_lacks_is_still_submitted() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=JOB)

    async with _client(handler) as krea:
        job = await krea.generate("video/acme/rocket-1", {"prompt": "a fox"})
    assert seen == [NEW_MODEL]
    assert job.status is JobStatus.QUEUED


DEPRECATED = {
    "Deprecation": "true",
    "Sunset": "Mon, 27 Apr 2026 00:00:00 GMT",
    "Link": '<https://docs.krea.ai/developers/deprecations#seedance>; rel="deprecation"; '
    'type="text/html"',
}


async def test_deprecation_headers_warn_once_per_model_per_process() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = DEPRECATED if "flux-1-dev" in request.url.path else {}
        return httpx.Response(200, json=JOB, headers=headers)

    async with _client(handler) as krea:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                await krea.image("bfl/flux-1-dev", {"prompt": "a fox"})
            await krea.image("bfl/flux-1-schnell", {"prompt": "a fox"})
    deprecations = [w for w in caught if issubclass(w.category, ModelDeprecationWarning)]
    assert len(deprecations) == 1
    text = str(deprecations[0].message)
    assert "image/bfl/flux-1-dev" in text
    assert "2026-04-27" in text
    assert "https://docs.krea.ai/developers/deprecations#seedance" in text
    assert deprecations[0].filename == __file__  # points at the caller's line


async def test_hostile_deprecation_headers_reach_the_warning_as_checked_values_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=JOB,
            headers={
                "Deprecation": "true",
                "Sunset": "\x1b]52;c;cm0gLXJmIH4=\x07 tomorrow",
                "Link": '<https://evil.example/\x1b[2J>; rel="deprecation"',
            },
        )

    async with _client(handler) as krea:
        with pytest.warns(ModelDeprecationWarning) as caught:
            await krea.image("bfl/flux-1-dev", {"prompt": "a fox"})
    text = str(caught[0].message)
    assert "\x1b" not in text
    assert "evil.example" not in text
    assert "docs.krea.ai/developers/deprecations" in text


async def test_a_submit_answer_without_a_status_is_a_pending_job() -> None:
    body = {k: v for k, v in JOB.items() if k != "status"}
    async with _client(lambda _: httpx.Response(200, json=body)) as krea:
        job = await krea.image("bfl/flux-1-dev", {"prompt": "a fox"})
    assert job.job_id == JOB["job_id"]
    assert job.status is JobStatus.QUEUED
    assert not job.is_terminal


def test_cli_models_refresh_saves_a_document_the_generator_reads(tmp_path: Path) -> None:
    """``krea-async models refresh --save FILE`` on the embedded fake (which serves its
    spec at ``/openapi.json``, as Krea does), then the code generator run from FILE."""
    saved = tmp_path / "openapi.json"
    result = CliRunner().invoke(
        cli,
        ["models", "refresh", "--save", str(saved)],
        env={"KREA_API_KEY": None, "KREA_BASE_URL": None},
    )
    assert result.exit_code == 0, result.output
    count = len(bundle.generation_endpoints())
    assert f"{count} models in Krea's live list ({count} bundled)" in result.output
    assert "new since this version" not in result.output
    assert (
        json.loads(saved.read_text("utf-8"))["paths"].keys() == bundle.load_spec()["paths"].keys()
    )
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "generate_types.py"),
            "--check",
            "--spec",
            str(saved),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


def test_the_generator_sees_a_model_the_bundled_spec_lacks(tmp_path: Path) -> None:
    newer = tmp_path / "openapi.json"
    newer.write_text(json.dumps(_document()), "utf-8")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "generate_types.py"),
            "--check",
            "--spec",
            str(newer),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "krea_async/_generated/inputs.py: stale" in done.stdout
    assert "AcmeRocket1Input" in done.stdout
