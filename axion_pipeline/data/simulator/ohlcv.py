"""Price levels, daily OHLCV bars and the cap-weighted index from the simulated return paths.

Prices are split-adjusted by construction (no splits are simulated). The open carries part of
the day's move (overnight gap) plus noise; high and low extend beyond the open/close range by a
half-normal amount scaled by the stock's conditional volatility, so
``0 < low <= min(open, close) <= max(open, close) <= high``. Volume = shares x turnover, with
turnover rising with the size of the day's move (and so with the regime's volatility).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import PRICE_COLUMNS

from .universe import Universe

OVERNIGHT_SHARE = 0.3


def close_levels(log_price: np.ndarray, universe: Universe) -> np.ndarray:
    """Close prices on the full grid: each path rescaled to ``first_price`` on its first day."""
    cols = np.arange(log_price.shape[1])
    anchor = log_price[universe.list_idx, cols]
    return np.exp(log_price - anchor[None, :] + np.log(universe.first_price)[None, :])


def bars(
    rng: np.random.Generator,
    close: np.ndarray,
    returns: np.ndarray,
    total_vol: np.ndarray,
    universe: Universe,
) -> dict[str, np.ndarray]:
    """Open, high, low, close and volume panels on the full grid (values meaningless where not alive)."""
    shape = close.shape
    sig = np.maximum(total_vol, 1e-4)
    prev_close = np.vstack([close[:1], close[:-1]])
    first_day = np.zeros(shape, dtype=bool)
    first_day[universe.list_idx, np.arange(shape[1])] = True
    gap = OVERNIGHT_SHARE * np.log1p(returns) + 0.3 * sig * rng.standard_normal(shape)
    open_ = np.where(first_day, close * np.exp(sig * rng.standard_normal(shape)), prev_close * np.exp(gap))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * np.exp(np.abs(0.6 * sig * rng.standard_normal(shape)))
    low = bottom * np.exp(-np.abs(0.6 * sig * rng.standard_normal(shape)))

    base_turnover = 0.006 * np.exp(0.4 * rng.standard_normal(shape[1]))
    activity = (1.0 + 2.5 * np.abs(returns) / sig) / 3.0
    turnover = base_turnover[None, :] * activity * np.exp(0.3 * rng.standard_normal(shape))
    volume = np.maximum(np.round(universe.shares * turnover), 100.0)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def cap_weighted_returns(close: np.ndarray, returns: np.ndarray, shares: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Index return per day: names weighted by the previous close's market cap, alive both days."""
    weight = np.zeros_like(close)
    weight[1:] = np.where(alive[1:] & alive[:-1], (close * shares)[:-1], 0.0)
    total = weight.sum(axis=1)
    out = np.zeros(close.shape[0])
    ok = total > 0
    out[ok] = (weight * returns).sum(axis=1)[ok] / total[ok]
    return out


def to_long(
    panels: dict[str, np.ndarray],
    alive: np.ndarray,
    dates: pd.DatetimeIndex,
    tickers: np.ndarray,
    columns: list[str],
) -> pd.DataFrame:
    """Stack (days, tickers) panels into a long frame of alive rows, sorted by date then ticker."""
    rows, cols = np.nonzero(alive)
    data = {"date": dates.values[rows], "ticker": tickers[cols].astype(object)}
    for name in columns:
        if name not in ("date", "ticker"):
            data[name] = panels[name][rows, cols].astype("float64")
    return pd.DataFrame(data)[columns]


def prices_frame(
    panels: dict[str, np.ndarray], alive: np.ndarray, dates: pd.DatetimeIndex, tickers: np.ndarray
) -> pd.DataFrame:
    """Canonical ``prices`` frame of the emitted window."""
    return to_long(panels, alive, dates, tickers, PRICE_COLUMNS)
