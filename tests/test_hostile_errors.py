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
import pickle
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path

import httpx
import pytest
from hostile import HostileServer, gzip_bomb, job_json, respond

from krea_async import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    AsyncKrea,
    ConfigurationError,
    DownloadError,
    InternalServerError,
    JobFailedError,
    KreaError,
    ModelUnavailableError,
    RetryPolicy,
    aiohttp_client,
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


# --------------------------------------------------------------------- messages


def _refusing_client(**kwargs: object) -> AsyncKrea:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    return AsyncKrea(api_key=KEY, http_client=http, retry=RetryPolicy(max_retries=0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "given", "origin"),
    [
        (None, None, "https://api.krea.ai, the default"),
        ("https://krea.example", None, "https://krea.example, from KREA_BASE_URL"),
        ("https://krea.example", "https://other.example", "https://other.example, from base_url="),
    ],
)
async def test_a_connection_error_names_the_base_url_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, env: str | None, given: str | None, origin: str
) -> None:
    if env is None:
        monkeypatch.delenv("KREA_BASE_URL", raising=False)
    else:
        monkeypatch.setenv("KREA_BASE_URL", env)
    kwargs = {} if given is None else {"base_url": given}
    async with _refusing_client(**kwargs) as krea:
        with pytest.raises(APIConnectionError) as info:
            await krea.jobs.get("job-1")
    text = str(info.value)
    assert text.startswith("GET /jobs/job-1 failed: ConnectError: All connection attempts failed")
    assert f"(base URL {origin}" in text
    assert info.value.method == "GET"
    assert info.value.url.endswith("/jobs/job-1")
    assert KEY not in text


def test_a_key_pasted_with_its_bearer_prefix_is_told_to_drop_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncKrea(api_key=f"Bearer {KEY}")
    assert "drop 'Bearer '" in str(info.value)
    assert "position" not in str(info.value)
    assert KEY not in str(info.value)


async def test_download_connection_errors_use_the_one_mapping(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out connecting", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(APITimeoutError) as info:
            await files.download(
                "https://cdn.example/a.png?sig=secret", tmp_path / "a.png", http_client=http
            )
    # ConnectTimeout: the request never left (same rule as API calls).
    assert info.value.request_sent is False
    assert str(info.value).startswith("download of https://cdn.example/a.png?... timed out")
    assert "sig=secret" not in str(info.value)


# ------------------------------------------------------ model lifecycle, failures


SUNSET = {
    "error": "model_unavailable",
    "reason": "deprecated",
    "message": "video/openai/sora-2 was retired on 2026-04-27",
    "sunset_date": "2026-04-27",
    "migration_url": "https://docs.krea.ai/developers/deprecations",
}


async def test_a_410_model_unavailable_is_its_own_error(server: HostileServer) -> None:
    server.on("POST", "/generate/", respond(410, json={**SUNSET, "replacement": "video/x/y"}))
    async with client(server) as krea:
        with pytest.raises(ModelUnavailableError) as info:
            await krea.generate("video/openai/sora-2", {"prompt": "x"})
    error = info.value
    assert isinstance(error, KreaError)
    assert error.status_code == 410
    assert error.model == "video/openai/sora-2"
    assert (error.sunset_date, error.replacement) == ("2026-04-27", "video/x/y")
    assert "is no longer available" in str(error)
    assert "krea.models.list()" in str(error)
    assert server.count("POST", "/generate/") == 1  # final: never retried
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ModelUnavailableError
    assert copy.model == error.model


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        ({"error": {"code": "moderation", "message": "flagged"}}, "moderation", "flagged"),
        ({"result": {"error": "provider timed out"}}, None, "provider timed out"),
        (
            {"result": {"error": {"code": "invalid_input", "message": "bad size"}}},
            "invalid_input",
            "bad size",
        ),
        ({}, None, None),
    ],
    ids=["top-level", "result-string", "result-object", "none"],
)
async def test_job_failed_error_carries_the_code_and_message(
    server: HostileServer, extra: dict[str, object], code: str | None, message: str | None
) -> None:
    server.on("GET", "/jobs/", respond(200, json=job_json("job-1", "failed", **extra)))
    async with client(server) as krea:
        with pytest.raises(JobFailedError) as info:
            await krea.jobs.wait("job-1", deadline=5)
    assert (info.value.code, info.value.error_message) == (code, message)
    if message:
        assert message in str(info.value)
    if code:
        assert code in str(info.value)


# ------------------------------------------- redirects into the network, every transport

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56


def _http_client(transport: str) -> AbstractAsyncContextManager[httpx.AsyncClient | None]:
    """The ``http_client`` of a client on ``transport``: aiohttp's, or none (the
    client builds its own, on httpx's transport)."""
    return aiohttp_client() if transport == "aiohttp" else nullcontext()


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_redirect_to_a_name_resolving_inside_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    anyio_backend: str,
    transport: str,
) -> None:
    """127.0.0.2 stands for a public CDN (the rule is narrowed for the test), 127.0.0.1
    for the internal network; ``intranet.test`` resolves to 127.0.0.1 (a resolver
    stub). The internal server must never see a request, on either transport."""
    if transport == "aiohttp":
        if anyio_backend != "asyncio":
            pytest.skip("aiohttp runs on asyncio only")
        pytest.importorskip("httpx_aiohttp")
    from krea_async._http import addresses

    real_rule = addresses.is_internal_address
    monkeypatch.setattr(
        addresses,
        "is_internal_address",
        lambda ip: str(ip) != "127.0.0.2" and real_rule(ip),
    )
    real_resolve = addresses.resolve_host

    async def resolve(host: str, port: int) -> list[str]:
        if host == "intranet.test":
            return ["127.0.0.1"]
        return await real_resolve(host, port)

    monkeypatch.setattr(addresses, "resolve_host", resolve)
    with HostileServer() as internal, HostileServer(host="127.0.0.2") as cdn:
        internal.on("GET", "/", respond(200, PNG, content_type="image/png"))
        cdn.on(
            "GET",
            "/a.png",
            respond(302, headers=[("Location", f"http://intranet.test:{internal.port}/x.png")]),
        )
        async with (
            _http_client(transport) as http,
            AsyncKrea(
                api_key=KEY, base_url=cdn.url, http_client=http, allow_insecure_http=True
            ) as krea,
        ):
            with pytest.raises(DownloadError, match="internal network") as info:
                await krea.download(f"{cdn.url}/a.png", tmp_path / "a.png")
        assert "intranet.test resolves to 127.0.0.1" in str(info.value)
        assert internal.count("GET", "/") == 0  # refused before connecting
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_redirect_to_a_public_name_is_followed_through_the_checked_pool(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, anyio_backend: str, transport: str
) -> None:
    if transport == "aiohttp":
        if anyio_backend != "asyncio":
            pytest.skip("aiohttp runs on asyncio only")
        pytest.importorskip("httpx_aiohttp")
    from krea_async._http import addresses

    real_rule = addresses.is_internal_address
    monkeypatch.setattr(
        addresses, "is_internal_address", lambda ip: str(ip) != "127.0.0.2" and real_rule(ip)
    )

    async def resolve(host: str, port: int) -> list[str]:
        assert host == "files.test"
        return ["127.0.0.2"]

    monkeypatch.setattr(addresses, "resolve_host", resolve)
    with HostileServer(host="127.0.0.2") as cdn:
        cdn.on("GET", "/b.png", respond(200, PNG, content_type="image/png"))
        cdn.on(
            "GET",
            "/a.png",
            respond(302, headers=[("Location", f"http://files.test:{cdn.port}/b.png")]),
        )
        async with (
            _http_client(transport) as http,
            AsyncKrea(
                api_key=KEY, base_url=cdn.url, http_client=http, allow_insecure_http=True
            ) as krea,
        ):
            path = await krea.download(f"{cdn.url}/a.png", tmp_path / "a.png")
        assert path.read_bytes() == PNG
        # Sent to the checked address with the name kept for Host.
        assert cdn.requests[-1].headers["host"] == f"files.test:{cdn.port}"
