"""The list rounds of the shared poller (:mod:`krea_async._jobs.poller`).

A round asks ``GET /jobs?limit=1000`` (Krea's list of the account's jobs, newest
first; the spec's ``cursor`` is "jobs created before this time") for the states of
the jobs waited for, and hands each listed job to :meth:`ListRounds._apply`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import anyio

from .._converter import WireFormatError, parse_datetime

__all__ = ["LIST_LIMIT", "MAX_LIST_PAGES", "ListPage", "ListRounds"]

#: Page size of a list request (Krea's maximum).
LIST_LIMIT = 1000
#: Pages (or, with many jobs, windows) one list round reads at most; a job no page
#: covers is checked by id.
MAX_LIST_PAGES = 10
#: Waited-for jobs one list window covers (a page holds 1,000: room for others' jobs).
_WINDOW = 900
#: Pages one window reads at most (more when others' jobs crowd it; then by id).
_WINDOW_PAGES = 2
#: List pages a round reads at once (each parsed page is held until it is applied).
_CONCURRENT_PAGES = 4

#: One raw page of ``GET /jobs?limit=1000`` from a cursor: ``(items, next_cursor)``.
ListPage = Callable[["str | _dt.datetime | None"], Awaitable["tuple[Sequence[object], str | None]"]]


class ListRounds:
    """The list-round half of :class:`~krea_async._jobs.poller.Poller` (a mixin)."""

    _pending: Mapping[Any, None]  # the waiters (``.created``: a datetime or None)
    _list_page: ListPage
    _pages: int
    list_requests: int

    def _apply(self, item: dict[str, Any], now: float) -> None:
        raise NotImplementedError

    async def _list_round(self, now: float) -> None:
        """List the account's jobs, newest first, until the oldest waited-for job is
        covered; hand a state to each waiter whose job changed status.

        Krea's list cursor is a time ("jobs created before this time", ``GET /jobs``
        in the spec), so with more waiters than one page holds, the round splits them
        by creation time into windows of :data:`_WINDOW` and reads the windows' pages
        at once (:data:`_CONCURRENT_PAGES` at a time), oldest first, instead of one
        page after another: at 10,000 jobs a round takes about one page's time."""
        created = [w.created for w in self._pending if w.created is not None]
        if len(created) <= _WINDOW:
            self._pages = await self._list_window(None, min(created, default=None), now)
            return
        created.sort()
        # window k: from its oldest job (floor) up to, not including, the floor of the
        # next newer window (its cursor); the newest window starts at the first page
        floors = created[::_WINDOW][:MAX_LIST_PAGES]
        tops: list[_dt.datetime | None] = [*floors[1:], None]
        errors: list[Exception] = []
        pages: list[int] = []
        limit = anyio.Semaphore(_CONCURRENT_PAGES)

        async def window(top: _dt.datetime | None, floor: _dt.datetime) -> None:
            async with limit:
                try:
                    pages.append(await self._list_window(top, floor, now, max_pages=_WINDOW_PAGES))
                except Exception as exc:  # typed request errors: the first one is raised
                    errors.append(exc)

        async with anyio.create_task_group() as tg:
            for top, floor in zip(tops, floors, strict=True):
                tg.start_soon(window, top, floor)
        if errors:
            raise errors[0]
        self._pages = sum(pages)

    async def _list_window(
        self,
        cursor: _dt.datetime | None,
        oldest: _dt.datetime | None,
        now: float,
        max_pages: int = MAX_LIST_PAGES,
    ) -> int:
        """Page from ``cursor`` (``None``: the newest job) until ``oldest`` is covered;
        return the pages read."""
        seen_cursors: set[str] = set()
        pages = 0
        page_cursor: str | _dt.datetime | None = cursor
        while True:
            self.list_requests += 1
            items, next_cursor = await self._list_page(page_cursor)
            pages += 1
            for item in items:
                if isinstance(item, dict):
                    self._apply(item, now)
            if not items or not next_cursor or next_cursor in seen_cursors or oldest is None:
                break
            if pages >= max_pages:
                break
            seen_cursors.add(next_cursor)
            page_cursor = next_cursor
            last = items[-1]
            if not isinstance(last, dict):
                break
            try:
                last_created = parse_datetime(last.get("created_at"))
            except WireFormatError:
                break
            if last_created <= oldest:
                break
        return pages
