"""Every SDK internal the CLI uses, in one place.

The CLI otherwise uses only the public ``krea_async`` API. These come from
private modules because they have no public name yet: the poll-interval table,
endpoint parsing, the bundled spec's model list (``krea.models`` needs a client;
these commands make no request), the styles filter type, and ``jobs.wait``'s
keyword names (old spellings until the issue-7 renames land: then ``wait`` here
passes ``poll_interval=``, ``deadline=``, ``on_queue_update=``).
"""

from __future__ import annotations

from .. import AsyncKrea, Job, QueueUpdateCallback
from .._client import _DEFAULT_INTERVALS, _split_endpoint
from .._resources.styles import StyleFilter
from .._spec import CATEGORIES, generation_endpoints, model_info
from ..files import data_uri

__all__ = [
    "CATEGORIES",
    "StyleFilter",
    "data_uri",
    "default_poll_interval",
    "generation_endpoints",
    "model_info",
    "split_endpoint",
    "wait",
]


def default_poll_interval(category: str | None) -> float:
    """Krea's documented poll interval in seconds: 2 for image/enhance, 5 for video."""
    return _DEFAULT_INTERVALS.get(category or "image", 2.0)


def split_endpoint(endpoint: str) -> tuple[str | None, str]:
    """``"image/a/b"`` or ``"/generate/image/a/b"`` -> ``("image", "/generate/image/a/b")``;
    the category is ``None`` when it is not one. Raises :class:`ValueError`."""
    return _split_endpoint(endpoint)


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
        interval=poll_interval,
        timeout=deadline,
        cancel_on_exit=True,
        on_update=on_queue_update,
    )
