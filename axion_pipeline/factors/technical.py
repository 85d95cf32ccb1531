"""Technical: short-horizon price and volume patterns.

Oscillators (RSI, Bollinger %B) are read contrarian: over a few weeks individual stocks mean-revert
(the short-term reversal effect), so oversold (low) scores higher. Trend measures (MACD histogram,
price vs its 200-day average, 50/200 cross) and rising volume score higher when high. Exponential
averages are recursive (``adjust=False``) from the first close of each ticker, so their value at t
depends on the whole history up to t, never after. Look-ahead: every window ends at t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.ops import safe_div
from axion_pipeline.factors.rolling import min_obs, rolling_mean

RSI_PERIOD = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BB_WINDOW, BB_WIDTH = 20, 2.0
SMA_SHORT, SMA_LONG = 50, 200
VOL_SHORT, VOL_LONG = 20, 63


def _sma(inp, window: int) -> pd.DataFrame:
    return inp.memo(("sma", window), lambda: rolling_mean(inp.close, window))


def rsi(inp):
    delta = inp.close.diff()
    gain, loss = delta.clip(lower=0.0), (-delta).clip(lower=0.0)
    alpha = 1.0 / RSI_PERIOD
    avg_gain = gain.ewm(alpha=alpha, adjust=False, min_periods=RSI_PERIOD).mean()
    avg_loss = loss.ewm(alpha=alpha, adjust=False, min_periods=RSI_PERIOD).mean()
    return inp.at_out(100.0 * safe_div(avg_gain, avg_gain + avg_loss, positive_den=True))


def macd(inp):
    c = inp.close
    line = (
        c.ewm(span=MACD_FAST, adjust=False, min_periods=MACD_FAST).mean()
        - c.ewm(span=MACD_SLOW, adjust=False, min_periods=MACD_SLOW).mean()
    )
    signal = line.ewm(span=MACD_SIGNAL, adjust=False, min_periods=MACD_SIGNAL).mean()
    return inp.at_out(safe_div(line - signal, c, positive_den=True))


def volume_trend(inp):
    if inp.volume is None:
        return pd.DataFrame(np.nan, index=inp.out_dates, columns=inp.tickers)
    v = inp.volume.where(inp.volume >= 0)
    return inp.at_out(safe_div(rolling_mean(v, VOL_SHORT), rolling_mean(v, VOL_LONG), positive_den=True) - 1.0)


def price_vs_sma(inp):
    return inp.at_out(safe_div(inp.close, _sma(inp, SMA_LONG), positive_den=True) - 1.0)


def bollinger_bands(inp):
    c = inp.close
    mid = _sma(inp, BB_WINDOW)
    sd = c.rolling(BB_WINDOW, min_periods=min_obs(BB_WINDOW)).std(ddof=0)
    lower = mid - BB_WIDTH * sd
    return inp.at_out(safe_div(c - lower, 2.0 * BB_WIDTH * sd, positive_den=True))


def sma_cross(inp):
    return inp.at_out(safe_div(_sma(inp, SMA_SHORT), _sma(inp, SMA_LONG), positive_den=True) - 1.0)


class TechnicalFactors(FactorCalculator):
    """Technical category: 6 sub-factors (RSI and Bollinger %B lower-is-better)."""

    category = "technical"
    default_weight = 0.15

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor(
                "rsi",
                rsi,
                False,
                "100 x avg_gain / (avg_gain + avg_loss), Wilder EMA alpha 1/14; lower (oversold) is better",
            ),
            SubFactor("macd", macd, True, "(EMA12 - EMA26 - EMA9(EMA12 - EMA26)) / close: histogram per unit price"),
            SubFactor("volume_trend", volume_trend, True, "mean(volume, 20d) / mean(volume, 63d) - 1 (needs volume)"),
            SubFactor("price_vs_sma", price_vs_sma, True, "close / SMA200 - 1"),
            SubFactor(
                "bollinger_bands",
                bollinger_bands,
                False,
                "%B = (close - (SMA20 - 2 sd20)) / (4 sd20), sd ddof=0; lower (near the lower band) is better",
            ),
            SubFactor("sma_cross", sma_cross, True, "SMA50 / SMA200 - 1"),
        ]
