"""Options shared by several commands."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import click

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise click.BadParameter("must be a positive number of seconds")
    return value


wait_options: list[Decorator] = [
    click.option(
        "--deadline",
        type=float,
        callback=_positive,
        help="Deadline in seconds for the whole job (default 8100); it is cancelled after.",
    ),
    click.option(
        "--poll-interval",
        type=float,
        callback=_positive,
        help="Seconds between polls of GET /jobs/{id} (default 2, or 5 for video).",
    ),
]


def apply(decorators: Sequence[Decorator]) -> Decorator:
    """One decorator applying ``decorators`` in the order they are written."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return wrap
