"""Batch input: lines (one job each), read from JSONL or a prompt list, safely named."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .._files.names import overlapping_stems, safe_file_name

__all__ = ["BatchLine", "check_unique", "lines_from_prompts", "load_lines", "split_lines"]

_MAX_NAME = 100


@attrs.frozen(kw_only=True)
class BatchLine:
    """One job of a batch.

    - ``name``: the file name stem of its outputs (safe: see
      :func:`krea_async.files.safe_file_name`) and its key in the ledger; unique
      within a batch.
    - ``endpoint``: e.g. ``"image/bfl/flux-1-dev"`` (see ``AsyncKrea.generate``).
    - ``input``: the JSON body of the submit.
    - ``index``: its 0-based position in the input.
    """

    name: str
    endpoint: str
    input: Mapping[str, Any]
    index: int

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the endpoint and input: a changed line is detected on resume."""
        blob = json.dumps([self.endpoint, self.input], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def _line_name(line_id: str) -> str:
    return safe_file_name(line_id, max_chars=_MAX_NAME)


def _index_name(index: int) -> str:
    return f"{index:06d}"


def check_unique(lines: Sequence[BatchLine]) -> None:
    """Refuse lines whose result files could share a name (the same name in any
    letter case, or ``x`` next to ``x-0``, which ``x``'s second file would use):
    :class:`ValueError` naming both lines."""
    pair = overlapping_stems(line.name for line in lines)
    if pair is not None:
        index = {line.name: line.index for line in lines}
        raise ValueError(
            f"lines {index[pair[0]]} and {index[pair[1]]} both write files named "
            f"{pair[0]!r} or {pair[1]!r}: give them distinct ids"
        )


def lines_from_prompts(
    prompts: Iterable[str], endpoint: str, *, input: Mapping[str, Any] | None = None
) -> list[BatchLine]:
    """One line per prompt on ``endpoint``; ``input`` holds extra fields for every
    line (e.g. ``{"width": 1024}``). Lines are named by index (``000000``...)."""
    base = dict(input or {})
    return [
        BatchLine(name=_index_name(i), endpoint=endpoint, input={**base, "prompt": p}, index=i)
        for i, p in enumerate(prompts)
    ]


def split_lines(text: str) -> list[str]:
    """``text`` cut at ``\\n`` only (a ``\\r`` before it is dropped), as JSON Lines
    (https://jsonlines.org) defines a line. :meth:`str.splitlines` also cuts at
    form feeds, U+2028 and other separators that may sit inside a prompt, which
    would turn one line into several billed jobs."""
    return [ln.removesuffix("\r") for ln in text.split("\n")]


def load_lines(
    path: str | os.PathLike[str], *, default_endpoint: str | None = None
) -> list[BatchLine]:
    """Read a batch file.

    Lines end at ``\\n`` only (:func:`split_lines`): a form feed or U+2028 inside
    a prompt stays in it. A ``.txt`` file holds one prompt per non-empty line
    (``default_endpoint`` needed). Otherwise each non-empty line is JSON:
    ``{"endpoint": ..., "input": {...}, "id": ...}`` (``id`` optional),
    ``{"prompt": ..., "id": ..., ...}``
    (the other keys are input fields; ``default_endpoint``), or a JSON string (a
    prompt). Outputs are named from ``id`` (through
    :func:`krea_async.files.safe_file_name`: ``../x`` or ``a/b`` become safe,
    distinct names) or from the line's 0-based index. Raises :class:`ValueError`
    naming the line for a malformed line, an empty ``id``, a missing endpoint, or
    two lines whose files could share a name.
    """
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    raw_lines = [ln for ln in split_lines(text) if ln.strip()]
    if file.suffix.lower() == ".txt":
        if default_endpoint is None:
            raise ValueError("a prompt list needs a default model (--model / default_endpoint)")
        lines = lines_from_prompts((ln.strip() for ln in raw_lines), default_endpoint)
        check_unique(lines)
        return lines
    lines = []
    for index, raw in enumerate(raw_lines):
        where = f"{file.name}, line {index + 1}"
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg})") from None
        if isinstance(item, str):
            item = {"prompt": item}
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a JSON object or string")  # noqa: TRY004
        line_id = item.pop("id", None)
        if line_id is not None and not isinstance(line_id, (str, int)):
            raise ValueError(f"{where}: 'id' must be a string or an integer")
        endpoint = item.pop("endpoint", None) or default_endpoint
        if not isinstance(endpoint, str) or not endpoint:
            raise ValueError(f"{where}: no 'endpoint' and no default model given")
        body = item.pop("input", None)
        if body is None:
            body = item
        elif item:
            raise ValueError(f"{where}: unexpected keys next to 'input': {sorted(item)}")
        if not isinstance(body, dict):
            raise ValueError(f"{where}: 'input' must be a JSON object")  # noqa: TRY004
        if line_id == "":
            raise ValueError(f"{where}: 'id' is empty")
        name = _index_name(index) if line_id is None else _line_name(str(line_id))
        lines.append(BatchLine(name=name, endpoint=endpoint, input=body, index=index))
    check_unique(lines)
    return lines
