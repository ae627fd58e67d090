"""Routes of generation and jobs: ``POST /generate/...``, ``/jobs``, and the result
files the fake serves (``/_fake/files/...``, ``/_fake/images/...``)."""

from __future__ import annotations

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import _media
from .._records import price_of
from .._specdata import default_seconds, generation_routes
from .._util import ApiError
from .._validation import generation_validator, json_body, validate
from ._common import RouteGroup, base, listing

__all__ = ["JobRoutes"]

_JOB_TYPES = {"image": "externalImage", "video": "externalVideo", "enhance": "enhance"}


class JobRoutes(RouteGroup):
    """Generation, jobs and result files."""

    def routes(self) -> list[Route]:
        """The Starlette routes of this group."""
        return [
            Route("/generate/{rest:path}", self._generate, methods=["POST"]),
            Route("/jobs", self._list_jobs, methods=["GET"]),
            Route("/jobs/{id}", self._get_job, methods=["GET"]),
            Route("/jobs/{id}", self._cancel_job, methods=["DELETE"]),
            Route("/_fake/files/{id}/{name}", self._file, methods=["GET"]),
            Route("/_fake/images/{size}/{seed}", self._image, methods=["GET"]),
        ]

    async def _generate(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            record = self._state.deprecations.get(request.url.path)
            if record is not None and record.is_gone(self._state.clock()):
                # deprecations page: 410 model_unavailable from the sunset date on
                return JSONResponse(record.gone_body(), 410)
        info = generation_routes().get(request.url.path)
        if info is None:
            raise ApiError(404, f"Unknown generation endpoint {request.url.path}")
        body = await json_body(request)
        validator, aliases = generation_validator(info.path)
        validate(validator, body, aliases)
        seconds = info.average_seconds or default_seconds(info.category)
        video = info.category == "video"
        answer = self._submit_job(
            request,
            owner,
            path=info.path,
            type=_JOB_TYPES[info.category],
            body=body,
            duration=seconds * self.fake.time_scale,
            price=price_of(info.path, info.category, body),
            media="mp4" if video else "png",
            size=(64, 64) if video else _media.size_for(body),
        )
        return JSONResponse(answer, headers=record.headers() if record is not None else None)

    async def _get_job(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            job = self._state.find(request.path_params["id"], owner)
            return JSONResponse(self._state.job_json(job, base(request)))

    async def _cancel_job(self, request: Request) -> Response:
        """Cancels only a queued or processing job (job-lifecycle page); in any
        other status the job runs on and the answer is ``cancel_refused``: 200
        with the job as it stands (default), or 400/409 ``{"error": ...}``."""
        owner = self._auth(request)
        with self._state.lock:
            job, was = self._state.cancel(request.path_params["id"], owner)
            answer = self._state.job_json(job, base(request))
        if answer["status"] != "cancelled" and self.fake.cancel_refused != 200:
            raise ApiError(
                self.fake.cancel_refused,
                f"Job {job.id} cannot be cancelled while {was}: "
                "only queued or processing jobs can be cancelled",
            )
        return JSONResponse(answer)

    async def _list_jobs(self, request: Request) -> Response:
        owner = self._auth(request)
        with self._state.lock:
            page = self._state.list_jobs(owner, request.query_params, base(request))
        return JSONResponse(listing(page, self.fake.cursor_key))

    async def _file(self, request: Request) -> Response:
        job_id, name = request.path_params["id"], request.path_params["name"]
        stem, _, ext = name.partition(".")
        with self._state.lock:
            try:
                job = self._state.find(job_id, None)
            except ApiError:
                job = None
            ready = job is not None and job.status == "completed" and job.style is None
        if job is None or not ready or not stem.isdigit() or int(stem) >= job.outputs:
            raise ApiError(404, "File not found")
        if job.media == "mp4" and ext == "mp4":
            return Response(_media.sample_mp4(), media_type="video/mp4")
        if job.media != "png" or ext != "png":
            raise ApiError(404, "File not found")
        prompt = job.body.get("prompt") if isinstance(job.body, dict) else None
        seed = f"{prompt if isinstance(prompt, str) else job.id}#{stem}"
        data = await anyio.to_thread.run_sync(_media.png, job.size[0], job.size[1], seed)
        return Response(data, media_type="image/png")

    async def _image(self, request: Request) -> Response:
        size, seed = request.path_params["size"], request.path_params["seed"]
        w, _, h = size.partition("x")
        if not (w.isdigit() and h.isdigit()) or not seed.endswith(".png"):
            raise ApiError(404, "File not found")
        data = await anyio.to_thread.run_sync(_media.png, int(w), int(h), seed)
        return Response(data, media_type="image/png")
