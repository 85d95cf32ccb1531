"""markdown_table: the one table writer, against the three it stands for (copied verbatim)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.analytics.markdown import markdown_table


def _old_tear_sheet_table(frame: pd.DataFrame) -> str:  # analytics.tearsheet._markdown_table
    def fmt(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "n/a" if np.isnan(v) else f"{v:.4f}"
        return str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * frame.shape[1]
    rows = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _old_defs_table_text(frame: pd.DataFrame, max_rows: int = 30) -> str:  # defs/common.markdown_table's text
    def _fmt(value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    shown = frame.head(max_rows)
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _old_benchmark_table(header, rows) -> str:  # benchmarks/_common.markdown_table
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


FRAMES = [
    pd.DataFrame(
        {
            "factor": ["value", "momentum"],
            "h": [1, 21],
            "IC mean": [0.0123456, np.nan],
            "n": np.array([3, 4], dtype=np.int64),
            "x": np.array([1.5, np.inf], dtype=np.float32),
        }
    ),
    pd.DataFrame({0: [1.0], "b": [None]}),
    pd.DataFrame(columns=["a", "b"]),
    pd.DataFrame(index=range(2)),
]


@pytest.mark.parametrize("frame", FRAMES)
def test_same_text_as_the_tables_it_replaces(frame):
    def tear_sheet_cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "n/a" if np.isnan(v) else f"{v:.4f}"
        return str(v)

    def defs_cell(v) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    assert markdown_table(frame.columns, frame.itertuples(index=False), tear_sheet_cell) == _old_tear_sheet_table(frame)
    shown = frame.head(1)
    assert markdown_table(shown.columns, shown.itertuples(index=False), defs_cell) == _old_defs_table_text(frame, 1)
    rows = frame.to_numpy().tolist()
    assert markdown_table(list(frame.columns), rows) == _old_benchmark_table(list(frame.columns), rows)


def test_hand_written_table():
    assert markdown_table(["a", 2], [[1, None], ("x", 0.5)]) == "| a | 2 |\n|---|---|\n| 1 | None |\n| x | 0.5 |"
