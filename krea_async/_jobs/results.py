"""``SubscribeResult``: what ``subscribe()`` returns, and saving its files.

Above :mod:`krea_async._models` (plain data) and :mod:`krea_async.files`
(downloads), so neither has to import the other.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

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
        """Download every result URL and return the paths written, in order.

        ``dest`` is a directory when it exists, ends with ``/`` or has no extension
        (created if missing): the files are named ``<job_id><ext>`` for one
        result, ``<job_id>-<n><ext>`` for several, from a job id made safe (a
        server's ``../../x`` stays inside ``dest``) and the extension the file's
        first bytes show (``.png``, ``.jpg``, ``.mp4``...; ``.bin`` when unknown;
        never from the URL). Otherwise ``dest`` is your file name, kept as given
        (several results: ``out-0.png``, ``out-1.png`` next to it). Each file is
        streamed to a ``.part`` file and renamed into place (see
        :func:`krea_async.files.download_all`).
        Uses the client's connection pool, behind its ``max_connections`` limit like
        an API request (10,000 saved at once wait in the SDK's queue), and never sends
        the API key. Raises
        :class:`ValueError` when the job has no URLs, and what
        :func:`krea_async.files.download` raises.
        """
        urls = self.data.urls
        if not urls:
            raise ValueError(f"job {self.request_id} has no result URLs to save")
        if self._downloader is not None:
            return await self._downloader(urls, dest, self.request_id)
        from ..files import download_all

        return await download_all(urls, dest, stem=self.request_id)
