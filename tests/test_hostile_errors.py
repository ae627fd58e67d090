"""API answers and downloads against a hostile server: one reader of bodies (the
size cap counts decoded bytes as they are decoded; stacked or unknown content
encodings are refused, typed), one mapping of connection errors, and messages that
say where a request went.

The server (``tests/hostile.py``) writes every byte on raw asyncio streams in its
own thread, so each async test runs under asyncio and trio. Memory is measured
with :mod:`tracemalloc` (peak bytes allocated while the call runs), not time.
"""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hostile import HostileServer, gzip_bomb, job_json, respond

from krea_async import (
    APIResponseValidationError,
    AsyncKrea,
    DownloadError,
    InternalServerError,
    KreaError,
    RetryPolicy,
    files,
)

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-0123456789abcdef"
MiB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def client(server: HostileServer) -> AsyncKrea:
    return AsyncKrea(
        api_key=KEY,
        base_url=server.url,
        timeout=httpx.Timeout(5.0),
        retry=RetryPolicy(max_retries=0),
    )


async def peak_while(call: Callable[[], Awaitable[object]]) -> tuple[BaseException | None, int]:
    """Run ``call``; return the exception it raised (or ``None``) and the peak of
    traced memory (bytes) above what was allocated before it started."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        error: BaseException | None = None
        try:
            await call()
        except Exception as exc:
            error = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return error, peak - base


def layered_bomb() -> bytes:
    """512 MiB of zeros, gzipped twice: a few hundred bytes on the wire."""
    return gzip.compress(gzip_bomb(512), 9)


async def test_a_layered_gzip_answer_is_refused_without_inflating(
    server: HostileServer,
) -> None:
    body = layered_bomb()
    assert len(body) < 4096
    server.on(
        "GET",
        "/jobs/",
        respond(
            200,
            body,
            headers=[("Content-Encoding", "gzip, gzip")],
            content_type="application/json",
        ),
    )
    async with client(server) as krea:
        error, peak = await peak_while(lambda: krea.jobs.get("job-1"))
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert isinstance(error, APIResponseValidationError), error
    assert "stacked content encoding" in str(error)


async def test_a_gzip_bomb_answer_stops_at_the_cap_as_it_is_decoded(
    server: HostileServer,
) -> None:
    server.on(
        "GET",
        "/jobs/",
        respond(
            200,
            gzip_bomb(512),
            headers=[("Content-Encoding", "gzip")],
            content_type="application/json",
        ),
    )
    async with client(server) as krea:
        error, peak = await peak_while(lambda: krea.jobs.get("job-1"))
    # The 32 MiB kept so far plus one decoding step; never a whole network read inflated.
    assert peak < 40 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert isinstance(error, APIResponseValidationError), error
    assert "larger than 33554432 bytes (decoded)" in str(error)


async def test_a_poll_with_layered_encoding_fails_typed_not_by_memory(
    server: HostileServer,
) -> None:
    """The shared poller reads through the same reader: it keeps polling (a bad answer
    is not the job's end) until the deadline, without ever inflating an answer."""
    server.on(
        "GET",
        "/jobs",
        respond(
            200,
            layered_bomb(),
            headers=[("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")],
            content_type="application/json",
        ),
    )
    async with client(server) as krea:
        error, peak = await peak_while(lambda: krea.jobs.wait("job-1", deadline=1))
    assert isinstance(error, KreaError), error
    assert server.count("GET", "/jobs") >= 1
    assert peak < 8 * MiB, f"peak {peak / MiB:.1f} MiB"


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
async def test_an_unknown_encoding_is_refused_typed(server: HostileServer, encoding: str) -> None:
    server.on(
        "GET",
        "/jobs/",
        respond(200, b"\x00" * 64, headers=[("Content-Encoding", encoding)]),
    )
    async with client(server) as krea:
        with pytest.raises(APIResponseValidationError, match=encoding):
            await krea.jobs.get("job-1")


async def test_an_error_status_with_a_stacked_encoding_keeps_its_status(
    server: HostileServer,
) -> None:
    server.on(
        "GET",
        "/jobs/",
        respond(500, layered_bomb(), headers=[("Content-Encoding", "gzip, gzip")]),
    )
    async with client(server) as krea:
        with pytest.raises(InternalServerError, match="stacked content encoding"):
            await krea.jobs.get("job-1")


async def test_a_single_gzip_answer_is_read(server: HostileServer) -> None:
    import json

    body = gzip.compress(json.dumps(job_json("job-1", "processing")).encode())
    server.on(
        "GET",
        "/jobs/",
        respond(200, body, headers=[("Content-Encoding", "gzip")], content_type="application/json"),
    )
    async with client(server) as krea:
        job = await krea.jobs.get("job-1")
    assert job.job_id == "job-1"


async def test_downloads_refuse_a_stacked_encoding_by_the_same_rule(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on(
        "GET",
        "/r",
        respond(
            200,
            layered_bomb(),
            headers=[("Content-Encoding", "gzip, gzip")],
            content_type="image/png",
        ),
    )
    error, peak = await peak_while(
        lambda: files.download(f"{server.url}/r.png", tmp_path / "r.png", job_id="job-r")
    )
    assert isinstance(error, DownloadError), error
    assert "stacked content encoding" in str(error)
    assert peak < 8 * MiB
    assert list(tmp_path.iterdir()) == []
