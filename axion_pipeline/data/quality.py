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


# Close after / close before of common splits. 5:2 (0.4) is left out: rare, and exactly the -60%
# floor of a crash day in the generated market.
SPLIT_RATIOS: dict[str, float] = {
    **{f"{n}:1": 1.0 / n for n in (2, 3, 4, 5, 8, 10, 20)},
    "3:2": 2.0 / 3.0,
    **{f"1:{n}": float(n) for n in (2, 3, 4, 5, 8, 10, 20)},
}
SPLIT_JUMP_COLUMNS = ["date", "ticker", "ratio", "split", "sigmas", "volume_ratio"]


def split_like_jumps(
    prices: pd.DataFrame,
    threshold: float = 0.45,
    tolerance: float = 0.05,
    min_sigmas: float = 8.0,
    max_volume_spike: float = 4.0,
    lookback: int = 20,
) -> pd.DataFrame:
    """Close-to-close jumps that look like an unadjusted split rather than a market move.

    A jump (|log(close / previous close)| > log(1 + ``threshold``)) is split-like when all hold:

    - its ratio is within ``tolerance`` (in log) of a common split ratio (``SPLIT_RATIOS``): a split
      moves the price by exactly its ratio, plus an ordinary day's return;
    - it is at least ``min_sigmas`` times the ticker's daily log-return standard deviation over the
      ``lookback`` days before: a split jumps out of an ordinary history, while a stock already
      swinging 25% a day is not splitting every other day. A ticker's first 3 returns are never
      flagged: listing days swing (a +100% IPO pop), and a split right after listing is implausible;
    - the next close does not undo it (move back by more than half of it): a split moves the level
      for good, a bad print reverts;
    - the day's volume is not a crash-day spike: at most ``max_volume_spike`` times the median of
      the 5 days before, times the share-count change unadjusted volume carries (2 on a 2:1 split).
      Panic selling trades many times the usual volume; a split day trades the usual value (not
      applied where volume is missing or zero).

    So a -60% crash (0.4, no common ratio), a calm stock's -35% day on heavy volume, or a volatile
    stock's swings are not flagged; a halved price on ordinary or doubled volume is. Measured: the
    generated market's 19 jumps beyond 45% (crashes, a volatile ticker) all pass; on
    ``sp500_members_2005_2017`` (1.8M rows, adjusted) 148 such jumps give 1 flag (NCR on
    2007-10-01, the Teradata spin-off, left unadjusted) where the bare threshold gave 148; splits
    planted on random days are found at 98% (2:1) and 94% (3:2) on the generated market, 96% and
    91% on the real file (the misses: a split on a day whose own move was large or reverted).

    Returns ``SPLIT_JUMP_COLUMNS``: ratio (close / previous close), split (the ratio it resembles),
    sigmas (the jump over the prior standard deviation, NaN without history), volume_ratio (the
    day's volume over the prior 5-day median, NaN without volume).
    """
    ordered = prices.sort_values(["ticker", "date"])
    ticker = ordered["ticker"]
    close = ordered["close"].astype(float)
    log_ratio = np.log(close / close.groupby(ticker, sort=False).shift(1))
    sigma = log_ratio.groupby(ticker, sort=False).transform(lambda s: s.shift(1).rolling(lookback, min_periods=3).std())
    next_move = np.log(close.groupby(ticker, sort=False).shift(-1) / close)
    raw_volume = ordered["volume"].astype(float) if "volume" in ordered else pd.Series(np.nan, index=ordered.index)
    volume = raw_volume.where(raw_volume > 0)
    volume_ratio = volume / volume.groupby(ticker, sort=False).transform(
        lambda s: s.shift(1).rolling(5, min_periods=1).median()
    )

    names = np.array(list(SPLIT_RATIOS))
    distance = np.abs(log_ratio.to_numpy()[:, None] - np.log(np.array(list(SPLIT_RATIOS.values())))[None, :])
    distance = np.where(np.isnan(distance), np.inf, distance)
    nearest = distance.argmin(axis=1)
    near_split = distance[np.arange(len(distance)), nearest] <= tolerance
    size = log_ratio.abs()
    sigmas = size / sigma
    reverted = next_move * np.sign(log_ratio) < -size / 2
    spike = volume_ratio > max_volume_spike * np.maximum(1.0, np.exp(-log_ratio))
    flagged = (size > np.log1p(threshold)) & near_split & (sigmas >= min_sigmas) & ~reverted & ~spike
    out = ordered.loc[flagged, ["date", "ticker"]].assign(
        ratio=np.exp(log_ratio[flagged]).round(4),
        split=names[nearest[flagged.to_numpy()]],
        sigmas=sigmas[flagged].round(1),
        volume_ratio=volume_ratio[flagged].round(2),
    )
    return out.reset_index(drop=True)[SPLIT_JUMP_COLUMNS]


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
