"""Model lifecycle of the fake, as https://docs.krea.ai/developers/deprecations
describes it.

A deprecated endpoint still works, and every successful answer from it carries
``Deprecation: true``, ``Sunset: <RFC 1123 date>`` (when it stops accepting
requests) and ``Link: <https://docs.krea.ai/developers/deprecations#...>;
rel="deprecation"; type="text/html"``. From its sunset date on it answers ``410
Gone`` with ``{"error": "model_unavailable", "reason": "deprecated", "message",
"sunset_date": "YYYY-MM-DD", "replacement" (when there is one), "migration_url"}``.
The operation is ``deprecated: true`` in the OpenAPI document.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import email.utils
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "DEPRECATIONS_URL",
    "KREA_SUNSETS",
    "ModelLifecycle",
    "model_path",
]

DEPRECATIONS_URL = "https://docs.krea.ai/developers/deprecations"


def model_path(model: str) -> str:
    """A model id (``"video/bytedance/seedance-1.0-lite"``) or generation path
    (``"/generate/video/..."``) as its path; ``ValueError`` if neither."""
    text = model.strip()
    if text.startswith("/generate/"):
        path = text
    elif text.startswith("generate/"):
        path = "/" + text
    else:
        path = "/generate/" + text.strip("/")
    if path.count("/") < 4 or path.split("/")[2] not in ("image", "video", "enhance"):
        raise ValueError(f"not a model id or generation path: {model!r}")
    return path


def _date(value: _dt.date | str) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(value)


@attrs.frozen(kw_only=True)
class ModelLifecycle:
    """One deprecated model of the fake (``fake.deprecate(...)``).

    - ``path``: its generation path (``"/generate/video/openai/sora-2"``).
    - ``sunset``: the date (UTC) it stops accepting requests; from then on (on the
      fake's clock) it answers ``410``. Before, its answers carry the headers.
    - ``replacement``: the model id to use instead, or ``None``.
    - ``link``: the page the ``Link`` header and ``migration_url`` point to
      (default: the deprecations page, with the model id as its anchor,
      ``#video-openai-sora-2``; Krea's anchors are not documented).
    """

    path: str = attrs.field(converter=model_path)
    sunset: _dt.date = attrs.field(converter=_date)
    replacement: str | None = None
    link: str = attrs.field()

    @link.default
    def _link(self) -> str:
        slug = self.path.removeprefix("/generate/").replace("/", "-").replace(".", "-")
        return f"{DEPRECATIONS_URL}#{slug}"

    @property
    def model(self) -> str:
        """The model id (``"video/openai/sora-2"``)."""
        return self.path.removeprefix("/generate/")

    def sunset_at(self) -> float:
        """The sunset as seconds since the epoch (midnight UTC of ``sunset``)."""
        return float(calendar.timegm(self.sunset.timetuple()))

    def is_gone(self, now: float) -> bool:
        """Whether the model no longer accepts requests at clock time ``now``."""
        return now >= self.sunset_at()

    def headers(self) -> dict[str, str]:
        """The headers of a successful answer while deprecated."""
        return {
            "Deprecation": "true",
            "Sunset": email.utils.formatdate(self.sunset_at(), usegmt=True),
            "Link": f'<{self.link}>; rel="deprecation"; type="text/html"',
        }

    def gone_body(self) -> dict[str, Any]:
        """The ``410`` body once sunset."""
        message = (
            f"{self.model} was sunset on {self.sunset.isoformat()} and no longer accepts requests"
        )
        body: dict[str, Any] = {
            "error": "model_unavailable",
            "reason": "deprecated",
            "message": message + (f"; use {self.replacement}" if self.replacement else ""),
            "sunset_date": self.sunset.isoformat(),
        }
        if self.replacement:
            body["replacement"] = self.replacement
        body["migration_url"] = self.link
        return body


#: The models Krea's deprecations page lists as sunset (model id: (date, replacement)).
KREA_SUNSETS: Mapping[str, tuple[str, str | None]] = {
    "video/bytedance/seedance-1.0-lite": ("2026-04-27", "video/bytedance/seedance-1.0-pro-fast"),
    "video/openai/sora-2": ("2026-04-27", None),
    "image/bytedance/seedream-3": ("2026-05-13", "image/bytedance/seedream-5-lite"),
}


def krea_sunsets() -> dict[str, ModelLifecycle]:
    """:data:`KREA_SUNSETS` as records, by path (every fake starts with them)."""
    out = {}
    for model, (date, replacement) in KREA_SUNSETS.items():
        record = ModelLifecycle(path=model, sunset=date, replacement=replacement)
        out[record.path] = record
    return out
