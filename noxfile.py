"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck`` and more.

CI (``.ci/run``) runs ``lint``, ``typecheck``, ``codegen``, ``tests``, ``slow``, ``storm``
and ``conformance``.
"""

from __future__ import annotations

import logging

import nox


class _NoUvProbeNote(logging.Filter):
    """nox looks for uv (an optional, faster installer) before each session and logs
    ``uv binary not found.`` where there is none; these sessions use virtualenv and pip,
    so that line only worries a new contributor (tests/test_new_user.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "uv binary not found."


logging.getLogger("nox").addFilter(_NoUvProbeNote())

nox.options.sessions = ["lint", "typecheck", "codegen", "tests", "slow", "storm", "conformance"]
nox.options.reuse_existing_virtualenvs = True
# `compat` is skipped, not failed, where an interpreter is not installed.
nox.options.error_on_missing_interpreters = False

PYTHON = None  # the interpreter nox runs on; CI uses the machine's python3


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (asyncio and trio; in-process and over loopback HTTP).

    The storm, conformance and slow tests are left out (pyproject ``addopts``); they
    have their own sessions."""
    session.install("-e", ".[test]")
    # Four workers (pytest-xdist) on two cores: most of the suite waits on loopback I/O,
    # not the CPU (measured here: 67 s with -n 2, 49 s with -n 4).
    session.run("pytest", "-n", "4", *session.posargs)


@nox.session(python=PYTHON)
def slow(session: nox.Session) -> None:
    """The honest but slow tests alone (subprocesses: the SIGKILL batch run, the pytest
    plugin's sample project, mypy, the docs' scripts; real Redis and Chromium; real-time
    waits; the docs build): marked ``@pytest.mark.slow`` on the test; not in ``tests``."""
    session.install("-e", ".[test,docs]")
    session.run("pytest", "-m", "slow", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=["3.10", "3.13"])
def compat(session: nox.Session) -> None:
    """The suite (without the storm) on the oldest and newest supported Pythons."""
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-m", "not storm", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package (config in pyproject.toml)."""
    session.install("-e", ".[typecheck]")
    session.run("mypy", "--strict", "krea_async")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """The typing test alone: mypy --strict accepts tests/typing/check_ok.py and flags
    every deliberate mistake in tests/typing/check_errors.py (also part of ``tests``)."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "typing", *session.posargs)


@nox.session(python=PYTHON)
def codegen(session: nox.Session) -> None:
    """Fail when the committed typed inputs differ from what the bundled spec generates."""
    session.install("-e", ".", "ruff==0.17.6")
    session.run("python", "scripts/generate_types.py", "--check")


@nox.session(python=PYTHON)
def generate(session: nox.Session) -> None:
    """Regenerate krea_async/_generated from the bundled spec."""
    session.install("-e", ".", "ruff==0.17.6")
    session.run("python", "scripts/generate_types.py")


@nox.session(python=PYTHON)
def storm(session: nox.Session) -> None:
    """The fault-storm test alone, with its figures printed (-s); not in ``tests``."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "storm", "-s", *session.posargs)


@nox.session(python=PYTHON)
def scale(session: nox.Session) -> None:
    """The 10,000-job test alone (tests/test_scale.py, marker ``scale``); not in ``tests``:
    10,000 concurrent ``subscribe()`` on one client, asyncio and trio."""
    session.install("-e", ".[test]")
    session.run("pytest", "-m", "scale", "-q", "tests/test_scale.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """The scaling benchmark (bench/README.md), not part of ``tests``: the SDK, raw httpx,
    httpx2 and aiohttp loops at N = 100, 1,000, 10,000 jobs, 3 repetitions, one table.
    ``nox -s bench -- --smoke``: 1,000 jobs, SDK only; fails only on errors or lost jobs.
    Other options: ``nox -s bench -- --n 100,1000 --reps 1 --runners sdk,httpx``."""
    session.install("-e", ".[bench]")
    session.run("python", "-m", "bench", *session.posargs)
    if not session.posargs:
        session.run("python", "-m", "bench.import_time")


@nox.session(python=PYTHON, name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    """The benchmark server's conformance with the project fake, then 1,000 concurrent
    ``subscribe()`` on it, then 10,000 waiting ``subscribe()`` cancelled at once
    (``bench.cancel``): fails only when a job errored, was lost or was left running,
    never on timing."""
    session.install("-e", ".[bench,fake]", "pytest>=8")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "bench/test_conformance.py")
    session.run("python", "-m", "bench", "--smoke", *session.posargs)
    session.run("python", "-m", "bench.cancel", "--n", "10000")


@nox.session(python=PYTHON)
def conformance(session: nox.Session) -> None:
    """schemathesis against the served fake with the bundled spec: a fixed seed, a
    bounded run, 0 failures expected (deliberate deviations: docs/content/spec.md)."""
    session.install("-e", ".[conformance]")
    session.run("pytest", "-m", "conformance", "-p", "no:cacheprovider", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with mkdocs-material (strict)."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "-f", "docs/mkdocs.yml")
