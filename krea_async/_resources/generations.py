"""Generation submits: ``POST /generate/{category}/{provider}/{model}``.

Used by :meth:`~krea_async.AsyncKrea.generate` and the typed ``image()`` /
``video()`` / ``enhance()`` / ``subscribe()`` methods. Owns the rule that a 404
here means "no such endpoint" (:class:`~krea_async.EndpointNotFoundError`), not
an unknown id.
"""

from __future__ import annotations

from typing import Any

import anyio

from .._errors import EndpointNotFoundError, NotFoundError, reclassify
from .._inputs_runtime import to_body
from .._models import Job
from .._urls import split_endpoint, webhook_headers
from ._base import Resource

__all__ = ["Generations"]


class Generations(Resource):
    """Submits generation jobs (private; reached through the client's methods)."""

    async def create(
        self,
        endpoint: str,
        input: Any,
        *,
        webhook_url: str | None = None,
        stop: anyio.Event | None = None,
    ) -> Job:
        """POST ``input`` to ``/generate/{endpoint}``; return the pending job.

        ``stop``: once set, no retry starts (see the request layer). Raises
        :class:`ValueError` for a malformed endpoint or webhook URL,
        :class:`~krea_async.EndpointNotFoundError` for an endpoint Krea does not
        have, and :class:`~krea_async.UncertainSubmitError` (never replayed).
        """
        _, path = split_endpoint(endpoint)
        body = to_body(path[len("/generate/") :], input)
        try:
            return await self._submit(
                path, cast_to=Job, json=body, headers=webhook_headers(webhook_url), stop=stop
            )
        except NotFoundError as exc:
            raise reclassify(exc, EndpointNotFoundError) from exc
