"""Every SDK internal the CLI uses, in one place.

The CLI otherwise uses only the public ``krea_async`` API. These come from
private modules because they have no public name yet: the poll-interval table,
endpoint parsing, the bundled spec's model list (``krea.models`` needs a client;
these commands make no request) and the styles filter type. Each is the SDK's own
function, re-exported: the CLI keeps no copy of SDK logic.
"""

from __future__ import annotations

from .. import AsyncKrea, Job, QueueUpdateCallback
from .._http.urls import split_endpoint
from .._jobs.polling import default_poll_interval
from .._resources.styles import StyleFilter
from .._spec.bundle import (
    CATEGORIES,
    active_document,
    generation_endpoints,
    model_info,
    schema_types,
)
from ..files import data_uri

__all__ = [
    "CATEGORIES",
    "AsyncKrea",
    "active_document",
    "StyleFilter",
    "data_uri",
    "default_poll_interval",
    "generation_endpoints",
    "model_info",
    "schema_types",
    "split_endpoint",
    "wait",
]


async def wait(
    krea: AsyncKrea,
    job_id: str,
    *,
    poll_interval: float,
    deadline: float | None,
    on_queue_update: QueueUpdateCallback,
) -> Job:
    """``krea.jobs.wait`` with ``cancel_on_exit=True`` (an abandoned wait cancels the job)."""
    return await krea.jobs.wait(
        job_id,
        poll_interval=poll_interval,
        deadline=deadline,
        cancel_on_exit=True,
        on_queue_update=on_queue_update,
    )
