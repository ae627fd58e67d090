"""A batch line's result files, written by the SDK's one rule for result files
(:meth:`~krea_async.AsyncKrea.download_all`): named from the line's name, with the
extension their first bytes show, never a name or type the server sent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._client.client import AsyncKrea

__all__ = ["download_files", "existing_outputs"]


async def download_files(
    krea: AsyncKrea, urls: Sequence[str], out_dir: Path, name: str
) -> list[str]:
    """Download ``urls`` into ``out_dir`` as ``<name><ext>`` (one file) or
    ``<name>-<n><ext>``; each is written to a ``.part`` file first and renamed when
    complete. Answers the file names; raises what ``krea.download_all`` raises
    (:class:`~krea_async.KreaError`)."""
    paths = await krea.download_all(urls, out_dir, stem=name)
    return [path.name for path in paths]


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
