"""The file methods of :class:`~krea_async.AsyncKrea` (a mixin, like the generated
methods): :meth:`ClientFiles.download` and :meth:`ClientFiles.download_all` (behind
``SubscribeResult.save``, the CLI and the batch), on the client's connection pool,
behind its admission limit, and never with the API key. The transfers themselves
live in :mod:`krea_async.files`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

from .._http.transport import SharedState
from .config import ClientSettings

__all__ = ["ClientFiles"]

T = TypeVar("T")


class ClientFiles:
    """Mixin: downloads through the pool of the client it is mixed into."""

    __slots__ = ()

    _state: SharedState
    _settings: ClientSettings

    async def download(self, url: str, dest: str | os.PathLike[str]) -> Path:
        """Stream one result URL to ``dest`` (a file path or a directory), atomically.

        Uses this client's connection pool, waiting for a slot of its
        ``max_connections`` limit like an API request, but never sends the API key.
        See :func:`krea_async.files.download` for redirects, checks and errors.
        """
        from .. import files as _files

        return await self._admitted(functools.partial(_files.download, url, dest))

    async def download_all(
        self, urls: Sequence[str], dest: str | os.PathLike[str], stem: str | None = None
    ) -> list[Path]:
        """Stream several result URLs, one after the other, into ``dest``; return the
        paths written, in order.

        ``dest`` is a directory (existing, ending with ``/``, or without extension;
        created if missing) where the files are named ``<stem><ext>`` (one URL) or
        ``<stem>-<n><ext>``, from ``stem`` made safe (server text such as a job id is
        fine: nothing lands outside ``dest``) and the extension the file's first
        bytes show; or a file name of yours (``mountain.png``), kept as given. The
        rule is :func:`krea_async.files.download_all`'s, on this client's pool,
        holding one slot of its ``max_connections`` limit, never with the API key.
        """
        from .. import files as _files

        return await self._admitted(functools.partial(_files.download_all, urls, dest, stem=stem))

    async def _admitted(self, transfer: Callable[..., Awaitable[T]]) -> T:
        """Run ``transfer(http_client=, allow_http=)`` (downloads, one after the other)
        on this client's pool, holding one slot of its admission limit like an API
        request: 10,000 results saved at once wait in the SDK's FIFO, not in httpx's
        pool, where they would stand before the poller's requests and wait there under
        their own pool timeout."""
        self._state.check_usable()
        admission = self._state.admission
        await admission.acquire()
        answered = False
        try:
            result = await transfer(
                http_client=self._state.http_client, allow_http=self._settings.allow_insecure_http
            )
            answered = True
            return result
        finally:
            admission.release(answered=answered)
