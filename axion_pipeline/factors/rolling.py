"""Trailing-window statistics over dates x tickers panels, shared by the price-based formulas.

All windows end at (and include) date t, so nothing after t enters the value of t. A window needs
``min_obs(window)`` = ceil(90% of window) valid observations, otherwise the value is NaN (a ticker
with too little history gets NaN, never 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

TRADING_DAYS = 252
MIN_COVERAGE = 0.9


def min_obs(window: int) -> int:
    return max(2, math.ceil(MIN_COVERAGE * window))


def rolling_mean(panel: pd.DataFrame, window: int) -> pd.DataFrame:
    return panel.rolling(window, min_periods=min_obs(window)).mean()


def rolling_std(panel: pd.DataFrame, window: int, ddof: int = 1) -> pd.DataFrame:
    return panel.rolling(window, min_periods=min_obs(window)).std(ddof=ddof)


def trailing_sum(a: np.ndarray, window: int) -> np.ndarray:
    """Sum of the last ``window`` rows (fewer at the start) of a NaN-free array, by differences
    of the cumulative sum from the first row (so the value at t depends on rows <= t only)."""
    c = np.cumsum(a, axis=0)
    out = c.copy()
    out[window:] -= c[:-window]
    return out


def market_moments(returns: pd.DataFrame, market: pd.Series, window: int, downside: bool = False) -> dict:
    """Trailing sums over the days where both the stock and the market have a return (and, when
    ``downside``, the market return is negative): n, S_r, S_m, S_rr, S_mm, S_rm; plus ``n_all``,
    the count of valid pairs without the downside filter."""
    r = returns.to_numpy(dtype="float64")
    m = np.broadcast_to(market.to_numpy(dtype="float64")[:, None], r.shape)
    valid = ~np.isnan(r) & ~np.isnan(m)
    use = valid & (m < 0) if downside else valid
    rr, mm = np.where(use, r, 0.0), np.where(use, m, 0.0)

    def rsum(a: np.ndarray) -> np.ndarray:
        return trailing_sum(a, window)

    out = {
        "n": rsum(use.astype("float64")),
        "r": rsum(rr),
        "m": rsum(mm),
        "rr": rsum(rr * rr),
        "mm": rsum(mm * mm),
        "rm": rsum(rr * mm),
    }
    out["n_all"] = out["n"] if not downside else rsum(valid.astype("float64"))
    return out


def regression_beta(s: dict) -> np.ndarray:
    """OLS slope of stock on market returns: (S_rm - S_r S_m / n) / (S_mm - S_m^2 / n)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = s["rm"] - s["r"] * s["m"] / s["n"]
        var = s["mm"] - s["m"] * s["m"] / s["n"]
        beta = cov / np.where(var > 0, var, np.nan)
    return beta


def residual_variance(s: dict) -> np.ndarray:
    """Residual variance of the market-model regression, SSR / (n - 2), where
    SSR = (S_rr - S_r^2/n) - (S_rm - S_r S_m/n)^2 / (S_mm - S_m^2/n), floored at 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        syy = s["rr"] - s["r"] * s["r"] / s["n"]
        sxy = s["rm"] - s["r"] * s["m"] / s["n"]
        sxx = s["mm"] - s["m"] * s["m"] / s["n"]
        ssr = syy - sxy * sxy / np.where(sxx > 0, sxx, np.nan)
        return np.maximum(ssr, 0.0) / np.where(s["n"] > 2, s["n"] - 2.0, np.nan)


def max_drawdown(close: pd.DataFrame, rows: np.ndarray, window: int) -> np.ndarray:
    """Worst peak-to-trough decline inside the trailing window ending at each of ``rows``:

        MDD_t = min over s in [t-w+1, t] of close_s / max(close_u, t-w+1 <= u <= s) - 1   (<= 0)

    evaluated only at ``rows`` (positions in ``close``); NaN where the window has fewer than
    ``min_obs(window)`` closes. Exact (max and division only), so independent of earlier history.
    """
    c = close.to_numpy(dtype="float64")
    pad = np.vstack([np.full((window - 1, c.shape[1]), np.nan), c])
    rows = np.asarray(rows, dtype=np.int64)
    contiguous = len(rows) > 0 and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows)))
    run_max = np.full((len(rows), c.shape[1]), np.nan)
    mdd = np.full_like(run_max, np.nan)
    count = np.zeros(run_max.shape, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(window):
            # close at t - window + 1 + j for every t in rows
            s = pad[rows[0] + j : rows[0] + j + len(rows)] if contiguous else pad[rows + j]
            np.fmax(run_max, s, out=run_max)
            np.fmin(mdd, s / run_max - 1.0, out=mdd)
            count += ~np.isnan(s)
    return np.where(count >= min_obs(window), mdd, np.nan)
