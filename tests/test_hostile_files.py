"""Downloads against a hostile server (issue 11: items 1 and 9, the download risks).

The server (``tests/hostile.py``) writes every byte itself on raw asyncio streams,
in a thread of its own, so each test runs under asyncio and trio alike. Result
URLs, job ids and file names come from that server and are treated as hostile:
nothing may land outside the target directory, every failure is a typed
``KreaError`` naming the job, redirects may not lead into internal networks, and
a size cap and a total deadline bound each download.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner, Result
from hostile import HostileServer, gzip_bomb, job_json, raw, redirect, respond, trickle

from krea_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncKrea,
    DownloadError,
    DownloadTooLargeError,
    JobSettings,
    KreaError,
    SubscribeResult,
    files,
    parse_job,
)
from krea_async._cli import cli
from krea_async.batch import LEDGER_NAME, Batch, BatchLine

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
ENDPOINT = "image/bfl/flux-1-dev"

HOSTILE_IDS = [
    "../../X",
    "/tmp/krea-hostile-absolute/X",
    "..",
    ".",
    "a\x00b",
    "a\nb",
    "a%0Ab",
    "x" * 300,
    "C:\\Windows\\evil",
    "~/.bashrc",
    "CON",
    "-rf",
    "\u202etxt.exe",
    "",
]


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        srv.on("GET", "/files/", respond(200, PNG, content_type="image/png"))
        yield srv


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def result_for(job_id: str, urls: list[str]) -> SubscribeResult:
    """What ``subscribe()`` returns for a completed job with these fields."""
    job = parse_job(job_json(job_id, urls=urls))
    return SubscribeResult(data=job.result, job=job, request_id=job.job_id)


def assert_inside(paths: list[Path], root: Path) -> None:
    for path in paths:
        assert path.resolve().is_relative_to(root.resolve()), path
        assert path.parent.resolve() == root.resolve(), path
        assert SAFE_NAME.fullmatch(path.name), path.name
        assert len(path.name) <= files.MAX_FILE_NAME_CHARS


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("job_id", HOSTILE_IDS, ids=lambda s: repr(s)[:30])
async def test_save_never_writes_outside_the_target(
    server: HostileServer, tmp_path: Path, job_id: str
) -> None:
    out = tmp_path / "sandbox" / "out"
    urls = [f"{server.url}/files/0.png", f"{server.url}/files/1.png"]
    paths = await result_for(job_id, urls).save(out)
    assert len(paths) == 2
    assert len(set(paths)) == 2
    assert_inside(paths, out)
    assert all(p.read_bytes() == PNG for p in paths)
    assert all_files(tmp_path) == sorted(paths)
    assert not Path("/tmp/krea-hostile-absolute").exists()


@pytest.mark.parametrize("job_id", ["../../X", "/tmp/krea-hostile-absolute/X", "a%0Ab"])
async def test_subscribe_then_save_with_a_hostile_job_id(
    server: HostileServer, tmp_path: Path, job_id: str
) -> None:
    """The issue's scenario end to end: the submit and the poll answer a job id
    that is a path; ``result.save(dir)`` (through the client's pool) stays inside."""
    urls = [f"{server.url}/files/a.png"]
    server.on("POST", "/generate/", respond(200, json=job_json(job_id, "queued")))
    server.on("GET", "/jobs/", respond(200, json=job_json(job_id, "completed", urls)))
    async with AsyncKrea(
        api_key="sk-test", base_url=server.url, jobs=JobSettings(poll_interval=0.01)
    ) as krea:
        result = await krea.subscribe(ENDPOINT, input={"prompt": "a fox"})
        assert result.request_id == job_id
        out = tmp_path / "a" / "b"
        [path] = await result.save(out)
    assert_inside([path], out)
    assert path.name == files.result_file_name(job_id, suffix=".png")
    assert all_files(tmp_path) == [path]
    assert not Path("/tmp/krea-hostile-absolute").exists()


async def test_hostile_ids_never_share_a_name() -> None:
    names = {files.result_file_name(i, 0) for i in HOSTILE_IDS}
    assert len(names) == len(HOSTILE_IDS)
    for name in names:
        assert SAFE_NAME.fullmatch(name), name
        assert len(name) <= files.MAX_FILE_NAME_CHARS
    uuid = "6a4f2d1e-0b5c-4c1e-9f8a-2b3c4d5e6f70"
    assert files.result_file_name(uuid, 2, count=3, suffix=".png") == f"{uuid}-2.png"
    assert files.result_file_name(uuid, 0, suffix=".mp4") == f"{uuid}.mp4"
    assert files.result_file_name(uuid, 0, suffix=".p/ng") == uuid
    assert files.safe_file_name("..").startswith("result-")
    assert files.safe_file_name("") == "result"


@pytest.mark.parametrize(
    "segment",
    [
        "..%2F..%2Fevil.png",
        "a%00b.png",
        "a%0Ab.png",
        "%2E%2E",
        ".hidden",
        "x" * 300 + ".png",
        "no-extension",
        "evil.png%00.sh",
        "%E2%80%AEgnp.exe",
    ],
)
async def test_download_into_a_directory_names_safely(
    server: HostileServer, tmp_path: Path, segment: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path = await files.download(f"{server.url}/files/{segment}", out)
    assert_inside([path], out)
    assert path.read_bytes() == PNG
    assert all_files(tmp_path) == [path]
    if segment == "no-extension":
        assert path.name == "no-extension.png"  # from the content type


async def test_redirect_chooses_no_path(server: HostileServer, tmp_path: Path) -> None:
    """The name comes from the final URL, which the server picks: still safe."""
    server.on("GET", "/r", redirect("/files/..%2F..%2F..%2Fetc%2Fpasswd"))
    out = tmp_path / "out"
    out.mkdir()
    path = await files.download(f"{server.url}/r", out)
    assert_inside([path], out)
    assert all_files(tmp_path) == [path]


# --------------------------------------------------------------------------- item 9


async def test_invalid_result_url_is_a_download_error_naming_the_job(tmp_path: Path) -> None:
    result = result_for("job-42", ["https://[::1/a.png"])
    with pytest.raises(DownloadError) as info:
        await result.save(tmp_path)
    assert info.value.job_id == "job-42"
    assert "job-42" in str(info.value)
    assert not isinstance(info.value.__cause__, type(None))
    assert all_files(tmp_path) == []


async def test_huge_url_gives_a_short_message(server: HostileServer, tmp_path: Path) -> None:
    url = f"{server.url}/files/{'a' * 2_000_000}.png?sig=SECRET"
    with pytest.raises(DownloadError) as info:
        await result_for("job-7", [url]).save(tmp_path)
    assert len(str(info.value)) < 1000
    assert "SECRET" not in str(info.value)
    assert info.value.url == url  # the attribute keeps it whole


async def test_long_redirect_target_gives_a_short_message(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on("GET", "/r", redirect("https://" + "b" * 30_000 + ".example/x.png"))
    with pytest.raises(KreaError) as info:
        await files.download(f"{server.url}/r", tmp_path / "x.png", job_id="job-8")
    assert len(str(info.value)) < 1000
    assert all_files(tmp_path) == []


async def test_unwritable_target_is_a_download_error(server: HostileServer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(DownloadError) as info:
        await result_for("job-9", [f"{server.url}/files/a.png"]).save(blocker / "sub")
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.job_id == "job-9"


async def test_http_error_names_the_job(server: HostileServer, tmp_path: Path) -> None:
    server.on("GET", "/gone", respond(404, b"gone", content_type="text/plain"))
    with pytest.raises(DownloadError) as info:
        await result_for("job-10", [f"{server.url}/gone.png"]).save(tmp_path)
    assert info.value.status_code == 404
    assert "job-10" in str(info.value)


def test_download_errors_round_trip_through_pickle() -> None:
    for err in (
        DownloadError("download of x failed: HTTP 404", url="https://x/a.png", status_code=404),
        DownloadTooLargeError("too large", url="https://x/b.mp4", max_bytes=10, job_id="j"),
    ):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert str(back) == str(err)
        assert vars(back) == vars(err)


# --------------------------------------------------------------------------- redirects


INTERNAL_TARGETS = [
    "http://127.0.0.1:9/a.png",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/a.png",
    "https://172.16.0.1/a.png",
    "https://192.168.1.1/a.png",
    "https://100.100.100.200/latest/meta-data/",
    "https://[fe80::1]/a.png",
    "https://[fc00::1]/a.png",
    "https://[::1]/a.png",
    "https://[::ffff:127.0.0.1]/a.png",
    "https://0.0.0.0/a.png",
    "https://2130706433/a.png",
    "https://0x7f.1/a.png",
    "https://localhost./a.png",
    "https://metadata.localhost/a.png",
]


@pytest.mark.parametrize("location", INTERNAL_TARGETS)
async def test_redirect_from_a_public_url_into_an_internal_network_is_refused(
    tmp_path: Path, location: str
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "cdn.example":
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(DownloadError, match="internal network") as info:
            await files.download(
                "https://cdn.example/a.png", tmp_path / "a.png", http_client=http, allow_http=True
            )
    assert seen == ["https://cdn.example/a.png"]  # the internal URL was never asked
    assert info.value.url == "https://cdn.example/a.png"
    assert all_files(tmp_path) == []


class _ResolvesToLoopback(httpx.AsyncBaseTransport):
    """``cdn.example`` answers a redirect; every other host name "resolves" to
    127.0.0.1 (what DNS rebinding or an internal name does), over real TCP."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.real = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.example":
            return httpx.Response(302, headers={"location": self.location})
        request.url = request.url.copy_with(host="127.0.0.1")
        return await self.real.handle_async_request(request)

    async def aclose(self) -> None:
        await self.real.aclose()


async def test_redirect_to_a_name_that_reaches_loopback_is_refused(
    server: HostileServer, tmp_path: Path
) -> None:
    location = f"http://internal.example:{server.port}/files/secret.png"
    transport = _ResolvesToLoopback(location)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(DownloadError, match=r"internal network.*127\.0\.0\.1"):
            await files.download(
                "https://cdn.example/a.png", tmp_path / "a.png", http_client=http, allow_http=True
            )
    assert server.count("GET", "/files/") == 1  # connected, checked, nothing read
    assert all_files(tmp_path) == []


async def test_redirects_on_loopback_stay_allowed_from_loopback(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on("GET", "/start", redirect(f"http://127.0.0.1:{server.port}/files/x.png"))
    path = await files.download(f"{server.url}/start", tmp_path / "x.png")
    assert path.read_bytes() == PNG


# --------------------------------------------------------------------------- size cap


async def test_gzip_bomb_stops_at_the_cap(server: HostileServer, tmp_path: Path) -> None:
    bomb = gzip_bomb(512)
    assert len(bomb) < 600_000  # about 522 KB on the wire for 512 MiB decoded
    server.on(
        "GET",
        "/bomb",
        respond(200, bomb, headers=[("Content-Encoding", "gzip")], content_type="image/png"),
    )
    with pytest.raises(DownloadTooLargeError) as info:
        await files.download(
            f"{server.url}/bomb.png", tmp_path / "bomb.png", max_bytes=8 * 1024 * 1024
        )
    assert info.value.max_bytes == 8 * 1024 * 1024
    assert isinstance(info.value, DownloadError)
    assert all_files(tmp_path) == []  # no partial file either


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate"])
async def test_compressed_bodies_are_decoded(
    server: HostileServer, tmp_path: Path, encoding: str
) -> None:
    wbits = 31 if "gzip" in encoding else 15
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = packer.compress(PNG * 1000) + packer.flush()
    server.on(
        "GET",
        "/z",
        respond(200, body, headers=[("Content-Encoding", encoding)], content_type="image/png"),
    )
    path = await files.download(f"{server.url}/z.png", tmp_path / "z.png")
    assert path.read_bytes() == PNG * 1000
    assert "identity" in server.requests[-1].headers["accept-encoding"]


@pytest.mark.parametrize(
    ("encoding", "body"), [("br", b"\x00" * 10), ("gzip", b"\x1f\x8b not gzip at all")]
)
async def test_unknown_or_corrupt_encodings_are_download_errors(
    server: HostileServer, tmp_path: Path, encoding: str, body: bytes
) -> None:
    server.on(
        "GET",
        "/z",
        respond(200, body, headers=[("Content-Encoding", encoding)], content_type="image/png"),
    )
    with pytest.raises(DownloadError, match=encoding):
        await files.download(f"{server.url}/z.png", tmp_path / "z.png", job_id="job-z")
    assert all_files(tmp_path) == []


async def test_declared_length_over_the_cap_is_refused_before_the_body(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on(
        "GET",
        "/huge",
        trickle(
            b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 2000000000\r\n\r\n",
            duration=3600,
        ),
    )
    # refused on the header: the body, trickled for an hour, is not waited for (the
    # bound only keeps a broken build from hanging the suite)
    with pytest.raises(DownloadTooLargeError), anyio.fail_after(60):
        await files.download(f"{server.url}/huge.mp4", tmp_path / "v.mp4", max_bytes=1000)
    assert all_files(tmp_path) == []


async def test_default_cap_is_one_gib_and_save_applies_it(
    server: HostileServer, tmp_path: Path
) -> None:
    assert files.DOWNLOAD_MAX_BYTES == 1024**3
    server.on(
        "GET",
        "/big",
        raw(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1073741825\r\n\r\n"),
    )
    with pytest.raises(DownloadTooLargeError):
        await result_for("job-big", [f"{server.url}/big.mp4"]).save(tmp_path)


async def test_a_file_at_the_cap_is_written(server: HostileServer, tmp_path: Path) -> None:
    path = await files.download(f"{server.url}/files/a.png", tmp_path / "a.png", max_bytes=len(PNG))
    assert path.read_bytes() == PNG


# --------------------------------------------------------------------------- deadline


async def test_trickled_download_is_bounded_by_its_deadline(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on(
        "GET",
        "/slow",
        trickle(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n",
            chunk=b"\x00",
            interval=0.05,
            duration=3600,
        ),
    )
    # the answer trickles for an hour: the deadline ends the download (the outer bound
    # only keeps a broken build from hanging the suite)
    with pytest.raises(APITimeoutError, match="deadline") as info, anyio.fail_after(60):
        await files.download(f"{server.url}/slow.png", tmp_path / "s.png", deadline=0.5)
    assert isinstance(info.value, APIConnectionError)
    assert all_files(tmp_path) == []


# --------------------------------------------------------------------------- logging


async def test_downloads_are_logged_at_debug_without_query_strings(
    server: HostileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("GET", "/fail", respond(500, b"x", content_type="text/plain"))
    with caplog.at_level(logging.DEBUG, logger="krea_async"):
        await result_for("job-log", [f"{server.url}/files/a.png?X-Sig=SECRET"]).save(tmp_path)
        with pytest.raises(DownloadError):
            await files.download(f"{server.url}/fail?X-Sig=SECRET", tmp_path, job_id="job-log")
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("krea_async"))
    assert "downloaded 64 bytes" in text
    assert "job-log" in text
    assert "HTTP 500" in text
    assert "SECRET" not in text


# --------------------------------------------------------------------------- data_uri


def test_data_uri_media_type() -> None:
    assert files.data_uri(b"\x00\x01", media_type="image/heic").startswith("data:image/heic;")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert files.data_uri(PNG).startswith("data:image/png;base64,")


# ------------------------------------------------------ one owner for result files

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(52)
GIF = b"GIF89a" + bytes(58)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(48)
MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(52)
MOV = b"\x00\x00\x00\x14ftypqt  " + bytes(52)
WEBM = b"\x1a\x45\xdf\xa3" + bytes(60)
HTML = b"<html><script>alert(1)</script></html>"

SNIFFED = [
    (PNG, ".png"),
    (JPEG, ".jpg"),
    (GIF, ".gif"),
    (WEBP, ".webp"),
    (MP4, ".mp4"),
    (MOV, ".mov"),
    (WEBM, ".webm"),
    (HTML, ".bin"),
    (b"", ".bin"),
]


def test_result_extension_reads_the_first_bytes() -> None:
    for body, ext in SNIFFED:
        assert files.result_extension(body) == ext, ext


@pytest.mark.parametrize(("body", "ext"), SNIFFED, ids=[e for _, e in SNIFFED])
async def test_the_extension_comes_from_the_bytes_never_the_url(
    server: HostileServer, tmp_path: Path, body: bytes, ext: str
) -> None:
    """A result served as ``image/png`` at ``.../x.html`` (or ``.bashrc``) is saved
    with the extension its bytes show, by ``result.save()``, ``krea.download()``
    and ``files.download()`` alike."""
    server.on("GET", "/evil/", respond(200, body, content_type="image/png"))
    urls = [f"{server.url}/evil/x.html", f"{server.url}/evil/.bashrc"]
    out = tmp_path / "out"
    saved = await result_for("job-1", urls).save(out)
    assert [p.name for p in saved] == [f"job-1-0{ext}", f"job-1-1{ext}"]
    async with AsyncKrea(api_key="sk-test", base_url=server.url) as krea:
        [one] = await krea.download_all(urls[:1], out / "k", stem="job-2")
        direct = await krea.download(urls[1], out)
    assert one.name == f"job-2{ext}"
    assert direct.suffix == ext
    assert direct.name.startswith("bashrc-")  # the leading dot is gone: not hidden
    plain = await files.download(urls[0], out)
    assert plain.name == f"x{ext}"
    paths = [*saved, one, direct, plain]
    assert all(p.read_bytes() == body for p in paths)
    assert all_files(tmp_path) == sorted(paths)


async def test_a_file_name_of_the_callers_is_kept(server: HostileServer, tmp_path: Path) -> None:
    """``mountain.png`` stays that name whatever the bytes; several results go next
    to it as ``mountain-0.png``, ``mountain-1.png``."""
    server.on("GET", "/jpeg/", respond(200, JPEG, content_type="image/jpeg"))
    url = f"{server.url}/jpeg/a.html"
    assert await result_for("j", [url]).save(tmp_path / "mountain.png") == [
        tmp_path / "mountain.png"
    ]
    two = await result_for("j", [url, url]).save(tmp_path / "pair.png")
    assert two == [tmp_path / "pair-0.png", tmp_path / "pair-1.png"]
    assert all(p.read_bytes() == JPEG for p in two)


async def test_urls_with_the_same_name_do_not_collide(
    server: HostileServer, tmp_path: Path
) -> None:
    urls = [f"{server.url}/files/a/x.png", f"{server.url}/files/b/x.png"]
    paths = await files.download_all(urls, tmp_path / "out")
    assert [p.name for p in paths] == ["x-0.png", "x-1.png"]
    paths = await result_for("..", urls).save(tmp_path / "out")
    assert len({p.name for p in paths}) == 2
    assert_inside(paths, tmp_path / "out")


# The job ids and URL tails of the issue: a path, an absolute directory (``{home}``:
# the test's own stand-in for /home/me, so that a regression writes there and not
# into the real one), a dot file.
CLI_CASES = [
    ("../../x", "/files/.bashrc"),
    ("{home}/", "/files/.bashrc"),
    ("~/.bashrc", "/files/..%2F..%2F.bashrc"),
    ("...", "/files/x.html"),
    ("%2e%2e%2fx", "/files/%2E%2E"),
]


def hostile_job_routes(server: HostileServer, job_id: str, urls: list[str]) -> None:
    server.on("POST", "/generate/", respond(200, json=job_json(job_id, "queued")))
    server.on("GET", "/jobs/", respond(200, json=job_json(job_id, "completed", urls)))


def run_cli(*args: str, home: Path) -> Result:
    env = {"KREA_API_KEY": None, "KREA_BASE_URL": None, "KREA_LOG": None, "HOME": str(home)}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(("job_id", "tail"), CLI_CASES, ids=lambda s: repr(s)[:24])
@pytest.mark.parametrize("several", [False, True], ids=["one", "two"])
def test_cli_generate_never_writes_outside_its_target(
    server: HostileServer, tmp_path: Path, job_id: str, tail: str, several: bool, backend: str
) -> None:
    """``krea-async generate ... -o out/`` with a hostile job id and result URL (an
    HTML body served as ``image/png``): every file lands in ``out/``, named from a
    safe job id with the extension its bytes show; nothing in ``$HOME``."""
    server.on("GET", "/files/", respond(200, PNG, content_type="image/png"))
    urls = [f"{server.url}{tail}"] * (2 if several else 1)
    home = tmp_path / "home" / "me"
    home.mkdir(parents=True)
    hostile_job_routes(server, job_id.format(home=home), urls)
    (tmp_path / "work").mkdir()
    out = tmp_path / "work" / "out"
    result = run_cli(
        "--backend", backend, "--api-key", "k", "--base-url", server.url,
        "generate", "image", "bfl/flux-1-dev", "-p", "x", "--poll-interval", "0.01",
        "-o", f"{out}/",
        home=home,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = [Path(line) for line in result.stdout.splitlines()]
    assert len(written) == len(urls)
    assert_inside(written, out)
    assert all(p.suffix == ".png" for p in written)
    assert all_files(tmp_path) == sorted(written)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_cli_default_output_and_file_name(
    server: HostileServer, tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``-o`` the result goes to the current directory under a safe name; with
    ``-o mountain.png`` it is that file, even when the bytes are an HTML page."""
    server.on("GET", "/html/", respond(200, HTML, content_type="image/png"))
    hostile_job_routes(server, "../../x", [f"{server.url}/html/x.html"])
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    args = ["--backend", backend, "--api-key", "k", "--base-url", server.url]
    gen = ["generate", "image", "bfl/flux-1-dev", "-p", "x", "--poll-interval", "0.01"]
    result = run_cli(*args, *gen, home=tmp_path)
    assert result.exit_code == 0, result.output
    [path] = [Path(line) for line in result.stdout.splitlines()]
    assert_inside([path], cwd)
    assert path.suffix == ".bin"  # an HTML page is not saved as .html
    mine = run_cli(*args, *gen, "-o", str(cwd / "mountain.png"), home=tmp_path)
    assert mine.exit_code == 0, mine.output
    assert mine.stdout.strip() == str(cwd / "mountain.png")
    assert all_files(tmp_path) == sorted([path, cwd / "mountain.png"])


@pytest.mark.parametrize(("job_id", "tail"), CLI_CASES, ids=lambda s: repr(s)[:24])
async def test_batch_never_writes_outside_its_directory(
    server: HostileServer, tmp_path: Path, job_id: str, tail: str
) -> None:
    """``Batch`` with hostile job ids and result URLs: each line's files are named
    from the line (``<name><ext>``, ``<name>-<n><ext>``) with the extension the
    bytes show, inside the output directory."""
    server.on("GET", "/files/", respond(200, WEBP, content_type="image/png"))
    urls = [f"{server.url}{tail}"]
    hostile_job_routes(server, job_id.format(home=tmp_path / "home"), urls * 2)
    lines = [
        BatchLine(name="one", endpoint=ENDPOINT, input={"prompt": "a"}, index=0),
        BatchLine(name="two", endpoint=ENDPOINT, input={"prompt": "b"}, index=1),
    ]
    out = tmp_path / "out"
    async with AsyncKrea(
        api_key="sk-test", base_url=server.url, jobs=JobSettings(poll_interval=0.01)
    ) as krea:
        summary = await Batch(krea, lines, out, concurrency=1, progress=False).run()
    assert summary.ok, summary
    assert all(p.parent == out for p in all_files(tmp_path))
    written = [p for p in all_files(tmp_path) if not p.name.startswith(LEDGER_NAME[:11])]
    assert sorted(p.name for p in written) == [
        "one-0.webp",
        "one-1.webp",
        "two-0.webp",
        "two-1.webp",
    ]
    assert_inside(written, out)
    assert all(p.read_bytes() == WEBP for p in written)


def test_batch_command_never_writes_outside_its_directory(
    server: HostileServer, tmp_path: Path
) -> None:
    server.on("GET", "/files/", respond(200, MP4, content_type="text/html; x=1"))
    server.on("GET", "/mp4/", respond(200, MP4, content_type="video/mp4"))
    hostile_job_routes(server, f"{tmp_path}/home/", [f"{server.url}/mp4/.bashrc"])
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "a", "id": "../../escape"}\n{"prompt": "b", "id": "/home/me/"}\n')
    out = tmp_path / "out"
    result = run_cli(
        "--api-key", "k", "--base-url", server.url,
        "batch", str(src), "-o", str(out), "-m", ENDPOINT, "--poll-interval", "0.01",
        home=tmp_path / "home",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = [p for p in all_files(tmp_path) if p.suffix == ".mp4"]
    assert len(written) == 2
    assert_inside(written, out)
    assert all(p.read_bytes() == MP4 for p in written)
    assert {p for p in all_files(tmp_path) if p.parent != out} == {src}
