"""Which :class:`~krea_async.APIStatusError` subclass an HTTP error status becomes
(:func:`status_error`, refined by resources with :func:`reclassify`), and the message
read from an error body (:func:`error_message_from_body`).

Source of the statuses and their meaning: Krea's API docs (https://docs.krea.ai) and
each path's ``responses`` in Krea's OpenAPI document (bundled at
``krea_async/_spec/openapi.json``). Every error body is ``{"error": "<message>"}``.
"""

from __future__ import annotations

import httpx

from .._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientCreditsError,
    InternalServerError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

__all__ = ["error_message_from_body", "reclassify", "status_error"]


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(response: httpx.Response, body: object, message: str) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for ``response.status_code``.

    Statuses without a class of their own map to :class:`InternalServerError`
    (>= 500) or :class:`APIStatusError`. A 410 with ``{"error": "model_unavailable"}``
    (or any 410 on ``/generate/...``) is :class:`ModelUnavailableError`: the model
    passed its sunset date (https://docs.krea.ai/developers/deprecations).
    Resources refine a class where they know more (:func:`reclassify`).
    """
    code = response.status_code
    cls: type[APIStatusError]
    if code == 410 and _model_unavailable(response, body):
        cls = ModelUnavailableError
    elif code in _STATUS_ERRORS:
        cls = _STATUS_ERRORS[code]
    elif code >= 500:
        cls = InternalServerError
    else:
        cls = APIStatusError
    return cls(message, response=response, body=body)


def _model_unavailable(response: httpx.Response, body: object) -> bool:
    if isinstance(body, dict) and body.get("error") == "model_unavailable":
        return True
    return "/generate/" in response.request.url.path


def reclassify(exc: APIStatusError, cls: type[APIStatusError]) -> APIStatusError:
    """The same error (message, response, body) as a more specific class ``cls``."""
    return cls(exc.message, response=exc.response, body=exc.body)


def error_message_from_body(body: object, text: str) -> str:
    """Krea's ``{"error": msg}`` message, or a short summary of another body."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, str) and err:
            return err
        if isinstance(err, dict):
            inner = err.get("message")
            if isinstance(inner, str) and inner:
                return inner
        msg = body.get("message")
        if isinstance(msg, str) and msg:
            return msg
    stripped = " ".join(text.split())
    if not stripped:
        return "empty response body"
    if len(stripped) > 200:
        stripped = stripped[:200] + "..."
    return stripped
