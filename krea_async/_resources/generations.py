"""Generation submits: ``POST /generate/{category}/{provider}/{model}``.

Used by :meth:`~krea_async.AsyncKrea.generate` and the typed ``image()`` /
``video()`` / ``enhance()`` / ``subscribe()`` methods. Owns the rule that a 404
here means "no such endpoint" (:class:`~krea_async.EndpointNotFoundError`), not
an unknown id.
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import anyio
import httpx
import sniffio

from .._converter import submitted_job
from .._errors import CLOCK_SKEW_MARGIN, EndpointNotFoundError, NotFoundError
from .._http.admission import StopSignal
from .._http.status_errors import reclassify
from .._http.urls import split_endpoint, webhook_headers
from .._jobs.outcome import CancelJob, cancel_quietly
from .._models import Job
from .._spec.lifecycle import deprecation_notice, warn_deprecated
from ._base import Resource

__all__ = ["Generations"]

logger = logging.getLogger("krea_async")


class Generations(Resource):
    """Submits generation jobs (private; reached through the client's methods)."""

    async def create(
        self,
        endpoint: str,
        input: Any,
        *,
        webhook_url: str | None = None,
        stop: anyio.Event | StopSignal | None = None,
    ) -> Job:
        """POST ``input`` to ``/generate/{endpoint}``; return the pending job.

        ``stop``: once set, no retry starts (see the request layer). Raises
        :class:`ValueError` for a malformed endpoint or webhook URL,
        :class:`~krea_async.EndpointNotFoundError` for an endpoint Krea does not
        have, and :class:`~krea_async.UncertainSubmitError` (never replayed). An answer
        with deprecation headers issues one :class:`~krea_async.ModelDeprecationWarning`
        per model per process (docs.krea.ai/developers/deprecations).
        """
        path, body = _prepare(endpoint, input)
        notices: list[str] = []
        job = await self._send(path, body, webhook_url=webhook_url, stop=stop, notices=notices)
        for text in notices:
            warn_deprecated(text)
        return job

    async def _send(
        self,
        path: str,
        body: Any,
        *,
        webhook_url: str | None,
        stop: anyio.Event | StopSignal | None,
        notices: list[str],
    ) -> Job:
        """The POST; a deprecation notice of the answer is appended to ``notices``
        (warned by the caller, in its own task)."""
        try:
            return await self._submit(
                path,
                cast_to=Job,
                json=body,
                headers=webhook_headers(webhook_url),
                stop=stop,
                prepare=functools.partial(_read_submit_answer, notices),
            )
        except NotFoundError as exc:
            raise reclassify(exc, EndpointNotFoundError) from exc

    async def create_cancellable(
        self,
        endpoint: str,
        input: Any,
        *,
        webhook_url: str | None,
        cancel: CancelJob,
    ) -> Job:
        """Submit so that a cancellation arriving meanwhile can still cancel the new job.

        The POST runs in a child task that shields itself; the caller waits for it
        unshielded. If the caller is cancelled (an anyio scope, or a plain asyncio
        ``task.cancel()``), no further retry starts and the request in flight gets
        a grace of ``submit_grace`` seconds (:class:`~krea_async.JobSettings`) to
        answer: a job it created is then cancelled (shielded, bounded by
        ``cancel_deadline``, through ``cancel``). Past the grace the request is
        abandoned and a WARNING says the job is uncertain (how to look it up). Either
        way the cancellation propagates within about ``submit_grace`` plus
        ``cancel_deadline``, however slowly the server answers.
        """
        # Wait for a connection slot here, where a cancellation is plain (nothing sent),
        # and hand it to the shielded task that sends the POST. (Nothing else is made
        # before: thousands of submits may wait here.)
        # Validated here, in the caller's task: a deprecation warning points at the caller.
        path, body = _prepare(endpoint, input)
        admission = self._requester.state.admission
        await admission.acquire(submit=True)
        created: list[Job] = []
        failed: list[Exception] = []
        notices: list[str] = []
        abandoned = StopSignal()
        abandoned.holds_slot = True
        grace = self._polling.submit_grace
        submitted_at = _dt.datetime.now(_dt.timezone.utc)

        async def submit() -> None:
            try:
                created.append(
                    await self._send(
                        path, body, webhook_url=webhook_url, stop=abandoned, notices=notices
                    )
                )
            except Exception as exc:  # handed to the caller below
                failed.append(exc)

        def warn_abandoned() -> None:
            since = submitted_at - _dt.timedelta(seconds=CLOCK_SKEW_MARGIN)
            logger.warning(
                "submit to %s abandoned on cancellation after a %g s grace; a "
                "job may have been created (uncertain): check "
                "krea.jobs.list(created_after=%s)",
                endpoint,
                grace,
                since.isoformat(),
            )

        try:
            if sniffio.current_async_library() == "asyncio":
                await _in_child_task_asyncio(submit(), abandoned, grace, warn_abandoned)
            else:
                await _in_child_task(submit, abandoned, grace, warn_abandoned)
        except BaseException:
            if created:
                await cancel_quietly(
                    cancel,
                    created[0].job_id,
                    self._polling.cancel_deadline,
                    self._polling.on_cancel_failed,
                )
            raise
        finally:
            if abandoned.holds_slot:  # never used (the request did not start)
                abandoned.holds_slot = False
                admission.release()
        for text in notices:  # here, in the caller's task: the warning names its line
            warn_deprecated(text)
        if failed:
            raise failed[0]
        return created[0]


def _prepare(endpoint: str, input: Any) -> tuple[str, Any]:
    """``(path, JSON body)`` of a submit: the endpoint checked, the input converted."""
    from .._spec.inputs_runtime import to_body  # with the bundled spec: on first use

    _, path = split_endpoint(endpoint)
    return path, to_body(path[len("/generate/") :], input)


def _read_submit_answer(notices: list[str], body: object, response: httpx.Response) -> object:
    """A generation submit's answer: deprecation headers add a notice to ``notices``
    once per model (docs.krea.ai/developers/deprecations), and a pending job without a ``status``
    (a shape Krea's reference pages show) reads as queued."""
    notice = deprecation_notice(response)
    if notice is not None:
        notices.append(notice)
    return submitted_job(body)


async def _in_child_task(
    submit: Callable[[], Awaitable[None]],
    abandoned: StopSignal,
    grace: float,
    warn_abandoned: Callable[[], None],
) -> None:
    """Run ``submit()`` in a child task that shields itself, and wait for it
    unshielded. On the caller's cancellation: set ``abandoned`` (no further retry),
    give the child ``grace`` seconds, then cancel it and call ``warn_abandoned``;
    the cancellation propagates."""
    done = anyio.Event()
    submit_scope = anyio.CancelScope(shield=True)

    async def child() -> None:
        with submit_scope:
            try:
                await submit()
            finally:
                done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(child)
        try:
            await done.wait()
        except BaseException:
            abandoned.set()
            with anyio.CancelScope(shield=True), anyio.move_on_after(grace):
                await done.wait()
            if not done.is_set():
                submit_scope.cancel()
                warn_abandoned()
            raise


async def _in_child_task_asyncio(
    submit: Coroutine[Any, Any, None],
    abandoned: StopSignal,
    grace: float,
    warn_abandoned: Callable[[], None],
) -> None:
    """:func:`_in_child_task` on asyncio, without a task group or cancel scope in
    the caller's task while all goes well (CPU and memory count with thousands of
    submits): the child is a plain task, which no cancel scope of the
    caller reaches; the caller waits for it through :func:`asyncio.wait`, whose
    cancellation leaves the child running."""
    import asyncio  # already imported: the running library

    task = asyncio.get_running_loop().create_task(submit)
    try:
        await asyncio.wait((task,))
    except BaseException:
        abandoned.set()
        with anyio.CancelScope(shield=True):
            await asyncio.wait((task,), timeout=grace)
            if not task.done():
                task.cancel()
                warn_abandoned()
                await asyncio.wait((task,))
        raise
    task.result()  # what submit() does not catch (not an Exception) propagates
