"""One-factor baseline rules every model is compared with, from the canonical long prices frame.

Each value at (t, ticker) is known at the close of t: it uses closes and volumes up to t only.
Lags and windows count the ticker's own trading days, i.e. its rows with a positive close, in date
order (a ticker that skips a day is not shifted onto another ticker's calendar); a row without a
positive close gets NaN everywhere. ``r_t = close_t / close_prev - 1`` is the daily return since the
ticker's previous trading day.

Scores (higher = better expected return):
- ``momentum_12_1``: close_{t-21} / close_{t-252} - 1, the 12-month return skipping the last month.
- ``reversal_1m``: -(close_t / close_{t-21} - 1), short-term reversal.
- ``low_vol_60d``: -std(r over the last 60 trading days, ddof 1), at least 40 valid returns.
- ``small_size``: -``log_dollar_volume_63d`` (the size effect, small names expected to earn more).

Characteristics (for exposures, not oriented as scores):
- ``log_dollar_volume_63d``: log of the mean of close x volume over the last 63 trading days (at
  least 57 valid, 90%), a size proxy since market caps are not in the data; NaN if the mean is 0.
- ``beta_252d``: OLS slope of r on the market return over the last 252 trading days with at least
  227 (90%) days where both exist. The market is the equal-weighted mean of r over the universe's
  names on each date (the name itself included), or a given series of daily index returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTH, YEAR = 21, 252
VOL_WINDOW, VOL_MIN_OBS = 60, 40
DOLLAR_VOLUME_WINDOW, DOLLAR_VOLUME_MIN_OBS = 63, 57
BETA_WINDOW, BETA_MIN_OBS = 252, 227

BASELINE_SCORES = ("momentum_12_1", "reversal_1m", "low_vol_60d", "small_size")
CHARACTERISTICS = ("log_dollar_volume_63d", "beta_252d")


class _OwnDays:
    """Each ticker's trading days as a column of a (k-th trading day x ticker) array, so lags and
    trailing windows over a ticker's own days are row shifts and column-wise rolling windows."""

    def __init__(self, tickers: np.ndarray):
        self.col, names = pd.factorize(tickers)
        self.row = pd.Series(self.col).groupby(self.col).cumcount().to_numpy()
        self.shape = (int(self.row.max(initial=-1)) + 1, len(names))

    def wide(self, values) -> pd.DataFrame:
        out = np.full(self.shape, np.nan)
        out[self.row, self.col] = np.asarray(values, dtype="float64")
        return pd.DataFrame(out)

    def long(self, panel: pd.DataFrame) -> np.ndarray:
        return panel.to_numpy(dtype="float64")[self.row, self.col]


def baseline_scores(prices: pd.DataFrame, market_returns: pd.Series | None = None) -> pd.DataFrame:
    """Long frame (date, ticker, *BASELINE_SCORES, *CHARACTERISTICS), one row per input row,
    sorted by (date, ticker). ``market_returns``: daily index returns indexed by date (else the
    equal-weighted universe mean); a date it lacks has no market return."""
    missing = {"date", "ticker", "close", "volume"} - set(prices.columns)
    if missing:
        raise ValueError(f"prices lack columns {sorted(missing)}")
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(prices["date"]).astype("datetime64[ns]").to_numpy(),
            "ticker": prices["ticker"].astype(str).to_numpy(),
            "close": pd.to_numeric(prices["close"], errors="coerce").to_numpy(dtype="float64"),
            "volume": pd.to_numeric(prices["volume"], errors="coerce").to_numpy(dtype="float64"),
        }
    )
    if frame.duplicated(["date", "ticker"]).any():
        raise ValueError("prices hold duplicate (date, ticker) rows")
    frame = frame.sort_values(["date", "ticker"], ignore_index=True)
    live = frame[frame["close"] > 0]  # the tickers' trading days, in date order
    days = _OwnDays(live["ticker"].to_numpy())
    close = days.wide(live["close"])
    r = close / close.shift(1) - 1.0
    cols = {
        "momentum_12_1": close.shift(MONTH) / close.shift(YEAR) - 1.0,
        "reversal_1m": -(close / close.shift(MONTH) - 1.0),
        "low_vol_60d": -r.rolling(VOL_WINDOW, min_periods=VOL_MIN_OBS).std(ddof=1),
    }
    dollar = (close * days.wide(live["volume"])).rolling(DOLLAR_VOLUME_WINDOW, min_periods=DOLLAR_VOLUME_MIN_OBS)
    mean_dollar = dollar.mean()
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["log_dollar_volume_63d"] = np.log(mean_dollar.where(mean_dollar > 0))
    cols["small_size"] = -cols["log_dollar_volume_63d"]
    cols["beta_252d"] = _beta(days, live["date"].to_numpy(), r, market_returns)
    out = frame[["date", "ticker"]].copy()
    for name in (*BASELINE_SCORES, *CHARACTERISTICS):
        values = np.full(len(frame), np.nan)
        values[live.index.to_numpy()] = days.long(cols[name])
        out[name] = values
    return out


def _beta(days: _OwnDays, dates: np.ndarray, r: pd.DataFrame, market_returns: pd.Series | None) -> pd.DataFrame:
    """Rolling OLS slope of r on the market return over each ticker's last 252 trading days."""
    r_long = days.long(r)
    if market_returns is None:
        market = pd.Series(r_long).groupby(dates).mean()
    else:
        market = pd.Series(market_returns, dtype="float64")
        market.index = pd.to_datetime(market.index).astype("datetime64[ns]")
    m = days.wide(market.reindex(dates).to_numpy(dtype="float64"))
    both = r.notna() & m.notna()
    rr, mm = r.where(both, 0.0), m.where(both, 0.0)

    def total(x: pd.DataFrame) -> pd.DataFrame:
        return x.rolling(BETA_WINDOW, min_periods=1).sum()

    n = total(both.astype("float64"))
    s_r, s_m, s_rm, s_mm = total(rr), total(mm), total(rr * mm), total(mm * mm)
    cov = s_rm - s_r * s_m / n
    var = s_mm - s_m * s_m / n
    return (cov / var.where(var > 0)).where(n >= BETA_MIN_OBS)
