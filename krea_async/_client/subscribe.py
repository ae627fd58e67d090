"""``subscribe()`` for :class:`~krea_async.AsyncKrea` (a mixin, like the file methods):
a submit plus the client's waiter (:class:`~krea_async._jobs.waiter.Waiter`), which
decides how the job is waited for and hands back a :class:`~krea_async.SubscribeResult`.
The generated ``subscribe()``, ``image()``, ``video()`` and ``enhance()`` return this
method's coroutine.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from .._http.urls import split_endpoint
from .._jobs.results import SubscribeResult
from .._jobs.waiter import Submit
from .._resources.generations import Generations
from .._resources.jobs import Jobs
from .._types import QueueUpdateCallback
from .files import ClientFiles

__all__ = ["ClientSubscribe"]


class ClientSubscribe(ClientFiles):
    """Mixin: ``subscribe()`` on the resources of the client it is mixed into (and its
    file methods, which ``SubscribeResult.download`` uses)."""

    __slots__ = ()

    jobs: Jobs
    _generations: Generations
    #: ``Generations.create`` and ``create_cancellable`` (with the waiter's cancel),
    #: bound once per client by its setup
    _submit: Submit
    _submit_cancellable: Submit

    def _subscribe_endpoint(
        self,
        endpoint: str,
        *,
        input: Any,
        on_queue_update: QueueUpdateCallback | None,
        webhook_url: str | None,
        poll_interval: float | None,
        deadline: float | None,
        cancel_on_exit: bool,
    ) -> Coroutine[Any, Any, SubscribeResult]:
        # Returns the waiter's coroutine itself: one coroutine frame per waiting call,
        # and nothing else made per call (the submits are bound once per client).
        return self.jobs.waiter.subscribe(
            self._submit_cancellable if cancel_on_exit else self._submit,
            endpoint,
            input,
            category=split_endpoint(endpoint)[0],
            on_queue_update=on_queue_update,
            webhook_url=webhook_url,
            poll_interval=poll_interval,
            deadline=deadline,
            cancel_on_exit=cancel_on_exit,
            downloader=self.download_all,
        )
