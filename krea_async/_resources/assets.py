"""``krea.assets``: upload, list, get and delete assets.

Source: ``POST /assets`` (multipart, field ``file``, optional ``description``,
"Maximum file size: 75MB"), ``GET /assets``, ``GET /assets/{id}`` and
``DELETE /assets/{id}`` in Krea's OpenAPI document.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from .._errors import AssetTooLargeError
from .._http.urls import resource_path
from .._models import Asset, AssetPage
from ._base import Resource, follow_cursor, paging

if TYPE_CHECKING:
    from ..files import FileInput

__all__ = ["MAX_ASSET_BYTES", "Assets"]

MAX_ASSET_BYTES = 75 * 1024 * 1024
"""Krea's upload limit, "75MB", taken as 75 * 1024 * 1024 bytes (the one definition;
exported as ``krea_async.MAX_ASSET_BYTES``)."""

_UPLOAD = ("uploaded an asset", "`krea.assets.list()`")


def _asset_path(asset_id: str) -> str:
    return resource_path("/assets", asset_id, "asset_id")


class Assets(Resource):
    """Uploaded files (images, video, audio, 3D models): ``krea.assets``."""

    async def upload(
        self,
        file: FileInput,
        *,
        filename: str | None = None,
        description: str | None = None,
        content_type: str | None = None,
    ) -> Asset:
        """Upload a file (``POST /assets``, multipart) and return the :class:`~krea_async.Asset`.

        ``file`` is a path, bytes, or a binary file object (read in a worker thread).
        The media type is sniffed from the bytes unless ``content_type`` is given;
        ``filename`` defaults to the path's name (or ``upload`` plus an extension).
        Raises :class:`AssetTooLargeError` for a file over 75 MB before uploading,
        :class:`~krea_async.BadRequestError` when Krea rejects the type,
        :class:`~krea_async.UncertainSubmitError` when the upload may or may not
        have happened (it is not replayed, to avoid a duplicate asset).
        """
        from ..files import file_size, media_type, read_file_input  # (import cost)

        size = await anyio.to_thread.run_sync(file_size, file)
        if size is not None and size > MAX_ASSET_BYTES:
            raise AssetTooLargeError(size, MAX_ASSET_BYTES)
        data, name = await anyio.to_thread.run_sync(read_file_input, file)
        if len(data) > MAX_ASSET_BYTES:
            raise AssetTooLargeError(len(data), MAX_ASSET_BYTES)
        mtype = content_type or media_type(data, filename or name)
        if not (filename or name):
            import mimetypes

            filename = "upload" + (mimetypes.guess_extension(mtype) or "")
        form = {"description": description} if description is not None else None
        return await self._submit(
            "/assets",
            cast_to=Asset,
            files={"file": (filename or name, data, mtype)},
            data=form,
            submit=_UPLOAD,
        )

    async def get(self, asset_id: str) -> Asset:
        """Fetch one asset (``GET /assets/{id}``). Raises :class:`~krea_async.NotFoundError`."""
        return await self._get(_asset_path(asset_id), cast_to=Asset)

    async def delete(self, asset_id: str) -> None:
        """Delete an asset (``DELETE /assets/{id}``). Raises :class:`~krea_async.NotFoundError`.

        Retried like any idempotent request; a 404 after an attempt whose response
        was lost counts as done (that attempt deleted it).
        """
        await self._delete(_asset_path(asset_id), gone_ok=True)

    async def list_page(
        self, *, cursor: str | _dt.datetime | None = None, limit: int = 100
    ) -> AssetPage:
        """One page of ``GET /assets`` (``limit`` 1 to 1000; ``cursor`` from ``next_cursor``)."""
        return await self._get("/assets", cast_to=AssetPage, params=paging(limit, cursor))

    async def list(self, *, limit: int = 100) -> AsyncIterator[Asset]:
        """Iterate over every asset, following ``next_cursor`` across pages of ``limit``."""
        async for asset in follow_cursor(lambda c: self.list_page(cursor=c, limit=limit)):
            yield asset
