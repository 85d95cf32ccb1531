"""Market breadth computed from the price panel (both sources derive it the same way).

Point in time: breadth on date ``t`` uses closes up to ``t`` only (a 200-day trailing mean and the
previous close).
"""

from __future__ import annotations

import pandas as pd


def breadth_from_prices(prices: pd.DataFrame, sma_window: int = 200) -> pd.DataFrame:
    """Return ``date, advance_decline, pct_above_200sma`` from canonical long prices.

    ``advance_decline`` = (advancers - decliners) / names with a return that day, in [-1, 1].
    ``pct_above_200sma`` = share of names with a full 200-day history whose close is above it;
    missing until at least one name has that history.
    """
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    ret = close.pct_change(fill_method=None)
    up = (ret > 0).sum(axis=1)
    down = (ret < 0).sum(axis=1)
    traded = ret.notna().sum(axis=1)
    ad = (up - down) / traded.where(traded > 0)
    sma = close.rolling(sma_window, min_periods=sma_window).mean()
    has_sma = sma.notna()
    above = (close > sma) & has_sma
    n_sma = has_sma.sum(axis=1)
    pct = above.sum(axis=1) / n_sma.where(n_sma > 0)
    out = pd.DataFrame({"date": close.index, "advance_decline": ad.values, "pct_above_200sma": pct.values})
    return out.reset_index(drop=True)
