"""Downloading result files: :func:`download` and :func:`download_all` (public in
:mod:`krea_async.files`), with a size cap, a total deadline and safe redirects."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import anyio
import httpx

from .._clock import now
from .._errors import APIConnectionError, APITimeoutError, DownloadError
from .._http._transports.choice import default_transport
from .._http.addresses import (
    PUBLIC_ONLY,
    AddressRefused,
    is_internal_host,
    peer_address,
    reaches_internal,
)
from .._http.transport import connection_error, detached
from .checks import _check_scheme, _parse_url, _refuse_internal
from .io import _write_response
from .names import Place, _of_job, _short_url, result_places

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
    name then comes from the URL's last segment without its extension, through
    :func:`safe_file_name`, and the extension from the file's first bytes
    (:func:`result_extension`; ``.bin`` when unknown; never from the URL or the
    content type), and the final path is checked to lie inside ``dest``. The body
    is written to a ``.part`` file in the same directory and renamed into place, so
    ``dest`` never holds a partial file. No API key is sent; ``Accept-Encoding: identity`` is.

    Redirects are followed (at most :data:`MAX_REDIRECTS`) only to ``https://``
    URLs, or ``http://`` on loopback (or anywhere with ``allow_http=True``, which
    the in-process fake needs), and never into loopback, link-local
    (169.254/16, fe80::/10), private (10/8, 172.16/12, 192.168/16, fc00::/7),
    shared (100.64/10) or unspecified addresses unless ``url`` itself led to such
    an address (so a server on loopback can redirect on loopback). Literal IPs and
    ``localhost`` names are refused before connecting; a host name is resolved,
    every address checked, and the connection made to a checked address, on the
    SDK's own transports (httpx's and aiohttp's), so DNS rebinding does not get
    around it. With an ``http_client`` of your own, the address the connection
    reached is checked instead (when its transport reports it, as httpx's does),
    before any byte of the body is read. The rule: :mod:`krea_async._http.addresses`.

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
    if await anyio.Path(target).is_dir():
        place = Place(directory=target)
    else:
        place = Place(directory=target.parent, name=target.name)
    return await _download(
        url,
        place,
        http_client=http_client,
        allow_http=allow_http,
        timeout=timeout,
        max_bytes=max_bytes,
        deadline=deadline,
        job_id=job_id,
    )


async def _download(
    url: str,
    place: Place,
    *,
    http_client: httpx.AsyncClient | None,
    allow_http: bool,
    timeout: httpx.Timeout | float,
    max_bytes: int | None,
    deadline: float | None,
    job_id: str | None,
) -> Path:
    """Fetch ``url`` and write it where ``place`` says: the one path every saved
    result takes."""
    started = now()
    logger.debug("download GET %s%s -> %s", _short_url(url), _of_job(job_id), place.directory)
    owns = http_client is None
    client = http_client or httpx.AsyncClient(
        timeout=timeout, transport=default_transport(httpx.Limits())
    )
    try:
        with anyio.move_on_after(deadline if deadline is not None else float("inf")) as scope:
            path, size = await _fetch(
                url,
                place,
                client=client,
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
    place: Place,
    *,
    client: httpx.AsyncClient,
    allow_http: bool,
    timeout: httpx.Timeout | float,
    max_bytes: int | None,
    job_id: str | None,
) -> tuple[Path, int]:
    current = _parse_url(url, url, job_id)
    _check_scheme(current, allow_http=allow_http, original=url, job_id=job_id)
    origin_internal: bool | None = None  # decided on the first redirect
    for hop in range(MAX_REDIRECTS + 1):
        public_only = bool(hop and not origin_internal)
        if public_only and is_internal_host(current.host):
            _refuse_internal(current, url, job_id, "address")
        try:
            request = client.build_request(
                "GET",
                current,
                timeout=timeout,
                headers={"Accept-Encoding": "identity"},
                extensions={PUBLIC_ONLY: True} if public_only else None,
            )
            response = await client.send(request, stream=True, follow_redirects=False)
        except AddressRefused as exc:
            _refuse_internal(current, url, job_id, f"{exc.host} resolves to {exc.address}")
        except httpx.HTTPError as exc:
            error = connection_error(
                exc,
                "GET",
                httpx.URL(url),
                subject=f"download of {_short_url(url)}{_of_job(job_id)}",
            )
            raise error from detached(exc)
        try:
            peer = peer_address(response)
            if hop == 0:
                origin_internal = reaches_internal(peer, current.host)
            elif public_only and peer is not None and reaches_internal(peer, current.host):
                # An http_client of the caller's own: checked once connected.
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
                place,
                url,
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
    """Download several URLs, one after the other; return the paths written, in order.

    ``dest`` is a directory when it exists as one, ends with ``/`` or has no
    extension (created if missing, parents included): the files are named by
    :func:`result_file_name` from ``stem``: ``<stem><ext>`` for one URL,
    ``<stem>-<n><ext>`` for several, the extension from each file's first bytes
    (``.bin`` when unknown; never from the URL). ``stem`` may be server text
    (``result.save()`` passes the job id): it goes through :func:`safe_file_name`,
    and each path is checked to lie inside ``dest``; ``stem=None`` names each file
    from its URL's last segment. Otherwise ``dest`` is a file name of the caller's
    (``mountain.png``), kept as given; several URLs go next to it as
    ``mountain-0.png``, ``mountain-1.png``. ``job_id`` (default: ``stem``) names the
    job in errors. ``timeout``, ``max_bytes`` and ``deadline`` apply to each file
    as in :func:`download`. Raises what :func:`download` raises.
    """
    items = list(urls)
    job = job_id if job_id is not None else stem
    places = result_places(dest, len(items), stem=stem, dest_is_dir=await anyio.Path(dest).is_dir())
    paths: list[Path] = []
    for item, place in zip(items, places, strict=True):
        paths.append(
            await _download(
                item,
                place,
                http_client=http_client,
                allow_http=allow_http,
                timeout=timeout,
                max_bytes=max_bytes,
                deadline=deadline,
                job_id=job,
            )
        )
    return paths
