"""Request validation of the fake: JSON Schema (Draft 2020-12) against the bundled
spec, with Krea-style ``400 {"error": "field: reason"}`` messages, and the
``format: uri`` check Krea applies (``X-Webhook-URL``, image URL fields)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from starlette.requests import Request

from ._specdata import load_spec
from ._util import ApiError, parse_iso

__all__ = [
    "check_uri",
    "generation_validator",
    "json_body",
    "request_validator",
    "schema_validator",
    "validate",
    "webhook_url",
]

# RFC 3986 "URI" (absolute, with a scheme): no whitespace, control characters or
# characters RFC 3986 never allows unescaped.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1f\x7f]+$")
_FORMATS = FormatChecker(formats=())


def check_uri(value: object) -> bool:
    """``True`` when ``value`` is an absolute URI (RFC 3986: a scheme, then a
    non-empty rest with no space or forbidden character); non-strings pass (the
    ``type`` keyword judges those), as JSON Schema's ``format`` does."""
    if not isinstance(value, str):
        return True
    if not _URI.match(value):
        return False
    scheme, _, rest = value.partition(":")
    if scheme.lower() in ("http", "https"):
        return rest.startswith("//") and len(rest) > 2 and rest[2] not in "/?#"
    return True


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def check_uuid(value: object) -> bool:
    """``True`` when ``value`` is a UUID in its 8-4-4-4-12 hex form (non-strings pass)."""
    return not isinstance(value, str) or bool(_UUID.match(value))


def check_date_time(value: object) -> bool:
    """``True`` when ``value`` is an RFC 3339 date-time (non-strings pass)."""
    return not isinstance(value, str) or parse_iso(value) is not None


_FORMATS.checks("uri")(check_uri)
_FORMATS.checks("uuid")(check_uuid)
_FORMATS.checks("date-time")(check_date_time)


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=_FORMATS)


def webhook_url(request: Request) -> None:
    """400 when an ``X-Webhook-URL`` header is there but is not a URI (spec: ``format: uri``)."""
    value = request.headers.get("x-webhook-url")
    if value is not None and not check_uri(value):
        raise ApiError(400, f"X-Webhook-URL: {value[:100]!r} is not a 'uri'")


def _where(err: ValidationError) -> str:
    out = ""
    for part in err.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _messages(err: ValidationError, aliases: Mapping[str, tuple[str, str]]) -> list[str]:
    where = _where(err)
    prefix = where + "." if where else ""
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties", {})
        out = []
        for key in err.instance:
            if key in known:
                continue
            if not where and key in aliases:
                to, date = aliases[key]
                out.append(f"unknown field '{key}' (renamed to {to} on {date})")
            else:
                out.append(f"unknown field '{prefix}{key}'")
        return out
    if err.validator == "required" and isinstance(err.instance, dict):
        return [
            f"{prefix}{name}: required field is missing"
            for name in err.validator_value
            if name not in err.instance
        ]
    if err.context and not where:  # a root oneOf/anyOf (styles/train): the likeliest branch
        branches: dict[object, list[ValidationError]] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        best = min(
            branches.values(),
            key=lambda errs: (
                sum(e.validator in ("required", "enum", "const", "type") for e in errs),
                len(errs),
            ),
        )
        return [m for sub in best for m in _messages(sub, aliases)]
    message = err.message if len(err.message) <= 200 else err.message[:200] + "..."
    return [f"{where or 'body'}: {message}"]


def validate(
    validator: Draft202012Validator,
    body: object,
    aliases: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Raise 400 naming every offending field (``"steps: 500 is greater than ..."``)."""
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        found: list[str] = []
        for err in errors:
            found.extend(_messages(err, aliases or {}))
        raise ApiError(400, "; ".join(dict.fromkeys(found)))


@functools.cache
def generation_validator(path: str) -> tuple[Draft202012Validator, Mapping[str, tuple[str, str]]]:
    op = load_spec()["paths"][path]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    aliases = {
        a["from"]: (a["to"], a.get("sunset_date", "2026-06-19"))
        for a in op.get("x-krea-deprecated-field-aliases", [])
    }
    return _validator(schema), aliases


@functools.cache
def request_validator(path: str, method: str) -> Draft202012Validator:
    op = load_spec()["paths"][path][method]
    return _validator(op["requestBody"]["content"]["application/json"]["schema"])


async def json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON body: {exc}") from None


@functools.lru_cache(maxsize=64)
def schema_validator(schema_json: str) -> Draft202012Validator:
    """A validator for a JSON Schema given as JSON text (node apps' input schemas)."""
    return _validator(json.loads(schema_json))
