"""A batch line's result files: downloaded under a temporary name, then renamed with
the extension their first bytes show (never a name or type the server sent)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio

from .._client.client import AsyncKrea

__all__ = ["download_files", "sniff"]


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
