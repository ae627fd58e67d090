"""What every route group of the fake shares: authentication, job submission and
URL helpers."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request

from .._middleware import IN_PROCESS_HEADER
from .._state import State
from .._util import ApiError
from .._validation import webhook_url

__all__ = ["FakeSettings", "RouteGroup", "absolute", "base", "listing", "style_json"]


class FakeSettings(Protocol):
    """The settings of a ``FakeKrea`` that its routes read (``FakeKrea`` satisfies it;
    a protocol keeps the routes from importing the fake, which builds them)."""

    api_key: str | None
    time_scale: float
    max_upload_bytes: int
    cancel_refused: int
    cursor_key: str


def base(request: Request) -> str:
    """The request's base URL without a trailing slash (result URLs are built on it)."""
    return str(request.base_url).rstrip("/")


def listing(page: dict[str, Any], cursor_key: str) -> dict[str, Any]:
    """A list answer with its cursor under ``next_cursor`` (the spec),
    ``nextCursor`` (one of Krea's rendered examples) or ``"both"``."""
    if cursor_key == "next_cursor":
        return page
    out = dict(page)
    if cursor_key == "nextCursor":
        out["nextCursor"] = out.pop("next_cursor")
    else:
        out["nextCursor"] = out["next_cursor"]
    return out


def absolute(value: Any, base: str) -> Any:
    """``/_fake/...`` paths (and lists of them) made absolute on ``base``."""
    if isinstance(value, str) and value.startswith("/_fake/"):
        return base + value
    if isinstance(value, list):
        return [absolute(v, base) for v in value]
    return value


def style_json(data: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A stored style or node app with its ``/_fake/...`` URLs made absolute."""
    return {k: absolute(v, base_url) for k, v in data.items()}


class RouteGroup:
    """Base of the route groups: holds the fake and its state."""

    def __init__(self, fake: FakeSettings, state: State) -> None:
        self.fake = fake
        self._state = state

    def _auth(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Unauthorized: send an 'Authorization: Bearer <API token>' header")
        if self.fake.api_key is not None and token != self.fake.api_key:
            raise ApiError(401, "Unauthorized: invalid API token")
        return token

    def _submit_job(self, request: Request, owner: str, **job: Any) -> dict[str, Any]:
        webhook_url(request)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k not in ("authorization", IN_PROCESS_HEADER)
        }
        with self._state.lock:
            created = self._state.submit(
                owner=owner, headers=headers, base_url=base(request), **job
            )
            return self._state.job_json(created, base(request), submit=True)
