"""The benchmark of issue 8: N concurrent submit-then-wait jobs on one client.

For each N and each runner (see :mod:`bench.clients`), each repetition starts a fresh
fake server (:mod:`bench.server`, its own process) and the runner in its own process,
then reads the server's counters. It prints one table of medians over the repetitions
and the ratios SDK / raw httpx and SDK / raw aiohttp:

- ``wall s``: the client's wall time for the whole batch (client created to closed).
- ``CPU ms/req``: the client process's CPU time over the HTTP requests the server got.
- ``req/job``: server-side requests per job (submits, polls, lists, cancels).
- ``conns``: TCP connections the server accepted during the run.
- ``KB/job``: (peak RSS of the run - peak RSS of the same runner at N=0) / N.
- ``lag p50/p95``: seconds from the server's ``completed_at`` to the client seeing it.
- ``errors`` / ``lost``: exceptions raised, and jobs that did not return their URLs.
- ``srv CPU%``: the server's CPU time over the run's wall time (one core = 100 %): well
  under 100 % shows that the server was not the bottleneck.

``python -m bench`` (all runners, N = 100, 1,000, 10,000, 3 repetitions),
``python -m bench --n 100,1000 --reps 1 --runners sdk,httpx``,
``python -m bench --smoke`` (1,000 jobs, SDK only, 0.5 s jobs; exits 1 only when a job
errored or was lost, never on timing). Loopback only; every run is bounded (``--bound``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import DEFAULT_RUNNERS, RUNNERS, available

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
#: Seconds the parent waits beyond a run's bound before it kills the client process.
KILL_GRACE = 60.0


class Server:
    """``bench.server`` in its own process on 127.0.0.1 (a context manager)."""

    def __init__(self, job_seconds: float) -> None:
        self.job_seconds = job_seconds
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> Server:
        cmd = [sys.executable, "-m", "bench.server", "--port", "0"]
        cmd += ["--job-seconds", str(self.job_seconds)]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "LISTENING <port>" once it accepts connections
        if not line.startswith("LISTENING "):
            self.proc.kill()
            raise RuntimeError(f"the bench server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        return self

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_bench/stats", timeout=30) as resp:  # noqa: S310
            data: dict[str, Any] = json.load(resp)
            return data

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_once(runner: str, n: int, job_seconds: float, bound: float) -> dict[str, Any]:
    """One run of one runner at one N, against a fresh server; answers raw figures."""
    with Server(job_seconds) as server:
        before = server.stats()
        cmd = [sys.executable, "-m", "bench.clients", "--runner", runner, "--n", str(n)]
        cmd += ["--base-url", server.url, "--bound", str(bound)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(  # noqa: S603
                cmd, cwd=ROOT, capture_output=True, text=True, timeout=bound + KILL_GRACE
            )
            out, err, killed = proc.stdout, proc.stderr, False
        except subprocess.TimeoutExpired as exc:
            out, err, killed = "", str(exc.stderr or ""), True
        elapsed = time.perf_counter() - started
        after = server.stats()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if lines:
        result: dict[str, Any] = json.loads(lines[-1])
    else:  # killed or crashed: every job counts as lost
        reason = "killed-after-bound" if killed else "client-crashed"
        result = {
            "runner": runner,
            "n": n,
            "wall_s": elapsed,
            "cpu_s": float("nan"),
            "ok": 0,
            "errors": {reason: max(n, 1)},
            "lags_s": [],
            "maxrss_kb": 0,
            "stderr_tail": err[-2000:],
        }
    requests = after["total_requests"] - before["total_requests"]
    result["requests"] = requests
    result["requests_by_kind"] = {
        k: after["requests"][k] - before["requests"][k] for k in after["requests"]
    }
    result["connections"] = after["connections"] - before["connections"]
    result["server_cpu_s"] = after["cpu_s"] - before["cpu_s"]
    result["server_loop"] = after["loop"]
    result["lost"] = n - result["ok"]
    return result


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(runs: list[dict[str, Any]], baseline_kb: float) -> dict[str, Any]:
    """Medians over repetitions of one runner at one N."""

    def med(f: Any) -> float:
        return statistics.median(f(r) for r in runs)

    n = runs[0]["n"]
    return {
        "runner": runs[0]["runner"],
        "n": n,
        "reps": len(runs),
        "wall_s": med(lambda r: r["wall_s"]),
        "cpu_ms_per_req": med(
            lambda r: 1000 * r["cpu_s"] / r["requests"] if r["requests"] else float("nan")
        ),
        "req_per_job": med(lambda r: r["requests"] / n if n else float("nan")),
        "connections": med(lambda r: r["connections"]),
        "kb_per_job": med(
            lambda r: (r["maxrss_kb"] - baseline_kb) / n if r["maxrss_kb"] else float("nan")
        ),
        "lag_p50_s": med(lambda r: _pct(r["lags_s"], 0.5)),
        "lag_p95_s": med(lambda r: _pct(r["lags_s"], 0.95)),
        "errors": sum(sum(r["errors"].values()) for r in runs),
        "error_types": _merge(r["errors"] for r in runs),
        "lost": sum(r["lost"] for r in runs),
        "server_cpu_pct": med(
            lambda r: 100 * r["server_cpu_s"] / r["wall_s"] if r["wall_s"] else 0.0
        ),
    }


def _merge(dicts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def _fmt(value: float, digits: int = 2) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:,.{digits}f}"


HEADER = (
    "| N | runner | wall s | CPU ms/req | req/job | conns | KB/job | lag p50 s | lag p95 s "
    "| errors | lost | srv CPU% |"
)


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of summaries."""
    lines = [HEADER, "|" + "---|" * 12]
    for s in rows:
        lines.append(
            f"| {s['n']:,} | {s['runner']} | {_fmt(s['wall_s'], 1)} | {_fmt(s['cpu_ms_per_req'])} "
            f"| {_fmt(s['req_per_job'])} | {s['connections']:,.0f} | {_fmt(s['kb_per_job'], 1)} "
            f"| {_fmt(s['lag_p50_s'])} | {_fmt(s['lag_p95_s'])} | {s['errors']:,} | {s['lost']:,} "
            f"| {_fmt(s['server_cpu_pct'], 0)} |"
        )
    return "\n".join(lines)


def ratios(rows: list[dict[str, Any]]) -> str:
    """SDK (both transports) / raw httpx and / raw aiohttp, per N: CPU per request and wall."""
    by = {(s["n"], s["runner"]): s for s in rows}
    lines = ["| N | ratio | CPU ms/req | wall s | req/job |", "|---|---|---|---|---|"]
    for n in sorted({s["n"] for s in rows}):
        for sdk in ("sdk", "sdk-aiohttp", "httpx-aiohttp"):
            for raw in ("httpx", "aiohttp"):
                if sdk == "httpx-aiohttp" and raw == "httpx":
                    continue
                a, b = by.get((n, sdk)), by.get((n, raw))
                if a is None or b is None:
                    continue
                cells = [
                    _fmt(a[k] / b[k]) if b[k] else "-"
                    for k in ("cpu_ms_per_req", "wall_s", "req_per_job")
                ]
                lines.append(f"| {n:,} | {sdk} / {raw} | " + " | ".join(cells) + " |")
        a, b = by.get((n, "sdk-otel")), by.get((n, "sdk"))
        if a is not None and b is not None:  # the cost of OpenTelemetry on
            cells = [
                _fmt(a[k] / b[k]) if b[k] else "-"
                for k in ("cpu_ms_per_req", "wall_s", "req_per_job")
            ]
            lines.append(f"| {n:,} | sdk-otel / sdk | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def versions() -> str:
    """Versions of the HTTP stacks measured."""
    from importlib import metadata

    out = []
    for dist in (
        "krea-async",
        "httpx",
        "httpcore",
        "httpx2",
        "httpcore2",
        "aiohttp",
        "httpx-aiohttp",
        "uvloop",
        "anyio",
        "sniffio",
    ):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist} -")
    return ", ".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table (and write ``--json``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", default="100,1000,10000", help="comma-separated job counts")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (medians)")
    parser.add_argument(
        "--runners",
        default=",".join(DEFAULT_RUNNERS),
        help=f"comma-separated, of {', '.join(RUNNERS)} (default: {', '.join(DEFAULT_RUNNERS)})",
    )
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=3.0,
        help="seconds from submit to completed on the server",
    )
    parser.add_argument(
        "--bound",
        type=float,
        default=None,
        help="seconds per run; jobs unfinished by then are lost (default 180; 60 with --smoke)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="1,000 jobs, SDK only, 1 rep, 0.5 s jobs; exit 1 on errors or lost jobs",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw figures here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.reps, args.runners, args.job_seconds = "1000", 1, "sdk", 0.5
    if args.bound is None:
        args.bound = 60.0 if args.smoke else 180.0
    counts = [int(x.replace("_", "")) for x in args.n.split(",") if x.strip()]
    wanted = [r.strip() for r in args.runners.split(",") if r.strip()]
    unknown = [r for r in wanted if r not in RUNNERS]
    if unknown or args.reps < 1 or any(n < 1 for n in counts):
        parser.error(f"bad --runners {unknown} / --reps / --n")
    runners = [r for r in wanted if available(r)]
    for r in wanted:
        if r not in runners:
            print(f"skipped {r}: needs {', '.join(RUNNERS[r])} (pip install -e '.[bench]')")
    print(f"machine: {machine()}\nversions: {versions()}")
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(
        f"jobs complete {args.job_seconds:g} s after submit; run bound {args.bound:g} s; "
        f"{args.reps} repetition(s), medians\n",
        flush=True,
    )

    baseline = {}
    for r in runners:
        base = run_once(r, 0, args.job_seconds, args.bound)
        baseline[r] = base["maxrss_kb"]
    rows, raw = [], []
    for n in counts:
        for r in runners:
            runs = []
            for rep in range(args.reps):
                res = run_once(r, n, args.job_seconds, args.bound)
                runs.append(res)
                raw.append(res)
                print(
                    f"  N={n:,} {r} rep {rep + 1}: {res['wall_s']:.1f} s, "
                    f"{res['requests']:,} requests, ok {res['ok']:,}, "
                    f"errors {res['errors'] or 0}",
                    flush=True,
                )
                if res.get("stderr_tail"):
                    print("    " + res["stderr_tail"].strip().replace("\n", "\n    "))
            rows.append(summarize(runs, baseline[r]))
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print()
    print(table(rows))
    print()
    print(ratios(rows))
    errors = {f"N={s['n']} {s['runner']}": s["error_types"] for s in rows if s["error_types"]}
    if errors:
        print("\nerrors by type:", json.dumps(errors))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "versions": versions(),
                    "baseline_rss_kb": baseline,
                    "summary": rows,
                    "runs": raw,
                },
                indent=1,
            )
        )
    if args.smoke:
        errors, lost = sum(s["errors"] for s in rows), sum(s["lost"] for s in rows)
        bad = errors or lost
        print(f"\nsmoke: {'FAIL' if bad else 'ok'} ({errors:,} errors, {lost:,} lost jobs)")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
