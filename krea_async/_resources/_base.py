"""What every resource namespace shares: the client it belongs to, and parsing."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import httpx

from .._converter import WireFormatError, structure
from .._errors import APIResponseValidationError

if TYPE_CHECKING:
    from .._client import AsyncKrea

T = TypeVar("T")


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
