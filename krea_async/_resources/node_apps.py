"""``krea.node_apps``: read and execute node apps.

Source: ``GET /node-apps/{id}`` and ``POST /node-apps/{id}/execute`` (which
returns a JSON array of jobs) in Krea's OpenAPI document, and
``GET /node-apps/{node_app_id}/versions`` from Krea's API reference
(https://docs.krea.ai/api-reference/node-apps/list-runnable-node-app-versions).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .._http.urls import resource_path, webhook_headers
from .._models import Job, NodeApp, NodeAppVersionPage
from ._base import Resource, follow_cursor, paging

__all__ = ["NodeApps"]


def _app_path(app_id: str) -> str:
    return resource_path("/node-apps", app_id, "node app id")


class NodeApps(Resource):
    """Node apps (workflows published from Krea's node editor): ``krea.node_apps``."""

    async def get(self, app_id: str) -> NodeApp:
        """Fetch a node app version, with its input and output JSON Schemas
        (``GET /node-apps/{id}``). Raises :class:`~krea_async.NotFoundError`."""
        return await self._get(_app_path(app_id), cast_to=NodeApp)

    async def versions_page(
        self, node_app_id: str, *, cursor: str | _dt.datetime | None = None, limit: int = 100
    ) -> NodeAppVersionPage:
        """One page of a node app's runnable versions, newest first
        (``GET /node-apps/{node_app_id}/versions``; ``limit`` 1 to 1000, ``cursor``
        from ``next_cursor``). Run one with :meth:`execute` and its
        ``node_app_version_id``. Raises :class:`~krea_async.NotFoundError`."""
        return await self._get(
            _app_path(node_app_id) + "/versions",
            cast_to=NodeAppVersionPage,
            params=paging(limit, cursor),
        )

    async def versions(self, node_app_id: str, *, limit: int = 100) -> AsyncIterator[NodeApp]:
        """Iterate over every runnable version of a node app, following
        ``next_cursor`` across pages of ``limit``."""
        async for app in follow_cursor(
            lambda c: self.versions_page(node_app_id, cursor=c, limit=limit)
        ):
            yield app

    async def execute(
        self, app_id: str, input: Mapping[str, Any], *, webhook_url: str | None = None
    ) -> tuple[Job, ...]:
        """Run a node app (``POST /node-apps/{id}/execute``); return its pending jobs.

        ``input`` must match the app's ``input_openapi_schema``. Wait for each job
        with ``krea.jobs.wait(job.job_id)``. Raises
        :class:`~krea_async.BadRequestError`, :class:`~krea_async.InsufficientCreditsError`,
        :class:`~krea_async.RateLimitError`, :class:`~krea_async.NotFoundError`, and
        :class:`~krea_async.UncertainSubmitError` (never replayed).
        """
        headers = webhook_headers(webhook_url)
        return await self._submit(
            _app_path(app_id) + "/execute",
            cast_to=tuple[Job, ...],
            json=dict(input),
            headers=headers,
        )
