"""What a new user hit (issue 10 §4), for the edges no other test file holds.

The CLI's rough edges are in ``tests/test_cli.py`` (section "issue 10 §4"), the typed
models and hints in ``tests/test_api_surface.py``; here: ``Asset`` counts sent as JSON
floats, the resources' one calling convention, the ``jobs.list`` docs, the Quickstart's
printed states, the docs build and nox's output.
"""

from __future__ import annotations

import inspect
import logging
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import _served
import httpx
import pytest

import krea_async
from krea_async import APIResponseValidationError, AsyncKrea, RetryPolicy
from krea_async.testing import FakeKrea

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- Asset ints


def _asset_server(payload: dict[str, Any]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/assets":
            return httpx.Response(200, json={"items": [payload], "next_cursor": None})
        return httpx.Response(200, json=payload)

    return httpx.MockTransport(handler)


@pytest.mark.anyio
async def test_asset_counts_sent_as_json_floats_are_ints(anyio_backend: str) -> None:
    """A server that writes the spec's ``number`` counts as ``1024.0`` (the fake writes
    ints, so this drives a hand-made answer): ``Asset`` holds ``int`` values."""
    payload: dict[str, Any] = {
        "id": "asset-1",
        "image_url": "https://cdn.example/a.png",
        "width": 1024.0,
        "height": 576.0,
        "size_bytes": 2048.0,
    }
    async with AsyncKrea(
        "k",
        base_url="https://api.krea.test",
        http_client=httpx.AsyncClient(transport=_asset_server(payload)),
        retry=RetryPolicy(max_retries=0),
    ) as krea:
        got = await krea.assets.get("asset-1")
        (listed,) = [a async for a in krea.assets.list()]
    for asset in (got, listed):
        assert (asset.width, asset.height, asset.size_bytes) == (1024, 576, 2048)
        assert all(type(v) is int for v in (asset.width, asset.height, asset.size_bytes))
        assert repr(asset).count(".0") == 0, repr(asset)
    # A fractional count is not a count: a typed error, not a silent truncation.
    async with AsyncKrea(
        "k",
        base_url="https://api.krea.test",
        http_client=httpx.AsyncClient(transport=_asset_server({**payload, "width": 1024.5})),
        retry=RetryPolicy(max_retries=0),
    ) as krea:
        with pytest.raises(APIResponseValidationError, match="whole number"):
            await krea.assets.get("asset-1")


# --------------------------------------------------------------------------- format: uri


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/generate/image/bfl/flux-1-dev", "image_url", {"prompt": "a fox"}),
        ("/generate/video/kling/kling-2.1", "start_image", {"prompt": "a fox"}),
        (
            "/generate/enhance/topaz/standard-enhance",
            "image_url",
            {"width": 64, "height": 64, "model": "CGI"},
        ),
    ],
    ids=["flux", "kling", "topaz"],
)
async def test_the_fake_checks_every_uri_field_not_only_image_urls(
    anyio_backend: str, path: str, field: str, body: dict[str, Any]
) -> None:
    """``format: uri`` is checked on single-URL fields too (``image_urls`` arrays:
    ``tests/test_fake_jobs_list.py::test_uri_fields_are_checked_like_krea``)."""
    fake = FakeKrea()
    async with httpx.AsyncClient(
        transport=fake.transport(),
        base_url="http://fake.krea.test",
        headers={"Authorization": "Bearer uri-check"},
    ) as http:
        bad = await http.post(path, json={**body, field: "not a url at all"})
        good = await http.post(path, json={**body, field: "https://example.com/a.png"})
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"].startswith(f"{field}:"), bad.text
    assert good.status_code == 200, good.text
    assert len(fake.ledger) == 1


# --------------------------------------------------------------------------- async resources


def _resources() -> Iterator[tuple[str, object]]:
    krea = AsyncKrea("k", base_url="https://api.krea.test")
    for name in ("jobs", "assets", "styles", "node_apps", "models"):
        yield name, getattr(krea, name)


# Public methods that answer an async iterator/context manager rather than a coroutine.
ASYNC_ITERATORS = {"jobs.stream"}


@pytest.mark.parametrize(("name", "resource"), list(_resources()))
def test_every_resource_method_is_awaited_or_async_iterated(name: str, resource: object) -> None:
    """``await krea.models.list()`` works as ``await krea.jobs.get()`` does: every public
    method of every resource is a coroutine function or an async generator (``list``)."""
    methods = [
        (attr, getattr(resource, attr))
        for attr in dir(resource)
        if not attr.startswith("_") and callable(getattr(resource, attr))
    ]
    assert methods, name
    for attr, method in methods:
        if f"{name}.{attr}" in ASYNC_ITERATORS:
            continue
        is_async = inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)
        assert is_async, f"krea.{name}.{attr} is synchronous"


# --------------------------------------------------------------------------- jobs.list docs

# ``created_after=err.submitted_at`` misses a job Krea stamped a moment before the
# client's clock: the docs name ``check_since`` (``submitted_at`` less the skew margin).
CREATED_AFTER = re.compile(r"created_after=(err|exc|e|error|info\.value)\.(\w+)")


def _documented_texts() -> Iterator[tuple[str, str]]:
    yield "README.md", (ROOT / "README.md").read_text("utf-8")
    for path in sorted((ROOT / "docs" / "content").rglob("*.md")):
        yield str(path.relative_to(ROOT)), path.read_text("utf-8")
    for path in sorted((ROOT / "krea_async").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text("utf-8")


def test_jobs_list_docs_say_check_since_not_submitted_at() -> None:
    doc = inspect.getdoc(krea_async.AsyncKrea(api_key="k").jobs.list) or ""
    assert "created_after=err.check_since" in doc
    uses = [
        (where, match.group(2))
        for where, text in _documented_texts()
        for match in CREATED_AFTER.finditer(text)
    ]
    assert any(where == "README.md" for where, _ in uses), "the README shows the look-up"
    wrong = [(where, attr) for where, attr in uses if attr != "check_since"]
    assert not wrong, wrong


# --------------------------------------------------------------------------- Quickstart


def _quickstart() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("## Quickstart") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


def _promised_states(code: str) -> list[str]:
    """The statuses the comment on ``print(state.status)`` names, in order."""
    (line,) = [x for x in code.splitlines() if "print(state.status)" in x]
    comment = line.split("#", 1)[1]
    statuses = {s.value for s in krea_async.JobStatus}
    return [w for w in re.findall(r"[a-z-]+", comment) if w in statuses]


@pytest.fixture
def served_fake() -> Iterator[str]:
    """``python -m krea_async.testing serve`` as the README shows it (its default
    timing), on a free port; yields the base URL."""
    with _served.served_fake() as base_url:
        yield base_url


@pytest.mark.slow
@pytest.mark.loopback
def test_quickstart_prints_what_its_comments_say(served_fake: str, tmp_path: Path) -> None:
    """The README Quickstart, as written (default 2 s polling), on the served fake: the
    stream prints one status per poll, and every status its comment names is printed;
    ``on_queue_update=print`` prints short ``Job 1a2b3c4d… queued`` lines, not reprs."""
    code = _quickstart()
    promised = _promised_states(code)
    assert promised[0] == "queued"
    assert promised[-1] == "completed"
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_served.clean_env(KREA_BASE_URL=served_fake, KREA_API_KEY="any-token"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    statuses = {s.value for s in krea_async.JobStatus}
    streamed = [x for x in lines if x in statuses]
    assert streamed[0] == "queued"
    assert streamed[-1] == "completed"
    missing = [s for s in promised if s not in streamed]
    assert not missing, f"the comment promises {missing}; printed {streamed}"
    updates = [x for x in lines if x.startswith("Job ")]
    assert updates, run.stdout
    for line in updates:
        assert re.fullmatch(r"Job [0-9a-f]{8}… [a-z-]+(, 1 url)?", line), line
    assert updates[-1].endswith("completed, 1 url")


# --------------------------------------------------------------------------- tooling


def _pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    return data


def test_the_docs_extra_can_format_signatures() -> None:
    """mkdocs.yml asks mkdocstrings for separate signatures, which it formats with Black
    or Ruff ("Formatting signatures requires either Black or Ruff to be installed."
    otherwise): the ``docs`` extra installs one."""
    config = (ROOT / "docs" / "mkdocs.yml").read_text("utf-8")
    assert re.search(r"^\s*separate_signature:\s*true\s*$", config, re.M)
    docs = _pyproject()["project"]["optional-dependencies"]["docs"]
    names = {re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower() for req in docs}
    assert names & {"ruff", "black"}, docs


@pytest.mark.slow
def test_the_docs_build_is_strict_clean_and_formats_signatures(tmp_path: Path) -> None:
    """The docs build, as ``nox -s docs`` runs it: no warning (strict) and no note about
    a missing signature formatter."""
    pytest.importorskip("mkdocstrings_handlers.python")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "docs" / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=_served.clean_env(NO_MKDOCS_2_WARNING="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Black or Ruff" not in output, output
    assert (tmp_path / "site" / "reference" / "client" / "index.html").exists()


def test_nox_does_not_print_uv_binary_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """nox probes for uv (an optional installer these sessions do not use) before each
    session and logs ``uv binary not found.`` where it is absent; the noxfile keeps
    that line out of the output."""
    nox_virtualenv = pytest.importorskip("nox.virtualenv")
    monkeypatch.setenv("PATH", str(tmp_path))  # no uv on PATH
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setitem(sys.modules, "uv", None)  # nor the uv package
    runpy.run_path(str(ROOT / "noxfile.py"))
    nox_virtualenv.find_uv.cache_clear()
    try:
        with caplog.at_level(logging.DEBUG, logger="nox"):
            has_uv, _, _ = nox_virtualenv.find_uv()
    finally:
        nox_virtualenv.find_uv.cache_clear()
    assert has_uv is False  # the probe ran and found nothing
    assert "uv binary not found" not in caplog.text
