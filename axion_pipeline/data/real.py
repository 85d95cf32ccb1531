"""Load the shared real-data folder (``../shared/data``) into canonical ``MarketData`` (source "real").

Files read (never copied): prices (``real_prices``), annual fundamentals with split adjustment
(``real_fundamentals``), sectors (``fundamentals/securities.csv`` GICS sector, falling back to
``universe/constituents.csv``; tickers found in neither get "Unknown" and are listed in the notes,
never dropped), market series (``real_market``), earnings announcements (``real_earnings``) and
index membership intervals (``universe/sp500_ticker_start_end.csv``, optional: without it every
priced ticker is a member on every date). With membership, a ticker enters a date's
cross-sections only while a member; the price file holds the February 2018 members only, so this
removes the years before a ticker joined but cannot bring back the members that had left by 2018.

Reconciliation: ``read_counts[ds] == len(loaded ds) + rejected rows of ds`` for every dataset.
For prices, fundamentals and earnings the count is the file's data rows. Sectors and market
series are lookups joined onto the price universe and calendar, so their records are the price
tickers and trading days (plus any quarantined rows of the lookup files); the raw files' own
counts are in ``notes``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from axion_pipeline.data.contracts import SECTOR_COLUMNS, UNKNOWN_SECTOR, MarketData, empty_universe
from axion_pipeline.data.quality import unmatched_tickers_note
from axion_pipeline.data.real_earnings import EARNINGS_FILE, read_real_earnings
from axion_pipeline.data.real_fundamentals import (
    FUNDAMENTALS_FILE,
    adjust_for_splits,
    read_real_fundamentals,
    split_notes,
)
from axion_pipeline.data.real_market import build_real_market_series, load_gspc
from axion_pipeline.data.real_prices import detect_price_adjustments, read_real_prices
from axion_pipeline.data.universe import membership_notes
from axion_pipeline.data.validation import (
    concat_rejected,
    empty_rejected,
    read_table,
    validate_sectors,
    validate_universe,
)

SECTOR_FILES = [  # (path, ticker column, sector column), in order of preference
    ("fundamentals/securities.csv", "Ticker symbol", "GICS Sector"),
    ("universe/constituents.csv", "Symbol", "GICS Sector"),
]
UNIVERSE_FILE = Path("universe") / "sp500_ticker_start_end.csv"
SOURCE_FILES = {
    "fundamentals": FUNDAMENTALS_FILE.as_posix(),
    "earnings_events": EARNINGS_FILE.as_posix(),
    "universe": UNIVERSE_FILE.as_posix(),
}

__all__ = ["load_real_market", "load_gspc", "read_real_universe", "resolve_sectors"]


def read_real_universe(
    data_dir: str | Path, prices: pd.DataFrame, max_reject_share: float = 0.05, today=None
) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
    """Membership intervals ``ticker,start_date,end_date`` of the shared folder (rules:
    ``validate_universe``). Returns (intervals, rejected rows, rows read, notes); no intervals
    and a note when the file is absent."""
    path = Path(data_dir) / UNIVERSE_FILE
    name = UNIVERSE_FILE.as_posix()
    if not path.is_file():
        note = f"universe: no {name}: every priced ticker is a member on every date."
        return empty_universe(), empty_rejected(), 0, [note]
    raw = read_table(path, ["ticker", "start_date", "end_date"], display_name=name)
    universe, rejected = validate_universe(raw, name, max_reject_share, today=today)
    notes = membership_notes(prices, universe, name)
    notes.append("universe: a ticker symbol can be reused by another company; the intervals follow the symbol.")
    return universe, rejected, len(raw), notes


def resolve_sectors(
    data_dir: str | Path, tickers: list[str], max_reject_share: float = 0.05
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """One sector per ticker: first sector file that knows it, else "Unknown". Returns (sectors, rejected, notes)."""
    remaining, found, rejected, notes = list(tickers), [], [], []
    for path, tcol, scol in SECTOR_FILES:
        raw = read_table(Path(data_dir) / path, [tcol, scol], display_name=path)
        clean, rej = validate_sectors(
            raw.rename(columns={tcol: "ticker", scol: "sector"}),
            path,
            max_reject_share,
            source_columns={"ticker": tcol, "sector": scol},
        )
        rejected.append(rej)
        hit = clean[clean["ticker"].isin(remaining)]
        found.append(hit)
        remaining = [t for t in remaining if t not in set(hit["ticker"])]
        notes.append(
            f"sectors: {path} ({len(raw)} rows, {len(rej)} rejected) gave {len(hit)} of the "
            f"{len(tickers)} price tickers a sector."
        )
    notes.append(
        "sectors: constituents.csv uses today's GICS names (e.g. 'Communication Services'); "
        "securities.csv the 2017 scheme."
    )
    if remaining:
        notes.append(
            f"sectors: {len(remaining)} tickers in neither file get sector '{UNKNOWN_SECTOR}': "
            f"{', '.join(sorted(remaining))}."
        )
    found.append(pd.DataFrame({"ticker": remaining, "sector": UNKNOWN_SECTOR}))
    sectors = pd.concat(found, ignore_index=True).sort_values("ticker").reset_index(drop=True)
    return sectors[SECTOR_COLUMNS].astype(object), concat_rejected(rejected), notes


def _count_note(ds: str, read: int, loaded: int, rejected: pd.DataFrame) -> str:
    reasons = rejected.loc[rejected["dataset"] == ds, "reason"].value_counts()
    detail = ", ".join(f"{r} {n}" for r, n in reasons.items()) or "none"
    return f"{ds}: {read:,} read, {loaded:,} loaded, {int(reasons.sum())} rejected ({detail})."


def load_real_market(
    data_dir: str | Path, reporting_lag_days: int = 90, max_reject_share: float = 0.05, today=None
) -> MarketData:
    """Load every dataset of the shared folder; see the module docstring and the ``real_*`` modules.

    ``today`` (default: now) is the cut-off after which dated rows are quarantined as future.
    """
    started = time.perf_counter()
    prices, rej_prices, n_prices, days = read_real_prices(data_dir, max_reject_share, today)
    events = detect_price_adjustments(prices)
    fund, rej_fund, n_fund, fund_notes = read_real_fundamentals(data_dir, reporting_lag_days, max_reject_share, today)
    fund, splits = adjust_for_splits(fund, events, prices)
    tickers = sorted(prices["ticker"].unique())
    sectors, rej_sectors, sector_notes = resolve_sectors(data_dir, tickers, max_reject_share)
    universe, rej_universe, n_universe, universe_notes = read_real_universe(data_dir, prices, max_reject_share, today)
    market, rej_market, market_notes = build_real_market_series(
        data_dir, days, prices, max_reject_share, today, membership=universe
    )
    earnings, rej_earn, n_earn, earn_notes = read_real_earnings(data_dir, max_reject_share, today)
    rejected = concat_rejected([rej_prices, rej_fund, rej_sectors, rej_market, rej_earn, rej_universe])
    read_counts = {
        "prices": n_prices,
        "fundamentals": n_fund,
        "sectors": len(sectors) + len(rej_sectors),
        "market_series": len(market) + len(rej_market),
        "earnings_events": n_earn,
        "universe": n_universe,
    }
    loaded = {
        "prices": prices,
        "fundamentals": fund,
        "sectors": sectors,
        "market_series": market,
        "earnings_events": earnings,
        "universe": universe,
    }
    notes = [_count_note(ds, read_counts[ds], len(loaded[ds]), rejected) for ds in read_counts]
    notes += [
        "prices are split-adjusted to 2018-02-07 but not dividend-adjusted; the universe is the "
        "February 2018 S&P 500 list (survivorship bias)."
    ]
    notes += fund_notes + split_notes(splits) + sector_notes + market_notes + earn_notes + universe_notes
    for ds, frame in (("fundamentals", fund), ("earnings_events", earnings), ("universe", universe)):
        note = unmatched_tickers_note(ds, SOURCE_FILES[ds], frame["ticker"], tickers)
        notes += [note] if note else []
    notes.append(f"load_real_market took {time.perf_counter() - started:.1f} s.")
    return MarketData(
        prices=prices,
        fundamentals=fund,
        sectors=sectors,
        market_series=market,
        earnings_events=earnings,
        rejected_rows=rejected,
        universe=universe,
        read_counts=read_counts,
        notes=notes,
        source="real",
    )
