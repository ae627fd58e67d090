"""Wall time of ``import krea_async`` against ``import httpx``, each in a fresh interpreter.

Each sample runs ``python -c "import time; t = time.perf_counter(); import X; ..."`` in a
new process (so nothing is cached in ``sys.modules``; the OS file cache is warm after the
first run), alternating the modules; prints the median (and min, max) of ``--runs``
samples each and the ratio. Issue 8's goal: ``krea_async`` <= 1.5x ``httpx``.

``--client`` adds two samples: ``from krea_async import AsyncKrea`` plus
``AsyncKrea(api_key="k")`` (no request), the honest cost of getting a client, since
``import krea_async`` leaves rarely used parts to their first use; and, for reference,
``import httpx`` plus ``httpx.AsyncClient()`` (both import httpcore, and trio when it is
installed, and build an SSL context).

Bytecode: with ``PYTHONDONTWRITEBYTECODE`` set (or ``-B``), a module without a ``.pyc``
(an editable checkout of krea-async; the installed httpx has its ``.pyc``) is compiled
from source in every sample, which a pip-installed package never is. ``--bytecode``
measures both as installed: the samples write and read ``.pyc`` files in a temporary
``PYTHONPYCACHEPREFIX`` (nothing is written into the source tree). Without it the
environment decides, and a note says so.

``python -m bench.import_time [--runs 30] [--modules krea_async,httpx] [--client]
[--bytecode]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

__all__ = ["main", "measure"]

_PROBE = "import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
_CLIENT_LABEL = "AsyncKrea(api_key='k')"
_HTTPX_CLIENT_LABEL = "httpx.AsyncClient()"
_CLIENTS = {
    _CLIENT_LABEL: "from krea_async import AsyncKrea; AsyncKrea(api_key='k')",
    _HTTPX_CLIENT_LABEL: "import httpx; httpx.AsyncClient()",
}


def measure(module: str, *, code: str | None = None, env: dict[str, str] | None = None) -> float:
    """Seconds to import ``module`` (or run ``code``) in a fresh interpreter (this one's
    executable)."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE.format(code=code or f"import {module}")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Print the medians and the ratio of the first module to the second."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_time")
    parser.add_argument("--runs", type=int, default=30, help="samples per module")
    parser.add_argument("--modules", default="krea_async,httpx", help="comma-separated")
    parser.add_argument(
        "--client", action="store_true", help="also time importing and constructing AsyncKrea"
    )
    parser.add_argument(
        "--bytecode",
        action="store_true",
        help="write and read .pyc files (in a temporary PYTHONPYCACHEPREFIX), as installed",
    )
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    if args.runs < 1 or not modules or not all(m.replace(".", "").isidentifier() for m in modules):
        parser.error("--runs >= 1 and importable module names")
    with tempfile.TemporaryDirectory(prefix="import-time-pyc-") as prefix:
        env: dict[str, str] | None = None
        if args.bytecode:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env["PYTHONPYCACHEPREFIX"] = prefix
        probes = {m: f"import {m}" for m in modules}
        if args.client:
            probes.update(_CLIENTS)
        for label, code in probes.items():  # warm the OS file cache (and compile .pyc files)
            measure(label, code=code, env=env)
        samples: dict[str, list[float]] = {label: [] for label in probes}
        for _ in range(args.runs):
            for label, code in probes.items():
                samples[label].append(measure(label, code=code, env=env))
    medians = {m: statistics.median(v) for m, v in samples.items()}
    python = sys.version.split()[0]
    mode = "with .pyc files" if args.bytecode else "bytecode as the environment has it"
    print(f"import wall time, fresh interpreter each, {args.runs} runs (Python {python}; {mode})")
    no_pyc = sys.flags.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE")
    if no_pyc and not args.bytecode:
        print(
            "  note: PYTHONDONTWRITEBYTECODE is set: a module without a .pyc is compiled from "
            "source in every run (--bytecode: as installed)"
        )
    for label, v in samples.items():
        name = label if label in _CLIENTS else f"import {label}"
        print(
            f"  {name}: median {1000 * medians[label]:.1f} ms (min {1000 * min(v):.1f}, "
            f"max {1000 * max(v):.1f})"
        )
    if len(modules) >= 2 and medians[modules[1]] > 0:
        print(
            f"  ratio {modules[0]} / {modules[1]}: {medians[modules[0]] / medians[modules[1]]:.2f}x"
        )
    if args.client:
        ratio = medians[_CLIENT_LABEL] / medians[_HTTPX_CLIENT_LABEL]
        print(f"  ratio {_CLIENT_LABEL} / {_HTTPX_CLIENT_LABEL}: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
