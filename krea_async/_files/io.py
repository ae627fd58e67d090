"""Writing a download safely: checks on the answer, part files inside the target,
bounded decoding."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx

from .._errors import DownloadError, DownloadTooLargeError
from .._http.body import BodyRefused, BodyTooLarge, content_encoding, decoded_chunks
from .._http.transport import connection_error, detached
from .names import _extension, _name_from_url, _of_job, _short_url, _url_suffix

_ACCEPTED_DOWNLOAD_TYPES = ("image/", "video/", "audio/", "model/", "application/octet-stream")


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
    try:
        # Refused before any file is created; the one rule of krea_async._http.body.
        content_encoding(response)
    except BodyRefused as exc:
        raise DownloadError(f"{short}: {exc}", url=url, job_id=job_id) from None
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
            chunks = decoded_chunks(response, max_bytes)
            async with contextlib.aclosing(chunks), await anyio.open_file(tmp_name, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    await out.write(chunk)
            await tmp.replace(target)
        except BodyTooLarge:
            raise too_large from None
        except BodyRefused as exc:
            raise DownloadError(f"{short}: {exc}", url=url, job_id=job_id) from None
        except httpx.HTTPError as exc:
            error = connection_error(
                exc, "GET", httpx.URL(url), subject=f"download of {short}", doing="was interrupted"
            )
            raise error from detached(exc)
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
