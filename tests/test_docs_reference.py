"""The API reference (docs/content/reference/) lists every public name.

Public: the ``__all__`` of ``krea_async`` and of its public modules below. A name is
listed when a page has a ``::: module.Name`` block, or names it in the ``members:``
option of a ``::: module`` block. (``krea_async.inputs`` holds two generated classes per
model; its page documents the pattern with representatives, and is not checked here.)
"""

from __future__ import annotations

import importlib
import inspect
import re
import typing
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "content" / "reference"
MODULES = ["krea_async", "krea_async.files", "krea_async.testing", "krea_async.web"]
if (REFERENCE.parent.parent.parent / "krea_async" / "batch.py").exists():
    MODULES.append("krea_async.batch")

_BLOCK = re.compile(r"^:::\s*(?P<target>[\w.]+)[ \t]*\n(?P<options>(?:[ \t]+.*\n|\n)*)", re.M)
_INLINE = re.compile(r"^\s+members:\s*\[(?P<names>[^\]]*)\]", re.M)
_LIST = re.compile(r"^(?P<indent>\s+)members:\s*\n(?P<items>(?:(?P=indent)\s+-\s*\w+\s*\n)+)", re.M)


def listed_names(text: str) -> set[str]:
    """Qualified names a reference page documents."""
    found: set[str] = set()
    for block in _BLOCK.finditer(text + "\n"):
        target, options = block["target"], block["options"]
        found.add(target)
        for inline in _INLINE.finditer(options):
            found |= {f"{target}.{n.strip()}" for n in inline["names"].split(",") if n.strip()}
        for items in _LIST.finditer(options):
            found |= {f"{target}.{n}" for n in re.findall(r"-\s*(\w+)", items["items"])}
    return found


def _reference() -> set[str]:
    return set().union(*(listed_names(p.read_text("utf-8")) for p in REFERENCE.glob("*.md")))


def test_the_reader_understands_both_member_forms() -> None:
    page = (
        "::: pkg.Thing\n\n"
        "::: pkg.mod\n    options:\n      members:\n        - a\n        - B\n\n"
        "::: pkg.other\n    options:\n      members: [c, d]\n"
    )
    assert listed_names(page) == {
        "pkg.Thing",
        "pkg.mod",
        "pkg.mod.a",
        "pkg.mod.B",
        "pkg.other",
        "pkg.other.c",
        "pkg.other.d",
    }


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_in_the_reference(module: str) -> None:
    mod = importlib.import_module(module)
    documented = _reference()
    missing = [
        n
        for n in mod.__all__
        if f"{module}.{n}" not in documented
        and n != "__version__"
        and not isinstance(getattr(mod, n), type(importlib))  # a submodule: its own page
    ]
    assert not missing, f"add these to docs/content/reference/: {module}.{missing}"


def _resolve(name: str) -> object:
    """The object a qualified name points at: the longest importable module prefix,
    then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if isinstance(obj, type) and not hasattr(obj, attr):
                # an instance attribute, set in a method (what mkdocstrings documents)
                pattern = rf"self\.{attr}\b\s*(:[^=]+)?="
                assert re.search(pattern, inspect.getsource(obj)), f"{name}: no {attr}"
                return None
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def test_every_reference_target_exists() -> None:
    for name in sorted(_reference()):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as exc:
            raise AssertionError(f"the reference names {name}, which does not exist") from exc


@pytest.mark.parametrize("module", MODULES)
def test_every_public_class_and_function_has_a_docstring(module: str) -> None:
    mod = importlib.import_module(module)
    bare = [
        name
        for name in mod.__all__
        if (inspect.isclass(obj := getattr(mod, name)) or inspect.isfunction(obj))
        and typing.get_origin(obj) is None  # a type alias (a class on 3.10) is documented inline
        and not (obj.__doc__ or "").strip()  # its own, not inherited
    ]
    assert not bare, f"{module}: no docstring on {bare}"
