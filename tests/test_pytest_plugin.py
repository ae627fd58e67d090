"""The pytest plugin, as a user sees it: a sample project that uses only the plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the sample project's pytest in a subprocess

PROJECT = Path(__file__).parent / "plugin_project"


def _plugin_args() -> list[str]:
    """Rely on the installed ``pytest11`` entry point; name the module only when the
    package was installed before the entry point existed (a stale editable install)."""
    names = {e.value for e in entry_points(group="pytest11")}
    return [] if "krea_async._pytest_entry" in names else ["-p", "krea_async._pytest_entry"]


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREA_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *_plugin_args(), *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.loopback
def test_the_sample_project_passes_under_asyncio_and_trio() -> None:
    result = _pytest("-q", "-rA")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b18 passed\b", result.stdout), result.stdout
    for backend in ("asyncio", "trio"):
        assert f"test_illustrate_returns_the_image_url[{backend}]" in result.stdout


def test_the_entry_point_is_registered() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nkrea_async = "krea_async._pytest_entry"' in pyproject


def test_markers_are_listed() -> None:
    result = _pytest("--markers")
    assert result.returncode == 0, result.stderr
    for marker in ("krea_fake(", "krea_client(", "krea_script(", "krea_fault("):
        assert f"@pytest.mark.{marker}" in result.stdout


def test_a_bad_fault_name_is_a_clear_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_bad.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.krea_fault('no_such_fault', on='submit')\n"
        "def test_x(krea_fake):\n    pass\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *_plugin_args(),
            "-q",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_bad.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "'no_such_fault' is not a Fault nor one of" in result.stdout + result.stderr


def test_the_entry_point_imports_without_the_fake_extra() -> None:
    code = (
        "import sys\n"
        "for name in ('starlette', 'uvicorn', 'jsonschema'):\n"
        "    sys.modules[name] = None  # as if the fake extra were not installed\n"
        "import krea_async._pytest_entry as entry\n"
        "assert entry._HAVE_FAKE is False\n"
        "assert not hasattr(entry, 'krea_fake')\n"
        "lines = []\n"
        "class Config:\n"
        "    def addinivalue_line(self, name, line):\n"
        "        lines.append((name, line))\n"
        "entry.pytest_configure(Config())\n"
        "assert [line for _, line in lines] == list(entry.MARKERS)\n"
        "assert len(lines) == 8\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
