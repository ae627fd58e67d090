"""Turning a generation input into the JSON body Krea expects.

The generated input classes (:mod:`krea_async.inputs`) subclass :class:`KreaInput`
and use the small validators defined here; :func:`to_body` is what the client
calls with whatever the user passed as ``input`` (an input instance or a plain
mapping).

Hand-written; the deprecated camelCase aliases come from the bundled spec
(:mod:`krea_async._spec.bundle`); the per-endpoint input classes are generated into
:mod:`krea_async._generated.inputs` by ``scripts/generate_types.py``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from .._http.urls import normalize_endpoint
from .._types import user_stacklevel
from .bundle import declared_types, model_info

if TYPE_CHECKING:
    pass


__all__ = [
    "ALIAS_SUNSET",
    "KreaInput",
    "Validator",
    "all_of",
    "is_int",
    "is_list",
    "is_mapping",
    "is_number",
    "matches_schema",
    "normalize_endpoint",
    "optional",
    "to_body",
]

#: An attrs validator: ``(instance, attribute, value) -> None``, raising on a bad value.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], Any]

#: The day Krea stopped accepting the camelCase request fields
#: (https://docs.krea.ai/developers/deprecations#public-api-snake-case-fields).
ALIAS_SUNSET = "2026-06-19"


# --------------------------------------------------------------------------- validators


def all_of(*validators: Validator) -> Validator:
    """Run ``validators`` in order; the first failure is raised."""
    if len(validators) == 1:
        return validators[0]
    return attrs.validators.and_(*validators)


def optional(*validators: Validator) -> Validator:
    """Like :func:`all_of`, but ``None`` (the field is not sent) always passes."""
    return attrs.validators.optional(list(validators))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_number(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """A JSON number: an ``int`` or a finite ``float`` (not a ``bool``); ``TypeError`` otherwise."""
    if not _is_number(value):
        raise TypeError(f"'{attr.name}' must be a number (int or float), got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"'{attr.name}' must be a finite number, got {value!r}")


def is_int(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """A JSON integer: an ``int`` that is not a ``bool``; ``TypeError`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"'{attr.name}' must be an int, got {value!r}")


def is_list(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """A JSON array: a ``list`` or ``tuple``; ``TypeError`` otherwise."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"'{attr.name}' must be a list, got {type(value).__name__}")


def is_mapping(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    """A JSON object: a ``Mapping`` (a dict); ``TypeError`` otherwise."""
    if not isinstance(value, Mapping):
        raise TypeError(f"'{attr.name}' must be a dict, got {type(value).__name__}")


_JSON_TYPES: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, Mapping),
}


def _check(schema: Mapping[str, Any], value: object, where: str) -> None:
    """A small JSON Schema subset (the keywords Krea's request schemas use)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            errors: list[Exception] = []
            matched = 0
            for sub in schema[key]:
                try:
                    _check(sub, value, where)
                except (TypeError, ValueError) as exc:
                    errors.append(exc)
                else:
                    matched += 1
            if matched == 0:
                if len(errors) == 1:
                    raise errors[0]
                kind = TypeError if all(isinstance(e, TypeError) for e in errors) else ValueError
                details = "; ".join(str(e) for e in errors)
                raise kind(f"{where}: {value!r} matches none of the allowed forms ({details})")
            if key == "oneOf" and matched > 1:
                raise ValueError(f"{where}: {value!r} matches more than one allowed form")
    names = declared_types(schema) if "type" in schema else []
    if names and not any(_JSON_TYPES[t](value) for t in names if t in _JSON_TYPES):
        raise TypeError(f"{where} must be of type {' or '.join(names)}, got {value!r}")
    if "const" in schema and value != schema["const"]:
        raise ValueError(f"{where} must be {schema['const']!r}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{where} must be one of {schema['enum']!r}, got {value!r}")
    if _is_number(value):
        assert isinstance(value, (int, float))
        if "minimum" in schema and value < schema["minimum"]:
            raise ValueError(f"{where} must be >= {schema['minimum']}, got {value!r}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValueError(f"{where} must be <= {schema['maximum']}, got {value!r}")
        ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        if isinstance(ex_min, (int, float)) and value <= ex_min:
            raise ValueError(f"{where} must be > {ex_min}, got {value!r}")
        if isinstance(ex_max, (int, float)) and value >= ex_max:
            raise ValueError(f"{where} must be < {ex_max}, got {value!r}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ValueError(f"{where} must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ValueError(f"{where} must be at most {schema['maxLength']} characters long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise ValueError(f"{where} must match {schema['pattern']!r}, got {value!r}")
    if isinstance(value, (list, tuple)):
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise ValueError(f"{where} must have at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise ValueError(f"{where} must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                _check(items, item, f"{where}[{i}]")
    if isinstance(value, Mapping):
        props: Mapping[str, Any] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise ValueError(f"{where} lacks the required key {name!r}")
        if schema.get("additionalProperties") is False:
            extra = sorted(str(k) for k in value if k not in props)
            if extra:
                raise ValueError(f"{where} has unknown keys {extra}; allowed: {sorted(props)}")
        for name, sub in props.items():
            if name in value:
                _check(sub, value[name], f"{where}.{name}")


def matches_schema(schema: Mapping[str, Any]) -> Validator:
    """A validator checking a nested value (list items, objects) against a schema fragment.

    Raises ``TypeError`` for a value of the wrong JSON type and ``ValueError`` for
    any other violation (range, length, enum, pattern, missing or unknown key).
    """

    def validate(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        _check(schema, value, repr(attr.name))

    return validate


# --------------------------------------------------------------------------- input base


class KreaInput:
    """Base of every generated input class (``BflFlux1DevInput``, ...).

    Subclasses are frozen, keyword-only attrs classes: one field per request key,
    ``None`` meaning "not sent" for an optional field (Krea then applies its
    default). ``ENDPOINT`` is the endpoint the class belongs to, e.g.
    ``"image/bfl/flux-1-dev"``.
    """

    __slots__ = ()

    ENDPOINT: ClassVar[str] = ""

    def to_body(self) -> dict[str, Any]:
        """The JSON request body: every field set, optional ``None`` fields left out.

        Nested values (lists, dicts) are passed through as they are.
        """
        return _attrs_body(self)


def _attrs_body(inst: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for field in attrs.fields(type(inst)):
        value = getattr(inst, field.name)
        if value is None and field.default is not attrs.NOTHING:
            continue
        body[field.name] = value
    return body


def _rewrite_aliases(endpoint: str, data: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(data)
    info = model_info(endpoint)
    aliases = info.deprecated_aliases if info is not None and info.endpoint == endpoint else None
    if not aliases:
        return body
    for old, new in aliases.items():
        if old not in body:
            continue
        if new in body:
            raise ValueError(
                f"{endpoint}: both {old!r} (a deprecated alias) and {new!r} were given; "
                f"send only {new!r}"
            )
        warnings.warn(
            f"{endpoint}: the request key {old!r} is deprecated; use {new!r} instead "
            f"(Krea stopped accepting {old!r} on {ALIAS_SUNSET}). Sending it as {new!r}.",
            DeprecationWarning,
            stacklevel=user_stacklevel(),
        )
        # Keep the key order the caller used.
        body = {(new if k == old else k): v for k, v in body.items()}
    return body


def to_body(endpoint: str, input: object) -> dict[str, Any]:
    """The JSON body to POST to ``/generate/{endpoint}`` for ``input``.

    - An input instance (:class:`KreaInput`, e.g. ``BflFlux1DevInput``): its fields,
      with optional ``None`` fields left out (nested values as they are). An instance
      of another endpoint's class is a ``TypeError``. Any other attrs instance is
      turned into a dict the same way.
    - A ``Mapping``: a plain ``dict`` copy. Deprecated camelCase keys of that endpoint
      (e.g. ``imageUrl``) are rewritten to their snake_case name with a
      ``DeprecationWarning`` (Krea stopped accepting them on 2026-06-19); giving both
      the alias and its new key is a ``ValueError``. For an endpoint the bundled spec
      lacks, the mapping is passed through unchanged. Values are not validated here:
      Krea answers a 400 for a bad body.
    - Anything else: ``TypeError``.

    ``endpoint`` is ``"image/bfl/flux-1-dev"`` (a leading ``/generate/`` is accepted).
    """
    key = normalize_endpoint(endpoint)
    if isinstance(input, KreaInput):
        own = type(input).ENDPOINT
        if own and own != key:
            raise TypeError(
                f"{type(input).__name__} is the input of {own!r}, not of {key!r}; "
                f"use the input class of {key!r} or a dict"
            )
        return input.to_body()
    if attrs.has(type(input)):
        return _attrs_body(input)
    if isinstance(input, Mapping):
        return _rewrite_aliases(key, input)
    raise TypeError(
        f"input for {key!r} must be a dict (mapping) or an input instance such as "
        f"krea_async.inputs.BflFlux1DevInput, not {type(input).__name__}"
    )
