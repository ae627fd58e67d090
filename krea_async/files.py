"""Files in and out: ``data:`` URIs for inputs, media-type sniffing, safe downloads.

- :func:`data_uri` turns a local image into a ``data:`` URI for fields such as
  ``image_urls`` (Krea's image-to-image docs example posts a
  ``data:image/jpeg;base64,...`` URI).
- :func:`media_type` sniffs the type of file bytes (the types ``POST /assets``
  accepts: JPEG, PNG, WebP, HEIC, MP4, MOV, WebM, GLB, WAV, MP3).
- :func:`download` streams a result URL to disk atomically;
  :func:`download_all` saves every result of a job (what ``result.save()`` uses).
- :func:`result_file_name` is the one rule naming saved results
  (``<job_id>-<n><ext>``), shared by the SDK and the CLI;
  :func:`safe_file_name` makes any server text a safe file name.

Result URLs come from the server (Krea's job ``result.urls``,
https://docs.krea.ai/developers/api-reference), so every byte of them is treated
as hostile: names on disk are built from safe characters only and checked to
lie inside the target directory, redirects may not lead into internal networks,
and a size cap and a total deadline bound each download.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import ipaddress
import logging
import mimetypes
import os
import re
import secrets
import socket
import time
import warnings
import zlib
from collections.abc import AsyncGenerator, Callable, Iterable
from pathlib import Path
from typing import IO, Union

import anyio
import httpx

from ._errors import APIConnectionError, APITimeoutError, KreaError

__all__ = [
    "DATA_URI_MAX_BYTES",
    "DOWNLOAD_DEADLINE",
    "DOWNLOAD_MAX_BYTES",
    "MAX_FILE_NAME_CHARS",
    "MAX_REDIRECTS",
    "DownloadError",
    "DownloadTooLargeError",
    "FileInput",
    "data_uri",
    "download",
    "download_all",
    "media_type",
    "result_file_name",
    "safe_file_name",
]

logger = logging.getLogger("krea_async")

FileInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
"""What the SDK accepts as a file: a path, raw bytes, or a binary file object."""

DATA_URI_MAX_BYTES = 10 * 1024 * 1024
"""Largest file :func:`data_uri` encodes (bytes): 10 MiB, since a request body with
a larger inline image is slow to send and may be refused; upload larger files
with ``krea.assets.upload()`` and pass the asset's ``image_url`` instead."""

MAX_REDIRECTS = 5
"""Redirects :func:`download` follows at most."""

DOWNLOAD_MAX_BYTES = 1024 * 1024 * 1024
"""Default cap on one downloaded file (bytes): 1 GiB, room for a long video.

Counted on the decoded bytes written to disk (so a small gzip body that inflates
without end stops here too). Over it, :class:`DownloadTooLargeError`."""

DOWNLOAD_DEADLINE = 900.0
"""Default total deadline of one download in seconds (15 minutes), redirects
included; per-read timeouts alone never fire on a server that sends one byte a
second. Over it, :class:`~krea_async.APITimeoutError`."""

MAX_FILE_NAME_CHARS = 120
"""Longest file name (characters, extension included) built from server text;
file systems refuse names over 255 bytes."""

_MESSAGE_URL_CHARS = 200
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
    URL, a redirect to a non-HTTPS URL (other than loopback), a redirect into a
    loopback, link-local or private network from a URL outside one, too many
    redirects, or a file that cannot be written (the ``OSError`` is chained as
    ``__cause__``).

    ``url`` is the URL asked for (in full; messages show at most 200 characters of
    it, without its query string, which often holds a signature). ``job_id`` is
    the job whose result it is, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code
        self.job_id = job_id

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments: rebuild from the attributes, so that the error
        # crosses process boundaries (multiprocessing, Celery, arq) intact.
        return (_rebuild_error, (type(self), str(self), dict(vars(self))))


def _rebuild_error(
    cls: type[DownloadError], message: str, state: dict[str, object]
) -> DownloadError:
    error = cls.__new__(cls)
    KreaError.__init__(error, message)
    error.__dict__.update(state)
    return error


class DownloadTooLargeError(DownloadError):
    """The file is larger than the download's ``max_bytes`` cap (bytes).

    Raised as soon as the announced ``Content-Length`` or the decoded bytes
    received pass the cap; nothing is left on disk. ``max_bytes`` is the cap.
    """

    def __init__(
        self, message: str, *, url: str, max_bytes: int, job_id: str | None = None
    ) -> None:
        super().__init__(message, url=url, job_id=job_id)
        self.max_bytes = max_bytes


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
    file: FileInput,
    *,
    media_type: str | None = None,
    max_bytes: int = DATA_URI_MAX_BYTES,
    media_type_: str | None = None,
) -> str:
    """Encode a file as a ``data:<type>;base64,...`` URI for image inputs.

    ``file`` is a path, bytes, or a binary file object; the media type is sniffed
    from the bytes (or the file name) unless ``media_type`` is given (for example
    ``"image/jpeg"``). ``media_type_`` is the old spelling of ``media_type``: it
    still works in this release and emits a :class:`DeprecationWarning`. Raises
    :class:`ValueError` when the file is larger than ``max_bytes`` (default
    :data:`DATA_URI_MAX_BYTES`, 10 MiB), or empty, and :class:`TypeError` when both
    spellings are given. Reads synchronously: call it before entering hot async
    code, or through ``anyio.to_thread.run_sync``.
    """
    if media_type_ is not None:
        if media_type is not None:
            raise TypeError("pass media_type=, not both media_type= and media_type_=")
        warnings.warn(
            "data_uri(media_type_=...) is deprecated; use media_type=...",
            DeprecationWarning,
            stacklevel=2,
        )
        media_type = media_type_
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
    mtype = media_type or _sniff_media_type(data, name)
    return f"data:{mtype};base64,{base64.b64encode(data).decode('ascii')}"


_sniff_media_type = media_type


# --------------------------------------------------------------------------- naming

_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
_RESERVED_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{d}{n}" for d in ("COM", "LPT") for n in range(1, 10)]
)


def safe_file_name(
    text: str, *, default: str = "result", max_chars: int = MAX_FILE_NAME_CHARS
) -> str:
    """A file name made of ``text``'s safe characters only, never a path.

    Keeps ASCII letters, digits, ``.``, ``_`` and ``-``; each run of anything else
    (``/``, ``\\\\``, NUL, newlines, spaces, non-ASCII) becomes ``_``. Leading dots
    and dashes are dropped (no ``..``, no hidden file, no name read as an option),
    as are trailing dots; Windows device names (``CON``, ``NUL``...) get a ``_``
    prefix. When anything had to change, or the name is longer than ``max_chars``
    characters, it is shortened and ends with ``-`` and 10 hex digits of the
    SHA-256 of the original ``text``, so that two different ids never share a
    name (``".."`` becomes ``result-<hash>``). An empty ``text`` becomes
    ``default``.

    A Krea job id (a UUID such as ``"6a4f...-..."``) comes out unchanged.
    """
    if max_chars < 16:
        raise ValueError("max_chars must be at least 16")
    cleaned = _UNSAFE_RUN.sub("_", text).lstrip(".-").rstrip(".")
    if cleaned.split(".")[0].upper() in _RESERVED_NAMES:
        cleaned = "_" + cleaned
    if not text:
        return default
    if cleaned == text and len(cleaned) <= max_chars:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    keep = cleaned[: max_chars - 11].rstrip(".") or default
    return f"{keep}-{digest}"


def _safe_suffix(suffix: str) -> str:
    """``suffix`` when it is ``.`` and 1 to 10 ASCII letters or digits, else ``""``."""
    return suffix.lower() if _SAFE_SUFFIX.fullmatch(suffix) else ""


def result_file_name(
    job_id: str, index: int = 0, *, count: int | None = None, suffix: str = ""
) -> str:
    """The file name of result ``index`` (from 0) of a job: the one naming rule.

    ``<job_id>-<index><suffix>``; with ``count=1`` (the job has one result) just
    ``<job_id><suffix>``. ``job_id`` goes through :func:`safe_file_name` (a Krea
    UUID is kept as is; ``../../X`` or a 300-character id is not) and ``suffix``
    (such as ``".png"``, from the URL or the content type) is dropped unless it is
    ``.`` followed by 1 to 10 letters or digits. The result is at most
    :data:`MAX_FILE_NAME_CHARS` characters.

    ``result.save(dir)`` and :func:`download_all` leave ``count`` unset (always
    numbered: ``<job_id>-0.png``); the CLI's ``-o DIR`` passes ``count`` (a single
    result is ``<job_id>.png``).
    """
    tail = _safe_suffix(suffix)
    number = "" if count == 1 else f"-{index}"
    stem = safe_file_name(job_id, default="job", max_chars=MAX_FILE_NAME_CHARS - len(number + tail))
    return f"{stem}{number}{tail}"


def _numbered_name(job_id: str, index: int, suffix: str) -> str:
    return result_file_name(job_id, index, suffix=suffix)


def _url_suffix(url: httpx.URL) -> str:
    name = url.path.rsplit("/", 1)[-1]
    return _safe_suffix(os.path.splitext(name)[1]) if "." in name else ""


def _name_from_url(url: httpx.URL, content_type: str) -> str:
    """A safe file name for a download into a directory, from the URL's last segment."""
    base = url.path.rsplit("/", 1)[-1]
    stem, suffix = os.path.splitext(base)
    if not _safe_suffix(suffix):
        stem, suffix = base, ""
    tail = _safe_suffix(suffix) or _extension(content_type)
    return safe_file_name(stem, max_chars=MAX_FILE_NAME_CHARS - len(tail)) + tail


def _extension(content_type: str) -> str:
    if content_type == "image/jpeg":
        return ".jpg"
    return _safe_suffix(mimetypes.guess_extension(content_type) or "") or ".bin"


def _short_url(url: str | httpx.URL) -> str:
    """A URL for messages and logs: no query string or fragment, at most 200 chars."""
    text = str(url)
    base, query_mark, _ = text.partition("?")
    base = base.partition("#")[0]
    if query_mark:
        base += "?..."
    if len(base) > _MESSAGE_URL_CHARS:
        base = f"{base[:_MESSAGE_URL_CHARS]}...({len(text)} chars)"
    return base.encode("ascii", "backslashreplace").decode("ascii")


def _of_job(job_id: str | None) -> str:
    return f" (job {safe_file_name(job_id, default='?')})" if job_id else ""


# --------------------------------------------------------------------------- networks


def _internal_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local, private (RFC 1918, fc00::/7), shared (100.64/10),
    unspecified, multicast or reserved: not a place a public CDN sends you."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_V4)
    )


_SHARED_V4 = ipaddress.IPv4Network("100.64.0.0/10")


def _internal_host(host: str) -> bool:
    """Whether ``host`` names an internal address without a DNS lookup: ``localhost``
    names, and literal IPs in any form the resolver accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``[::ffff:127.0.0.1]``)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _internal_ip(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host):
        try:
            return _internal_ip(ipaddress.IPv4Address(socket.inet_aton(host)))
        except OSError:
            return False
    return False


def _peer_ip(response: httpx.Response) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address the response actually came from, when the transport says."""
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    try:
        addr = stream.get_extra_info("server_addr")
        return ipaddress.ip_address(str(addr[0]).split("%", 1)[0]) if addr else None
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _parse_url(
    text: str, original: str, job_id: str | None, *, base: httpx.URL | None = None
) -> httpx.URL:
    problem = ""
    cause: Exception | None = None
    try:
        url = base.join(text) if base is not None else httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        problem, cause = str(exc)[:200], exc
    else:
        labels = url.host.removesuffix(".").split(".")
        if len(url.host) <= 253 and all(0 < len(label) < 64 for label in labels):
            return url
        problem, cause = "invalid host name", None
    error = DownloadError(
        f"invalid URL {_short_url(text)!r}{_of_job(job_id)}: {problem}",
        url=original,
        job_id=job_id,
    )
    raise error from cause


def _check_scheme(url: httpx.URL, *, allow_http: bool, original: str, job_id: str | None) -> None:
    if url.scheme == "https":
        return
    if url.scheme == "http" and (allow_http or _is_loopback(url)):
        return
    raise DownloadError(
        f"refusing to download from non-HTTPS URL {_short_url(url)}{_of_job(job_id)}",
        url=original,
        job_id=job_id,
    )


def _is_loopback(url: httpx.URL) -> bool:
    from ._urls import is_loopback_host

    return is_loopback_host(url.host)


def _refuse_internal(url: httpx.URL, original: str, job_id: str | None, where: str) -> None:
    raise DownloadError(
        f"refusing a redirect from {_short_url(original)} into an internal network "
        f"({where}: {_short_url(url)}){_of_job(job_id)}",
        url=original,
        job_id=job_id,
    )


# --------------------------------------------------------------------------- download


def _create_part_file(target: Path, inside: Path | None) -> str:
    """Create an empty, unique ``.<name>.<random>.part`` file next to ``target``.

    With ``inside``, first check that ``target`` (its directory resolved, symlinks
    followed) lies inside ``inside`` (resolved too).

    Created with mode 0666 so that the kernel applies the umask, as for any new file
    (usually 0644). Neither ``mkstemp`` (always 0600) nor reading the umask with
    ``os.umask`` (process-wide, briefly 0 for every other thread) is used.
    """
    if inside is not None:
        root = inside.resolve()
        where = target.parent.resolve() / target.name
        if target.name in ("", ".", "..") or not where.is_relative_to(root) or where == root:
            raise _OutsideTarget(f"{target.name!r} would land outside {root}")
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


class _OutsideTarget(Exception):
    pass


async def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    http_client: httpx.AsyncClient | None = None,
    allow_http: bool = False,
    timeout: httpx.Timeout | float = 120.0,
    max_bytes: int | None = DOWNLOAD_MAX_BYTES,
    deadline: float | None = DOWNLOAD_DEADLINE,
    job_id: str | None = None,
) -> Path:
    """Stream the file at ``url`` to ``dest`` and return the path written.

    ``dest`` is a file path (used as given), or an existing directory: the file
    name then comes from the URL's last segment through :func:`safe_file_name`
    (with an extension from the content type when the URL has no safe one), and
    the final path is checked to lie inside ``dest``. The body is written to a
    temporary file in the same directory and renamed into place, so ``dest`` never
    holds a partial file. No API key is sent; ``Accept-Encoding: identity`` is.

    Redirects are followed (at most :data:`MAX_REDIRECTS`) only to ``https://``
    URLs, or ``http://`` on loopback (or anywhere with ``allow_http=True``, which
    the in-process fake needs), and never into loopback, link-local
    (169.254/16, fe80::/10), private (10/8, 172.16/12, 192.168/16, fc00::/7),
    shared (100.64/10) or unspecified addresses unless ``url`` itself led to such
    an address (so a server on loopback can redirect on loopback). Literal IPs and
    ``localhost`` names are refused before connecting; a host name is checked by
    the address the connection actually reached, before any byte of the body is
    read (no DNS lookup of our own, so DNS rebinding does not get around it).

    ``timeout`` is the per-request HTTP timeout in seconds; ``deadline`` bounds the
    whole download in seconds (default :data:`DOWNLOAD_DEADLINE`; ``None``: no
    bound); ``max_bytes`` caps the decoded size in bytes (default
    :data:`DOWNLOAD_MAX_BYTES`, 1 GiB; ``None``: no cap). ``job_id`` names the job
    in errors and logs. Each download is logged at DEBUG on the ``krea_async``
    logger (URL without its query string, path, bytes, seconds).

    Raises :class:`DownloadError` (HTTP error status, non-media content type,
    invalid URL, unsafe redirect, too many redirects, a file that cannot be
    written), :class:`DownloadTooLargeError` (over ``max_bytes``),
    :class:`~krea_async.APITimeoutError` (a timeout, or over ``deadline``) and
    :class:`~krea_async.APIConnectionError` when the transfer fails.
    """
    target = Path(dest)
    into_dir = await anyio.Path(target).is_dir()
    return await _download(
        url,
        target,
        into_dir=into_dir,
        name_for=None,
        http_client=http_client,
        allow_http=allow_http,
        timeout=timeout,
        max_bytes=max_bytes,
        deadline=deadline,
        job_id=job_id,
    )


async def _download(
    url: str,
    target: Path,
    *,
    into_dir: bool,
    name_for: Callable[[str], str] | None,
    http_client: httpx.AsyncClient | None,
    allow_http: bool,
    timeout: httpx.Timeout | float,
    max_bytes: int | None,
    deadline: float | None,
    job_id: str | None,
) -> Path:
    """``into_dir``: ``target`` is a directory and the name is built from server text:
    ``name_for(suffix)``, or else from the URL's last segment."""
    started = time.monotonic()
    logger.debug("download GET %s%s -> %s", _short_url(url), _of_job(job_id), target)
    owns = http_client is None
    client = http_client or httpx.AsyncClient(timeout=timeout)
    try:
        with anyio.move_on_after(deadline if deadline is not None else float("inf")) as scope:
            path, size = await _fetch(
                url,
                target,
                client=client,
                into_dir=into_dir,
                name_for=name_for,
                allow_http=allow_http,
                timeout=timeout,
                max_bytes=max_bytes,
                job_id=job_id,
            )
            logger.debug(
                "downloaded %d bytes from %s%s to %s in %.3fs",
                size,
                _short_url(url),
                _of_job(job_id),
                path,
                time.monotonic() - started,
            )
            return path
        assert scope.cancelled_caught
        logger.debug("download of %s%s passed its deadline", _short_url(url), _of_job(job_id))
        raise APITimeoutError(
            f"download of {_short_url(url)}{_of_job(job_id)} took longer than its "
            f"{deadline} s deadline",
            method="GET",
            url=url,
            request_sent=True,
        )
    except (DownloadError, APIConnectionError) as exc:
        logger.debug("download failed: %s", exc)
        raise
    finally:
        if owns:
            with anyio.CancelScope(shield=True):
                await client.aclose()


async def _fetch(
    url: str,
    target: Path,
    *,
    client: httpx.AsyncClient,
    into_dir: bool,
    name_for: Callable[[str], str] | None,
    allow_http: bool,
    timeout: httpx.Timeout | float,
    max_bytes: int | None,
    job_id: str | None,
) -> tuple[Path, int]:
    current = _parse_url(url, url, job_id)
    _check_scheme(current, allow_http=allow_http, original=url, job_id=job_id)
    origin_internal: bool | None = None  # decided on the first redirect
    for hop in range(MAX_REDIRECTS + 1):
        if hop and not origin_internal and _internal_host(current.host):
            _refuse_internal(current, url, job_id, "address")
        try:
            request = client.build_request(
                "GET", current, timeout=timeout, headers={"Accept-Encoding": "identity"}
            )
            response = await client.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"download of {_short_url(url)}{_of_job(job_id)} timed out",
                method="GET",
                url=url,
                request_sent=True,
            ) from exc
        except httpx.HTTPError as exc:
            raise APIConnectionError(
                f"download of {_short_url(url)}{_of_job(job_id)} failed: {type(exc).__name__}",
                method="GET",
                url=url,
                request_sent=not isinstance(exc, httpx.ConnectError),
            ) from exc
        try:
            peer = _peer_ip(response)
            if hop == 0:
                origin_internal = (
                    _internal_ip(peer) if peer is not None else _internal_host(current.host)
                )
            elif not origin_internal and peer is not None and _internal_ip(peer):
                _refuse_internal(current, url, job_id, f"connected to {peer}")
            if response.is_redirect:
                location = response.headers.get("location", "")
                logger.debug(
                    "download redirect %d to %s", response.status_code, _short_url(location)
                )
                current = _parse_url(location, url, job_id, base=current)
                _check_scheme(current, allow_http=allow_http, original=url, job_id=job_id)
                continue
            return await _write_response(
                response,
                target,
                url,
                into_dir=into_dir,
                name_for=name_for,
                max_bytes=max_bytes,
                job_id=job_id,
            )
        finally:
            await response.aclose()
    raise DownloadError(
        f"more than {MAX_REDIRECTS} redirects from {_short_url(url)}{_of_job(job_id)}",
        url=url,
        job_id=job_id,
    )


async def _write_response(
    response: httpx.Response,
    target: Path,
    url: str,
    *,
    into_dir: bool,
    name_for: Callable[[str], str] | None,
    max_bytes: int | None,
    job_id: str | None,
) -> tuple[Path, int]:
    short = f"{_short_url(url)}{_of_job(job_id)}"
    if not response.is_success:
        raise DownloadError(
            f"download of {short} failed: HTTP {response.status_code}",
            url=url,
            status_code=response.status_code,
            job_id=job_id,
        )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith(_ACCEPTED_DOWNLOAD_TYPES):
        raise DownloadError(
            f"{short} answered with content type {content_type[:100] or 'none'!r}, "
            "not a media file",
            url=url,
            job_id=job_id,
        )
    too_large = DownloadTooLargeError(
        f"download of {short} is larger than the {max_bytes}-byte cap",
        url=url,
        max_bytes=max_bytes or 0,
        job_id=job_id,
    )
    declared = response.headers.get("content-length", "")
    encoded = response.headers.get("content-encoding", "identity").strip().lower()
    if (
        max_bytes is not None
        and declared.isdigit()
        and encoded in ("", "identity")
        and int(declared) > max_bytes
    ):
        raise too_large
    inside: Path | None = None
    if into_dir:
        inside = target
        if name_for is not None:
            name = name_for(_url_suffix(response.url) or _extension(content_type))
        else:
            name = _name_from_url(response.url, content_type)
        target = target / name
    written = 0
    try:
        await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
        tmp_name = await anyio.to_thread.run_sync(_create_part_file, target, inside)
    except _OutsideTarget as exc:
        raise DownloadError(f"refusing to write {short}: {exc}", url=url, job_id=job_id) from None
    except OSError as exc:
        raise DownloadError(
            f"cannot write {short} to {str(target)[:300]}: {exc.strerror or exc}",
            url=url,
            job_id=job_id,
        ) from exc
    tmp = anyio.Path(tmp_name)
    try:
        try:
            chunks = _decoded(response, encoded, short, url, job_id)
            async with contextlib.aclosing(chunks), await anyio.open_file(tmp_name, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    if max_bytes is not None and written > max_bytes:
                        raise too_large
                    await out.write(chunk)
            await tmp.replace(target)
        except httpx.HTTPError as exc:
            raise APIConnectionError(
                f"download of {short} was interrupted: {type(exc).__name__}",
                method="GET",
                url=url,
                request_sent=True,
            ) from exc
        except OSError as exc:
            raise DownloadError(
                f"cannot write {short} to {str(target)[:300]}: {exc.strerror or exc}",
                url=url,
                job_id=job_id,
            ) from exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(OSError):
                await tmp.unlink(missing_ok=True)
        raise
    return target, written


_DECODE_STEP = 1024 * 1024


async def _decoded(
    response: httpx.Response, encoding: str, short: str, url: str, job_id: str | None
) -> AsyncGenerator[bytes, None]:
    """The body, decoded at most 1 MiB at a time whatever the compression ratio.

    httpx's own decoders inflate each network read in one piece (a 64 KiB read of
    a gzip bomb is 64 MiB in memory), so gzip and deflate are decoded here with a
    bounded output step. Downloads ask for ``identity``; any other encoding than
    ``gzip``, ``x-gzip`` and ``deflate`` is refused.
    """
    if response.is_stream_consumed:
        # A response built in memory (a mock transport, an event hook that read it):
        # its body is already decoded.
        yield response.content
        return
    if encoding in ("", "identity"):
        async for chunk in response.aiter_raw():
            yield chunk
        return
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise DownloadError(
            f"{short} answered with content encoding {encoding[:50]!r}, not identity or gzip",
            url=url,
            job_id=job_id,
        )
    try:
        async for chunk in response.aiter_raw():
            data = chunk
            while data and not inflater.eof:
                out = inflater.decompress(data, _DECODE_STEP)
                data = inflater.unconsumed_tail
                if out:
                    yield out
        rest = inflater.flush()
    except zlib.error as exc:
        raise DownloadError(
            f"{short}: the {encoding} body is corrupt ({exc})", url=url, job_id=job_id
        ) from exc
    if rest:
        yield rest


async def download_all(
    urls: Iterable[str],
    dest: str | os.PathLike[str],
    *,
    http_client: httpx.AsyncClient | None = None,
    allow_http: bool = False,
    stem: str | None = None,
    job_id: str | None = None,
    timeout: httpx.Timeout | float = 120.0,
    max_bytes: int | None = DOWNLOAD_MAX_BYTES,
    deadline: float | None = DOWNLOAD_DEADLINE,
) -> list[Path]:
    """Download several URLs, one after the other, into a directory or onto one path.

    With one URL and no ``stem``, ``dest`` may be a file path (used as given).
    Otherwise ``dest`` is a directory (created if missing) and the files are named
    by :func:`result_file_name` from ``stem``: ``<stem>-<n><ext>``, the extension
    from the URL or else the content type. ``stem`` is server text
    (``result.save()`` passes the job id): it goes through
    :func:`safe_file_name`, and each path is checked to lie inside ``dest``.
    ``job_id`` (default: ``stem``) names the job in errors. ``timeout``,
    ``max_bytes`` and ``deadline`` apply to each file as in :func:`download`.
    Raises what :func:`download` raises.
    """
    items = list(urls)
    target = Path(dest)
    job = job_id if job_id is not None else stem
    into_dir = len(items) > 1 or stem is not None or await anyio.Path(target).is_dir()
    if into_dir:
        try:
            await anyio.Path(target).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DownloadError(
                f"cannot create {str(target)[:300]}{_of_job(job)}: {exc.strerror or exc}",
                url=items[0] if items else "",
                job_id=job,
            ) from exc
    paths: list[Path] = []
    for index, item in enumerate(items):
        name_for = None
        if stem is not None:
            name_for = functools.partial(_numbered_name, stem, index)
        paths.append(
            await _download(
                item,
                target,
                into_dir=into_dir,
                name_for=name_for,
                http_client=http_client,
                allow_http=allow_http,
                timeout=timeout,
                max_bytes=max_bytes,
                deadline=deadline,
                job_id=job,
            )
        )
    return paths
