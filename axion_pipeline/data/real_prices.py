"""The shared price file and the split adjustments hidden in its price precision.

``prices/all_stocks_5yr.csv.gz`` (columns ``date,open,high,low,close,volume,Name``) is split-
adjusted to February 2018. The vendor adjusted a pre-split price by dividing the traded price
(a whole number of cents) by the split ratio and rounding to four decimals. That leaves a
signature: before a split almost every row has sub-cent prices that become whole cents again
when multiplied by the ratio; after the split prices are mostly whole cents. (About a fifth of
ordinary rows also carry sub-cent prices, from sub-penny trades, so single days prove nothing;
runs of weeks do.)

:func:`detect_price_adjustments` screens tickers that spend a 41-day window mostly off the cent
grid, then finds, per day, the smallest candidate factor ``r`` that puts all four prices on the
grid, takes the rolling mode of that factor as the regime in force, and reports each sustained
step down between regimes (at least 30 trading days each, each supported by 40% of its days) as a
split of ratio ``r_before / r_after``, dated by the change point that best separates the two
bases. Candidates are ratios ``a/b`` with ``b <= 5`` up to 10 (2:1, 3:2, 21:5, ...) and stock
dividends ``(n+1)/n`` (51:50). A step *up* is a spell of half-cent trading, not a reverse split,
and is ignored together with the step back down. The result tells the fundamentals loader which
as-reported EPS and share counts need adjusting (see ``real_fundamentals``).

Limits: ratios that are not small fractions (GOOGL's 2.0011 class-C dividend), splits within about
30 trading days of either end of the file, and reverse splits are not found here; the share-count
check of ``real_fundamentals`` is the second line of defence.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from axion_pipeline.data.validation import calendar_days, read_table, validate_prices

PRICE_FILE = Path("prices") / "all_stocks_5yr.csv.gz"
SOURCE_HEADER = ["date", "open", "high", "low", "close", "volume", "Name"]
SOURCE_COLUMNS = {"ticker": "Name"}

MIN_RUN_DAYS = 30  # trading days a regime must last on each side of a split
WINDOW = 41  # trading days of the centred window for the off-grid screen and the regime mode
MIN_SUPPORT = 0.4  # share of a regime's rows whose own smallest fitting factor is the regime's
SCREEN_OFF_GRID = 0.6  # tickers never this often off the cent grid in a window are skipped


def read_real_prices(
    data_dir: str | Path, max_reject_share: float = 0.05, today=None
) -> tuple[pd.DataFrame, pd.DataFrame, int, pd.DatetimeIndex]:
    """Return (clean prices, rejected rows, rows read, trading days of the file).

    Trading days are the dates passing the price date rules (also dates whose rows were all
    rejected for their prices), the same as ``axion_pipeline.data.calendar``.
    """
    name = PRICE_FILE.as_posix()
    raw = read_table(Path(data_dir) / PRICE_FILE, SOURCE_HEADER, display_name=name)
    raw = raw.rename(columns={"Name": "ticker"})
    clean, rejected = validate_prices(raw, name, max_reject_share, today=today, source_columns=SOURCE_COLUMNS)
    return clean, rejected, len(raw), calendar_days(raw, name, today=today)


def candidate_factors() -> list[Fraction]:
    """Adjustment factors searched, ascending: 1, a/b (b <= 5, up to 10) and (n+1)/n for n <= 50."""
    fracs = {Fraction(a, b) for b in range(1, 6) for a in range(b, 10 * b + 1)}
    fracs |= {Fraction(n + 1, n) for n in range(1, 51)}
    return sorted(fracs)


def fits_grid(ohlc: np.ndarray, factor: float) -> np.ndarray:
    """True where all four prices times ``factor`` are whole cents.

    Tolerance: four-decimal rounding of the adjusted price (1e-4 times the factor) plus a 1.1e-6
    relative error, because the vendor's factor was itself rounded (1/3 stored as 0.333333).
    """
    scaled = ohlc * factor
    tol = 1.05e-4 * factor + 1.1e-6 * np.abs(scaled)
    return (np.abs(scaled - np.round(scaled, 2)) <= tol).all(axis=1)


def row_factors(ohlc: np.ndarray, factors: list[Fraction]) -> np.ndarray:
    """Smallest candidate factor that puts each row's four prices on the cent grid (NaN: none)."""
    out = np.full(len(ohlc), np.nan)
    todo = np.flatnonzero(np.isfinite(ohlc).all(axis=1))
    for frac in factors:
        if todo.size == 0:
            break
        fit = fits_grid(ohlc[todo], float(frac))
        out[todo[fit]] = float(frac)
        todo = todo[~fit]
    return out


def rolling_mode(values: np.ndarray) -> np.ndarray:
    """Most frequent value in a centred WINDOW (NaN counts as a value: 'nothing fits')."""
    codes, uniques = pd.factorize(pd.Series(values), use_na_sentinel=False)
    onehot = np.zeros((len(values), len(uniques)))
    onehot[np.arange(len(values)), codes] = 1.0
    counts = pd.DataFrame(onehot).rolling(WINDOW, center=True, min_periods=WINDOW // 2 + 1).sum()
    best = np.argmax(counts.fillna(-1).to_numpy(), axis=1)
    return np.asarray(uniques, dtype="float64")[best]


def _runs(values: np.ndarray, min_len: int) -> list[tuple[float, int, int]]:
    """Maximal runs of equal non-NaN values at least ``min_len`` long, equal neighbours merged."""
    runs: list[list] = []
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if i - start >= min_len and not np.isnan(values[start]):
                if runs and runs[-1][0] == values[start]:
                    runs[-1][2] = i - 1
                else:
                    runs.append([values[start], start, i - 1])
            start = i
    return [tuple(r) for r in runs]


def _window_share(flags: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Share of True in the centred WINDOW around each row, windows clipped to the row's ticker."""
    csum = np.r_[0, np.cumsum(flags, dtype="int64")]
    pos = np.arange(len(flags))
    group = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    lo = np.maximum(pos - WINDOW // 2, bounds[:-1][group])
    hi = np.minimum(pos + WINDOW // 2 + 1, bounds[1:][group])
    return (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)


def _ticker_events(ticker: str, dates: np.ndarray, ohlc: np.ndarray, factors: list[Fraction]) -> list[dict]:
    raw = row_factors(ohlc, factors)
    runs = _runs(rolling_mode(raw), MIN_RUN_DAYS)
    events, trusted = [], True
    for (before, b_start, b_end), (after, a_start, a_end) in zip(runs, runs[1:]):
        if after > before:  # a spell of half-cent trading, not a reverse split
            trusted = False
            continue
        supported = (
            np.mean(raw[b_start : b_end + 1] == before) >= MIN_SUPPORT
            and np.mean(raw[a_start : a_end + 1] == after) >= MIN_SUPPORT
        )
        if trusted and supported:
            split = _change_point(raw, before, after, max(b_start, a_start - WINDOW), min(a_end, a_start + WINDOW))
            last = np.flatnonzero(raw[:split] == before)[-1]
            ratio = Fraction(before).limit_denominator(1000) / Fraction(after).limit_denominator(1000)
            events.append(
                {
                    "ticker": ticker,
                    "ex_date": pd.Timestamp(dates[split]),
                    "last_pre_date": pd.Timestamp(dates[last]),
                    "ratio": float(ratio),
                    "days_before": int(b_end - b_start + 1),
                }
            )
        trusted = supported
    return events


def _change_point(raw: np.ndarray, before: float, after: float, lo: int, hi: int) -> int:
    """Index k in (lo, hi] maximising rows on the old basis before k plus rows on the new from k.

    Days fitting neither basis do not move the score; among equal scores the latest k is taken,
    so ``raw[k]`` is on the new basis.
    """
    seg = raw[lo : hi + 1]
    gain_before = np.r_[0, np.cumsum(seg == before)]  # old-basis rows in seg[:j]
    gain_after = np.r_[np.cumsum((seg == after)[::-1])[::-1], 0]  # new-basis rows in seg[j:]
    score = (gain_before + gain_after)[1:]
    best = len(score) - 1 - int(np.argmax(score[::-1]))  # last maximum: first day seen on the new basis
    return lo + best + 1


def detect_price_adjustments(prices: pd.DataFrame) -> pd.DataFrame:
    """Splits visible in the price precision: ``ticker, ex_date, last_pre_date, ratio, days_before``.

    ``ratio`` is the adjustment factor between two regimes (7.0 for AAPL's 7:1 split);
    ``ex_date`` is the first day priced on the new basis and ``last_pre_date`` the last day seen
    on the old one (the split happened in between). A regime entered by a step *up* is treated as
    noise (a spell of half-cent trading), and so is the step back down from it.
    """
    ordered = prices[["ticker", "date", "open", "high", "low", "close"]].sort_values(["ticker", "date"])
    tickers = ordered["ticker"].to_numpy()
    dates = ordered["date"].to_numpy()
    ohlc = ordered[["open", "high", "low", "close"]].to_numpy(dtype="float64")
    factors = candidate_factors()
    bounds = np.flatnonzero(np.r_[True, tickers[1:] != tickers[:-1], True]) if len(tickers) else np.array([0])
    share = _window_share(~fits_grid(ohlc, 1.0), bounds)
    rows = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi - lo >= 2 * MIN_RUN_DAYS and share[lo:hi].max() >= SCREEN_OFF_GRID:
            rows += _ticker_events(tickers[lo], dates[lo:hi], ohlc[lo:hi], factors)
    out = pd.DataFrame(rows, columns=["ticker", "ex_date", "last_pre_date", "ratio", "days_before"])
    return out.astype({"ticker": object, "ratio": "float64", "days_before": "int64"})


def ratio_label(ratio: float) -> str:
    """'7:1', '3:2', '51:50' for a split factor."""
    frac = Fraction(ratio).limit_denominator(100)
    return f"{frac.numerator}:{frac.denominator}"
