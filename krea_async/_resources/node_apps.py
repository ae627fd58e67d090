"""``krea.node_apps``: read and execute node apps.

Source: ``GET /node-apps/{id}`` and ``POST /node-apps/{id}/execute`` (which
returns a JSON array of jobs) in Krea's OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._http.urls import resource_path, webhook_headers
from .._models import Job, NodeApp
from ._base import Resource

__all__ = ["NodeApps"]


def _app_path(app_id: str) -> str:
    return resource_path("/node-apps", app_id, "node app id")


class NodeApps(Resource):
    """Node apps (workflows published from Krea's node editor): ``krea.node_apps``."""

    async def get(self, app_id: str) -> NodeApp:
        """Fetch a node app version, with its input and output JSON Schemas
        (``GET /node-apps/{id}``). Raises :class:`~krea_async.NotFoundError`."""
        return await self._get(_app_path(app_id), cast_to=NodeApp)

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
