"""No object reaches into another object's private attributes.

An AST check over ``krea_async``: an attribute access ``x._name`` (a single leading
underscore; dunders excepted) is allowed only on ``self`` / ``cls``, on a module
imported under that name, and on the few pairs allowlisted below with a reason.
Everything else is a rule kept by one object and read by another, which this
project does not do: give the owner a public name instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "krea_async"

# (module path relative to krea_async, "receiver._attr"): why it is allowed.
_HTTPCORE = "httpx/httpcore internals: no public API to swap the pool (pinned versions)"
_ENUM = "enum's documented _sunder_ names"
ALLOWED: dict[tuple[str, str], str] = {
    ("_http/pool.py", "transport._pool"): _HTTPCORE,
    ("_http/pool.py", "pool._ssl_context"): _HTTPCORE,
    ("_http/pool.py", "self._pool._checkin"): _HTTPCORE,
    ("_http/transport.py", "pool._connections"): _HTTPCORE,
    ("_http/transport.py", "handler._krea_async"): "a mark the SDK sets on its own log handler",
    ("_client/client.py", "copy._setup"): "with_options() sets up a new instance of its own class",
    ("_models.py", "member._name_"): _ENUM,
    ("_models.py", "member._value_"): _ENUM,
    ("_models.py", "JobStatus._value2member_map_"): _ENUM,
}

# Accesses between the package's own objects that remain to be given public names.
# The check fails when this list grows AND when an entry is fixed (remove it then).
KNOWN_DEBT: set[tuple[str, str]] = set()


def _module_aliases(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _private_accesses(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text("utf-8"))
    modules = _module_aliases(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or attr.startswith("__"):
            continue
        base = node.value
        if isinstance(base, ast.Name) and base.id in {"self", "cls", *modules}:
            continue
        found.append((node.lineno, f"{ast.unparse(base)}.{attr}"))
    return found


def test_no_access_to_another_objects_private_attributes() -> None:
    offenders: dict[tuple[str, str], int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        for line, access in _private_accesses(path):
            if (rel, access) not in ALLOWED:
                offenders.setdefault((rel, access), line)
    new = sorted(
        f"{rel}:{line}: {access}"
        for (rel, access), line in offenders.items()
        if (rel, access) not in KNOWN_DEBT
    )
    assert new == [], "\n".join(new)
    fixed = KNOWN_DEBT - set(offenders)
    assert fixed == set(), f"fixed, remove from KNOWN_DEBT: {sorted(fixed)}"


def test_the_check_sees_an_access() -> None:
    tree_src = "class A:\n    def f(self, other):\n        return other._secret\n"
    path = PACKAGE.parent / "tests" / "_private_probe.py"
    try:
        path.write_text(tree_src, "utf-8")
        assert _private_accesses(path) == [(3, "other._secret")]
    finally:
        path.unlink()
