"""A batch line's result files: downloaded under a temporary name, then renamed with
the extension their first bytes show (never a name or type the server sent)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import anyio

from .._client.client import AsyncKrea

__all__ = ["download_files", "existing_outputs", "sniff"]


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"GIF8", 0, ".gif"),
    (b"WEBP", 8, ".webp"),
    (b"ftyp", 4, ".mp4"),
    (b"\x1a\x45\xdf\xa3", 0, ".webm"),
)


def sniff(head: bytes) -> str:
    """A file extension from the file's first bytes (never from server names)."""
    for magic, offset, ext in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return ext
    return ".bin"


async def download_files(
    krea: AsyncKrea, urls: Sequence[str], out_dir: Path, name: str
) -> list[str]:
    """Download ``urls`` into ``out_dir`` as ``<name><ext>`` (one file) or
    ``<name>-<n><ext>``; each is written to ``.<stem>.part`` first and renamed when
    complete. Answers the file names; raises what ``krea.download`` raises
    (:class:`~krea_async.KreaError`) or :class:`OSError`."""
    written: list[str] = []
    for n, url in enumerate(urls):
        stem = name if len(urls) == 1 else f"{name}-{n}"
        part = out_dir / f".{stem}.part"
        await krea.download(url, part)
        async with await anyio.open_file(part, "rb") as f:
            head = await f.read(16)
        final = out_dir / f"{stem}{sniff(head)}"
        await anyio.Path(part).replace(final)
        written.append(final.name)
    return written


_NUMBERED = re.compile(r"(.+)-\d+")


def existing_outputs(out_dir: Path, names: Iterable[str]) -> dict[str, list[str]]:
    """The result files already in ``out_dir`` of the lines ``names``, by line name:
    the inverse of :func:`download_files`'s naming (``<name><ext>``, or
    ``<name>-<n><ext>`` when no line is named ``<name>-<n>``). Hidden files (a
    ``.part`` still downloading, the ledger) are not results."""
    wanted = set(names)
    found: dict[str, list[str]] = {}
    if not out_dir.is_dir():
        return found
    for path in sorted(out_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        stem = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
        numbered = _NUMBERED.fullmatch(stem)
        if stem in wanted:
            found.setdefault(stem, []).append(path.name)
        elif numbered and numbered.group(1) in wanted:
            found.setdefault(numbered.group(1), []).append(path.name)
    return found
