"""Routes of assets: ``/assets`` (multipart upload, list, get, delete) and the
uploaded files (``/_fake/assets/...``)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import _media
from .._util import ApiError
from ._common import RouteGroup, base, listing

__all__ = ["AssetRoutes"]


class AssetRoutes(RouteGroup):
    """``/assets``."""

    def routes(self) -> list[Route]:
        """The Starlette routes of this group."""
        return [
            Route("/assets", self._upload, methods=["POST"]),
            Route("/assets", self._list_assets, methods=["GET"]),
            Route("/assets/{id}", self._get_asset, methods=["GET"]),
            Route("/assets/{id}", self._delete_asset, methods=["DELETE"]),
            Route("/_fake/assets/{id}/{name}", self._asset_file, methods=["GET"]),
        ]

    async def _upload(self, request: Request) -> Response:
        owner = self._auth(request)
        limit = self.fake.max_upload_bytes
        too_big = f"file: larger than the maximum of {limit} bytes ({limit / 2**20:g} MB)"
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit + 64 * 1024:
            raise ApiError(400, too_big)
        try:
            form = await request.form(max_files=1, max_fields=10)
        except HTTPException as exc:
            raise ApiError(400, f"Invalid multipart body: {exc.detail}") from None
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(400, "file: required field is missing (multipart/form-data)")
            content = await upload.read()
            filename = upload.filename or "upload"
            description = form.get("description")
        finally:
            await form.close()
        if len(content) > limit:
            raise ApiError(400, too_big)
        mime = _media.sniff(content)
        if mime is None:
            raise ApiError(
                400,
                "file: invalid file type (JPEG, PNG, WebP, HEIC, MP4, MOV, WebM, "
                "GLB, WAV or MP3 expected)",
            )
        size = _media.image_size(content)
        asset_id = str(uuid.uuid4())
        safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)[:100]
        data: dict[str, Any] = {
            "id": asset_id,
            "image_url": f"{base(request)}/_fake/assets/{asset_id}/{safe_name}",
            "width": size[0] if size else None,
            "height": size[1] if size else None,
            "size_bytes": len(content),
            "mime_type": mime,
            "metadata": {"filename": filename},
        }
        if isinstance(description, str):
            data["description"] = description
        with self._state.lock:
            return JSONResponse(self._state.add_asset(owner, content, data))

    async def _list_assets(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            page = self._state.list_assets(owner, request.query_params)
        return JSONResponse(listing(page, self.fake.cursor_key))

    async def _get_asset(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            return JSONResponse(self._state.asset(request.path_params["id"], owner).data)

    async def _delete_asset(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            asset = self._state.asset(request.path_params["id"], owner)
            del self._state.assets[asset.data["id"]]
        return JSONResponse({"success": True, "message": "Asset deleted successfully"})

    async def _asset_file(self, request: Request) -> Response:
        with self._state.lock:
            asset = self._state.assets.get(request.path_params["id"])
        if asset is None:
            raise ApiError(404, "File not found")
        return Response(asset.content, media_type=asset.data["mime_type"])
