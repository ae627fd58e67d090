"""What every resource namespace shares: the client it belongs to, and parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import httpx

from .._converter import WireFormatError, structure
from .._errors import APIResponseValidationError

if TYPE_CHECKING:
    from .._client import AsyncKrea

T = TypeVar("T")


def webhook_headers(webhook_url: str | None) -> dict[str, str]:
    """The ``X-Webhook-URL`` header for a job-creating request (empty without a URL).

    Krea POSTs the terminal job there (NOTES.md, "Webhooks"). Raises
    :class:`ValueError` for anything but an absolute ``http(s)://`` URL.
    """
    if webhook_url is None:
        return {}
    parsed = httpx.URL(webhook_url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"webhook_url must be an http(s) URL, got {webhook_url!r}")
    return {"X-Webhook-URL": str(parsed)}


class Resource:
    """A namespace bound to one :class:`~krea_async.AsyncKrea` (or a ``with_options`` copy)."""

    def __init__(self, client: AsyncKrea) -> None:
        self._client = client


def parse(body: object, response: httpx.Response, cls: type[T]) -> T:
    """Structure ``body`` into ``cls``; a wrong shape raises APIResponseValidationError."""
    try:
        return structure(body, cls)
    except WireFormatError as exc:
        request = response.request
        raise APIResponseValidationError(
            f"{request.method} {request.url.path} answered {response.status_code} with an "
            f"unexpected body: {exc}",
            response=response,
            body=body,
        ) from exc
