"""Griffe extension for the docs build: render the docstrings' reST bits as Markdown.

krea-async's docstrings are Markdown-friendly prose with a few reStructuredText
habits. This rewrites, in every docstring, before mkdocstrings renders it:

- the roles ``:class:`~krea_async.X` ``, ``:meth:``, ``:func:``, ``:data:``,
  ``:attr:``, ``:mod:``, ``:exc:`` into optional autorefs cross-references
  (a link when the target is documented, plain code otherwise; never a warning);
- a paragraph ending in ``::`` (a reST literal block) into one ending in ``:``;
- the reST escape ``\\ `` (backslash-space) into nothing.

Loaded by ``docs/mkdocs.yml`` (``extensions:`` of the Python handler).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(class|meth|func|data|attr|mod|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.group(2), match.group(3).strip()
    target = target.removesuffix("()")
    shown = target.rsplit(".", 1)[-1] if tilde else target
    if match.group(1) in ("meth", "func"):
        shown += "()"
    ident = html.escape(target, quote=True)
    return f'<autoref identifier="{ident}" optional><code>{html.escape(shown)}</code></autoref>'


def convert(text: str) -> str:
    """The docstring ``text`` with reST roles, ``::`` and ``\\ `` rewritten."""
    text = _ROLE.sub(_role, text)
    text = text.replace("\\ ", "")
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        stripped = line.rstrip()
        if stripped.endswith("::") and not stripped.lstrip().startswith(("-", "*", ">>>")):
            body = stripped[:-2].rstrip()
            if not body:  # a "::" alone on its line: drop it
                continue
            line = body + ":"
        out.append(line)
    return "\n".join(out)


class ReSTRoles(griffe.Extension):
    """Rewrite every docstring with :func:`convert` once it is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = convert(obj.docstring.value)
