"""Routes of node apps: ``GET /node-apps/{id}``, ``POST /node-apps/{id}/execute`` and
``GET /node-apps/{node_app_id}/versions``."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import _media
from .._records import price_of
from .._util import ApiError, paginate, parse_cursor, parse_limit
from .._validation import json_body, schema_validator, validate
from ._common import RouteGroup, base, listing, style_json

__all__ = ["NODE_APP_SECONDS", "NodeAppRoutes"]

#: Fields of a stored app that a version item of ``/versions`` does not carry.
_NOT_IN_VERSIONS = frozenset(
    {"last_version_id", "input_key_mapping", "output_key_mapping", "node_app_id"}
)

#: Clock seconds of a node app run before ``time_scale``.
NODE_APP_SECONDS = 20.0


class NodeAppRoutes(RouteGroup):
    """``/node-apps``."""

    def routes(self) -> list[Route]:
        """The Starlette routes of this group."""
        return [
            Route("/node-apps/{id}", self._get_node_app, methods=["GET"]),
            Route("/node-apps/{id}/execute", self._execute, methods=["POST"]),
            Route("/node-apps/{id}/versions", self._versions, methods=["GET"]),
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

    async def _versions(self, request: Request) -> Response:
        """The runnable versions of a node app, newest first, paged like ``/jobs``
        (https://docs.krea.ai/api-reference/node-apps/list-runnable-node-app-versions).
        Each stored app is one version; its node app is ``node_app_id`` (default:
        its own ``id``). 404 when the node app has no version."""
        self._auth(request)
        app_id = request.path_params["id"]
        cursor = parse_cursor(request.query_params.get("cursor"))
        limit = parse_limit(request.query_params.get("limit"))
        with self._state.lock:
            versions = [
                a for a in self._state.node_apps.values() if a.get("node_app_id", a["id"]) == app_id
            ]
        if not versions:
            raise ApiError(404, f"Node app {app_id} not found")

        def created(app: dict[str, Any]) -> int:
            return parse_cursor(str(app.get("version_created_at") or app["created_at"])) or 0

        page, next_cursor = paginate(versions, created, cursor, limit)
        items = []
        for app in page:
            item = {k: v for k, v in app.items() if k not in _NOT_IN_VERSIONS}
            item["node_app_version_id"] = app["id"]
            items.append(style_json(item, base(request)))
        return JSONResponse(
            listing({"items": items, "next_cursor": next_cursor}, self.fake.cursor_key)
        )

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
