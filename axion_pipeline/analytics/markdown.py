"""Markdown tables for reports, Dagster metadata and benchmark write-ups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def markdown_table(header: Iterable[Any], rows: Iterable[Iterable[Any]], cell: Callable[[Any], str] = str) -> str:
    """A GitHub-flavoured markdown table: ``header`` cells through ``str``, body cells through
    ``cell`` (e.g. a number format). For a DataFrame: ``markdown_table(df.columns,
    df.itertuples(index=False), cell)``."""
    header = [str(h) for h in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
