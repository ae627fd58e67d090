"""Resumable batch generation (private; the public API is :mod:`krea_async.batch`).

Modules: ``_lines`` (input lines, file names), ``_ledger`` (the SQLite ledger, line
states, the directory lock), ``_summary`` (the run's summary, uncertain-submit
reports), ``_uncertain`` (looking up submits whose answer was lost), ``_progress``
(the live bar) and ``_runner`` (:class:`Batch`).
"""

from __future__ import annotations

from ._ledger import LEDGER_NAME, LineState
from ._lines import BatchLine, lines_from_prompts, load_lines
from ._runner import Batch
from ._summary import BatchSummary, UncertainReport
from ._uncertain import CLOCK_SKEW_MARGIN

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
