"""The import graph of ``krea_async`` has no cycles, and the layers stay in order.

A small AST check of our own (no extra dependency): every ``import`` /
``from ... import`` of a ``krea_async`` module counts as an edge, wherever it
sits (module level, inside a function, or under ``if TYPE_CHECKING:``): a cycle
that only type checkers see still makes the layering unreadable, so it counts.
``from . import x`` resolves to the submodule ``x`` when there is one.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "krea_async"

# Lower layers never import higher ones (checked in addition to "no cycles").
LAYERS: list[tuple[str, ...]] = [
    # bottom: data and rules with no I/O
    (
        "_clock",
        "_errors",
        "_http.status_errors",
        "_models",
        "_types",
        "_http.retry",
        "_spec.bundle",
        "_spec.lifecycle",
        "_version",
        "_batch._progress",
    ),
    (
        "_http.urls",
        "_http.body",
        "_http.addresses",
        "_http.credentials",
        "_converter",
        "_spec.inputs_runtime",
        "_generated.inputs",
        "inputs",
        "_batch._ledger",
        "_batch._summary",
        "_files.inputs",
        "_files.names",
        "_jobs.outcome",
        "_batch._lines",
        "_jobs.trust",
    ),
    # files may use the transport's one httpx-exception mapping (connection_error)
    (
        "_http.admission",
        "_jobs.wake",
        "_jobs.poller_list",
        "_http.transport",
        "files",
        "_files.checks",
        "_files.io",
        "_files.download",
        "_http.pool",
        "_http._transports.choice",
        "_http._transports._aiohttp",
        "_jobs.poller",
    ),
    ("_http.request", "_jobs.polling", "_jobs.results"),
    # the job-event bus and the webhook receiver sit on the models and the polling rules
    # jobs in OpenTelemetry traces (wraps the results' download and the cancel)
    ("_webhooks.events", "_webhooks.redis_hub", "_webhooks.receiver", "_jobs.tracing"),
    ("_webhooks.redis",),
    # the client's wake-up wiring (subscribe()/jobs.wait() woken by webhooks)
    ("_jobs.wakeup",),
    # the one owner of waiting: decides bus or poller for each job
    ("_jobs.waiter",),
    ("_resources._base",),
    (
        "_resources.jobs",
        "_resources.assets",
        "_resources.styles",
        "_resources.node_apps",
        "_resources.models",
        "_resources.generations",
    ),
    # the public settings objects the client takes (Limits, JobSettings, WebhookSettings)
    ("_client.options",),
    ("_client.config", "_client.files"),
    ("_client.subscribe",),
    ("_generated.methods", "_client.client"),
    # built on the client: web-app helpers, the batch runner's parts
    ("web", "_batch._files", "_batch._uncertain"),
    ("_batch._runner",),
    ("_batch", "batch"),
    # the pytest11 entry point (loads krea_async.testing's plugin)
    ("_pytest_entry",),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    tree = ast.parse(path.read_text("utf-8"))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "krea_async":
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "krea_async":
                continue
            yielded = False
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield sub
                    yielded = True
            if not yielded:
                yield target


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """``module -> modules of krea_async it imports`` (packages' ``__init__`` excluded
    as targets of their own submodules, which Python runs first anyway)."""
    mods = _modules()
    known = set(mods)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = {d for d in _imports(name, path, known) if d in known and d != name}
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a list of modules, first == last), or ``None``."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = grey
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if color.get(dep, black) == grey:
                return [*stack[stack.index(dep) :], dep]
            if color.get(dep) == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return None

    for node in sorted(graph):
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    graph = import_graph()
    assert "krea_async._models" in graph["krea_async._errors"]  # under TYPE_CHECKING
    assert "krea_async._http.retry" in graph["krea_async._errors"]  # inside a method


def test_no_import_cycles() -> None:
    graph = import_graph()
    # The package __init__ re-exports everything; an edge *into* it from a
    # submodule (``from krea_async import __version__``) is a cycle too.
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("level", range(len(LAYERS)))
def test_lower_layers_do_not_import_higher_ones(level: int) -> None:
    graph = import_graph()
    higher = {f"krea_async.{m}" for layer in LAYERS[level + 1 :] for m in layer}
    for mod in LAYERS[level]:
        name = f"krea_async.{mod}"
        assert name in graph, f"{name} is listed in LAYERS but does not exist"
        bad = graph[name] & higher
        assert not bad, f"{name} (layer {level}) imports higher layers: {sorted(bad)}"


def test_every_core_module_has_a_layer() -> None:
    listed = {f"krea_async.{m}" for layer in LAYERS for m in layer}
    core = {
        m
        for m in import_graph()
        if not m.startswith(("krea_async.testing", "krea_async._cli"))
        and m not in ("krea_async", "krea_async._resources", "krea_async._generated")
        and not _is_docstring_only_package(m)
    }
    assert core <= listed, f"give these modules a layer: {sorted(core - listed)}"


def _is_docstring_only_package(module: str) -> bool:
    """A subpackage whose ``__init__`` only says what it owns (no code to layer)."""
    init = PACKAGE.parent.joinpath(*module.split("."), "__init__.py")
    if not init.exists():
        return False
    body = ast.parse(init.read_text("utf-8")).body
    return len(body) == 1 and isinstance(body[0], ast.Expr)


def test_each_subpackage_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text("utf-8")))
        assert doc, f"{init.relative_to(PACKAGE.parent)} has no docstring saying what it owns"


def test_at_most_fifteen_modules_directly_in_the_package() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 15, f"{len(top)} modules directly in krea_async/: {top}"


def test_resources_use_their_verbs_not_the_client() -> None:
    pattern = re.compile(r"\b_client\b|\._core\b")
    for path in (PACKAGE / "_resources").glob("*.py"):
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{n} reaches the client: {line}"
