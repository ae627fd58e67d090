"""Cancelling a batch: N waiting ``subscribe()`` calls cancelled at once (issue 8).

Starts ``bench.server`` (its own process; jobs run ``--job-seconds``, long enough that
none finishes), runs ``asyncio.gather``-style N ``krea.subscribe(...)`` tasks on one
``AsyncKrea`` with default settings, waits until the server holds all N jobs, then
cancels every task at once and measures what a user of a cancelled batch cares about:
how many ``DELETE /jobs/{id}`` reached the server, how many jobs the server holds as
cancelled (a job not cancelled keeps running, and is billed), how many WARNINGs the SDK
logged (one per job it could not cancel), and the seconds until the last task ended.

``python -m bench.cancel --n 10000`` (``--transport aiohttp`` for the aiohttp
transport). Loopback only. Exits 1 when a job was left running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/cancel.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clients import API_KEY, ENDPOINT
from bench.run import Server

__all__ = ["main"]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_bench/stats", timeout=30) as resp:  # noqa: S310
        data: dict[str, Any] = json.load(resp)
        return data


async def _run(n: int, url: str, transport: str, warnings: _Warnings) -> dict[str, Any]:
    from krea_async import AsyncKrea, aiohttp_client

    http = aiohttp_client() if transport == "aiohttp" else None
    async with AsyncKrea(api_key=API_KEY, base_url=url, http_client=http) as krea:
        tasks = [
            asyncio.ensure_future(krea.subscribe(ENDPOINT, input={"prompt": f"cancel {i}"}))
            for i in range(n)
        ]
        started = time.monotonic()
        while (await asyncio.to_thread(_stats, url))["jobs"] < n:
            if time.monotonic() - started > 300:
                raise SystemExit("the jobs were not all submitted within 300 s")
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # every task is now waiting on the poller
        t0 = time.monotonic()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        unwind = time.monotonic() - t0
    if http is not None:
        await http.aclose()  # a client passed in is the caller's to close
    stats = await asyncio.to_thread(_stats, url)
    return {
        "n": n,
        "transport": transport,
        "unwind_s": round(unwind, 2),
        "tasks_cancelled": sum(isinstance(r, asyncio.CancelledError) for r in results),
        "deletes_sent": stats["requests"].get("delete", 0),
        "jobs_cancelled": stats["cancelled_jobs"],
        "jobs_left_running": stats["jobs"] - stats["cancelled_jobs"],
        "warnings": warnings.count,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the cancellation benchmark once; print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.cancel")
    parser.add_argument("--n", type=int, default=10_000, help="subscribe() calls (10,000)")
    parser.add_argument("--transport", choices=("httpx", "aiohttp"), default="httpx")
    parser.add_argument("--job-seconds", type=float, default=600.0)
    args = parser.parse_args(argv)
    warnings = _Warnings()
    logging.getLogger("krea_async").addHandler(warnings)
    with Server(args.job_seconds) as server:
        out = asyncio.run(_run(args.n, server.url, args.transport, warnings))
    sys.stdout.write(json.dumps(out) + "\n")
    return 1 if out["jobs_left_running"] else 0


if __name__ == "__main__":
    sys.exit(main())
