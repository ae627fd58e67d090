"""``subscribe()`` for :class:`~krea_async.AsyncKrea` (a mixin, like the file methods):
submit, then wait on the client's shared poller or on the webhook wake-up, and hand
back a :class:`~krea_async.SubscribeResult`. The generated ``subscribe()``,
``image()``, ``video()`` and ``enhance()`` return this method's coroutine.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .._deprecation import warn_renamed
from .._http.urls import split_endpoint
from .._jobs.outcome import CancelJob, notify, raise_for_outcome
from .._jobs.results import SubscribeResult
from .._models import Job
from .._resources.generations import Generations
from .._resources.jobs import Jobs
from .._types import QueueUpdateCallback
from .config import ClientSettings
from .files import ClientFiles

if TYPE_CHECKING:  # imported with webhooks on only (import time)
    from collections.abc import Awaitable, Callable

    from .._jobs.wakeup import Wakeup

__all__ = ["ClientSubscribe"]


class ClientSubscribe(ClientFiles):
    """Mixin: ``subscribe()`` on the resources of the client it is mixed into (and its
    file methods, which ``SubscribeResult.download`` uses)."""

    __slots__ = ()

    jobs: Jobs
    _generations: Generations
    _settings: ClientSettings
    _wakeup: Wakeup | None
    _job_calls: tuple[Callable[[str], Awaitable[Job]], CancelJob]

    async def _subscribe_endpoint(
        self,
        endpoint: str,
        *,
        input: Any,
        on_queue_update: QueueUpdateCallback | None,
        webhook_url: str | None,
        poll_interval: float | None,
        deadline: float | None,
        cancel_on_exit: bool,
        timeout: float | None = None,
    ) -> SubscribeResult:
        if timeout is not None:
            warn_renamed("subscribe", "timeout", "deadline")
            if deadline is not None:
                raise TypeError("subscribe: pass deadline= only (not also the deprecated timeout=)")
            deadline = timeout
        category = split_endpoint(endpoint)[0]
        wake = self._wakeup if webhook_url is None else None  # the caller's own URL: poll
        minted = await wake.mint() if wake is not None else None
        url = minted[0] if minted else webhook_url
        get, cancel = self._job_calls
        token = minted[1] if wake is not None and minted else None
        try:
            if cancel_on_exit:
                job = await self._generations.create_cancellable(
                    endpoint, input, webhook_url=url, cancel=cancel
                )
            else:
                job = await self._generations.create(endpoint, input, webhook_url=url)
        except BaseException:
            if wake is not None and token is not None:
                await wake.revoke(token)  # no job of ours will use that URL
            raise
        # Woken by the webhook (no polling), or polled through the client's shared poller.
        make_stream = (
            functools.partial(wake.stream, token=minted[1])
            if wake is not None and minted
            else functools.partial(self._settings.polling.stream, poller=self.jobs._poller)
        )
        stream = make_stream(
            get=get,
            cancel=cancel,
            job_id=job.job_id,
            poll_interval=poll_interval,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            category=category,
            first=job,
        )
        # The stream holds the submitted state until a newer one replaces it; this frame
        # waits as long as the job runs, so it keeps no copy, and iterates the stream
        # itself (what _polling.drain does, a coroutine frame less; memory at 10,000 jobs).
        del job, make_stream, minted
        final: Job | None = None
        try:
            async for final in stream:
                await notify(on_queue_update, final)
        except BaseException:
            await stream.aclose()
            raise
        finally:
            if wake is not None and token is not None:
                await wake.revoke(token, release=True)  # the wait ended: grace, then gone
        assert final is not None
        assert final.is_terminal
        final = raise_for_outcome(final)
        return SubscribeResult(
            data=final.result, job=final, request_id=final.job_id, downloader=self._download_all
        )
