"""Small helpers over canonical long frames."""

from __future__ import annotations

import pandas as pd

from axion_pipeline.data.contracts import UNKNOWN_SECTOR


def slice_dates(frame: pd.DataFrame, start, end, column: str = "date") -> pd.DataFrame:
    """Rows with ``start <= frame[column] < end`` (a Dagster time window), index reset."""
    start, end = pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None)
    mask = (frame[column] >= start) & (frame[column] < end)
    return frame.loc[mask].reset_index(drop=True)


def date_span(frame: pd.DataFrame, column: str = "date") -> str:
    if frame.empty:
        return "empty"
    return f"{pd.Timestamp(frame[column].min()).date()} .. {pd.Timestamp(frame[column].max()).date()}"


def sector_map(sectors: pd.DataFrame) -> pd.Series | None:
    """ticker -> sector from a ``ticker, sector`` table, or None when no ticker has a sector other
    than 'Unknown' (a source without sector information): ranking everyone within one 'Unknown'
    sector would only repeat the global ranks, so sector-relative scores and sector-rank features
    are skipped instead."""
    mapping = sectors.set_index("ticker")["sector"]
    return None if mapping.eq(UNKNOWN_SECTOR).all() else mapping
