"""The spec the conformance run checks the fake against: the bundled OpenAPI
document plus the deliberate deviations listed in ``docs/content/spec.md``
("Conformance"). Each entry is where Krea's published document is looser than
Krea's API (and the fake, which follows the API)."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    }
}

#: (what, why): the list docs/content/spec.md repeats.
DEVIATIONS = (
    (
        "every request body is required",
        "Krea answers 400 to a request without its body (each model needs its input; "
        "uploads need the `file` part); the document leaves `requestBody.required` unset",
    ),
    (
        "401 on GET and DELETE /jobs/{id}",
        "every route needs the Bearer token; the document lists 401 everywhere else",
    ),
    (
        "400 on GET /assets",
        "`limit` outside 1..1000 and a `cursor` that is not a date-time are 400, as on /jobs",
    ),
    (
        "GET /styles `cursor` is a date-time",
        "the cursor is a `created_at`, as on /jobs and /assets; anything else is 400",
    ),
    (
        "PATCH /styles/{id} names at least one known field, `public` not null",
        "an update with no known, non-null field (public, urls, title, cover_url) is 400",
    ),
    (
        "PATCH /styles/{id}: `cover_url` is a `uri`",
        "a style's `cover_url` is a `uri` in every answer; the update takes only a URI",
    ),
    (
        "`completed_at` is `null` until the job is terminal (single-job answers)",
        "Krea's job reference documents `completed_at` null until the job ends; "
        "`GET /jobs` items omit the key instead, as the list schema implies",
    ),
    (
        "POST /assets: a `file` of an unsupported type is 400 (schemathesis.toml)",
        "the `file` description lists the accepted types (JPEG, PNG, WebP, HEIC, MP4, MOV, "
        "WebM, GLB, WAV, MP3); a schema cannot say that, so the check accepts 400 there",
    ),
    (
        "links: a submit's `job_id` feeds `GET` and `DELETE /jobs/{id}`, and a `DELETE` "
        "feeds the `GET` of the same job (the stateful phase follows them)",
        "the job reference and job-lifecycle pages describe that flow; the document has no links",
    ),
    (
        "`DELETE /jobs/{id}` cancels, it does not delete: the run excludes the "
        "`use_after_free` check (tests/test_conformance.py)",
        "job-lifecycle: a cancelled job stays readable with status `cancelled`, and a job that "
        "is not queued or processing runs on; the document calls the route 'Delete a job'",
    ),
    (
        "400 on `GET /node-apps/{node_app_id}/versions`",
        "`limit` outside 1..1000 and a `cursor` that is not a date-time are 400, as on /jobs",
    ),
)

_SUBMITS = {
    "/generate/image/bfl/flux-1-dev": "$response.body#/job_id",
    "/generate/video/bytedance/seedance-2": "$response.body#/job_id",
    "/generate/enhance/krea/enhance": "$response.body#/job_id",
    "/node-apps/{id}/execute": "$response.body#/0/job_id",
}
_GET_JOB = "#/paths/~1jobs~1{id}/get"
_DELETE_JOB = "#/paths/~1jobs~1{id}/delete"


def _add_links(paths: dict[str, Any]) -> None:
    """OpenAPI links for the stateful phase: submit -> GET/DELETE job, DELETE -> GET.

    A few submits only (an image, a video, an enhance, a node app): with a link from
    each of the 61 generation routes, a bounded run would rarely walk DELETE -> GET."""
    for path, job_id in _SUBMITS.items():
        answer = paths[path]["post"]["responses"]["200"]
        answer["links"] = {
            "GetJob": {"operationRef": _GET_JOB, "parameters": {"id": job_id}},
            "CancelJob": {"operationRef": _DELETE_JOB, "parameters": {"id": job_id}},
        }
    paths["/jobs/{id}"]["delete"]["responses"]["200"]["links"] = {
        "GetJobAfterCancel": {"operationRef": _GET_JOB, "parameters": {"id": "$request.path.id"}}
    }


def conformance_spec() -> dict[str, Any]:
    """The bundled spec with :data:`DEVIATIONS` applied (a new dict)."""
    text = resources.files("krea_async").joinpath("_spec/openapi.json").read_text("utf-8")
    spec: dict[str, Any] = copy.deepcopy(json.loads(text))
    paths = spec["paths"]
    for ops in paths.values():
        for op in ops.values():
            if isinstance(op, dict) and "requestBody" in op:
                op["requestBody"]["required"] = True
    for method in ("get", "delete"):
        paths["/jobs/{id}"][method]["responses"].setdefault(
            "401", {"description": "Unauthorized", **_ERROR}
        )
    paths["/assets"]["get"]["responses"].setdefault("400", {"description": "Bad query", **_ERROR})
    for path, ops in paths.items():
        for method, op in ops.items():
            if not isinstance(op, dict) or (path, method) == ("/jobs", "get"):
                continue
            for code, answer in op.get("responses", {}).items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                field = schema.get("properties", {}).get("completed_at")
                nullable = isinstance(field, dict) and field.get("type") == "string"
                if code.startswith("2") and nullable:
                    field["type"] = ["string", "null"]
    for param in paths["/styles"]["get"]["parameters"]:
        if param["name"] == "cursor":
            param["schema"]["format"] = "date-time"
    patch = paths["/styles/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    patch["minProperties"] = 1
    patch["additionalProperties"] = False
    patch["properties"]["public"] = {"type": "boolean"}
    patch["properties"]["cover_url"] = {"type": "string", "format": "uri"}
    versions = paths["/node-apps/{node_app_id}/versions"]["get"]["responses"]
    versions.setdefault("400", {"description": "Bad query", **_ERROR})
    _add_links(paths)
    return spec
