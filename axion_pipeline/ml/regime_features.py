"""Market-level features for the regime classifier, one row per date of the market series.

Input: ``market_data`` indexed by date (or with a ``date`` column) holding the
``MARKET_SERIES_COLUMNS`` of ``axion_pipeline.data.contracts``; the S&P 500 close may be called
``sp500_close`` or ``sp500`` and is required. Output columns:

- ``sp500_return_20d`` / ``sp500_return_60d``: close(t) / close(t - N rows) - 1;
- ``sp500_volatility_20d``: sample std of the last 20 daily returns x sqrt(252);
- ``vix_level``; ``vix_term_structure`` = vix_3m / vix - 1;
- ``yield_curve_10y_2y`` = yield_10y - yield_2y; ``credit_spread_hy_ig`` = hy_spread - ig_spread;
- ``advance_decline_10d``: mean of ``advance_decline`` over the last 10 rows;
- ``pct_above_200sma``, ``put_call_ratio``: passed through.

A missing input (a column the source lacks, e.g. ``vix_3m``, ``ig_spread``, ``put_call_ratio``)
gives NaN in the features that need it: nothing is filled or invented. Rolling windows need every
value present. Look-ahead could enter only through a window bound; every window ends at ``t``
(trailing, rows of the data), and for a ``target_date`` rows after it are dropped first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.ml.feature_transforms import rolling_mean_std

REGIME_FEATURE_COLUMNS = [
    "sp500_return_20d",
    "sp500_return_60d",
    "sp500_volatility_20d",
    "vix_level",
    "vix_term_structure",
    "yield_curve_10y_2y",
    "credit_spread_hy_ig",
    "advance_decline_10d",
    "pct_above_200sma",
    "put_call_ratio",
]
TRADING_DAYS_PER_YEAR = 252
HISTORY = 60  # rows before t that the longest window (60-day return) needs


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[name], errors="raise").to_numpy(dtype="float64")


def _change(x: np.ndarray, periods: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[periods:] = x[periods:] / x[:-periods] - 1.0
    return out


def regime_features(market_data: pd.DataFrame, target_date: pd.Timestamp | None = None) -> pd.DataFrame:
    """Regime features for every date, or the one row of ``target_date`` (which must be a row)."""
    frame = market_data.set_index("date") if "date" in market_data.columns else market_data
    index = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if index.tz is not None or index.has_duplicates:
        raise ValueError("market_data needs unique timezone-naive dates")
    frame = frame.set_axis(index.astype("datetime64[ns]"), axis=0).sort_index()
    close_col = next((c for c in ("sp500_close", "sp500") if c in frame.columns), None)
    if close_col is None:
        raise ValueError("market_data needs an 'sp500_close' (or 'sp500') column")
    if target_date is not None:
        t = pd.Timestamp(target_date)
        if t not in frame.index:
            raise ValueError(f"market_data has no row on {t.date()}")
        frame = frame[frame.index <= t].iloc[-(HISTORY + 1) :]

    close = _column(frame, close_col)
    vix = _column(frame, "vix")
    _, vol = rolling_mean_std(_change(close, 1), 20)
    ad_mean, _ = rolling_mean_std(_column(frame, "advance_decline"), 10)
    with np.errstate(invalid="ignore", divide="ignore"):
        term = _column(frame, "vix_3m") / vix - 1.0
    out = pd.DataFrame(
        {
            "sp500_return_20d": _change(close, 20),
            "sp500_return_60d": _change(close, 60),
            "sp500_volatility_20d": vol * np.sqrt(TRADING_DAYS_PER_YEAR),
            "vix_level": vix,
            "vix_term_structure": term,
            "yield_curve_10y_2y": _column(frame, "yield_10y") - _column(frame, "yield_2y"),
            "credit_spread_hy_ig": _column(frame, "hy_spread") - _column(frame, "ig_spread"),
            "advance_decline_10d": ad_mean,
            "pct_above_200sma": _column(frame, "pct_above_200sma"),
            "put_call_ratio": _column(frame, "put_call_ratio"),
        },
        index=pd.DatetimeIndex(frame.index, name="date"),
    )
    return out.iloc[-1:] if target_date is not None else out
