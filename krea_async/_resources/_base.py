"""What every resource namespace shares: typed request verbs, parsing, paging, checks.

A resource calls ``self._get(path, cast_to=Job)``, ``self._post(...)``,
``self._patch(...)``, ``self._delete(...)`` or ``self._submit(...)``; each sends
through the client's :class:`~krea_async._http.request.Requester` and structures the
body into ``cast_to``. Resources never touch the client object itself.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import anyio
import httpx

from .._converter import WireFormatError, check_job_id, structure
from .._errors import APIResponseValidationError
from .._http.admission import StopSignal
from .._http.request import Requester, SubmitInfo
from .._jobs.polling import PollingSettings
from .._models import Job, JobPage

__all__ = ["Resource", "check_limit", "cursor_param", "follow_cursor", "iso", "parse"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Params = Mapping[str, "str | int"]
_JOB: SubmitInfo = ("created a job", None)


class _Page(Protocol[T_co]):
    @property
    def items(self) -> tuple[T_co, ...]: ...

    @property
    def next_cursor(self) -> str | None: ...


def check_limit(limit: int) -> int:
    """A page size of 1 to 1000 items (Krea's bound); :class:`ValueError` otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise ValueError(f"limit must be between 1 and 1000, got {limit!r}")
    return limit


def iso(value: _dt.datetime) -> str:
    """An aware or naive (= UTC) ``datetime`` as ISO 8601 UTC with a ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def cursor_param(cursor: str | _dt.datetime | None) -> str | None:
    """A ``cursor`` query value: a string as given, a ``datetime`` via :func:`iso`."""
    return iso(cursor) if isinstance(cursor, _dt.datetime) else cursor


def paging(limit: int, cursor: str | _dt.datetime | None) -> dict[str, str | int]:
    """The ``limit`` (checked) and ``cursor`` query parameters of a list page."""
    params: dict[str, str | int] = {"limit": check_limit(limit)}
    value = cursor_param(cursor)
    if value is not None:
        params["cursor"] = value
    return params


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


def parse(body: object, response: httpx.Response, cls: type[T]) -> T:
    """Structure ``body`` into ``cls``; a wrong shape, or a job id the SDK cannot
    address (:func:`~krea_async._converter.check_job_id`), raises
    APIResponseValidationError."""
    try:
        value = structure(body, cls)
        if isinstance(value, Job):
            check_job_id(value.job_id)
        elif isinstance(value, JobPage):
            for job in value.items:
                check_job_id(job.job_id)
        return value
    except WireFormatError as exc:
        request = response.request
        raise APIResponseValidationError(
            f"{request.method} {request.url.path} returned {response.status_code} with an "
            f"unexpected body: {exc}",
            response=response,
            body=body,
        ) from exc


class Resource:
    """A namespace bound to one client configuration (a ``with_options`` copy has its own)."""

    def __init__(self, requester: Requester, polling: PollingSettings) -> None:
        self._requester = requester
        self._polling = polling

    async def _get(self, path: str, *, cast_to: type[T], params: Params | None = None) -> T:
        body, response = await self._requester.request("GET", path, params=params)
        return parse(body, response, cast_to)

    async def _patch(self, path: str, *, cast_to: type[T], json: object) -> T:
        body, response = await self._requester.request("PATCH", path, json_body=json)
        return parse(body, response, cast_to)

    async def _post(self, path: str, *, cast_to: type[T], idempotent: bool = False) -> T:
        """A POST that sets a state (replayable only with ``idempotent=True``)."""
        body, response = await self._requester.request("POST", path, idempotent=idempotent)
        return parse(body, response, cast_to)

    async def _delete(
        self, path: str, *, gone_ok: bool = False, total: float | None = None
    ) -> object:
        """``DELETE path``; return the parsed body (``None`` when empty). ``gone_ok``:
        a 404 after an attempt whose answer was lost counts as done; ``total``: see
        :meth:`~krea_async._http.request.Requester.request`."""
        body, _ = await self._requester.request("DELETE", path, gone_ok=gone_ok, total=total)
        return body

    async def _submit(
        self,
        path: str,
        *,
        cast_to: type[T],
        json: object = None,
        files: Mapping[str, Any] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        submit: SubmitInfo = _JOB,
        stop: anyio.Event | StopSignal | None = None,
        prepare: Callable[[object, httpx.Response], object] | None = None,
    ) -> T:
        """POST something that creates a job or an asset: never replayed when it may
        have been carried out (:class:`~krea_async.UncertainSubmitError`, worded by
        ``submit``). ``prepare`` sees the successful answer first and returns the body
        to parse."""

        def read(body: object, response: httpx.Response) -> T:
            if prepare is not None:
                body = prepare(body, response)
            return parse(body, response, cast_to)

        return await self._requester.submit(
            path,
            read,
            json_body=json,
            files=files,
            data=data,
            headers=headers,
            submit=submit,
            stop=stop,
        )
