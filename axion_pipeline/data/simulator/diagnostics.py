"""How strong the planted signal is: the oracle's forward rank information coefficient.

The rank IC on date ``t`` is the Spearman correlation, across the names with both values, between
``expected_return`` known at the close of ``t`` and the realised return from the close of ``t``
to the close of ``t + horizon``. This reads future prices by design: it scores a signal, it is
never a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import rank_ic_rows
from axion_pipeline.data.contracts import MarketData


def forward_rank_ic(scores: pd.DataFrame, close: pd.DataFrame, horizon: int = 21, min_names: int = 10) -> pd.Series:
    """Per-date rank IC of wide ``scores`` (dates x tickers) against forward returns of wide
    ``close``; dates with fewer than ``min_names`` names holding both, or an undefined IC, are left out."""
    close = close.sort_index()
    forward = close.shift(-horizon) / close - 1.0
    scores = scores.reindex(index=forward.index, columns=forward.columns)
    ic, n = rank_ic_rows(scores.to_numpy(dtype="float64"), forward.to_numpy(dtype="float64"))
    return pd.Series(ic, index=forward.index)[(n >= min_names) & ~np.isnan(ic)]


def oracle_rank_ic(data: MarketData, horizon: int = 21) -> pd.Series:
    """Per-date rank IC of ``true_alpha.expected_return`` at ``horizon`` days (simulated data only)."""
    if data.true_alpha is None:
        raise ValueError("oracle_rank_ic needs a source with a planted truth (true_alpha)")
    close = data.prices.pivot(index="date", columns="ticker", values="close")
    scores = data.true_alpha.pivot(index="date", columns="ticker", values="expected_return")
    return forward_rank_ic(scores, close, horizon)
