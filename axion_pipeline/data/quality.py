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


def unmatched_tickers_note(dataset: str, source_file: str, tickers, price_tickers) -> str | None:
    """A note naming the tickers of a dataset that match no price ticker (their rows load but no
    price-based computation ever uses them), with a hint for those differing only in letter case
    (tickers are compared exactly: 'aapl' is not 'AAPL'). None when every ticker matches."""
    own = sorted(set(map(str, tickers)))
    priced = set(map(str, price_tickers))
    unmatched = [t for t in own if t not in priced]
    if not unmatched:
        return None
    by_upper = {t.upper(): t for t in priced}
    case = [f"{t} ~ {by_upper[t.upper()]}" for t in unmatched if t.upper() in by_upper]
    shown = ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else "")
    hint = (
        f"; {len(case)} differ from a price ticker only in letter case ({', '.join(case[:10])}"
        f"{' ...' if len(case) > 10 else ''}): tickers are case-sensitive, fix the file's spelling"
        if case
        else ""
    )
    return (
        f"{dataset}: {len(unmatched)} of the {len(own)} tickers of {source_file} match no price ticker; "
        f"their rows are loaded but unused: {shown}{hint}."
    )


DAILY_DATASETS = ("prices", "market_series")  # stored by trading-day partition


def reconciliation(data: MarketData) -> pd.DataFrame:
    """Rows read, loaded and rejected per dataset, as the loader counted them; ``read == loaded +
    rejected`` must hold. ``warehouse_reconciliation`` compares the same counts with what the
    warehouse holds."""
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


def warehouse_reconciliation(
    data: MarketData,
    stored: dict[str, int | None],
    stored_rejected: dict[str, int] | None,
    calendar: pd.DatetimeIndex,
) -> pd.DataFrame:
    """``reconciliation`` checked against the warehouse: ``read = stored + stored rejected``.

    ``stored``: rows of each unpartitioned dataset's table (None: the table does not exist);
    ``stored_rejected``: rows of ``rejected_rows`` per dataset. A daily dataset is stored by
    partition and compared with the source partition by partition (the ``*_stored_as_loaded``
    checks); here every one of its loaded rows must fall on a trading day of ``calendar``, the
    partitions' days (``off_calendar`` counts those no partition could store). ``reconciles``:
    the loader's counts add up, the warehouse holds the same loaded and rejected rows, and no
    loaded row is off the calendar."""
    out = reconciliation(data)
    stored_rejected = stored_rejected or {}
    days = pd.DatetimeIndex(calendar)
    frames = {"prices": data.prices, "market_series": data.market_series}
    daily = out["dataset"].isin(DAILY_DATASETS)
    counts = [stored.get(ds) for ds in out["dataset"]]
    same_loaded = [d or n == loaded for d, n, loaded in zip(daily, counts, out["loaded"])]
    out["stored"] = ["per partition" if d else ("no table" if n is None else int(n)) for d, n in zip(daily, counts)]
    out["stored_rejected"] = [int(stored_rejected.get(ds, 0)) for ds in out["dataset"]]
    out["off_calendar"] = [
        int((~frames[ds]["date"].isin(days)).sum()) if ds in DAILY_DATASETS else 0 for ds in out["dataset"]
    ]
    out["reconciles"] = (
        out["reconciles"]
        & pd.Series(same_loaded, index=out.index, dtype=bool)
        & (out["stored_rejected"] == out["rejected"])
        & (out["off_calendar"] == 0)
    )
    return out[[*[c for c in out.columns if c != "reconciles"], "reconciles"]]


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
