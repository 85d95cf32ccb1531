"""Volatility (risk): lower risk scores higher (the low-volatility / low-beta anomaly).

Daily simple returns r (NaN next to a missing close) and market returns m: the S&P 500's when
given, else the equal-weighted universe mean (``axion_pipeline.factors.panel.build_inputs``).
Market-model statistics use only days where both returns exist. Windows are trailing and need
90% of their observations (``axion_pipeline.factors.rolling``). Look-ahead: windows end at t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.ops import safe_div
from axion_pipeline.factors.rolling import (
    TRADING_DAYS,
    market_moments,
    min_obs,
    regression_beta,
    residual_variance,
    rolling_mean,
    rolling_std,
)
from axion_pipeline.factors.rolling import (
    max_drawdown as window_max_drawdown,
)

VOL_WINDOW = 63
BETA_WINDOW = 252
LIQUIDITY_WINDOW = 21
MIN_DOWN_DAYS = 20


def _panel(inp, values: np.ndarray) -> pd.DataFrame:
    return inp.at_out(pd.DataFrame(values, index=inp.close.index, columns=inp.tickers))


def _moments(inp, window: int, downside: bool = False) -> dict:
    return inp.memo(
        ("moments", window, downside), lambda: market_moments(inp.returns, inp.market_returns, window, downside)
    )


def realized_vol(inp):
    return inp.at_out(rolling_std(inp.returns, VOL_WINDOW) * np.sqrt(TRADING_DAYS))


def idiosyncratic_vol(inp):
    s = _moments(inp, VOL_WINDOW)
    vol = np.sqrt(residual_variance(s) * TRADING_DAYS)
    return _panel(inp, np.where(s["n"] >= min_obs(VOL_WINDOW), vol, np.nan))


def beta(inp):
    s = _moments(inp, BETA_WINDOW)
    return _panel(inp, np.where(s["n"] >= min_obs(BETA_WINDOW), regression_beta(s), np.nan))


def downside_beta(inp):
    s = _moments(inp, BETA_WINDOW, downside=True)
    ok = (s["n_all"] >= min_obs(BETA_WINDOW)) & (s["n"] >= MIN_DOWN_DAYS)
    return _panel(inp, np.where(ok, regression_beta(s), np.nan))


def max_drawdown(inp):
    values = window_max_drawdown(inp.close, inp.out_pos, BETA_WINDOW)
    return pd.DataFrame(values, index=inp.out_dates, columns=inp.tickers)


def downside_vol(inp):
    r = inp.returns
    return inp.at_out(np.sqrt(rolling_mean(r.clip(upper=0.0) ** 2, VOL_WINDOW) * TRADING_DAYS))


def amihud_illiquidity(inp):
    if inp.volume is None:
        return pd.DataFrame(np.nan, index=inp.out_dates, columns=inp.tickers)
    dollar_volume = inp.close * inp.volume
    daily = safe_div(inp.returns.abs(), dollar_volume, positive_den=True) * 1e6
    return inp.at_out(rolling_mean(daily, LIQUIDITY_WINDOW))


class VolatilityFactors(FactorCalculator):
    """Volatility category: 7 risk measures, lower risk is better."""

    category = "volatility"
    default_weight = 0.10

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor("realized_vol", realized_vol, False, "std(r, 63d, ddof=1) x sqrt(252)"),
            SubFactor(
                "idiosyncratic_vol", idiosyncratic_vol, False, "sqrt(SSR / (n - 2) x 252) of r = a + b m + e over 63d"
            ),
            SubFactor("beta", beta, False, "cov(r, m) / var(m) over 252d"),
            SubFactor(
                "downside_beta",
                downside_beta,
                False,
                "cov(r, m) / var(m) over the days of the 252d window with m < 0 (>= 20 days)",
            ),
            SubFactor(
                "max_drawdown",
                max_drawdown,
                True,
                "min over the 252d window of close / running max - 1 (<= 0; closer to 0 is better)",
            ),
            SubFactor("downside_vol", downside_vol, False, "sqrt(mean(min(r, 0)^2, 63d) x 252)"),
            SubFactor(
                "amihud_illiquidity",
                amihud_illiquidity,
                False,
                "mean(|r| / (close x volume), 21d) x 1e6, lower is better (needs volume)",
            ),
        ]
