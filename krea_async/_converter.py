"""The one place that knows Krea's wire format.

A single :class:`cattrs.Converter` turns JSON payloads into the attrs models of
:mod:`krea_async._models` and back. It is built (and :mod:`cattrs` imported) on first
use, not at ``import krea_async`` (which stays fast). It owns:

- unknown fields: ignored when structuring, and the whole payload kept in each
  model's ``raw``;
- renames: ``nextCursor`` (one rendered docs example) is read as ``next_cursor``;
- ``result: null`` and ``result: {}`` both become an empty :class:`JobResult`;
- timestamps: ISO 8601 with ``Z`` or an offset, any fraction length, into aware
  UTC datetimes (a naive timestamp is taken as UTC);
- unknown statuses: kept as non-terminal :class:`JobStatus` pseudo-members;
- strictness: a string where a list is expected, a number where a string is
  expected, and so on, raise :class:`WireFormatError` instead of being coerced;
- the JSON text itself (:func:`loads_json`): duplicate keys, nesting too deep for
  the parser, invalid UTF-8 and non-JSON are all :class:`WireFormatError`;
- job ids in API answers (:func:`check_job_id`): 1 to :data:`MAX_JOB_ID_CHARS`
  printable characters, not ``.`` or ``..`` (always one URL-quoted path segment).

The HTTP layer turns :class:`WireFormatError` into
:class:`~krea_async.APIResponseValidationError`.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Optional, TypeVar, get_args

import attrs

from ._models import (
    Asset,
    AssetPage,
    Job,
    JobPage,
    JobResult,
    JobStatus,
    NodeApp,
    NodeAppVersionPage,
    Style,
    StyleOwner,
    StylePage,
    StyleShareLink,
    Workspace,
    WorkspaceShare,
)

if TYPE_CHECKING:
    import cattrs

    converter: cattrs.Converter  # served by the module __getattr__: built on first use

__all__ = [
    "MAX_JOB_BODY_BYTES",
    "MAX_JOB_ID_CHARS",
    "WireFormatError",
    "check_job_id",
    "converter",
    "loads_json",
    "parse_datetime",
    "parse_job",
    "structure",
    "submitted_job",
    "unstructure",
]

T = TypeVar("T")


class WireFormatError(ValueError):
    """A payload does not have the shape the spec gives it."""


MAX_JOB_ID_CHARS = 128
"""Longest job id accepted from the server (Krea's ids are 36-character UUIDs)."""

_SHOWN_CHARS = 60


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise WireFormatError(f"duplicate key {shown(key)} in a JSON object")
            seen.add(key)
    return data


def shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    """``repr(text)``, shortened to about ``limit`` characters for a message."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}...({len(text)} chars)"


def loads_json(data: bytes | str) -> object:
    """Parse JSON strictly: the one JSON reader for everything the server sends.

    Raises :class:`WireFormatError` for text that is not JSON (or not UTF-8), an
    object with a duplicate key (``{"job_id": "mine", "job_id": "attacker"}``:
    the standard library would keep the last one silently), and nesting too deep
    for the parser (which would otherwise be a raw :class:`RecursionError`).
    """
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates)
    except WireFormatError:
        raise
    except RecursionError:
        raise WireFormatError("JSON nested too deep to parse") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise WireFormatError(f"not JSON: {str(exc)[:200]}") from None


def check_job_id(value: str) -> str:
    """``value`` if the SDK can address the job by it, else :class:`WireFormatError`
    naming it (shortened): 1 to :data:`MAX_JOB_ID_CHARS` printable characters, no
    surrounding whitespace, not ``.`` or ``..``. Such an id is URL-quoted as one
    path segment when polled, and never used as a file name as is
    (:func:`krea_async.files.safe_file_name`)."""
    if (
        not 1 <= len(value) <= MAX_JOB_ID_CHARS
        or value in (".", "..")
        or not value.isprintable()
        or value != value.strip()
    ):
        raise WireFormatError(
            f"unusable job id {shown(value)} from the server (1 to {MAX_JOB_ID_CHARS} "
            "printable characters, not '.' or '..')"
        )
    return value


_ISO = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(value: object) -> _dt.datetime:
    """Parse an ISO 8601 timestamp into an aware datetime (UTC when no offset is given).

    Accepts ``Z``, ``+hh:mm``, ``+hhmm``, and fractions of any length (truncated to
    microseconds). Raises :class:`WireFormatError` for anything else.
    """
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if not isinstance(value, str):
        raise WireFormatError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    m = _ISO.match(value.strip())
    if not m:
        raise WireFormatError(f"not an ISO 8601 timestamp: {value[:64]!r}")
    date, time, frac, tz = m.groups()
    if time.count(":") == 1:
        time += ":00"
    text = f"{date}T{time}"
    if frac:
        text += "." + (frac + "000000")[:6]
    if tz and tz not in ("Z", "z"):
        tz = tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
        text += tz
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise WireFormatError(f"not a valid timestamp: {value[:64]!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.astimezone(_dt.timezone.utc)


def _strict_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise WireFormatError(f"expected a string, got {type(value).__name__}")
    return value


def _strict_bool(value: object, _: object) -> bool:
    if not isinstance(value, bool):
        raise WireFormatError(f"expected a boolean, got {type(value).__name__}")
    return value


def _strict_float(value: object, _: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WireFormatError(f"expected a number, got {type(value).__name__}")
    return float(value)


def _whole_number(value: object, _: object) -> int:
    """An integer count (pixels, bytes): JSON ``1024`` or ``1024.0`` -> ``1024``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WireFormatError(f"expected a number, got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise WireFormatError(f"expected a whole number, got {value!r}")
        return int(value)
    return value


def _str_tuple(value: object, _: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise WireFormatError(f"expected a list of strings, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise WireFormatError(f"expected a list of strings, found {type(item).__name__}")
    return tuple(value)


def _mapping(value: object, _: object) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WireFormatError(f"expected an object, got {type(value).__name__}")
    return value


def _status(value: object, _: object) -> JobStatus:
    if not isinstance(value, str) or not value:
        raise WireFormatError(f"expected a status string, got {type(value).__name__}")
    return JobStatus(value)


def _datetime(value: object, _: object) -> _dt.datetime:
    return parse_datetime(value)


def _optional(inner: Callable[[object, object], T]) -> Callable[[object, object], T | None]:
    def hook(value: object, tp: object) -> T | None:
        return None if value is None else inner(value, tp)

    return hook


def _is_tuple_of(tp: object) -> bool:
    return getattr(tp, "__origin__", None) is tuple and get_args(tp)[-1:] == (Ellipsis,)


def _job_result(value: object, _: object) -> JobResult:
    if value is None:
        return JobResult(raw={})
    if not isinstance(value, dict):
        raise WireFormatError(f"expected 'result' to be an object, got {type(value).__name__}")
    return JobResult(
        urls=_str_tuple(value.get("urls"), None),
        style_id=_optional(_strict_str)(value.get("style_id"), None),
        error=value.get("error"),
        raw=value,
    )


def _unstructure_without_raw(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in attrs.fields(type(obj)):
        if f.name == "raw":
            continue
        value = getattr(obj, f.name)
        if isinstance(value, _dt.datetime):
            out[f.name] = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, JobStatus):
            out[f.name] = value.value
        else:
            out[f.name] = _get_converter().unstructure(value)
    return out


_PAGE_RENAMES = {"nextCursor": "next_cursor"}


def _build() -> cattrs.Converter:
    """The converter with every hook registered (imports :mod:`cattrs`, the slow part)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn

    conv = cattrs.Converter(forbid_extra_keys=False, detailed_validation=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(int, _whole_number)
    conv.register_structure_hook(_dt.datetime, _datetime)
    conv.register_structure_hook(JobStatus, _status)

    def register_exact(tp: object, hook: Callable[[object, Any], Any]) -> None:
        """Register ``hook`` for the exact type expression ``tp`` (a union, a generic alias)."""
        conv.register_structure_hook_func(lambda t: t == tp, hook)

    register_exact(Mapping[str, Any], _mapping)
    register_exact(Optional[object], lambda v, _: v)
    for inner_type, inner_hook in (
        (str, _strict_str),
        (float, _strict_float),
        (int, _whole_number),
        (_dt.datetime, _datetime),
        (Mapping[str, Any], _mapping),
    ):
        register_exact(Optional[inner_type], _optional(inner_hook))

    def tuple_hook(value: object, tp: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise WireFormatError(f"expected a list, got {type(value).__name__}")
        item = get_args(tp)[0]
        return tuple(conv.structure(v, item) for v in value)

    conv.register_structure_hook_func(_is_tuple_of, tuple_hook)
    register_exact(tuple[str, ...], _str_tuple)

    def with_raw(cls: type[Any], *, renames: Mapping[str, str] | None = None) -> None:
        """Register a hook for ``cls`` that ignores unknown keys and keeps the payload in
        ``raw``."""
        attrs.resolve_types(cls)
        inner = make_dict_structure_fn(cls, conv)
        fields = attrs.fields_dict(cls)
        has_raw = "raw" in fields
        with_default = frozenset(n for n, f in fields.items() if f.default is not attrs.NOTHING)

        def hook(value: object, _: object) -> Any:
            if not isinstance(value, dict):
                raise WireFormatError(
                    f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
                )
            # One copy: a JSON null for a field that has a default means "not given".
            data = {k: v for k, v in value.items() if v is not None or k not in with_default}
            if renames:
                for wire, name in renames.items():
                    if wire in data and name not in data:
                        data[name] = data.pop(wire)
            if has_raw:  # the payload as received, unknown fields included
                data["raw"] = _shared_strings(value) if cls is Job else value
            return inner(data, cls)

        conv.register_structure_hook(cls, hook)

    conv.register_structure_hook(JobResult, _job_result)
    # Order matters: a class's hook is built from the hooks of its fields' types.
    for owner in (StyleOwner, Workspace):
        with_raw(owner)
        register_exact(Optional[owner], _optional(conv.get_structure_hook(owner)))
    for model in (Job, Asset, Style, StyleShareLink, WorkspaceShare, NodeApp):
        with_raw(model)
    for page in (JobPage, AssetPage, StylePage, NodeAppVersionPage):
        with_raw(page, renames=_PAGE_RENAMES)
    for out in (Job, JobResult, JobPage, Asset, AssetPage, Style, StylePage, NodeApp):
        conv.register_unstructure_hook(out, _unstructure_without_raw)
    return conv


_built: cattrs.Converter | None = None
_build_lock = threading.Lock()


def submitted_job(body: object) -> object:
    """A generation submit's answer as a job payload: one with a ``job_id`` but no
    ``status`` (Krea's API reference pages show that shape for the job a submit created)
    is a pending job, read as ``queued``, not an unreadable answer. Anything else is
    returned as it is, to be checked by :func:`structure`."""
    if isinstance(body, dict) and "job_id" in body and body.get("status") is None:
        return {**body, "status": JobStatus.QUEUED.value}
    return body


def _get_converter() -> cattrs.Converter:
    """The one converter, built on the first call (thread-safe)."""
    global _built
    conv = _built
    if conv is None:
        with _build_lock:
            if _built is None:
                _built = _build()
            conv = _built
    return conv


def __getattr__(name: str) -> object:
    if name == "converter":  # built on first use: import stays fast
        return _get_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Strings every job payload repeats: each parsed answer has its own copies of them, so
#: a job's ``raw`` keeps the shared ones instead (which counts with
#: thousands of jobs in flight). A fixed table: nothing a server sends is added to it.
_SHARED = {
    s: s
    for s in (
        *(f.name for f in attrs.fields(Job)),
        "type",
        "urls",
        "error",
        "estimated_time",
        *(m.value for m in JobStatus),  # the statuses Krea documents
        "externalImage",
        "externalVideo",
        "externalEnhance",
    )
}


def _shared_strings(payload: dict[str, Any]) -> dict[str, Any]:
    """A copy of a job payload whose keys, status and type are the shared strings."""
    shared = _SHARED
    out = {shared.get(k, k): v for k, v in payload.items()}
    for key in ("status", "type"):
        v = out.get(key)
        if isinstance(v, str):
            out[key] = shared.get(v, v)
    return out


def structure(payload: object, cls: type[T]) -> T:
    """Structure ``payload`` into ``cls``; any mismatch raises :class:`WireFormatError`."""
    try:
        return _get_converter().structure(payload, cls)
    except WireFormatError:
        raise
    except Exception as exc:  # cattrs raises several types; keep one
        raise WireFormatError(f"unexpected {cls.__name__} payload: {str(exc)[:300]}") from exc


MAX_JOB_BODY_BYTES = 1024 * 1024
"""Largest body :func:`parse_job` reads (bytes): 1 MiB, the webhook receiver's cap.
A Krea job is a few kilobytes."""


def parse_job(
    payload: bytes | str | Mapping[str, Any], *, max_bytes: int = MAX_JOB_BODY_BYTES
) -> Job:
    """Parse a job sent to your webhook (or any job JSON) into a :class:`~krea_async.Job`.

    With ``X-Webhook-URL`` (``webhook_url=`` on a submit), Krea POSTs the full job
    JSON there once the job is terminal (Krea's webhook docs, https://docs.krea.ai).
    ``payload`` is the request body as bytes or text, or already-decoded JSON. Deliveries can be
    duplicated and are not signed: answer 2xx quickly, check that ``job_id`` is a
    job you started, and treat a repeat as a no-op (or fetch the job with
    ``krea.jobs.get()`` to confirm it).

    Raises :class:`WireFormatError` (a :class:`ValueError`) for a body that is not a
    job: over ``max_bytes`` bytes (default :data:`MAX_JOB_BODY_BYTES`, 1 MiB), not
    strict JSON (:func:`loads_json`: a duplicate key is refused, not "last one
    wins"; nesting too deep), or JSON of another shape. Its ``job_id`` is not checked
    further (see :func:`check_job_id`): never use it as a path.
    """
    data: object = payload
    if isinstance(payload, (bytes, str)):
        size = len(payload)
        if isinstance(payload, str) and size <= max_bytes:
            size = len(payload.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise WireFormatError(f"webhook body over {max_bytes} bytes")
        try:
            data = loads_json(payload)
        except WireFormatError as exc:
            raise WireFormatError(f"webhook body: {exc}") from None
    return structure(data, Job)


def unstructure(obj: object) -> Any:
    """Unstructure a model back to JSON-ready data (``raw`` is left out)."""
    return _get_converter().unstructure(obj)
