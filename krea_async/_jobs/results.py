"""``SubscribeResult``: what ``subscribe()`` returns, and saving its files.

Above :mod:`krea_async._models` (plain data) and :mod:`krea_async.files`
(downloads), so neither has to import the other.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import anyio
import attrs

from .._models import Job, JobResult

__all__ = ["DownloadAll", "SubscribeResult"]

DownloadAll = Callable[
    [Sequence[str], "str | os.PathLike[str]", "str | None"], Awaitable[list[Path]]
]
"""``download(urls, dest, job_id)``: the client's download of a result's files."""


@attrs.frozen(kw_only=True)
class SubscribeResult:
    """What ``subscribe()`` returns, shaped like the Node SDK's result.

    - ``data``: the completed job's :class:`JobResult` (so ``data.urls[0]``).
    - ``job``: the terminal :class:`Job`.
    - ``request_id``: the job id, the same string as ``job.job_id`` (the Node SDK's
      ``requestId`` is the job id too).
    """

    data: JobResult
    job: Job
    request_id: str
    _downloader: DownloadAll | None = attrs.field(
        default=None, repr=False, eq=False, alias="downloader"
    )

    @property
    def urls(self) -> tuple[str, ...]:
        """Shortcut for ``data.urls``."""
        return self.data.urls

    async def save(self, dest: str | os.PathLike[str]) -> list[Path]:
        """Download every result URL and return the paths written.

        ``dest`` is a directory (created if missing; files are named
        ``<job_id>-<n><ext>``) or, for a single result, a file path with an
        extension. Each file is streamed to a temporary file and renamed into place.
        Uses the client's connection pool, behind its ``max_connections`` limit like
        an API request (10,000 saved at once wait in the SDK's queue), and never sends
        the API key. Raises
        :class:`ValueError` when the job has no URLs, and what
        :func:`krea_async.files.download` raises.
        """
        urls = self.data.urls
        if not urls:
            raise ValueError(f"job {self.request_id} has no result URLs to save")
        target = anyio.Path(dest)
        single_file = len(urls) == 1 and bool(target.suffix) and not await target.is_dir()
        stem = None if single_file else self.request_id
        if self._downloader is not None:
            return await self._downloader(urls, dest, stem)
        from ..files import download_all

        return await download_all(urls, dest, stem=stem)
