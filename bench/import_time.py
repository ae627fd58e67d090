"""Wall time of ``import krea_async`` against ``import httpx``, each in a fresh interpreter.

Each sample runs ``python -c "import time; t = time.perf_counter(); import X; ..."`` in a
new process (so nothing is cached in ``sys.modules``; the OS file cache is warm after the
first run), alternating the modules; prints the median (and min, max) of ``--runs``
samples each and the ratio. Issue 8's goal: ``krea_async`` <= 1.5x ``httpx``.

``python -m bench.import_time [--runs 30] [--modules krea_async,httpx]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

__all__ = ["main", "measure"]

_PROBE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def measure(module: str) -> float:
    """Seconds to import ``module`` in a fresh interpreter (this one's executable)."""
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PROBE.format(mod=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Print the medians and the ratio of the first module to the second."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_time")
    parser.add_argument("--runs", type=int, default=30, help="samples per module")
    parser.add_argument("--modules", default="krea_async,httpx", help="comma-separated")
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    if args.runs < 1 or not modules or not all(m.replace(".", "").isidentifier() for m in modules):
        parser.error("--runs >= 1 and importable module names")
    for m in modules:  # warm the OS file cache and compile .pyc files once
        measure(m)
    samples: dict[str, list[float]] = {m: [] for m in modules}
    for _ in range(args.runs):
        for m in modules:
            samples[m].append(measure(m))
    medians = {m: statistics.median(v) for m, v in samples.items()}
    python = sys.version.split()[0]
    print(f"import wall time, fresh interpreter each, {args.runs} runs (Python {python})")
    for m, v in samples.items():
        print(
            f"  import {m}: median {1000 * medians[m]:.1f} ms (min {1000 * min(v):.1f}, "
            f"max {1000 * max(v):.1f})"
        )
    if len(modules) >= 2 and medians[modules[1]] > 0:
        print(
            f"  ratio {modules[0]} / {modules[1]}: {medians[modules[0]] / medians[modules[1]]:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
