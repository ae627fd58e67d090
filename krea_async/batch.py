"""Resumable batch generation: many jobs, a SQLite ledger, downloads as they finish.

::

    from krea_async import AsyncKrea
    from krea_async.batch import Batch, load_lines

    async with AsyncKrea() as krea:
        lines = load_lines("prompts.jsonl", default_endpoint="image/bfl/flux-1-dev")
        summary = await Batch(krea, lines, "out/", concurrency=8).run()
        print(summary.line())

Each line is one job (``POST /generate/...``, https://docs.krea.ai/api-reference),
polled with ``GET /jobs/{id}`` (https://docs.krea.ai/developers/job-lifecycle) and
its result files downloaded into the output directory as soon as it completes. Every
line's state is kept in ``<out>/.krea-batch.sqlite3`` *before* and *after* its submit,
so a run killed at any point (``SIGKILL`` included) and started again with the same
lines resumes without submitting (and paying for) a line twice; a submit whose answer
was lost is looked up with ``GET /jobs``, never blindly sent again. The same runner is
the ``krea-async batch`` command. Runs on asyncio and trio.

- :class:`Batch`: the runner; :meth:`Batch.run` answers a :class:`BatchSummary`.
- :func:`load_lines` (JSONL or a ``.txt`` prompt list), :func:`lines_from_prompts`,
  :class:`BatchLine` (line ids become file names through
  :func:`krea_async.files.safe_file_name`).
- :class:`LineState` (a line's state in the ledger), :class:`UncertainReport`,
  :data:`LEDGER_NAME`, :data:`CLOCK_SKEW_MARGIN`.
"""

from __future__ import annotations

from ._batch import (
    CLOCK_SKEW_MARGIN,
    LEDGER_NAME,
    Batch,
    BatchLine,
    BatchSummary,
    LineState,
    UncertainReport,
    lines_from_prompts,
    load_lines,
)

__all__ = [
    "CLOCK_SKEW_MARGIN",
    "LEDGER_NAME",
    "Batch",
    "BatchLine",
    "BatchSummary",
    "LineState",
    "UncertainReport",
    "lines_from_prompts",
    "load_lines",
]
