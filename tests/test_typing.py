"""Static typing of the generated API: ``mypy --strict`` on tests/typing/check_*.py.

- ``check_ok.py`` (correct calls) must produce no error;
- ``check_errors.py``: every line marked ``# E: <code>`` must get an error with that
  code, and no unmarked line may get one.

Only errors reported in the check files count; errors mypy finds in the package
itself are left to the package's own mypy run (``nox -s typecheck``).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.typing, pytest.mark.slow]  # mypy in a subprocess

ROOT = Path(__file__).resolve().parent.parent
CHECKS = Path(__file__).resolve().parent / "typing"
MARK = re.compile(r"#\s*E:\s*([a-z0-9-]+)\s*$")
ERROR = re.compile(
    r"^(?P<path>.+?):(?P<line>\d+): error: (?P<msg>.*?)(?:\s+\[(?P<code>[a-z0-9-]+)\])?$"
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mypy cache of this module's own (the shared .mypy_cache may be stale or busy)."""
    return tmp_path_factory.mktemp("mypy-cache")


def _mypy(path: Path, cache_dir: Path) -> dict[int, list[tuple[str, str]]]:
    """Run ``mypy --strict`` on one file; its errors by line: [(code, message)]."""
    if importlib.util.find_spec("mypy") is None:
        pytest.fail("mypy is not installed: pip install -e '.[test]'")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(cache_dir),
            "--show-error-codes",
            "--no-color-output",
            "--no-error-summary",
            "--hide-error-context",
            "--no-pretty",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if done.returncode not in (0, 1):
        pytest.fail(f"mypy crashed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    errors: dict[int, list[tuple[str, str]]] = {}
    for line in done.stdout.splitlines():
        m = ERROR.match(line)
        if m is None:
            continue
        if Path(m["path"]).resolve() != path.resolve():
            continue  # an error in the package itself: not this test's business
        errors.setdefault(int(m["line"]), []).append((m["code"] or "", m["msg"]))
    return errors


def test_check_ok_has_no_errors(cache_dir: Path) -> None:
    errors = _mypy(CHECKS / "check_ok.py", cache_dir)
    assert errors == {}, "\n".join(f"check_ok.py:{n}: {e}" for n, e in sorted(errors.items()))


def test_check_errors_flags_exactly_the_marked_lines(cache_dir: Path) -> None:
    path = CHECKS / "check_errors.py"
    marked: dict[int, str] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        m = MARK.search(line)
        if m:
            marked[number] = m.group(1)
    assert len(marked) >= 20
    errors = _mypy(path, cache_dir)
    problems = []
    for number, code in sorted(marked.items()):
        got = errors.get(number, [])
        if not got:
            problems.append(f"line {number}: expected a [{code}] error, mypy reported none")
        elif code not in {c for c, _ in got}:
            problems.append(f"line {number}: expected [{code}], mypy reported {got}")
    for number, got in sorted(errors.items()):
        if number not in marked:
            problems.append(f"line {number}: unexpected error {got}")
    assert not problems, "\n".join(problems)
