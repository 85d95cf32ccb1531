"""Market aggregates computed from the price panel: breadth and the equal-weighted index.

Both sources derive them the same way, and the factor engine's regime detector falls back on the
same equal-weighted index when it is given no index series. With membership intervals (see
``axion_pipeline.data.universe``) only the members of a date count on that date.

Point in time: breadth on date ``t`` uses closes up to ``t`` only (a 200-day trailing mean and the
previous close); the equal-weighted index on ``t`` compounds mean returns up to ``t``, and
membership on ``t`` is known at ``t``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.universe import has_membership, membership_panel

INDEX_BASE = 100.0


def _members(close: pd.DataFrame, membership: pd.DataFrame | None) -> np.ndarray | None:
    if not has_membership(membership):
        return None
    return membership_panel(close.index, close.columns, membership)


def breadth_from_prices(
    prices: pd.DataFrame, sma_window: int = 200, membership: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return ``date, advance_decline, pct_above_200sma`` from canonical long prices.

    ``advance_decline`` = (advancers - decliners) / names with a return that day, in [-1, 1].
    ``pct_above_200sma`` = share of names with a full 200-day history whose close is above it;
    missing until at least one name has that history. The names are the members of the day when
    ``membership`` holds intervals (their history before joining still fills the 200-day mean).
    """
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    ret = close.pct_change(fill_method=None)
    sma = close.rolling(sma_window, min_periods=sma_window).mean()
    members = _members(close, membership)
    if members is not None:
        ret = ret.where(members)
        sma = sma.where(members)
    up = (ret > 0).sum(axis=1)
    down = (ret < 0).sum(axis=1)
    traded = ret.notna().sum(axis=1)
    ad = (up - down) / traded.where(traded > 0)
    has_sma = sma.notna()
    above = (close > sma) & has_sma
    n_sma = has_sma.sum(axis=1)
    pct = above.sum(axis=1) / n_sma.where(n_sma > 0)
    out = pd.DataFrame({"date": close.index, "advance_decline": ad.values, "pct_above_200sma": pct.values})
    return out.reset_index(drop=True)


def equal_weight_returns(returns: pd.DataFrame, members: np.ndarray | pd.DataFrame | None = None) -> pd.Series:
    """Mean daily return across the names with a return that day (NaN on the first date);
    only the names where ``members`` (same shape as ``returns``) is True when it is given."""
    if members is not None:
        returns = returns.where(np.asarray(members, dtype=bool))
    return returns.mean(axis=1, skipna=True)


def equal_weight_index(returns: pd.DataFrame, members: np.ndarray | pd.DataFrame | None = None) -> pd.Series:
    """100 x cumulative product of (1 + equal-weighted mean daily return), dates x tickers
    ``returns`` in; a day without any return (the first) leaves the level unchanged."""
    return INDEX_BASE * (1.0 + equal_weight_returns(returns, members).fillna(0.0)).cumprod()


def equal_weight_index_from_prices(prices: pd.DataFrame, membership: pd.DataFrame | None = None) -> pd.DataFrame:
    """``date, sp500_close`` holding the equal-weighted index of the (member) prices, one row per
    price date: the stand-in for an index series when a source has none."""
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    index = equal_weight_index(close.pct_change(fill_method=None), _members(close, membership))
    return pd.DataFrame({"date": close.index, "sp500_close": index.to_numpy()}).reset_index(drop=True)
