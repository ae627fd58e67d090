"""Every ```python block of README.md and docs/content/ runs against the fake.

A small collector of our own over the Markdown (no extra dependency). Each block is one
test, named ``<file>:<line>``. How a block runs:

- **snippet** (the default): compiled with top-level ``await`` allowed and run under
  asyncio and trio, in a fresh temporary directory holding sample inputs
  (``photo.jpg``, ``small.jpg``, ``clip.mp4``, ``prompts.jsonl``), with ``krea`` (an
  ``AsyncKrea`` bound in-process to a ``FakeKrea``), ``fake`` (that fake) and
  ``png_bytes`` defined;
- **script**: a block that starts its own event loop (``anyio.run``, ``asyncio.run``,
  ``trio.run`` at top level) runs as ``python -c`` in a subprocess whose environment
  points at the fake served on ``127.0.0.1`` (``KREA_BASE_URL``, ``KREA_API_KEY``), as
  the README shows;
- **pytest**: a block marked ``pytest`` is written to a test file and run with pytest
  in a subprocess (the ``pytest11`` plugin of the ``fake`` extra is active there).

Directives are HTML comments on the lines just before a block (invisible in the rendered
page), one per comment:

- ``<!-- docs-test: skip(reason) -->``: not run; the reason is required;
- ``<!-- docs-test: raises(A, B, ...) -->``: the block's last statements must raise
  ``A``, ``B``, ... each (a builtin or a ``krea_async`` name; ``-``: that statement must
  not raise); the earlier statements run normally;
- ``<!-- docs-test: warns(Name) -->``: the block must warn ``Name``;
- ``<!-- docs-test: continue -->``: run the page's previous block first, in the same
  namespace (chains);
- ``<!-- docs-test: setup ... -->``, ``<!-- docs-test: after ... -->``: hidden code (the
  rest of the comment) run before / after the block (a snippet's hidden code may start
  background tasks with ``start_soon``, cancelled when the block ends);
- ``<!-- docs-test: backend(asyncio) -->``: a snippet for one event loop only;
- ``<!-- docs-test: pytest -->``, ``<!-- docs-test: script -->``: the mode;
- ``<!-- docs-test: slow -->``: seconds of real waiting: in ``nox -s slow`` only
  (like the script and pytest blocks, marked ``slow``).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import anyio
import pytest
from _served import clean_env, served_fake

import krea_async
from krea_async import JobSettings
from krea_async._http import retry as _retry
from krea_async.testing import FakeKrea, png, sample_mp4

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "content").rglob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<lang>[\w+-]*)[^\n]*$")
_COMMENT = re.compile(r"<!--\s*docs-test:(?P<body>.*?)-->", re.S)
_CALL = re.compile(r"^(?P<name>[\w-]+)(?:\((?P<args>.*)\))?$", re.S)
_KNOWN = {
    "slow",
    "skip",
    "raises",
    "warns",
    "continue",
    "setup",
    "after",
    "backend",
    "pytest",
    "script",
}
_RUNS_A_LOOP = re.compile(r"^(anyio|asyncio|trio)\.run\(", re.M)

# A JPEG as far as any sniffer looks (SOI, JFIF, a 64x64 SOF0, EOI).
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffc0001108004000400301220002110103110100ffd9"
)


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    directives: list[tuple[str, str]] = field(default_factory=list)
    previous: Block | None = None  # the page's previous python block

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def get(self, name: str) -> str | None:
        for key, value in self.directives:
            if key == name:
                return value
        return None

    def has(self, name: str) -> bool:
        return any(key == name for key, _ in self.directives)

    @property
    def mode(self) -> str:
        if self.has("pytest"):
            return "pytest"
        if self.has("script") or _RUNS_A_LOOP.search(self.code):
            return "script"
        return "snippet"


def _directives(lines: list[str], fence: int) -> list[tuple[str, str]]:
    """The ``docs-test`` comments on the lines just above line index ``fence``."""
    above: list[str] = []
    i = fence - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i >= 0 and lines[i].lstrip().startswith(("???", "!!!")):  # the block's admonition
        i -= 1
        while i >= 0 and not lines[i].strip():
            i -= 1
    # Walk up over consecutive HTML comments (each may span lines).
    while i >= 0 and lines[i].rstrip().endswith("-->"):
        end = i
        while i >= 0 and "<!--" not in lines[i]:
            i -= 1
        if i < 0:
            break
        above.insert(0, "\n".join(lines[i : end + 1]))
        i -= 1
        while i >= 0 and not lines[i].strip():
            i -= 1
    found: list[tuple[str, str]] = []
    for comment in above:
        for match in _COMMENT.finditer(comment):
            body = match["body"].strip()
            hidden = re.match(r"(setup|after)\b", body)
            if hidden:
                code = textwrap.dedent(body[hidden.end() :].strip("\n"))
                found.append((hidden[1], code))
                continue
            call = _CALL.match(body)
            if not call:
                raise ValueError(f"unreadable docs-test directive: {body!r}")
            found.append((call["name"], (call["args"] or "").strip()))
    return found


def collect(page: Path) -> list[Block]:
    lines = page.read_text("utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        indent, ticks, lang = fence["indent"], fence["ticks"], fence["lang"]
        j = i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(ticks) and lines[j].strip().strip("`") == ""
        ):
            j += 1
        if lang in ("python", "py"):
            body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : j]]
            block = Block(page, i + 1, "\n".join(body) + "\n", _directives(lines, i))
            block.previous = blocks[-1] if blocks else None
            blocks.append(block)
        i = j + 1
    return blocks


BLOCKS = [block for page in PAGES for block in collect(page)]


def _params(mode: str) -> Iterator[Any]:
    for block in (b for b in BLOCKS if b.mode == mode):
        reason = block.get("skip")
        marks = [pytest.mark.skip(reason=f"docs-test: {reason}")] if block.has("skip") else []
        if block.has("slow"):
            marks.append(pytest.mark.slow)
        yield pytest.param(block, id=block.id, marks=marks)


# ---------------------------------------------------------------------------------------
# the collector's own rules


def test_the_collector_finds_the_blocks() -> None:
    """At least the README's blocks are found, each with a valid directive set."""
    readme = [b for b in BLOCKS if b.page.name == "README.md"]
    assert len(readme) >= 5
    assert any("anyio.run(main)" in b.code for b in readme)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_directives_are_known_and_skips_give_a_reason(block: Block) -> None:
    for key, value in block.directives:
        assert key in _KNOWN, f"{block.id}: unknown docs-test directive {key!r}"
        if key == "skip":
            assert len(value) >= 10, f"{block.id}: skip() needs a stated reason"
    if block.has("continue"):
        assert block.previous is not None, f"{block.id}: continue, but no previous block"


def test_directives_are_read_from_comments() -> None:
    page = [
        "text",
        "<!-- docs-test: skip(needs a real account) -->",
        "<!-- docs-test: setup",
        "x = 1",
        "-->",
        "",
        "```python",
        "print(x)",
        "```",
    ]
    assert _directives(page, 6) == [("skip", "needs a real account"), ("setup", "x = 1")]
    assert _directives(["```python"], 0) == []


# ---------------------------------------------------------------------------------------
# running


def _exception(name: str) -> type[BaseException]:
    found = getattr(builtins, name, None) or getattr(krea_async, name, None)
    assert isinstance(found, type), f"raises({name}): not a builtin or krea_async name"
    assert issubclass(found, BaseException)
    return found


def _chain(block: Block) -> list[Block]:
    """The blocks to run, oldest first: ``continue`` pulls in the previous block."""
    chain = [block]
    while chain[0].has("continue"):
        assert chain[0].previous is not None
        chain.insert(0, chain[0].previous)
    return chain


def _samples(where: Path) -> None:
    (where / "photo.jpg").write_bytes(JPEG)
    (where / "small.jpg").write_bytes(JPEG)
    (where / "clip.mp4").write_bytes(sample_mp4())
    (where / "prompts.jsonl").write_text(
        '{"id": "fox", "prompt": "a red fox"}\n{"id": "owl", "prompt": "an owl"}\n'
    )


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


async def _run_code(code: str, ns: dict[str, Any], filename: str) -> None:
    compiled = compile(code, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, ns)  # our own docs
    if inspect.isawaitable(result):
        await result


def _statements(code: str) -> list[str]:
    tree = ast.parse(code)
    lines = code.splitlines()
    out = []
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        assert node.end_lineno is not None
        out.append("\n".join(lines[start - 1 : node.end_lineno]))
    return out


def _raises(block: Block) -> list[str]:
    return [n.strip() for n in (block.get("raises") or "").split(",") if n.strip()]


async def _run_block(block: Block, ns: dict[str, Any]) -> None:
    setup = block.get("setup")
    if setup:
        await _run_code(setup, ns, f"{block.id} (setup)")
    names = _raises(block)
    warns = block.get("warns")
    with contextlib.ExitStack() as stack:
        if warns:
            stack.enter_context(pytest.warns(_exception(warns)))
        else:  # a deprecated spelling in the docs is a docs bug
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("error", category=DeprecationWarning, module="__docs__")
        if not names:
            await _run_code(block.code, ns, block.id)
        statements = _statements(block.code) if names else []
        head, tail = statements[: len(statements) - len(names)], statements[-len(names) :]
        if head:
            await _run_code("\n".join(head) + "\n", ns, block.id)
        assert not names or len(tail) == len(names), f"{block.id}: more raises() than statements"
        for name, statement in zip(names, tail if names else [], strict=False):
            where = f"{block.id}: {statement.splitlines()[0][:60]}"
            if name == "-":
                await _run_code(statement + "\n", ns, where)
                continue
            with pytest.raises(_exception(name)):
                await _run_code(statement + "\n", ns, where)
    after = block.get("after")
    if after:
        await _run_code(after, ns, f"{block.id} (after)")


@contextlib.asynccontextmanager
async def _namespace() -> AsyncIterator[dict[str, Any]]:
    fake = FakeKrea(time_scale=0.001)
    async with (
        fake.client(jobs=JobSettings(poll_interval=0.01)) as krea,
        anyio.create_task_group() as tg,
    ):
        yield {
            "__name__": "__docs__",
            "krea": krea,
            "fake": fake,
            "png_bytes": png(64, 64),
            "start_soon": tg.start_soon,
        }
        tg.cancel_scope.cancel()
    fake.close()


@pytest.mark.anyio
@pytest.mark.parametrize("block", list(_params("snippet")))
async def test_snippet(
    block: Block, tmp_path: Path, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    only = block.get("backend")
    if only and only != anyio_backend:
        pytest.skip(f"docs-test: backend({only})")
    # A client built from the environment gets a key, and a port where nothing listens:
    # a snippet meant for the fake that reaches for the network fails, never calls Krea.
    monkeypatch.setenv("KREA_API_KEY", "docs-test-token")
    monkeypatch.setenv("KREA_BASE_URL", "http://127.0.0.1:9")
    _samples(tmp_path)
    with _chdir(tmp_path):
        async with _namespace() as ns:
            try:
                for step in _chain(block):
                    await _run_block(step, ns)
            finally:
                for value in list(ns.values()):  # a block's own fakes (webhook threads)
                    if isinstance(value, FakeKrea):
                        value.close()
    # A block must leave the process as it found it (tests run after it).
    assert _retry._backoff_enabled, f"{block.id} left the retry waits switched off"
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("krea-fake")]
    assert not leaked, f"{block.id} left threads running: {leaked}"


def _hidden_and_code(block: Block) -> list[str]:
    """A subprocess block's source: each block of the chain with its hidden code."""
    parts: list[str] = []
    for step in _chain(block):
        parts += [step.get("setup") or "", step.code, step.get("after") or ""]
    return parts


@pytest.fixture(scope="module")
def served_env() -> Iterator[dict[str, str]]:
    """The fake served the way the README shows (``python -m krea_async.testing serve``),
    on a free port and a short time scale, and the environment that points at it."""
    with served_fake("--time-scale", "0.005") as base_url:
        yield clean_env(KREA_BASE_URL=base_url, KREA_API_KEY="any-token")


@pytest.mark.slow  # the docs' scripts and pytest blocks in subprocesses
@pytest.mark.loopback
@pytest.mark.parametrize("block", list(_params("script")))
def test_script(block: Block, tmp_path: Path, served_env: dict[str, str]) -> None:
    _samples(tmp_path)
    code = "\n".join(_hidden_and_code(block))
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=served_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    names = _raises(block)
    if names:
        assert run.returncode != 0, run.stdout
        assert names[-1] in run.stderr, run.stderr
    else:
        assert run.returncode == 0, f"{block.id}\n{run.stdout}\n{run.stderr}"


PYTEST_BLOCKS = [b for b in BLOCKS if b.mode == "pytest" and not b.has("skip")]


def _file_of(block: Block) -> str:
    return "test_docs_" + re.sub(r"\W+", "_", block.id).strip("_").lower() + ".py"


@pytest.fixture(scope="module")
def pytest_blocks_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """One pytest subprocess for every pytest block (each its own test file; the
    ``pytest11`` plugin active): ``file -> outcomes`` from its JUnit XML."""
    where = tmp_path_factory.mktemp("docs_pytest")
    for block in PYTEST_BLOCKS:
        (where / _file_of(block)).write_text("\n".join(_hidden_and_code(block)))
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=r.xml"],
        cwd=where,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    outcomes: dict[str, list[str]] = {}
    for case in ElementTree.parse(where / "r.xml").getroot().iter("testcase"):
        name = case.get("classname", "").rpartition(".")[2] + ".py"
        failed = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        text = "".join((c.get("message") or "") + (c.text or "") for c in case)
        outcomes.setdefault(name, []).append(failed[0] + ": " + text if failed else "passed")
    return outcomes


@pytest.mark.slow  # the docs' scripts and pytest blocks in subprocesses
@pytest.mark.loopback
@pytest.mark.parametrize("block", list(_params("pytest")))
def test_pytest_block(block: Block, pytest_blocks_run: dict[str, list[str]]) -> None:
    outcomes = pytest_blocks_run.get(_file_of(block), [])
    assert outcomes, f"{block.id}: no test ran"
    assert all(o == "passed" for o in outcomes), f"{block.id}: {outcomes}"


def test_the_readme_quickstart_shows_how_to_run_it_on_the_fake() -> None:
    """The Quickstart runs without a key the way the README says (``test_script`` runs
    it against ``python -m krea_async.testing serve`` with these two variables)."""
    readme = (ROOT / "README.md").read_text("utf-8")
    quickstart = readme[readme.index("## Quickstart") :]
    quickstart = quickstart[: quickstart.index("\n## ", 5)]
    assert "python -m krea_async.testing serve --port 8000" in quickstart
    assert "KREA_BASE_URL=http://127.0.0.1:8000 KREA_API_KEY=any-token python" in quickstart
    [first] = [b for b in BLOCKS if b.page.name == "README.md"][:1]
    assert first.mode == "script"
    assert "AsyncKrea()" in first.code  # the key and base URL come from the environment


@pytest.mark.anyio
async def test_the_runner_holds_blocks_to_their_directives() -> None:
    """``raises`` fails a block that does not raise; ``-`` lets a statement pass; hidden
    ``setup`` code runs first; an undeclared deprecation fails the block."""
    page = ROOT / "README.md"

    def block(code: str, *directives: tuple[str, str]) -> Block:
        return Block(page, 1, code, list(directives))

    async with _namespace() as ns:
        await _run_block(block("int('x')\n", ("raises", "ValueError")), ns)
        await _run_block(
            block("y = x + 1\nint('x')\n", ("setup", "x = 1"), ("raises", "-, ValueError")), ns
        )
        assert ns["y"] == 2
        with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
            await _run_block(block("int('1')\n", ("raises", "ValueError")), ns)
        with pytest.raises(ValueError):
            await _run_block(block("int('1')\nint('x')\n", ("raises", "-, -")), ns)
        with pytest.raises(DeprecationWarning):
            await _run_block(
                block("import warnings\nwarnings.warn('old', DeprecationWarning)\n"), ns
            )
