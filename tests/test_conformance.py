"""The served fake, held to Krea's own spec by schemathesis (a fuzzer no one here
wrote): ``python -m krea_async.testing serve --api-key ...`` on loopback, the
bundled spec plus the documented deviations (``tests/conformance/overlay.py``,
``docs/content/spec.md``), a fixed seed and a bounded run. 0 failures expected.

Run it with ``nox -s conformance`` (not part of the default ``pytest`` run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.overlay import conformance_spec

pytestmark = [pytest.mark.conformance, pytest.mark.loopback]

TOKEN = "conformance-token"
SEED = 20261122
CONFIG = Path(__file__).parent / "conformance" / "schemathesis.toml"
EXAMPLES = int(os.environ.get("KREA_CONFORMANCE_EXAMPLES", "20"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "serve.log"
    with log.open("w") as out:  # a file, not a pipe: uvicorn's access log never blocks it
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "krea_async.testing", "serve", "--port", "0"),
                *("--api-key", TOKEN, "--time-scale", "0.01"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None:
            m = re.search(r"Base URL: (\S+)", log.read_text())
            url = m.group(1) if m else None
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the fake did not print its URL"
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_served_fake_conforms_to_the_spec(served: str, tmp_path: Path) -> None:
    st = shutil.which("st") or shutil.which("schemathesis")
    if st is None:
        pytest.skip("schemathesis is not installed (nox -s conformance installs it)")
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(conformance_spec()))
    result = subprocess.run(
        [
            *(
                st,
                "--config-file",
                str(CONFIG),
                "run",
                str(spec),
                "--url",
                served,
                "-H",
                f"Authorization: Bearer {TOKEN}",
            ),
            *("--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "2"),
            *("--phases", "examples,coverage,fuzzing,stateful", "--checks", "all"),
            # DELETE /jobs/{id} cancels and the job stays readable (docs/content/spec.md)
            *("--exclude-checks", "use_after_free"),
            *("--generation-database", "none", "--no-color"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(summary)  # the figures: cases generated, failures (nox -s conformance shows them)
    assert "Test cases:" in summary, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-12000:]
