"""Data-quality measures behind the ingestion asset checks (pure functions, no Dagster)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import MarketData


def duplicate_keys(frame: pd.DataFrame, keys: tuple[str, ...] = ("date", "ticker")) -> pd.DataFrame:
    """Rows whose key appears more than once."""
    return frame.loc[frame.duplicated(list(keys), keep=False), list(keys)]


def listing_spans(prices: pd.DataFrame) -> pd.DataFrame:
    """First and last trading day of each ticker in a price history."""
    return prices.groupby("ticker")["date"].agg(first="min", last="max")


def coverage(prices: pd.DataFrame, calendar: pd.DatetimeIndex, spans: pd.DataFrame, start, end) -> dict:
    """Observed vs expected (date, ticker) rows in [start, end).

    Expected: every trading day of the calendar in the window, and on each day every ticker listed
    then (first <= day <= last in the full history).
    """
    days = calendar[(calendar >= start) & (calendar < end)]
    first = spans["first"].to_numpy()[:, None]
    last = spans["last"].to_numpy()[:, None]
    expected_rows = int(((first <= days.to_numpy()[None, :]) & (last >= days.to_numpy()[None, :])).sum())
    observed_days = pd.DatetimeIndex(prices["date"].unique())
    return {
        "expected_days": len(days),
        "observed_days": int(observed_days.isin(days).sum()),
        "missing_days": [str(d.date()) for d in days.difference(observed_days)][:20],
        "expected_rows": expected_rows,
        "observed_rows": len(prices),
        "row_coverage": (len(prices) / expected_rows) if expected_rows else 1.0,
    }


def split_like_jumps(prices: pd.DataFrame, threshold: float = 0.45) -> pd.DataFrame:
    """Close-to-close moves beyond ``threshold`` in log terms near a split ratio (unadjusted splits).

    Returns date, ticker, ratio (close / previous close) for moves with |log ratio| > log(1 + threshold).
    """
    ordered = prices.sort_values(["ticker", "date"])
    prev = ordered.groupby("ticker")["close"].shift(1)
    ratio = ordered["close"] / prev
    flagged = np.abs(np.log(ratio)) > np.log1p(threshold)
    out = ordered.loc[flagged, ["date", "ticker"]].assign(ratio=ratio[flagged].round(4))
    return out.reset_index(drop=True)


def reconciliation(data: MarketData) -> pd.DataFrame:
    """Rows read, loaded and rejected per dataset; ``read == loaded + rejected`` must hold."""
    loaded = {
        "prices": len(data.prices),
        "fundamentals": len(data.fundamentals),
        "sectors": len(data.sectors),
        "market_series": len(data.market_series),
        "earnings_events": len(data.earnings_events),
        "universe": len(data.universe),
    }
    rejected = data.rejected_rows.groupby("dataset").size() if len(data.rejected_rows) else pd.Series(dtype=int)
    rows = [
        {"dataset": ds, "read": int(n_read), "loaded": int(loaded.get(ds, 0)), "rejected": int(rejected.get(ds, 0))}
        for ds, n_read in data.read_counts.items()
    ]
    out = pd.DataFrame(rows, columns=["dataset", "read", "loaded", "rejected"])
    out["reconciles"] = out["read"] == out["loaded"] + out["rejected"]
    return out


NOTE_COLUMNS = ["dataset", "kind", "note"]
DATASETS = ("prices", "fundamentals", "sectors", "market_series", "earnings_events", "universe")


def note_rows(data: MarketData) -> pd.DataFrame:
    """The source's notes as a table (``NOTE_COLUMNS``): ``kind`` is "missing" for an optional
    dataset the source lacks (what is skipped for want of it), "note" for everything else the
    loader did (columns absent or ignored, Unknown sectors, rows not loaded, ...); ``dataset`` is
    the note's "<dataset>:" prefix, else "source"."""
    missing = set(data.missing.values())
    rows = []
    for note in data.notes:
        head = note.split(":", 1)[0]
        rows.append(
            {
                "dataset": head if head in DATASETS else "source",
                "kind": "missing" if note in missing else "note",
                "note": note,
            }
        )
    out = pd.DataFrame(rows, columns=NOTE_COLUMNS).astype(object)
    return out.sort_values("kind", kind="stable", key=lambda k: k != "missing").reset_index(drop=True)
