"""The fake's HTTP API: one module per resource group, assembled into one
Starlette app by :func:`build_app`, with Krea's ``{"error": "..."}`` bodies."""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._specdata import load_spec
from .._state import State
from .._util import ApiError
from ._common import FakeSettings
from .assets import AssetRoutes
from .jobs import JobRoutes
from .node_apps import NODE_APP_SECONDS, NodeAppRoutes
from .styles import TRAINING_SECONDS, StyleRoutes

__all__ = ["NODE_APP_SECONDS", "TRAINING_SECONDS", "build_app"]

Endpoint = Callable[[Request], Awaitable[Response]]

log = logging.getLogger("krea_async.testing")


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


async def _server_error(_: Request, exc: Exception) -> Response:
    log.exception("fake Krea API: internal error", exc_info=exc)
    return JSONResponse({"error": "Internal server error (a bug in the fake)"}, 500)


def _merged(routes: list[Route]) -> list[Route]:
    """One route per path, dispatching on the method, so a ``405`` names every
    method the path allows in its ``Allow`` header (not just one route's)."""
    by_path: dict[str, dict[str, Endpoint]] = {}
    for route in routes:
        methods = by_path.setdefault(route.path, {})
        for method in route.methods or ():
            if method != "HEAD":
                methods[method] = route.endpoint
    out = []
    for path, methods in by_path.items():

        async def dispatch(request: Request, _methods: dict[str, Endpoint] = methods) -> Any:
            endpoint = _methods.get(request.method) or _methods["GET"]  # HEAD: as GET
            return await endpoint(request)

        out.append(Route(path, dispatch, methods=list(methods)))
    return out


def _spec_route(state: State) -> Route:
    async def openapi(_: Request) -> Response:
        """The fake's own OpenAPI document (no token needed, as Krea serves
        https://api.krea.ai/openapi.json): the bundled spec, with the models the
        fake deprecated marked ``deprecated: true`` (deprecations page)."""
        spec = copy.deepcopy(dict(load_spec()))
        with state.lock:
            paths = list(state.deprecations)
        for path in paths:
            op = spec["paths"].get(path, {}).get("post")
            if op is not None:
                op["deprecated"] = True
        return JSONResponse(spec)

    return Route("/openapi.json", openapi, methods=["GET"])


def build_app(fake: FakeSettings, state: State) -> Starlette:
    """The Starlette app serving every route of the fake."""
    routes = _merged(
        [
            *JobRoutes(fake, state).routes(),
            *AssetRoutes(fake, state).routes(),
            *StyleRoutes(fake, state).routes(),
            *NodeAppRoutes(fake, state).routes(),
            _spec_route(state),
        ]
    )
    handlers: dict[Any, Callable[[Request, Exception], Any]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers)
