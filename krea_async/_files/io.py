"""Writing a result file safely: checks on the answer, a ``.part`` file inside the
target directory, bounded decoding, then a rename to the name :class:`Place` gives
(the extension from the file's first bytes)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import anyio
import httpx

from .._errors import DownloadError, DownloadTooLargeError
from .._http.body import BodyRefused, BodyTooLarge, content_encoding, decoded_chunks
from .._http.transport import connection_error, detached
from .names import Place, _of_job, _short_url

_ACCEPTED_DOWNLOAD_TYPES = ("image/", "video/", "audio/", "model/", "application/octet-stream")


def _inside(path: Path, root: Path) -> None:
    """Raise :class:`_OutsideTarget` unless ``path`` (its directory resolved, symlinks
    followed) is an entry of ``root`` (resolved too), other than ``root`` itself."""
    resolved_root = root.resolve()
    where = path.parent.resolve() / path.name
    if (
        path.name in ("", ".", "..")
        or not where.is_relative_to(resolved_root)
        or where == resolved_root
    ):
        raise _OutsideTarget(f"{path.name!r} would land outside {resolved_root}")


def _create_part_file(directory: Path, hint: str, inside: bool) -> str:
    """Create an empty, unique ``.<hint>.<random>.part`` file in ``directory``.

    With ``inside``, first check that it lies inside ``directory``.

    Created with mode 0666 so that the kernel applies the umask, as for any new file
    (usually 0644). Neither ``mkstemp`` (always 0600) nor reading the umask with
    ``os.umask`` (process-wide, briefly 0 for every other thread) is used.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = directory / f".{hint}.{secrets.token_hex(6)}.part"
        if inside:
            _inside(name, directory)
        try:
            fd = os.open(name, flags, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return str(name)
    raise FileExistsError(f"could not create a temporary file in {directory}")


class _OutsideTarget(Exception):
    pass


_HEAD_BYTES = 32


async def _write_response(
    response: httpx.Response,
    place: Place,
    url: str,
    *,
    max_bytes: int | None,
    job_id: str | None,
) -> tuple[Path, int]:
    """Check the answer, stream its body to a ``.part`` file in ``place.directory``,
    then rename it to ``place``'s name (extension from the first bytes). Nothing is
    left on disk on failure or cancellation."""
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
    directory = place.directory
    target = directory / place.part_hint()  # for messages until the name is known
    written = 0
    try:
        await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
        tmp_name = await anyio.to_thread.run_sync(
            _create_part_file, directory, place.part_hint(), not place.chosen
        )
    except _OutsideTarget as exc:
        raise DownloadError(f"refusing to write {short}: {exc}", url=url, job_id=job_id) from None
    except OSError as exc:
        raise DownloadError(
            f"cannot write {short} to {str(target)[:300]}: {exc.strerror or exc}",
            url=url,
            job_id=job_id,
        ) from exc
    tmp = anyio.Path(tmp_name)
    head = b""
    try:
        try:
            chunks = decoded_chunks(response, max_bytes)
            async with contextlib.aclosing(chunks), await anyio.open_file(tmp_name, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    if len(head) < _HEAD_BYTES:
                        head += chunk[: _HEAD_BYTES - len(head)]
                    await out.write(chunk)
            target = directory / place.final_name(head, response.url)
            if not place.chosen:
                await anyio.to_thread.run_sync(_inside, target, directory)
            await tmp.replace(target)
        except BodyTooLarge:
            raise too_large from None
        except BodyRefused as exc:
            raise DownloadError(f"{short}: {exc}", url=url, job_id=job_id) from None
        except _OutsideTarget as exc:
            raise DownloadError(
                f"refusing to write {short}: {exc}", url=url, job_id=job_id
            ) from None
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
