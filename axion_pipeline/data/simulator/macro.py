"""Market-wide series: index level, implied volatility, rates, credit spreads, put/call, breadth.

Each series is a mean-reverting process pulled toward a regime-specific level, plus reactions to
the market itself: implied volatility tracks the market's conditional and realised volatility
with a regime risk premium (term structure inverts in stress), the yield curve flattens or
inverts in bear and crisis regimes, credit spreads widen with stress and with falling prices,
and the put/call ratio rises in stress and after losses. Every value on day ``t`` uses the path
up to ``t`` only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import MARKET_SERIES_COLUMNS

# Regime order: bull, bear, sideways, crisis.
VIX_PREMIUM = np.array([1.5, 4.0, 2.5, 10.0])
CURVE_SLOPE = np.array([1.1, -0.3, 0.5, -0.2])  # 10y - 2y, percentage points
LEVEL_SHIFT = np.array([0.2, 0.0, 0.0, -0.8])  # 10y yield relative to its long-run level
HY_LEVEL = np.array([3.5, 5.5, 4.3, 8.5])
HY_SPEED = np.array([0.03, 0.04, 0.03, 0.12])  # spreads gap out fast in a crisis
PUT_CALL_SHIFT = np.array([0.0, 0.15, 0.05, 0.30])


def mean_reverting(target: np.ndarray, speed, innovations: np.ndarray, start: float) -> np.ndarray:
    """``x_t = x_{t-1} + speed_t (target_t - x_{t-1}) + innovations_t`` with ``x_{-1} = start``."""
    target = np.asarray(target, dtype=float)
    speed = np.broadcast_to(np.asarray(speed, dtype=float), target.shape)
    out = np.empty_like(target)
    x = start
    for t in range(len(target)):
        x = x + speed[t] * (target[t] - x) + innovations[t]
        out[t] = x
    return out


def market_series_frame(
    rng: np.random.Generator,
    dates: pd.DatetimeIndex,
    regimes: np.ndarray,
    market_vol: np.ndarray,
    index_returns: np.ndarray,
    prices: pd.DataFrame,
    index_start_level: float = 2000.0,
) -> pd.DataFrame:
    """Canonical ``market_series`` for the emitted days (arrays aligned with ``dates``)."""
    n = len(dates)
    index_returns = index_returns.copy()
    index_returns[0] = 0.0
    index = index_start_level * np.cumprod(1.0 + index_returns)

    realised = pd.Series(index_returns).rolling(10, min_periods=2).std().to_numpy()
    realised = np.where(np.isnan(realised), market_vol, realised)
    vol = np.sqrt(252.0) * 100.0 * (0.7 * market_vol + 0.3 * realised)
    log_noise = mean_reverting(np.zeros(n), 0.1, 0.05 * rng.standard_normal(n), 0.0)
    vix = np.maximum((1.1 * vol + VIX_PREMIUM[regimes]) * np.exp(log_noise), 9.0)
    vix_3m = np.maximum(19.5 + 0.65 * (vix - 19.5) + 0.4 * rng.standard_normal(n), 10.0)

    y10 = mean_reverting(2.6 + LEVEL_SHIFT[regimes], 0.004, 0.05 * rng.standard_normal(n), 2.4)
    slope = mean_reverting(CURVE_SLOPE[regimes], 0.04, 0.02 * rng.standard_normal(n), CURVE_SLOPE[regimes[0]])
    short_slope = mean_reverting(0.4 * slope, 0.03, 0.02 * rng.standard_normal(n), 0.4 * slope[0])
    yield_10y = np.maximum(y10, 0.05)
    yield_2y = np.maximum(y10 - slope, 0.03)
    yield_3m = np.maximum(yield_2y - short_slope, 0.01)

    hy_shocks = 0.03 * rng.standard_normal(n) - 6.0 * index_returns
    hy = mean_reverting(HY_LEVEL[regimes], HY_SPEED[regimes], hy_shocks, HY_LEVEL[regimes[0]])
    hy_spread = np.maximum(hy, 2.3)
    ig_noise = mean_reverting(np.zeros(n), 0.05, 0.01 * rng.standard_normal(n), 0.0)
    ig_spread = np.maximum(0.5 + 0.22 * hy_spread + ig_noise, 0.4)

    week_return = pd.Series(index_returns).rolling(5, min_periods=1).sum().to_numpy()
    put_call = 0.62 + PUT_CALL_SHIFT[regimes] - 2.0 * week_return + 0.08 * rng.standard_normal(n)
    put_call = np.clip(put_call, 0.3, 2.5)

    frame = pd.DataFrame(
        {
            "date": dates.values,
            "sp500_close": index,
            "vix": vix,
            "vix_3m": vix_3m,
            "yield_3m": yield_3m,
            "yield_2y": yield_2y,
            "yield_10y": yield_10y,
            "hy_spread": hy_spread,
            "ig_spread": ig_spread,
            "put_call_ratio": put_call,
        }
    )
    breadth = breadth_from_prices(prices)
    frame = frame.merge(breadth, on="date", how="left", validate="one_to_one")
    return frame[MARKET_SERIES_COLUMNS]
