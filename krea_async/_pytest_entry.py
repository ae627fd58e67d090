"""The ``pytest11`` entry point of krea-async (``-p krea_async._pytest_entry``).

It loads :mod:`krea_async.testing.pytest_plugin` (fixtures ``krea_fake``,
``krea_client``, ``krea_fake_url``, ``krea_env``) when the ``fake`` extra is
installed (``pip install 'krea-async[fake]'``). Without it this module still
imports: it only registers the markers, and the fixtures do not exist, so a test
asking for one fails with pytest's "fixture not found" rather than every test
run failing at start-up. (``krea_async.testing`` itself refuses to import without
the extra, so the entry point cannot name the plugin module directly.)
"""

from __future__ import annotations

from typing import Any

__all__ = ["MARKERS", "pytest_configure"]

#: The markers the plugin understands, as ``pytest --markers`` lists them.
MARKERS = (
    "krea_fake(**options): FakeKrea(**options) for the krea_fake fixture "
    "(time_scale, balance, concurrency, max_backlog, api_key, lifecycle, ...)",
    "krea_client(**options): AsyncKrea options for the krea_client fixture "
    "(retry=, jobs=JobSettings(...), ...; backoff=True keeps retry waits)",
    "krea_script(outcome='failed', **rule): FakeKrea.script(outcome, **rule) before the test "
    "(prompt=, path=, error=, times=, seconds=); repeatable",
    "krea_fault(fault, *args, on=, method=, path=, rate=, times=, **kwargs): inject a fault "
    "(a krea_async.testing Fault or a factory name such as 'rate_limited', 'http_error', "
    "'drop_after'; extra arguments go to the factory); repeatable",
    "krea_fail(cause='provider_error', share=, prompt=, path=, times=, where=): "
    "FakeKrea.fail_jobs(...) before the test (documented failure causes); repeatable",
    "krea_deprecate(model, sunset, replacement=): FakeKrea.deprecate(...) (Deprecation, Sunset "
    "and Link headers until the sunset date, then 410); repeatable",
    "krea_sunset(model, replacement=): FakeKrea.sunset(...) (410 model_unavailable); repeatable",
    "krea_rate_limit(per_second, on='all'|'status'|'submit', retry_after=True): "
    "FakeKrea.rate_limit(...) (429 beyond the rate); repeatable",
)

try:
    import jsonschema as _jsonschema  # noqa: F401
    import starlette as _starlette  # noqa: F401
    import uvicorn as _uvicorn  # noqa: F401
except ImportError:  # the fake extra is not installed: markers only
    _HAVE_FAKE = False
else:
    _HAVE_FAKE = True

if _HAVE_FAKE:
    from .testing.pytest_plugin import (  # noqa: F401  (pytest collects them from here)
        krea_client,
        krea_env,
        krea_fake,
        krea_fake_url,
    )


def pytest_configure(config: Any) -> None:
    """Register the plugin's markers (so ``--strict-markers`` accepts them)."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
