"""Canonical frames every data source produces and every downstream stage consumes.

One row per (date, ticker) for daily data, ``date`` a timezone-naive ``datetime64[ns]`` trading
day and ``ticker`` a string. Fundamentals are point in time: a row may be used for date ``t`` only
when ``available_date <= t`` (see ``axion_pipeline.data.pit``).

Flow fields of fundamentals (revenue, net_income, free_cash_flow, ...) are trailing-twelve-month
values on every row, whatever the reporting frequency of the source, so factor formulas do not
depend on whether a source reports quarterly (the simulator) or annually (the real 10-K file).
Per-share fields (``eps``, ``forward_eps``, ``dividends_per_share``) and ``shares_outstanding`` are
split-adjusted to the price history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

PRICE_COLUMNS = ["date", "ticker", "open", "high", "low", "close", "volume"]

FUNDAMENTAL_FIELDS = [
    "revenue",  # TTM
    "gross_profit",  # TTM
    "operating_income",  # TTM, EBIT
    "ebitda",  # TTM
    "net_income",  # TTM
    "interest_expense",  # TTM, positive number
    "rnd_expense",  # TTM
    "operating_cash_flow",  # TTM
    "capital_expenditure",  # TTM, positive number
    "free_cash_flow",  # TTM = operating_cash_flow - capital_expenditure
    "dividends_paid",  # TTM, total cash dividends, positive number
    "total_assets",
    "total_equity",  # book equity
    "total_debt",
    "cash",
    "shares_outstanding",  # split-adjusted
    "eps",  # TTM diluted EPS, split-adjusted
    "forward_eps",  # consensus next-twelve-month EPS, split-adjusted; NaN when the source lacks it
]
FUNDAMENTAL_COLUMNS = ["ticker", "period_end", "available_date", "period_type", *FUNDAMENTAL_FIELDS]

SECTOR_COLUMNS = ["ticker", "sector"]
UNKNOWN_SECTOR = "Unknown"  # the sector of a price ticker the source gives none

MARKET_SERIES_COLUMNS = [
    "date",
    "sp500_close",
    "vix",
    "vix_3m",  # 3-month implied volatility (VIX3M); NaN when the source lacks it
    "yield_3m",
    "yield_2y",
    "yield_10y",
    "hy_spread",  # high-yield option-adjusted spread, percent
    "ig_spread",  # investment-grade spread, percent; NaN when the source lacks it
    "advance_decline",  # (advancers - decliners) / names traded, from the price panel
    "pct_above_200sma",  # share of names whose close is above their 200-day average
    "put_call_ratio",  # NaN when the source lacks it
]

EARNINGS_COLUMNS = [
    "ticker",
    "announce_date",
    "fiscal_quarter_end",
    "eps_estimate",
    "eps_actual",
    "surprise_pct",  # (actual - estimate) / |estimate|
    "release_time",  # "pre", "post" or missing
]

# Point-in-time index membership: one row per interval, ``start_date`` and ``end_date`` inclusive
# (the first and last trading day as a member), ``end_date`` missing while still a member.
UNIVERSE_COLUMNS = ["ticker", "start_date", "end_date"]

# ``MarketData.index_name`` of a market series whose sp500_close is derived from the member prices
EQUAL_WEIGHTED = "equal_weighted"

TRUE_REGIME_COLUMNS = ["date", "regime"]
TRUE_ALPHA_COLUMNS = ["date", "ticker", "expected_return"]

REJECTED_COLUMNS = ["dataset", "source_file", "row_number", "column", "value", "reason"]


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows frame with no rows, typed (``row_number`` an integer, the rest text)."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row_number" else object) for c in REJECTED_COLUMNS})


REGIMES = ["bull", "bear", "sideways", "crisis"]
# The six factor categories of the factor engine, in the order of every score table and weight vector.
CATEGORIES = ["value", "momentum", "quality", "growth", "volatility", "technical"]


def empty_universe() -> pd.DataFrame:
    """A membership frame with no intervals: no membership information, every priced ticker is a member."""
    return pd.DataFrame(
        {
            "ticker": pd.Series(dtype=object),
            "start_date": pd.Series(dtype="datetime64[ns]"),
            "end_date": pd.Series(dtype="datetime64[ns]"),
        }
    )


@dataclass
class MarketData:
    """Everything a source delivers, in canonical form.

    ``read_counts[dataset]`` is the number of rows read from the source for that dataset and
    always equals the loaded rows plus the dataset's rows in ``rejected_rows``.
    ``notes`` lists series the source lacks (delivered as missing values) and other caveats.
    ``universe`` holds the index membership intervals (``UNIVERSE_COLUMNS``); empty when the source
    has none, and then every ticker with prices is a member on every price date.
    ``index_name`` says what ``market_series.sp500_close`` is: "sp500" (the index itself, or the
    generated market's index) or "equal_weighted" (derived from the member prices because the
    source has no index series).
    ``missing`` maps each optional dataset the source lacks (no file, or a file without data rows)
    to the note saying so and what is skipped for want of it (that note is in ``notes`` too).
    """

    prices: pd.DataFrame
    fundamentals: pd.DataFrame
    sectors: pd.DataFrame
    market_series: pd.DataFrame
    earnings_events: pd.DataFrame
    rejected_rows: pd.DataFrame = field(default_factory=empty_rejected)
    universe: pd.DataFrame = field(default_factory=empty_universe)
    read_counts: dict[str, int] = field(default_factory=dict)
    true_regimes: pd.DataFrame | None = None
    true_alpha: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    source: str = "unknown"
    index_name: str = "sp500"
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def trading_days(self) -> pd.DatetimeIndex:
        """Sorted unique trading days of the price history."""
        return pd.DatetimeIndex(sorted(self.prices["date"].unique()))


def empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
