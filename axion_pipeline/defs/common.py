"""Shared pieces of the Dagster layer: partition windows, decorator settings, metadata helpers."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import date_span
from axion_pipeline.defs.partitions import source_calendar, trading_days

WAREHOUSE_POOL = "duckdb_warehouse"


def window(context) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The run's partition time window as timezone-naive timestamps [start, end)."""
    start, end = context.partition_time_window
    return pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)


def lookback(days: int, columns: list[str] | None = None) -> dg.AssetIn:
    """Load this many trading-day partitions before the run's window as well (ranged SQL read),
    optionally only some columns."""
    return dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-days),
                      metadata={"columns": columns} if columns else None)


def only(*columns: str) -> dg.AssetIn:
    """Load just these columns of the upstream table (the run's own partitions)."""
    return dg.AssetIn(metadata={"columns": list(columns)})


def daily_asset(group: str, **kwargs):
    """``@dg.asset`` for a trading-day partitioned table: single-run backfills, stored by date."""
    metadata = {"partition_expr": "date", "schema": group, **kwargs.pop("metadata", {})}
    return dg.asset(
        partitions_def=trading_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=group,
        kinds=kwargs.pop("kinds", {"duckdb", "pandas"}),
        metadata=metadata,
        pool=WAREHOUSE_POOL,
        **kwargs,
    )


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
    shown = frame.head(max_rows)
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return dg.MetadataValue.md("\n".join([header, rule, *rows]))


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


def require_lookback(frame: pd.DataFrame, start, days: int, what: str, date_column: str = "date") -> None:
    """The ``days`` trading days before ``start`` must be present in ``frame``.

    Lookback windows are loaded from earlier partitions; if those were never materialized the
    computation would silently run on a shorter history, so fail and say which dates are missing.
    """
    cal = source_calendar()
    pos = int(cal.searchsorted(pd.Timestamp(start)))
    needed = cal[max(pos - days, 0):pos]
    present = pd.DatetimeIndex(pd.to_datetime(frame[date_column].unique())) if len(frame) else pd.DatetimeIndex([])
    missing = needed.difference(present)
    if len(missing):
        raise dg.Failure(
            description=f"{what}: {len(missing)} of the {len(needed)} lookback trading days before "
            f"{pd.Timestamp(start).date()} are not materialized ({missing[0].date()} .. {missing[-1].date()}); "
            f"backfill {what} over that range first",
        )
