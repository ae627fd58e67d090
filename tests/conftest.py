"""Shared fixtures: every async test runs under asyncio and trio (anyio's pytest plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from krea_async.testing import no_backoff


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test once per event loop."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _no_webhook_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``KREA_WEBHOOK_URL`` in the developer's shell would make every client of the
    suite wait for webhooks nobody sends; tests that want one set it themselves."""
    monkeypatch.delenv("KREA_WEBHOOK_URL", raising=False)


@pytest.fixture
def no_backoff_waits() -> Iterator[None]:
    """Retry waits (backoff, ``Retry-After``) are zero; caps on attempts stay."""
    with no_backoff():
        yield


REAL_PARTS = ("browser", "redis")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under ``KREA_REQUIRE_REAL_PARTS=1`` (set by ``.ci/run``, which installs them), a
    browser or Redis test that would be skipped for a missing part fails instead: a
    green CI run must have driven the real Chromium and redis-server."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and os.environ.get("KREA_REQUIRE_REAL_PARTS") == "1"
        and any(item.get_closest_marker(name) for name in REAL_PARTS)
    ):
        report.outcome = "failed"
        why = f"skipped, but KREA_REQUIRE_REAL_PARTS=1: {report.longrepr}"
        report.longrepr = f"{item.nodeid}: {why}"


# Honest but slow tests (subprocesses, real servers and browsers, real-time waits): out of
# the default run (pyproject ``addopts``), run in CI by ``nox -s slow``. Node id prefixes.
SLOW = (
    "tests/test_batch_kill.py",
    "tests/test_pytest_plugin.py",
    "tests/test_typing.py",
    "tests/test_events_redis.py",
    "tests/test_web_browser.py",
    "tests/test_web.py::test_example_runs_with_one_command",
    "tests/test_fake_loopback.py::test_docs_examples_run_unchanged",
    "tests/test_fake_loopback.py::test_curl_example_runs_unchanged",
    "tests/test_fake_loopback.py::test_serve_command_prints_the_url_and_serves",
    "tests/test_cli.py::test_console_script",
    "tests/test_cli.py::test_runs_as_a_module",
    "tests/test_cli.py::test_ctrl_c_",
    "tests/test_batch.py::test_ctrl_c_on_the_command",
    "tests/test_hostile_core.py::test_trickled_",
    "tests/test_hostile_core.py::test_cancel_during_a_trickled_submit",
    "tests/test_faults.py::test_retry_after_is_honoured_in_both_forms",
    "tests/test_faults.py::test_krea_log_switches_on_request_logging",
    "tests/test_docs_examples.py::test_script",
    "tests/test_docs_examples.py::test_pytest_block",
)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
