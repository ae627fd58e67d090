"""Routes of node apps: ``GET /node-apps/{id}`` and ``POST /node-apps/{id}/execute``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import _media
from .._records import price_of
from .._util import ApiError
from .._validation import json_body, schema_validator, validate
from ._common import RouteGroup, base, style_json

__all__ = ["NODE_APP_SECONDS", "NodeAppRoutes"]

#: Clock seconds of a node app run before ``time_scale``.
NODE_APP_SECONDS = 20.0


class NodeAppRoutes(RouteGroup):
    """``/node-apps``."""

    def routes(self) -> list[Route]:
        """The Starlette routes of this group."""
        return [
            Route("/node-apps/{id}", self._get_node_app, methods=["GET"]),
            Route("/node-apps/{id}/execute", self._execute, methods=["POST"]),
        ]

    def _node_app(self, app_id: str) -> dict[str, Any]:
        app = self._state.node_apps.get(app_id)
        if app is None:
            raise ApiError(404, f"Node app version {app_id} not found")
        return app

    async def _get_node_app(self, request: Request) -> Response:
        self._auth(request)
        with self._state.lock:
            app = self._node_app(request.path_params["id"])
        return JSONResponse(style_json(app, base(request)))

    async def _execute(self, request: Request) -> Response:
        owner = self._auth(request)
        app_id = request.path_params["id"]
        with self._state.lock:
            app = self._node_app(app_id)
        body = await json_body(request)
        validate(schema_validator(json.dumps(app["input_openapi_schema"], sort_keys=True)), body)
        count = body.get("num_images", 1)
        answer = self._submit_job(
            request,
            owner,
            path=f"/node-apps/{app_id}/execute",
            type="nodeApp",
            body=body,
            duration=NODE_APP_SECONDS * self.fake.time_scale,
            price=price_of(f"/node-apps/{app_id}/execute", "nodeApp", body),
            outputs=count if isinstance(count, int) and count > 0 else 1,
            size=_media.size_for(body),
        )
        return JSONResponse([answer])
