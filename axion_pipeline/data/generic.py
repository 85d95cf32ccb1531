"""Bring your own data: the generic folder layout and its loader (``MarketData`` source "generic").

Layout
------
Point ``AXION_DATA_DIR`` at a folder holding one file per dataset, CSV or Parquet (when both
exist, Parquet is used)::

    my_data/
      prices.csv            required  date, ticker, open, high, low, close, volume
      fundamentals.csv      required  ticker, period_end
                                      [available_date, period_type, revenue, gross_profit,
                                       operating_income, ebitda, net_income, interest_expense,
                                       rnd_expense, operating_cash_flow, capital_expenditure,
                                       free_cash_flow, dividends_paid, total_assets, total_equity,
                                       total_debt, cash, shares_outstanding, eps, forward_eps]
      sectors.csv           required  ticker, sector
      market_series.csv     required  date, sp500_close
                                      [vix, vix_3m, yield_3m, yield_2y, yield_10y, hy_spread,
                                       ig_spread, advance_decline, pct_above_200sma, put_call_ratio]
      earnings_events.csv   optional  ticker, announce_date
                                      [fiscal_quarter_end, eps_estimate, eps_actual, surprise_pct,
                                       release_time]

Format: CSV is comma-separated UTF-8 with a header line; dates are ISO 8601 (``2024-01-31``; a
time and UTC offset may follow, the local date is kept; other formats such as ``01/31/2024`` are
rejected, never guessed); decimals use '.'; a missing value is an empty cell (``NA``, ``NULL``,
``NaN`` and ``.`` are read as missing too). Parquet files use the same column names, dates as
timestamps or ISO strings. Column
names are case-sensitive; extra columns are ignored (and listed in the notes).

Meaning:

- prices: one row per trading day and ticker, split-adjusted (dividend adjustment optional);
  volume in shares. The trading calendar is the set of price dates.
- fundamentals: one row per reported period (or restatement). Flow fields are trailing twelve
  months; per-share fields and ``shares_outstanding`` are split-adjusted to the price basis;
  ``capital_expenditure``, ``interest_expense`` and ``dividends_paid`` are positive amounts.
  ``available_date`` is the day the figures became public (filing date). Absent or empty, it is
  ``period_end + reporting_lag_days`` (default 90), the conservative choice; an available_date
  before period_end is rejected. Absent field columns are delivered as missing values, never
  invented; ``period_type`` defaults to 'unknown' ('FY', 'Q' are typical).
- sectors: one sector per ticker; price tickers without one get 'Unknown' (listed in the notes).
- market_series: one row per trading day, levels in index points, yields and spreads in percent,
  ``advance_decline`` in [-1, 1], ``pct_above_200sma`` in [0, 1]. Absent optional columns are
  missing values (noted); absent breadth columns are computed from the prices. Empty cells (a VIX
  gap) stay missing: nothing is forward-filled or interpolated here. Price dates without a market
  row stay absent (counted in the notes), never invented.
- earnings_events: ``release_time`` is 'pre' or 'post' market; ``surprise_pct`` is computed as
  (actual - estimate) / |estimate| where both are given (a supplied value fills the other rows).

Validation and reconciliation are those of ``axion_pipeline.data.validation``: bad rows go to
``rejected_rows`` with file, line, column and reason, and ``read_counts[ds] == loaded + rejected``
for every dataset (for sectors the records are the price tickers plus rejected sector rows).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
    PRICE_COLUMNS,
    SECTOR_COLUMNS,
    MarketData,
)
from axion_pipeline.data.validation import (
    concat_rejected,
    empty_rejected,
    is_missing,
    read_table,
    validate_earnings,
    validate_fundamentals,
    validate_market_series,
    validate_prices,
    validate_sectors,
)

DATASETS = {  # file stem: (required columns, optional columns, text columns for CSV)
    "prices": (PRICE_COLUMNS, [], ["date", "ticker"]),
    "fundamentals": (
        ["ticker", "period_end"],
        ["available_date", "period_type", *FUNDAMENTAL_FIELDS],
        ["ticker", "period_end", "available_date", "period_type"],
    ),
    "sectors": (SECTOR_COLUMNS, [], SECTOR_COLUMNS),
    "market_series": (["date", "sp500_close"], MARKET_SERIES_COLUMNS[2:], ["date"]),
    "earnings_events": (
        ["ticker", "announce_date"],
        ["fiscal_quarter_end", "eps_estimate", "eps_actual", "surprise_pct", "release_time"],
        ["ticker", "announce_date", "fiscal_quarter_end", "release_time"],
    ),
}
REQUIRED_FILES = ["prices", "fundamentals", "sectors", "market_series"]
UNKNOWN_SECTOR = "Unknown"


def find_file(directory: str | Path, stem: str) -> Path | None:
    """``<stem>.parquet`` if present, else ``<stem>.csv``, else None."""
    for suffix in (".parquet", ".csv"):
        path = Path(directory) / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def is_generic_layout(directory: str | Path) -> bool:
    return find_file(directory, "prices") is not None


def _read(path: Path, stem: str, notes: list[str]) -> pd.DataFrame:
    required, optional, text_columns = DATASETS[stem]
    raw = read_table(path, required, text_columns=text_columns, display_name=path.name)
    extra = [c for c in raw.columns if c not in required and c not in optional]
    if extra:
        notes.append(f"{stem}: {path.name} columns ignored: {extra}.")
    return raw[[c for c in raw.columns if c not in extra]]


def _sectors_for(
    raw: pd.DataFrame, name: str, tickers: list[str], max_reject_share: float, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean, rejected = validate_sectors(raw, name, max_reject_share)
    known = clean[clean["ticker"].isin(tickers)]
    unused = len(clean) - len(known)
    missing = sorted(set(tickers) - set(known["ticker"]))
    if unused:
        notes.append(f"sectors: {unused} rows of {name} name tickers without prices and are not used.")
    if missing:
        notes.append(
            f"sectors: {len(missing)} price tickers have no sector and get '{UNKNOWN_SECTOR}': "
            f"{', '.join(missing[:50])}{' ...' if len(missing) > 50 else ''}."
        )
    out = pd.concat([known, pd.DataFrame({"ticker": missing, "sector": UNKNOWN_SECTOR})], ignore_index=True)
    return out.sort_values("ticker").reset_index(drop=True)[SECTOR_COLUMNS].astype(object), rejected


def _market(
    raw: pd.DataFrame, name: str, prices: pd.DataFrame, max_reject_share: float, today, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean, rejected = validate_market_series(raw, name, max_reject_share, today=today)
    breadth_cols = ["advance_decline", "pct_above_200sma"]
    absent = [c for c in MARKET_SERIES_COLUMNS[1:] if c not in clean.columns]
    if any(c in absent for c in breadth_cols):
        breadth = breadth_from_prices(prices)[["date", *[c for c in breadth_cols if c in absent]]]
        clean = clean.merge(breadth, on="date", how="left")
        notes.append(f"market_series: {[c for c in breadth_cols if c in absent]} computed from the prices.")
    for column in absent:
        if column not in breadth_cols:
            clean[column] = float("nan")
            notes.append(f"market_series: {column} is absent from {name}; delivered as missing values.")
    uncovered = pd.DatetimeIndex(prices["date"].unique()).difference(pd.DatetimeIndex(clean["date"]))
    if len(uncovered):
        notes.append(
            f"market_series: {len(uncovered)} trading days of the prices have no market row "
            f"(first {uncovered[0]:%Y-%m-%d})."
        )
    return clean[MARKET_SERIES_COLUMNS], rejected


def _empty_earnings() -> pd.DataFrame:
    types = {
        "ticker": object,
        "announce_date": "datetime64[ns]",
        "fiscal_quarter_end": "datetime64[ns]",
        "release_time": object,
    }
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "float64")) for c in EARNINGS_COLUMNS})


def load_generic_market(
    directory: str | Path, reporting_lag_days: int = 90, max_reject_share: float = 0.05, today=None
) -> MarketData:
    """Load a folder in the generic layout (module docstring) into validated canonical frames."""
    root = Path(directory)
    paths = {stem: find_file(root, stem) for stem in DATASETS}
    missing = [s for s in REQUIRED_FILES if paths[s] is None]
    if missing:
        looked = ", ".join(f"{s}.parquet|{s}.csv" for s in missing)
        raise FileNotFoundError(f"{root}: generic layout incomplete, missing {looked}")
    notes: list[str] = []
    raws = {stem: _read(path, stem, notes) for stem, path in paths.items() if path is not None}
    name = {stem: path.name for stem, path in paths.items() if path is not None}
    prices, rej_prices = validate_prices(raws["prices"], name["prices"], max_reject_share, today=today)
    f_raw = raws["fundamentals"]
    absent = [c for c in FUNDAMENTAL_FIELDS if c not in f_raw.columns]
    if absent:
        notes.append(f"fundamentals: columns absent from {name['fundamentals']}, delivered as missing: {absent}.")
    lag_rows = len(f_raw) if "available_date" not in f_raw.columns else int(is_missing(f_raw["available_date"]).sum())
    if lag_rows:
        notes.append(
            f"fundamentals: {lag_rows} rows without available_date use period_end + {reporting_lag_days} days."
        )
    fund, rej_fund = validate_fundamentals(
        f_raw, name["fundamentals"], max_reject_share, reporting_lag_days=reporting_lag_days, today=today
    )
    tickers = sorted(prices["ticker"].unique())
    sectors, rej_sectors = _sectors_for(raws["sectors"], name["sectors"], tickers, max_reject_share, notes)
    market, rej_market = _market(raws["market_series"], name["market_series"], prices, max_reject_share, today, notes)
    if "earnings_events" in raws:
        earnings, rej_earn = validate_earnings(
            raws["earnings_events"], name["earnings_events"], max_reject_share, today=today
        )
        n_earn = len(raws["earnings_events"])
    else:
        earnings, rej_earn, n_earn = _empty_earnings(), empty_rejected(), 0
        notes.append("earnings_events: no earnings_events file; the dataset is empty.")
    read_counts = {
        "prices": len(raws["prices"]),
        "fundamentals": len(f_raw),
        "sectors": len(sectors) + len(rej_sectors),
        "market_series": len(raws["market_series"]),
        "earnings_events": n_earn,
    }
    rejected = concat_rejected([rej_prices, rej_fund, rej_sectors, rej_market, rej_earn])
    return MarketData(
        prices=prices,
        fundamentals=fund,
        sectors=sectors,
        market_series=market,
        earnings_events=earnings,
        rejected_rows=rejected,
        read_counts=read_counts,
        notes=notes,
        source="generic",
    )
