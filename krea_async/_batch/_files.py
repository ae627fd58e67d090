"""A batch line's result files, written by the SDK's one rule for result files
(:meth:`~krea_async.AsyncKrea.download_all`): named from the line's name, with the
extension their first bytes show, never a name or type the server sent."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .._client.client import AsyncKrea

__all__ = ["download_files"]


async def download_files(
    krea: AsyncKrea, urls: Sequence[str], out_dir: Path, name: str
) -> list[str]:
    """Download ``urls`` into ``out_dir`` as ``<name><ext>`` (one file) or
    ``<name>-<n><ext>``; each is written to a ``.part`` file first and renamed when
    complete. Answers the file names; raises what ``krea.download_all`` raises
    (:class:`~krea_async.KreaError`)."""
    paths = await krea.download_all(urls, out_dir, stem=name)
    return [path.name for path in paths]
