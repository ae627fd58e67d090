"""What every resource namespace shares: the client it belongs to, and parsing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import quote

import httpx

from .._converter import WireFormatError, structure
from .._errors import APIResponseValidationError

if TYPE_CHECKING:
    from .._client import AsyncKrea

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Page(Protocol[T_co]):
    @property
    def items(self) -> tuple[T_co, ...]: ...

    @property
    def next_cursor(self) -> str | None: ...


def resource_path(prefix: str, resource_id: str, what: str) -> str:
    """``prefix/<id>`` with the id URL-quoted; :class:`ValueError` for an empty id."""
    if not isinstance(resource_id, str) or resource_id.strip() in ("", ".", ".."):
        raise ValueError(f"{what} must be a non-empty string, got {resource_id!r}")
    return f"{prefix}/{quote(resource_id.strip(), safe='')}"


async def follow_cursor(
    fetch: Callable[[str | None], Awaitable[_Page[T]]], start: str | None = None
) -> AsyncIterator[T]:
    """Yield the items of every page, fetching the next with the previous ``next_cursor``.

    Stops on the last page (no cursor, or an empty page) and, defensively, when a
    server repeats a cursor it already gave.
    """
    cursor = start
    seen: set[str] = set()
    while True:
        page = await fetch(cursor)
        for item in page.items:
            yield item
        cursor = page.next_cursor
        if not cursor or not page.items or cursor in seen:
            return
        seen.add(cursor)


def webhook_headers(webhook_url: str | None) -> dict[str, str]:
    """The ``X-Webhook-URL`` header for a job-creating request (empty without a URL).

    Krea POSTs the terminal job there (NOTES.md, "Webhooks"). Raises
    :class:`ValueError` for anything but an absolute ``http(s)://`` URL.
    """
    if webhook_url is None:
        return {}
    try:
        parsed = httpx.URL(webhook_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"webhook_url is not a valid URL: {webhook_url!r}") from exc
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
