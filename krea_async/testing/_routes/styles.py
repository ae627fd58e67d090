"""Routes of styles: ``POST /styles/train`` (a LoRA training job), list, get,
patch, share link, share with the workspace."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._records import price_of
from .._util import ApiError
from .._validation import check_uri, json_body, request_validator, validate
from ._common import RouteGroup, base, listing, style_json

__all__ = ["TRAINING_SECONDS", "StyleRoutes"]

#: Clock seconds of a LoRA training before ``time_scale``.
TRAINING_SECONDS = 120.0
_WORKSPACE = {"id": "fake-workspace", "name": "Fake workspace", "is_default": True}


class StyleRoutes(RouteGroup):
    """``/styles``."""

    def routes(self) -> list[Route]:
        """The Starlette routes of this group."""
        return [
            Route("/styles/train", self._train, methods=["POST"]),
            Route("/styles", self._list_styles, methods=["GET"]),
            Route("/styles/{id}", self._get_style, methods=["GET"]),
            Route("/styles/{id}", self._patch_style, methods=["PATCH"]),
            Route("/styles/{id}/share/link", self._share_link, methods=["GET"]),
            Route(
                "/styles/{id}/share/workspace", self._share_workspace, methods=["POST", "DELETE"]
            ),
        ]

    async def _train(self, request: Request) -> Response:
        owner = self._auth(request)
        body = await json_body(request)
        validate(request_validator("/styles/train", "post"), body)
        model = body.get("model", "flux_dev")
        with self._state.lock:
            style = self._state.new_style(
                owner,
                name=body["name"],
                model=model,
                urls=body["urls"],
                trigger_word=body.get("trigger_word"),
            )
        preview = f"/_fake/images/512x768/{style['id']}.png"
        style.update(urls=[preview], cover_url=preview)
        answer = self._submit_job(
            request,
            owner,
            path="/styles/train",
            type="loraTraining",
            body=body,
            duration=TRAINING_SECONDS * self.fake.time_scale,
            price=price_of("/styles/train", "loraTraining", body),
            media="",
            outputs=0,
            style=style,
        )
        return JSONResponse(answer)

    async def _list_styles(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            page = self._state.list_styles(owner, request.query_params)
        page["items"] = [style_json(s, base(request)) for s in page["items"]]
        return JSONResponse(listing(page, self.fake.cursor_key))

    async def _get_style(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner)
            return JSONResponse(style_json(style.data, base(request)))

    async def _patch_style(self, request: Request) -> Response:
        owner = self._auth(request)
        body = await json_body(request)
        validate(request_validator("/styles/{id}", "patch"), body)
        update = {
            k: v
            for k, v in body.items()
            if k in ("public", "urls", "title", "cover_url") and v is not None
        }
        if not update:
            raise ApiError(400, "No valid fields to update (public, urls, title, cover_url)")
        cover = update.get("cover_url")
        if cover is not None and not check_uri(cover):  # styles carry it as a `uri`
            raise ApiError(400, f"cover_url: {str(cover)[:100]!r} is not a 'uri'")
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner, must_own=True)
            style.data.update(update)
            return JSONResponse(style_json(style.data, base(request)))

    async def _share_link(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            style = self._state.style(request.path_params["id"], owner, must_own=True)
            is_new = style.share_code is None
            if style.share_code is None:
                style.share_code = uuid.uuid4().hex[:12]
            code = style.share_code
        link = f"{base(request)}/_fake/share/styles/{code}"
        return JSONResponse(
            {"share_link": link, "is_new": is_new}, status_code=201 if is_new else 200
        )

    async def _share_workspace(self, request: Request) -> Response:
        owner = self._auth(request)
        style_id = request.path_params["id"]
        with self._state.lock:
            style = self._state.style(style_id, owner, must_own=True, forbidden=True)
            if request.method == "POST":
                style.shared = True
                return JSONResponse(
                    {"success": True, "style_id": style_id, "workspace": _WORKSPACE}
                )
            if not style.shared:
                raise ApiError(404, f"Style {style_id} is not shared with this workspace")
            style.shared = False
        return JSONResponse({"success": True})
