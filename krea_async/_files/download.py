"""Downloading result files: :func:`download` and :func:`download_all` (public in
:mod:`krea_async.files`), with a size cap, a total deadline and safe redirects."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import anyio
import httpx

from .._clock import now
from .._errors import APIConnectionError, APITimeoutError
from .checks import (
    DownloadError,
    _check_scheme,
    _internal_host,
    _internal_ip,
    _parse_url,
    _peer_ip,
    _refuse_internal,
)
from .io import _write_response
from .names import (
    _numbered_name,
    _of_job,
    _short_url,
)

__all__ = ["DOWNLOAD_DEADLINE", "DOWNLOAD_MAX_BYTES", "MAX_REDIRECTS", "download", "download_all"]

logger = logging.getLogger("krea_async")

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
    started = now()
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
                now() - started,
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
