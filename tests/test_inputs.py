"""The generated typed inputs (krea_async.inputs) and turning inputs into bodies."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import typing
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import jsonschema
import pytest

from krea_async import inputs
from krea_async._generated.methods import GeneratedMethods
from krea_async._spec.bundle import ModelInfo, generation_endpoints
from krea_async._spec.inputs_runtime import ALIAS_SUNSET, KreaInput, to_body
from krea_async.inputs import (
    DEPRECATED_ALIASES,
    INPUT_TYPES,
    BflFlux1DevInput,
    KlingKling1Input,
    KlingKling21Input,
    KlingKlingO1Input,
    KreaKrea2MediumInput,
    RunwayGen4ImageInput,
    TopazBloomEnhanceInput,
)

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = generation_endpoints()
IDS = [info.endpoint for info in ENDPOINTS]


# --------------------------------------------------------------------------- samples


def sample(schema: Mapping[str, Any]) -> Any:
    """A small value valid against ``schema`` (the subset Krea's schemas use)."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return sample(schema[key][0])
    types = schema.get("type", "object")
    kind = types if isinstance(types, str) else next(t for t in types if t != "null")
    if kind == "string":
        if schema.get("format") == "uri":
            return "https://example.com/a.png"
        if schema.get("format") == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        text = "abc" if "pattern" in schema else "a red fox"
        text = text.ljust(schema.get("minLength", 0), "x")
        return text[: schema.get("maxLength", len(text))]
    if kind in ("number", "integer"):
        value = 1
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        return value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        return [sample(schema.get("items", {"type": "string"}))] * max(1, schema.get("minItems", 1))
    props = schema.get("properties", {})
    return {k: sample(v) for k, v in props.items() if k in schema.get("required", ())}


def minimal_kwargs(info: ModelInfo) -> dict[str, Any]:
    schema = info.input_schema
    return {k: sample(schema["properties"][k]) for k in schema.get("required", ())}


def full_kwargs(info: ModelInfo) -> dict[str, Any]:
    """Every property set (nested objects with their required keys only)."""
    return {k: sample(v) for k, v in info.input_schema["properties"].items()}


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("info", ENDPOINTS, ids=IDS)
def test_every_endpoint_has_input_class_and_typeddict(info: ModelInfo) -> None:
    cls = INPUT_TYPES[info.endpoint]
    assert issubclass(cls, KreaInput)
    assert info.endpoint == cls.ENDPOINT
    assert attrs.has(INPUT_TYPES[info.endpoint])
    assert getattr(inputs, cls.__name__) is cls
    assert cls.__name__ in inputs.__all__
    assert cls.__doc__
    assert info.path in cls.__doc__

    schema = info.input_schema
    props = set(schema["properties"])
    required = set(schema.get("required", ()))
    fields = attrs.fields_dict(cls)
    assert set(fields) == props
    for name, field in fields.items():
        prop = schema["properties"][name]
        if name in required and ("const" in prop or len(prop.get("enum", ())) == 1):
            # A required field with one allowed value defaults to it.
            assert field.default == prop.get("const", prop.get("enum", [None])[0]), name
        elif name in required:
            assert field.default is attrs.NOTHING, name
        elif name not in required:
            assert field.default is None, name

    td = getattr(inputs, cls.__name__ + "Dict")
    assert typing.is_typeddict(td)
    assert td.__required_keys__ == required
    assert td.__optional_keys__ == props - required


def test_tables_match_the_spec() -> None:
    assert set(INPUT_TYPES) == set(IDS)
    assert len(ENDPOINTS) == 61
    expected = {i.endpoint: dict(i.deprecated_aliases) for i in ENDPOINTS if i.deprecated_aliases}
    assert expected == DEPRECATED_ALIASES


def test_class_names_follow_the_path() -> None:
    assert INPUT_TYPES["image/bfl/flux-1-dev"] is BflFlux1DevInput
    assert INPUT_TYPES["image/krea/krea-2/medium"] is KreaKrea2MediumInput
    assert INPUT_TYPES["video/kling/kling-2.1"] is KlingKling21Input
    assert len({c.__name__ for c in INPUT_TYPES.values()}) == len(INPUT_TYPES)


def test_shared_nested_typeddicts() -> None:
    hints = typing.get_type_hints(BflFlux1DevInput)
    assert hints["styles"] == list[inputs.StyleRef] | None
    krea_hints = typing.get_type_hints(KreaKrea2MediumInput)
    assert krea_hints["styles"] == list[inputs.StyleRef] | None
    assert inputs.StyleRef.__required_keys__ == {"id", "strength"}


def test_docstring_has_time_and_price() -> None:
    doc = BflFlux1DevInput.__doc__ or ""
    assert "~7 seconds" in doc
    assert "$0.007" in doc
    assert "$0.03" in (KreaKrea2MediumInput.__doc__ or "")


# --------------------------------------------------------------------------- validators


def test_required_field_missing() -> None:
    with pytest.raises(TypeError):
        BflFlux1DevInput()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        KreaKrea2MediumInput(prompt="x")  # type: ignore[call-arg]
    # "resolution" allows one value only ("1K"): it is filled in.
    assert KreaKrea2MediumInput(prompt="x", aspect_ratio="1:1").resolution == "1K"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"steps": 0}, ValueError),
        ({"steps": 101}, ValueError),
        ({"steps": "5"}, TypeError),
        ({"steps": True}, TypeError),
        ({"steps": 5.5}, TypeError),
        ({"width": 511}, ValueError),
        ({"width": 2368.5}, ValueError),
        ({"width": float("nan")}, ValueError),
        ({"guidance_scale_flux": -0.1}, ValueError),
        ({"prompt": "x" * 1801}, ValueError),
        ({"prompt": 3}, TypeError),
        ({"image_url": 3}, TypeError),
        ({"styles": {"id": "a", "strength": 1}}, TypeError),
        ({"styles": [{"id": "a", "strength": 3}]}, ValueError),
        ({"styles": [{"id": "a"}]}, ValueError),
        ({"styles": [{"id": 1, "strength": 1}]}, TypeError),
    ],
)
def test_flux_validators(kwargs: dict[str, Any], error: type[Exception]) -> None:
    args: dict[str, Any] = {"prompt": "x", **kwargs}
    with pytest.raises(error):
        BflFlux1DevInput(**args)


def test_flux_valid_values() -> None:
    inp = BflFlux1DevInput(
        prompt="x" * 1800,
        steps=100,
        width=512,
        height=2368.0,
        image_url=None,
        styles=[{"id": "s", "strength": -2}],
    )
    assert inp.width == 512


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aspect_ratio": "7:1"},
        {"resolution": "4K"},
        {"creativity": "wild"},
        {"intensity": 101},
        {"moodboards": [{"id": "a"}, {"id": "b"}]},  # maxItems 1
        {"image_style_references": [{"url": "https://x/" + "a" * 1024}]},  # maxLength
        {"image_style_references": [{"url": "https://x/a", "strength": 2}]},
    ],
)
def test_krea2_rejects(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"prompt": "x", "aspect_ratio": "1:1", "resolution": "1K", **kwargs}
    with pytest.raises(ValueError):
        KreaKrea2MediumInput(**args)


def test_enum_const_and_anyof_literals() -> None:
    with pytest.raises(ValueError, match="duration"):
        KlingKling21Input(prompt="x", duration=7)  # type: ignore[arg-type]
    assert KlingKling21Input(prompt="x", duration=10).duration == 10
    # A required const defaults to its only value.
    assert (
        TopazBloomEnhanceInput(image_url="u", width=1024, height=1024).to_body()["model"]
        == "Reimagine"
    )
    with pytest.raises(ValueError, match="model"):
        TopazBloomEnhanceInput(image_url="u", width=1024, height=1024, model="Other")  # type: ignore[arg-type]


def test_pattern_length_and_items() -> None:
    ok: Any = {"url": "https://x/a.png", "tag": "abc"}
    RunwayGen4ImageInput(prompt="x", reference_images=[ok])
    upper: Any = {**ok, "tag": "Abc"}
    short: Any = {**ok, "tag": "ab"}
    with pytest.raises(ValueError, match="tag"):
        RunwayGen4ImageInput(prompt="x", reference_images=[upper])
    with pytest.raises(ValueError, match="tag"):
        RunwayGen4ImageInput(prompt="x", reference_images=[short])
    with pytest.raises(ValueError, match="reference_images"):
        RunwayGen4ImageInput(prompt="x", reference_images=[ok] * 4)
    with pytest.raises(ValueError, match="reference_images"):
        RunwayGen4ImageInput(prompt="x", reference_images=[])
    with pytest.raises(ValueError, match="video_reference"):
        KlingKlingO1Input(prompt="x", video_reference={"url": "https://x/a", "tag": "9x"})


def test_oneof_camera_control() -> None:
    KlingKling1Input(prompt="x", camera_control={"type": "simple", "config": {"zoom": 5}})
    KlingKling1Input(prompt="x", camera_control={"type": "down_back"})
    with pytest.raises(ValueError, match="camera_control"):
        KlingKling1Input(prompt="x", camera_control={"type": "simple", "config": {"zoom": 11}})
    with pytest.raises(ValueError, match="camera_control"):
        KlingKling1Input(prompt="x", camera_control={"type": "sideways"})  # type: ignore[arg-type]


def test_inputs_are_frozen() -> None:
    inp = BflFlux1DevInput(prompt="x")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        inp.prompt = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------- to_body


def test_to_body_drops_none_and_keeps_nested() -> None:
    styles: list[inputs.StyleRef] = [{"id": "s", "strength": 1}]
    inp = BflFlux1DevInput(prompt="x", steps=28, styles=styles)
    body = inp.to_body()
    assert body == {"prompt": "x", "steps": 28, "styles": styles}
    assert body["styles"] is styles
    assert to_body("image/bfl/flux-1-dev", inp) == body
    assert to_body("/generate/image/bfl/flux-1-dev", inp) == body


def test_to_body_rejects_another_endpoints_input() -> None:
    with pytest.raises(TypeError, match="krea-2/medium"):
        to_body(
            "image/bfl/flux-1-dev",
            KreaKrea2MediumInput(prompt="x", aspect_ratio="1:1", resolution="1K"),
        )


def test_to_body_plain_attrs_instance() -> None:
    @attrs.frozen
    class Custom:
        prompt: str
        seed: int | None = None

    assert to_body("image/new/model", Custom("x")) == {"prompt": "x"}


@pytest.mark.parametrize("bad", [None, "prompt", 3, [("prompt", "x")]])
def test_to_body_rejects_other_types(bad: object) -> None:
    with pytest.raises(TypeError, match="dict"):
        to_body("image/bfl/flux-1-dev", bad)


def test_to_body_mapping_is_copied() -> None:
    data = {"prompt": "x", "steps": 28}
    body = to_body("image/bfl/flux-1-dev", data)
    assert body == data
    assert body is not data


def test_to_body_unknown_endpoint_passes_through() -> None:
    data = {"imageUrl": "https://x/a.png", "whatever": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert to_body("image/acme/new-model", data) == data


def test_alias_rewrite_warns() -> None:
    data = {"prompt": "x", "imageUrl": "https://x/a.png", "steps": 3}
    with pytest.warns(DeprecationWarning, match="'imageUrl'.*'image_url'") as record:
        body = to_body("image/bfl/flux-1-dev", data)
    assert body == {"prompt": "x", "image_url": "https://x/a.png", "steps": 3}
    assert list(body) == ["prompt", "image_url", "steps"]
    assert data == {"prompt": "x", "imageUrl": "https://x/a.png", "steps": 3}  # not mutated
    message = str(record[0].message)
    assert ALIAS_SUNSET in message
    assert "2026-06-19" in message
    assert record[0].filename == __file__  # points at the caller, not at krea_async


def test_alias_rewrite_only_for_that_endpoint() -> None:
    # Krea 2 lists no aliases: the key goes through (and Krea will answer a 400).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = to_body("image/krea/krea-2/medium", {"prompt": "x", "imageUrl": "u"})
    assert body == {"prompt": "x", "imageUrl": "u"}


def test_alias_several_and_snake_to_snake() -> None:
    with pytest.warns(DeprecationWarning, match="deprecated") as record:
        body = to_body(
            "video/kling/kling-1", {"prompt": "x", "startImage": "a", "aspectRatio": "1:1"}
        )
    assert body == {"prompt": "x", "start_image": "a", "aspect_ratio": "1:1"}
    assert len(record) == 2
    with pytest.warns(DeprecationWarning, match="'image_url'.*'start_image'"):
        assert to_body("video/google/veo-2", {"image_url": "a"}) == {"start_image": "a"}


def test_alias_and_new_key_both_given() -> None:
    with pytest.raises(ValueError, match=r"imageUrl.*image_url"):
        to_body("image/bfl/flux-1-dev", {"prompt": "x", "imageUrl": "a", "image_url": "b"})


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("info", ENDPOINTS, ids=IDS)
def test_round_trip_minimal(info: ModelInfo) -> None:
    cls = INPUT_TYPES[info.endpoint]
    inp = cls(**minimal_kwargs(info))
    body = inp.to_body()
    jsonschema.validate(body, info.input_schema)
    assert to_body(info.endpoint, body) == body


@pytest.mark.parametrize("info", ENDPOINTS, ids=IDS)
def test_round_trip_every_field(info: ModelInfo) -> None:
    cls = INPUT_TYPES[info.endpoint]
    kwargs = full_kwargs(info)
    jsonschema.validate(kwargs, info.input_schema)  # the sample itself is valid
    body = cls(**kwargs).to_body()
    assert body == {k: v for k, v in kwargs.items() if v is not None}
    jsonschema.validate(body, info.input_schema)


@pytest.mark.parametrize("info", ENDPOINTS, ids=IDS)
def test_unknown_field_is_rejected(info: ModelInfo) -> None:
    cls: Any = INPUT_TYPES[info.endpoint]
    with pytest.raises(TypeError):
        cls(**minimal_kwargs(info), not_a_field=1)


# --------------------------------------------------------------------------- methods


class _Recorder(GeneratedMethods):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def _submit_model(
        self, category: str, model: str, input: Any, *, webhook_url: str | None
    ) -> Any:
        self.calls.append(("submit", category, model, input, webhook_url))
        return JOB

    async def _subscribe_endpoint(self, endpoint: str, **kwargs: Any) -> Any:
        self.calls.append(("subscribe", endpoint, kwargs))
        return RESULT


JOB: Any = object()
RESULT: Any = object()


def test_mixin_delegates() -> None:
    rec = _Recorder()

    async def main() -> None:
        assert await rec.image("bfl/flux-1-dev", {"prompt": "x"}) is JOB
        assert await rec.video("kling/kling-2.1", {"prompt": "x"}, webhook_url="https://h") is JOB
        enhance = await rec.enhance(
            "topaz/standard-enhance", {"image_url": "u", "width": 9, "height": 9, "model": "CGI"}
        )
        assert enhance is JOB
        assert await rec.subscribe("image/bfl/flux-1-dev", input={"prompt": "x"}) is RESULT

    anyio.run(main)
    assert rec.calls[0] == ("submit", "image", "bfl/flux-1-dev", {"prompt": "x"}, None)
    assert rec.calls[1][1:3] == ("video", "kling/kling-2.1")
    assert rec.calls[1][4] == "https://h"
    assert rec.calls[2][1] == "enhance"
    assert rec.calls[3] == (
        "subscribe",
        "image/bfl/flux-1-dev",
        {
            "input": {"prompt": "x"},
            "on_queue_update": None,
            "webhook_url": None,
            "poll_interval": None,
            "deadline": None,
            "cancel_on_exit": True,
        },
    )


METHODS_STUB = ROOT / "krea_async" / "_generated" / "methods.pyi"


def stub_signatures(method: str) -> list[ast.AsyncFunctionDef]:
    """``GeneratedMethods.<method>``'s typed signatures in ``methods.pyi`` (what type
    checkers read; ``methods.py`` has one plain method each, so that ``import krea_async``
    does not execute the overloads)."""
    tree = ast.parse(METHODS_STUB.read_text("utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "GeneratedMethods"]
    return [n for n in cls.body if isinstance(n, ast.AsyncFunctionDef) and n.name == method]


def test_one_overload_per_model() -> None:
    for category in ("image", "video", "enhance"):
        models = [i.id for i in ENDPOINTS if i.category == category]
        signatures = stub_signatures(category)
        assert len(signatures) == len(models)
        if len(models) >= 2:
            assert all(
                [ast.unparse(d) for d in s.decorator_list] == ["overload"] for s in signatures
            )
    assert len(stub_signatures("subscribe")) == len(ENDPOINTS)


@pytest.mark.parametrize("method", ["image", "video", "enhance", "subscribe"])
def test_stub_matches_run_time(method: str) -> None:
    """Each typed signature of the stub takes the parameters the run-time method takes
    (names, kinds, which have defaults), and the run-time module has no overloads."""
    runtime = inspect.signature(getattr(GeneratedMethods, method)).parameters.values()
    expected = [(p.name, p.kind == p.KEYWORD_ONLY, p.default is not p.empty) for p in runtime]
    for sig in stub_signatures(method):
        a = sig.args
        positional = [(x.arg, False, False) for x in a.args]
        for i, default in enumerate(a.defaults, len(a.args) - len(a.defaults)):
            positional[i] = (positional[i][0], False, default is not None)
        keyword = [
            (x.arg, True, d is not None) for x, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)
        ]
        assert positional + keyword == expected, ast.unparse(sig)
    source = (ROOT / "krea_async" / "_generated" / "methods.py").read_text("utf-8")
    assert "overload" not in source.split('"""')[2]  # the code after the docstring


# --------------------------------------------------------------------------- generator


def test_generated_files_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_types.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


def test_generated_header() -> None:
    for name in ("__init__.py", "inputs.py", "methods.py", "methods.pyi"):
        text = (ROOT / "krea_async" / "_generated" / name).read_text("utf-8")
        assert re.match(r"# generated by scripts/generate_types\.py .* do not edit\n", text)
