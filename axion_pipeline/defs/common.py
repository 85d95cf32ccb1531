"""Shared pieces of the Dagster layer that need no settings: partition windows, inputs, metadata."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import date_span

WAREHOUSE_POOL = "duckdb_warehouse"


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


def table_asset(group: str, **kwargs):
    """``@dg.asset`` for an unpartitioned table replaced on each materialization."""
    metadata = {"schema": group, **kwargs.pop("metadata", {})}
    return dg.asset(
        group_name=group,
        kinds=kwargs.pop("kinds", {"duckdb", "pandas"}),
        metadata=metadata,
        pool=WAREHOUSE_POOL,
        **kwargs,
    )


def frame_metadata(frame: pd.DataFrame, date_column: str | None = "date", key_column: str | None = "ticker") -> dict:
    meta: dict = {"rows": len(frame)}
    if date_column and date_column in frame:
        meta["date_span"] = date_span(frame, date_column)
        meta["dates"] = int(frame[date_column].nunique())
    if key_column and key_column in frame:
        meta["tickers"] = int(frame[key_column].nunique())
    return meta


def markdown_table(frame: pd.DataFrame, max_rows: int = 30) -> dg.MetadataValue:
    """The first ``max_rows`` rows of ``frame`` as a markdown metadata value (floats to 4 significant digits)."""
    from axion_pipeline.analytics.markdown import markdown_table as table

    shown = frame.head(max_rows)
    return dg.MetadataValue.md(table(shown.columns, shown.itertuples(index=False), _fmt))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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
