"""How jobs of the fake fail: the documented causes, the rules that pick which
jobs fail, and Krea's automatic time-outs.

Krea's job lifecycle page (https://docs.krea.ai/developers/job-lifecycle) lists
why a job ends ``failed``: a provider error, invalid parameters, moderation
(``nsfw``, ``ip_detected``) and automatic time-outs, 3 minutes for hosted tools
and 2 hours for external providers. Failed jobs are not billed. The detail is
under ``result.error`` (shape undocumented); Krea's Enhance reference shows a job
with a top-level ``"error": {"code": "...", "message": "..."}``. The fake writes
both, as :class:`FailureRule` ``where`` says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "CAUSES",
    "EXTERNAL_TIMEOUT",
    "HOSTED_TIMEOUT",
    "Cause",
    "FailureRule",
    "failure_detail",
    "time_out_of",
]

Cause = Literal["provider_error", "invalid_parameters", "nsfw", "ip_detected", "timeout"]

#: Each documented cause: (``code``, ``message``) of the failure detail the fake writes.
CAUSES: Mapping[str, tuple[str, str]] = {
    "provider_error": ("provider_error", "The model provider returned an error"),
    "invalid_parameters": ("invalid_parameters", "The provider rejected the job's parameters"),
    "nsfw": ("nsfw", "The output was flagged by moderation (nsfw)"),
    "ip_detected": ("ip_detected", "The input was flagged by moderation (ip_detected)"),
    "timeout": ("timeout", "The job timed out"),
}

#: Seconds a job of a hosted tool may run before Krea fails it (job-lifecycle: 3 minutes).
HOSTED_TIMEOUT = 180.0
#: Seconds a job of an external provider may run (job-lifecycle: 2 hours).
EXTERNAL_TIMEOUT = 7200.0


def time_out_of(path: str) -> float | None:
    """The automatic time-out (clock seconds, counted from when the job leaves the
    backlog) of a job created by ``path``, or ``None`` for none.

    The job-lifecycle page does not list which models are "hosted tools"; the fake
    reads Krea's own models (``/generate/{category}/krea/...``) and node apps as
    hosted (180 s), every other ``/generate/...`` provider as external (7200 s),
    and gives LoRA training (``/styles/train``) no time-out.
    """
    if path.startswith("/node-apps/"):
        return HOSTED_TIMEOUT
    parts = path.split("/")
    if path.startswith("/generate/") and len(parts) > 3:
        return HOSTED_TIMEOUT if parts[3] == "krea" else EXTERNAL_TIMEOUT
    return None


def failure_detail(cause: str, limit: float | None = None) -> dict[str, str]:
    """``{"code": ..., "message": ...}`` of a documented ``cause`` (``KeyError`` if
    unknown); a time-out's message names its ``limit`` in seconds."""
    code, message = CAUSES[cause]
    if cause == "timeout" and limit is not None:
        message = f"The job timed out after {limit:g} seconds"
    return {"code": code, "message": message}


def _share(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1")


def _cause(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in CAUSES:
        raise ValueError(f"{attribute.name} must be one of {sorted(CAUSES)}, not {value!r}")


def _pattern(value: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    return re.compile(value) if isinstance(value, str) else value


@attrs.define(kw_only=True, eq=False)
class FailureRule:
    """Which future jobs fail, and why (``fake.fail_jobs(...)``; ``serve --fail-*``).

    - ``cause``: one of :data:`CAUSES` (``provider_error``, ``invalid_parameters``,
      ``nsfw``, ``ip_detected``, ``timeout``). A ``timeout`` job hangs until its
      automatic time-out (:func:`time_out_of`: 180 s hosted, 7200 s external, on
      the fake's clock, not scaled) and then fails; other causes fail when the run
      would have ended.
    - ``share``: probability (0..1) that a matching job fails (seeded by
      ``FakeKrea(seed=...)``); ``None``: every matching job.
    - ``prompt``: a regular expression (``re.search``) the body's ``prompt`` must
      match; ``None``: any job. ``path``: a path prefix to match.
    - ``times``: how many more jobs it may fail (``None``: no limit).
    - ``where``: where the detail goes: ``"both"`` (``result.error`` and the
      top-level ``error``, default), ``"result"`` or ``"top"``.
    - ``hits``: how many jobs it has failed so far.
    """

    cause: str = attrs.field(default="provider_error", validator=_cause)
    share: float | None = attrs.field(default=None, validator=_share)
    prompt: re.Pattern[str] | None = attrs.field(default=None, converter=_pattern)
    path: str | None = None
    times: int | None = None
    where: Literal["both", "result", "top"] = "both"
    hits: int = 0

    def matches(self, path: str, body: Mapping[str, Any]) -> bool:
        """Whether a submit (``path``, JSON ``body``) is one this rule may fail
        (before the ``share`` draw)."""
        if self.times is not None and self.times <= 0:
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.prompt is not None:
            prompt = body.get("prompt")
            return isinstance(prompt, str) and self.prompt.search(prompt) is not None
        return True
