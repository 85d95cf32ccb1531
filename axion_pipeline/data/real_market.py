"""Market series from the shared files, aligned on the price file's trading days.

=================  =====================================  =========================================
column             file                                   note
=================  =====================================  =========================================
sp500_close        market/GSPC.csv.gz ``Close``           Yahoo ^GSPC, 1927..2023
vix                market/vix-daily.csv ``CLOSE``         CBOE VIX, 1990..
yield_3m/2y/10y    market/DGS3MO.csv, DGS2.csv, DGS10.csv  FRED constant-maturity yields, percent
hy_spread          market/BAMLH0A0HYM2.csv                 ICE BofA US high-yield OAS, percent
advance_decline,   computed from the loaded prices        ``breadth_from_prices``
pct_above_200sma
vix_3m, ig_spread, missing                                the shared data has no such series
put_call_ratio
=================  =====================================  =========================================

Point in time: each trading day takes the latest observation dated on or before it (at most
``MAX_STALE_DAYS`` old). FRED leaves holidays empty ('' or '.'); those cells are missing, so the
day carries the previous observation forward: that value was already known, so the fill adds no
look-ahead (a backward fill or interpolation would). Rows with unparseable dates or values are
quarantined like any other file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import MARKET_SERIES_COLUMNS
from axion_pipeline.data.validation import check_columns, concat_rejected, read_table, validate_market_series

MAX_STALE_DAYS = 7


@dataclass(frozen=True)
class SeriesFile:
    column: str  # canonical column
    path: str  # relative to the data folder
    date: str  # date column in the file
    value: str  # value column in the file (matched case-insensitively)


MARKET_FILES = [
    SeriesFile("sp500_close", "market/GSPC.csv.gz", "Date", "Close"),
    SeriesFile("vix", "market/vix-daily.csv", "DATE", "CLOSE"),
    SeriesFile("yield_3m", "market/DGS3MO.csv", "observation_date", "DGS3MO"),
    SeriesFile("yield_2y", "market/DGS2.csv", "observation_date", "DGS2"),
    SeriesFile("yield_10y", "market/DGS10.csv", "observation_date", "DGS10"),
    SeriesFile("hy_spread", "market/BAMLH0A0HYM2.csv", "date", "BAMLH0A0HYM2"),
]
MISSING_SERIES = {
    "vix_3m": "vix_3m is missing: the shared data has no 3-month VIX (VIX3M) file.",
    "ig_spread": "ig_spread is missing: the shared data has no investment-grade spread series.",
    "put_call_ratio": "put_call_ratio is missing: the shared data has no put/call ratio series.",
}


def read_series(
    data_dir: str | Path, spec: SeriesFile, max_reject_share: float = 0.05, today=None
) -> tuple[pd.Series, pd.DataFrame, dict]:
    """Return (observations indexed by date, without missing cells; rejected rows; counts)."""
    raw = read_table(Path(data_dir) / spec.path, [], display_name=spec.path)
    by_lower = {c.lower(): c for c in raw.columns}
    rename = {
        by_lower.get(spec.date.lower(), spec.date): "date",
        by_lower.get(spec.value.lower(), spec.value): spec.column,
    }
    check_columns(raw, list(rename), spec.path)
    frame = raw[list(rename)].rename(columns=rename)
    clean, rejected = validate_market_series(
        frame, spec.path, max_reject_share, today=today, source_columns={v: k for k, v in rename.items()}
    )
    series = clean.set_index("date")[spec.column]
    counts = {"read": len(raw), "rejected": len(rejected), "missing_cells": int(series.isna().sum())}
    return series.dropna().rename(spec.column), rejected, counts


def load_gspc(data_dir: str | Path) -> pd.Series:
    """The full S&P 500 close history (1927..), indexed by date, named ``close``; for regime tests."""
    series, _, _ = read_series(data_dir, MARKET_FILES[0])
    return series.rename("close")


def align_asof(series: pd.Series, days: pd.DatetimeIndex, max_stale_days: int = MAX_STALE_DAYS) -> pd.Series:
    """Latest observation on or before each day, at most ``max_stale_days`` old; NaN otherwise."""
    left = pd.DataFrame({"date": days})
    right = pd.DataFrame({"date": series.index, "value": series.to_numpy()}).sort_values("date")
    merged = pd.merge_asof(left, right, on="date", direction="backward", tolerance=pd.Timedelta(days=max_stale_days))
    return pd.Series(merged["value"].to_numpy(), index=days, name=series.name)


def build_real_market_series(
    data_dir: str | Path,
    days: pd.DatetimeIndex,
    prices: pd.DataFrame | None,
    max_reject_share: float = 0.05,
    today=None,
    membership: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Return (``MARKET_SERIES_COLUMNS`` frame on ``days``, rejected rows, notes).

    Breadth is computed from ``prices`` (among the members of each day given ``membership``);
    with ``prices=None`` the breadth columns are left out, for a caller that computes them later
    (the generic loader does, from its own prices and membership)."""
    out = pd.DataFrame({"date": days})
    rejected, notes = [], []
    for spec in MARKET_FILES:
        series, rej, counts = read_series(data_dir, spec, max_reject_share, today)
        rejected.append(rej)
        aligned = align_asof(series, days)
        filled = int((~days.isin(series.index) & aligned.notna()).sum())
        out[spec.column] = aligned.to_numpy()
        notes.append(
            f"{spec.column}: {spec.path} {counts['read']:,} rows read, {counts['rejected']} rejected, "
            f"{counts['missing_cells']} empty cells; {filled} trading days carry the previous "
            f"observation forward (point-in-time safe), {int(aligned.isna().sum())} days missing."
        )
    for column, note in MISSING_SERIES.items():
        out[column] = float("nan")
        notes.append(note)
    if prices is None:
        columns = [c for c in MARKET_SERIES_COLUMNS if c not in ("advance_decline", "pct_above_200sma")]
        return out[columns], concat_rejected(rejected), notes
    breadth = breadth_from_prices(prices, membership=membership)
    out = out.merge(breadth, on="date", how="left")
    notes.append("advance_decline and pct_above_200sma are computed from the loaded prices.")
    return out[MARKET_SERIES_COLUMNS], concat_rejected(rejected), notes
