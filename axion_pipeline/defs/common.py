"""Shared pieces of the Dagster layer that need no settings: partition windows, inputs, metadata."""

from __future__ import annotations

import math
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.data.frames import date_span
from axion_pipeline.defs.adapters.partition_results import run_partition_keys

WAREHOUSE_POOL = "duckdb_warehouse"


@dataclass(frozen=True)
class Group:
    """Who answers for an asset group and which layer of the pipeline it is."""

    owner: str
    layer: str


# Every asset group's owner and ``layer`` tag, given once here and set by the asset decorators
# (``table_asset``, ``DagsterProject.daily_asset`` / ``fold_asset``, ``group_attributes`` for the
# multi-assets): the UI filters and lists assets by owner and tag.
GROUPS = {
    "market": Group("team:data", "ingestion"),
    "factors": Group("team:research", "research"),
    "features": Group("team:research", "research"),
    "training": Group("team:ml", "training"),
    "inference": Group("team:ml", "serving"),
    "monitoring": Group("team:ml", "monitoring"),
}
# ``cadence`` tag values: one trading-day partition a run, one walk-forward fold a run, the whole
# table rebuilt from the whole history, or only when someone asks for it
CADENCES = ("daily", "per-fold", "whole-history", "on-demand")


def group_attributes(group: str, cadence: str, tags: dict | None = None) -> dict:
    """``group_name``, ``owners`` and ``tags`` (``layer``, ``cadence``, plus ``tags``) of an asset of ``group``."""
    if cadence not in CADENCES:
        raise ValueError(f"cadence {cadence!r} is not one of {CADENCES}")
    info = GROUPS[group]
    return {
        "group_name": group,
        "owners": [info.owner],
        "tags": {"layer": info.layer, "cadence": cadence, **(tags or {})},
    }


def window(context) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The run's partition time window as timezone-naive timestamps [start, end)."""
    start, end = context.partition_time_window
    return pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)


def lookback(days: int, columns: list[str] | None = None) -> dg.AssetIn:
    """Load this many trading-day partitions before the run's window as well (ranged SQL read),
    optionally only some columns."""
    return dg.AssetIn(
        partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-days),
        metadata={"columns": columns} if columns else None,
    )


def only(*columns: str) -> dg.AssetIn:
    """Load just these columns of the upstream table (the run's own partitions)."""
    return dg.AssetIn(metadata={"columns": list(columns)})


def every_partition(columns: list[str] | None = None) -> dg.AssetIn:
    """The whole upstream table (optionally only ``columns``); rows are cut to a window in the library."""
    return dg.AssetIn(partition_mapping=dg.AllPartitionMapping(), metadata={"columns": columns} if columns else None)


def table_asset(group: str, cadence: str = "whole-history", **kwargs):
    """``@dg.asset`` for an unpartitioned table replaced on each materialization."""
    metadata = {"schema": group, **kwargs.pop("metadata", {})}
    return dg.asset(
        **group_attributes(group, cadence, kwargs.pop("tags", None)),
        kinds=kwargs.pop("kinds", {"duckdb", "pandas"}),
        metadata=metadata,
        pool=WAREHOUSE_POOL,
        **kwargs,
    )


def frame_metadata(frame: pd.DataFrame, date_column: str | None = "date", key_column: str | None = "ticker") -> dict:
    """Date span, number of dates and of distinct tickers of an output. No row count: the I/O
    manager writes ``dagster/row_count`` (``dagster/partition_row_count``) for every stored table."""
    meta: dict = {}
    if date_column and date_column in frame:
        meta["date_span"] = date_span(frame, date_column)
        meta["dates"] = int(frame[date_column].nunique())
    if key_column and key_column in frame:
        meta["tickers"] = int(frame[key_column].nunique())
    return meta


MAX_TABLE_COLUMNS = 8  # wider markdown tables run off the asset page: split into parts


def markdown_table(frame: pd.DataFrame, max_rows: int = 30) -> dg.MetadataValue:
    """The first ``max_rows`` rows of ``frame`` as a markdown metadata value, numbers as ``cell``
    writes them. A frame of more than ``MAX_TABLE_COLUMNS`` columns becomes several tables, each
    repeating the first (key) column, so none runs off the page."""
    from axion_pipeline.analytics.markdown import markdown_table as table

    shown = frame.head(max_rows)
    if shown.shape[1] <= MAX_TABLE_COLUMNS:
        return dg.MetadataValue.md(table(shown.columns, shown.itertuples(index=False), cell))
    key, rest = shown.columns[0], list(shown.columns[1:])
    step = MAX_TABLE_COLUMNS - 1
    parts = [shown[[key, *rest[i : i + step]]] for i in range(0, len(rest), step)]
    return dg.MetadataValue.md("\n\n".join(table(p.columns, p.itertuples(index=False), cell) for p in parts))


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits, but never rounding the integer part:
    0.04665559547 -> 0.04666, 18140.53 -> 18141.0."""
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, max(digits - 1 - math.floor(math.log10(abs(value))), 0))


def cell(value) -> str:
    """A table cell: integral floats (counts that a missing value made float) as integers with
    thousands separators, other floats to 4 significant digits, never in exponent form above 1e4."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value):
        if float(value).is_integer():
            return f"{int(value):,}"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{round_sig(float(value)):.4g}"
    return str(value)


COUNT_SUFFIXES = ("_rows", "_count", "_dates", "_days", "_tickers", "_folds", "_trials")


def tidy(meta):
    """Metadata values as a person reads them (recursively through dicts and lists): floats to 4
    significant digits, numpy scalars as Python numbers, counts (keys ``n_*`` or ending in
    ``COUNT_SUFFIXES``) that arrive as floats as ints. ``MetadataValue`` objects pass unchanged."""
    return {k: _tidy_value(v, str(k)) for k, v in meta.items()}


def _tidy_value(value, key: str = ""):
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, dict):
        return {k: _tidy_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tidy_value(v, key) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isfinite(value) and value.is_integer() and (key.startswith("n_") or key.endswith(COUNT_SUFFIXES)):
            return int(value)
        return round_sig(value)
    return value


# facts of a whole output that a range run must not present as each day's own (the I/O manager
# records each partition's row count and tickers; these keep the range's under range_* names)
RANGE_FACTS = ("date_span", "dates", "tickers")


def add_metadata(context, meta: dict) -> None:
    """``context.add_output_metadata`` through ``tidy``: the one way assets attach metadata.

    In a run over several partitions the metadata lands on every partition, so the output's
    totals are renamed ``range_*`` and ``range`` names the span they describe."""
    meta = tidy(meta)
    keys = run_partition_keys(context)
    if len(keys) > 1:
        meta = {f"range_{k}" if k in RANGE_FACTS else k: v for k, v in meta.items()}
        meta["range"] = f"{keys[0]} .. {keys[-1]}: {len(keys)} partitions in one run (entries describe the range)"
    context.add_output_metadata(meta)


def require_rows(frame: pd.DataFrame, what: str, start, end) -> None:
    """An empty upstream slice is an error, never a silent empty output."""
    if frame.empty:
        raise dg.Failure(
            description=f"{what} has no rows for {pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}: "
            "materialize the upstream partitions first",
        )


@dataclass(frozen=True)
class Skipped:
    """A model the data given cannot train (``InsufficientDataError``): the reason, shown as its status."""

    reason: str

    @property
    def status(self) -> str:
        return f"skipped: {self.reason}"


def train_or_skip(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` (a library training step), or ``Skipped`` when the data cannot train
    the model (too few rows, events, dates, classes). Any other error still fails the run."""
    from axion_pipeline.ml.base import InsufficientDataError

    try:
        return call_library(fn, *args, **kwargs)
    except dg.Failure as failure:
        if isinstance(failure.__cause__, InsufficientDataError):
            return Skipped(str(failure.description))
        raise


def call_library(fn, *args, **kwargs):
    """Run a library step; its ValueError (empty window, inf inputs, too few rows) fails the run with that message."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise dg.Failure(description=f"{getattr(fn, '__name__', fn)}: {exc}") from exc
