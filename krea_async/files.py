"""Files in and out: ``data:`` URIs for inputs, media-type sniffing, safe downloads.

- :func:`data_uri` turns a local image into a ``data:`` URI for fields such as
  ``image_urls`` (Krea's image-to-image docs example posts a
  ``data:image/jpeg;base64,...`` URI).
- :func:`media_type` sniffs the type of file bytes (the types ``POST /assets``
  accepts: JPEG, PNG, WebP, HEIC, MP4, MOV, WebM, GLB, WAV, MP3).
- :func:`download` streams a result URL to disk atomically.
"""

from __future__ import annotations

import base64
import contextlib
import mimetypes
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Union

import anyio
import httpx

from ._errors import APIConnectionError, APITimeoutError, KreaError

__all__ = [
    "DATA_URI_MAX_BYTES",
    "DownloadError",
    "FileInput",
    "data_uri",
    "download",
    "media_type",
]

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
"""What the SDK accepts as a file: a path, raw bytes, or a binary file object."""

DATA_URI_MAX_BYTES = 10 * 1024 * 1024
"""Largest file :func:`data_uri` encodes (bytes): 10 MiB, since a request body with
a larger inline image is slow to send and may be refused; upload larger files
with ``krea.assets.upload()`` and pass the asset's ``image_url`` instead."""

MAX_REDIRECTS = 5
"""Redirects :func:`download` follows at most."""

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"glTF", "model/gltf-binary"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
)

_ACCEPTED_DOWNLOAD_TYPES = ("image/", "video/", "audio/", "model/", "application/octet-stream")


class DownloadError(KreaError):
    """A result file could not be downloaded safely.

    Raised for an HTTP error status (``status_code`` is set; result URLs expire, so
    a 403 or 404 often means "too old": fetch the job again), a response that is
    not a media file (for example an HTML error page served with 200), an invalid
    URL, a redirect to a non-HTTPS URL (other than loopback), or too many
    redirects. ``url`` is the URL asked for.
    """

    def __init__(self, message: str, *, url: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


def media_type(data: bytes, filename: str | None = None) -> str:
    """The media type of file bytes, from their signature, else from ``filename``'s
    extension, else ``application/octet-stream``.

    Knows the types ``POST /assets`` accepts (JPEG, PNG, WebP, HEIC, MP4, MOV,
    WebM, GLB, WAV, MP3), and GIF, AVIF and M4A audio (which share MP4's ``ftyp``
    box and are not MP4 video).
    """
    head = bytes(data[:32])
    for offset, magic, mtype in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mtype
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if filename:
        guessed, _ = mimetypes.guess_type(filename)
        if guessed:
            return guessed
    return "application/octet-stream"


def read_file_input(file: FileInput) -> tuple[bytes, str | None]:
    """Read a :data:`FileInput` fully; answer ``(bytes, file name or None)``."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return bytes(file), None
    if isinstance(file, (str, os.PathLike)):
        path = Path(file)
        return path.read_bytes(), path.name
    if hasattr(file, "read"):
        data = file.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("file objects must be opened in binary mode ('rb')")
        name = getattr(file, "name", None)
        return bytes(data), os.path.basename(name) if isinstance(name, str) else None
    raise TypeError(f"expected a path, bytes or a binary file object, got {type(file).__name__}")


def file_size(file: FileInput) -> int | None:
    """The size in bytes of a :data:`FileInput` without reading it, when it can be known."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        return len(file)
    if isinstance(file, (str, os.PathLike)):
        return os.stat(file).st_size
    with contextlib.suppress(AttributeError, OSError, ValueError):
        pos = file.tell()
        end = file.seek(0, os.SEEK_END)
        file.seek(pos)
        return end - pos
    return None


def data_uri(
    file: FileInput, *, media_type_: str | None = None, max_bytes: int = DATA_URI_MAX_BYTES
) -> str:
    """Encode a file as a ``data:<type>;base64,...`` URI for image inputs.

    ``file`` is a path, bytes, or a binary file object; the media type is sniffed
    from the bytes (or the file name) unless ``media_type_`` is given. Raises
    :class:`ValueError` when the file is larger than ``max_bytes`` (default
    :data:`DATA_URI_MAX_BYTES`, 10 MiB), or empty. Reads synchronously: call it
    before entering hot async code, or through ``anyio.to_thread.run_sync``.
    """
    size = file_size(file)
    if size is not None and size > max_bytes:
        raise ValueError(
            f"file is {size} bytes, over the {max_bytes}-byte limit for data: URIs; "
            "upload it with krea.assets.upload() and use the asset's image_url"
        )
    data, name = read_file_input(file)
    if len(data) > max_bytes:
        raise ValueError(f"file is {len(data)} bytes, over the {max_bytes}-byte limit")
    if not data:
        raise ValueError("file is empty")
    mtype = media_type_ or media_type(data, name)
    return f"data:{mtype};base64,{base64.b64encode(data).decode('ascii')}"


def _is_loopback(url: httpx.URL) -> bool:
    from ._urls import is_loopback_host

    return is_loopback_host(url.host)


def _parse_url(text: str, original: str, *, base: httpx.URL | None = None) -> httpx.URL:
    try:
        return base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DownloadError(f"invalid URL {text!r}: {exc}", url=original) from exc


def _check_scheme(url: httpx.URL, *, allow_http: bool, original: str) -> None:
    if url.scheme == "https":
        return
    if url.scheme == "http" and (allow_http or _is_loopback(url)):
        return
    raise DownloadError(f"refusing to download from non-HTTPS URL {url}", url=original)


def _create_part_file(target: Path) -> str:
    """Create an empty, unique ``.<name>.<random>.part`` file next to ``target``.

    Created with mode 0666 so that the kernel applies the umask, as for any new file
    (usually 0644). Neither ``mkstemp`` (always 0600) nor reading the umask with
    ``os.umask`` (process-wide, briefly 0 for every other thread) is used.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = target.parent / f".{target.name}.{secrets.token_hex(6)}.part"
        try:
            fd = os.open(name, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return str(name)
    raise FileExistsError(f"could not create a temporary file next to {target}")


def _extension(content_type: str) -> str:
    if content_type == "image/jpeg":
        return ".jpg"
    return mimetypes.guess_extension(content_type) or ".bin"


async def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    http_client: httpx.AsyncClient | None = None,
    allow_http: bool = False,
    timeout: httpx.Timeout | float = 120.0,
) -> Path:
    """Stream the file at ``url`` to ``dest`` and answer the path written.

    ``dest`` is a file path, or an existing directory (the file name then comes
    from the URL, with an extension from the content type when the URL has none).
    The body is written to a temporary file in the same directory and renamed into
    place, so ``dest`` never holds a partial file. No API key is sent.

    Redirects are followed (at most :data:`MAX_REDIRECTS`) only to ``https://``
    URLs, or ``http://`` on loopback (or anywhere with ``allow_http=True``, which
    the in-process fake needs). ``timeout`` is the per-request HTTP timeout in
    seconds.

    Raises :class:`DownloadError` (non-media content type, unsafe redirect, too
    many redirects), an :class:`~krea_async.APIStatusError` subclass for an HTTP
    error status, and :class:`~krea_async.APIConnectionError` /
    :class:`~krea_async.APITimeoutError` when the transfer fails.
    """
    target = Path(dest)
    owns = http_client is None
    client = http_client or httpx.AsyncClient(timeout=timeout)
    try:
        current = _parse_url(url, url)
        _check_scheme(current, allow_http=allow_http, original=url)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                request = client.build_request("GET", current, timeout=timeout)
                response = await client.send(request, stream=True, follow_redirects=False)
            except httpx.TimeoutException as exc:
                raise APITimeoutError(
                    f"download of {url} timed out", method="GET", url=url, request_sent=True
                ) from exc
            except httpx.HTTPError as exc:
                raise APIConnectionError(
                    f"download of {url} failed: {type(exc).__name__}: {exc}",
                    method="GET",
                    url=url,
                    request_sent=not isinstance(exc, httpx.ConnectError),
                ) from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = _parse_url(location, url, base=current)
                    _check_scheme(current, allow_http=allow_http, original=url)
                    continue
                return await _write_response(response, target, url)
            finally:
                await response.aclose()
        raise DownloadError(f"more than {MAX_REDIRECTS} redirects", url=url)
    finally:
        if owns:
            await client.aclose()


async def _write_response(response: httpx.Response, target: Path, url: str) -> Path:
    if not response.is_success:
        raise DownloadError(
            f"download of {url} failed: HTTP {response.status_code}",
            url=url,
            status_code=response.status_code,
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith(_ACCEPTED_DOWNLOAD_TYPES):
        raise DownloadError(
            f"{url} answered with content type {content_type or 'none'!r}, not a media file",
            url=url,
        )
    if await anyio.Path(target).is_dir():
        name = os.path.basename(response.url.path)
        if name in ("", ".", ".."):
            name = "result"
        elif name.startswith("."):  # never a hidden file
            name = "result" + name
        if "." not in name:
            name += _extension(content_type)
        target = target / name
    await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
    tmp_name = await anyio.to_thread.run_sync(_create_part_file, target)
    tmp = anyio.Path(tmp_name)
    try:
        try:
            async with await anyio.open_file(tmp_name, "wb") as out:
                async for chunk in response.aiter_bytes():
                    await out.write(chunk)
        except httpx.HTTPError as exc:
            raise APIConnectionError(
                f"download of {url} was interrupted: {type(exc).__name__}",
                method="GET",
                url=url,
                request_sent=True,
            ) from exc
        await tmp.replace(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await tmp.unlink(missing_ok=True)
        raise
    return target


async def download_all(
    urls: Iterable[str],
    dest: str | os.PathLike[str],
    *,
    http_client: httpx.AsyncClient | None = None,
    allow_http: bool = False,
    stem: str | None = None,
) -> list[Path]:
    """Download several URLs, one after the other, into a directory or onto one path.

    With one URL, ``dest`` may be a file path. With several, ``dest`` must be a
    directory (created if missing); files are named ``<stem>-<n><ext>`` when
    ``stem`` is given. Raises what :func:`download` raises.
    """
    items = list(urls)
    target = Path(dest)
    if len(items) > 1 or stem is not None or await anyio.Path(target).is_dir():
        await anyio.Path(target).mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index, item in enumerate(items):
        out: Path = target
        if stem is not None:
            suffix = Path(httpx.URL(item).path).suffix
            out = target / f"{stem}-{index}{suffix}"
        paths.append(await download(item, out, http_client=http_client, allow_http=allow_http))
    return paths
