"""Residual reversal: the last month's return a statistical factor model does not explain, reversed.

On date t, over the trailing ``WINDOW`` (252) daily close-to-close returns of every name that has at
least ``MIN_RETURNS`` (240) of them (a missing return counts as 0), the returns are demeaned per name
and projected off their top ``N_COMPONENTS`` (5) principal components (the market and the largest
common swings: sectors, rates, size). The signal is minus the sum of a name's residuals over the
last ``HORIZON`` (21) days divided by the standard deviation of its residuals over the window: a
name that fell more than its factor exposures explain scores high.

Why it is here: on the validation slices of the 13-year S&P 500 members file it ranked the next 21
days at a mean rank IC of 0.0161 (Newey-West t 2.53) where raw 1-month reversal scored 0.0072, and
averaged with the ranking model's percentile it lifted the model's validation IC from 0.0108 to
0.0175 (``benchmarks/research_residual_*.py``, BENCHMARKS.md). Prices only: no factor file needed.

Look-ahead: the value of t reads closes up to t only (the window ends at t); which names enter the
factor model depends on their returns in the window, never on later data or index membership.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.linalg
from threadpoolctl import threadpool_limits

WINDOW = 252  # daily returns in the factor model's window (so WINDOW + 1 closes)
HORIZON = 21  # trading days of residuals summed
MIN_RETURNS = 240  # returns a name needs in the window to enter the factor model
N_COMPONENTS = 5
# trading days of closes before t that the value of t reads
HISTORY_DAYS = WINDOW


def _residual_reversal_at(block: np.ndarray, n_components: int, horizon: int, min_returns: int) -> np.ndarray:
    """The signal of the window's last day for every column of ``block`` (window x names returns);
    NaN for names with fewer than ``min_returns`` returns, or all when too few names qualify."""
    out = np.full(block.shape[1], np.nan)
    names = np.flatnonzero(np.isfinite(block).sum(axis=0) >= min_returns)
    if len(names) < 2 * n_components:
        return out
    R = np.nan_to_num(block[:, names])
    R -= R.mean(axis=0)
    # The projection on the top k principal components is U U' R = R V V', with U the top
    # eigenvectors of R R' (days x days) and V those of R' R (names x names): solve the smaller one.
    # LAPACK's MRRR driver computes only the top k (about half the time of the whole
    # decomposition; deterministic, so a one-day run and a backfill store the same values).
    days, width = R.shape
    if width < days:
        _, V = scipy.linalg.eigh(R.T @ R, subset_by_index=[width - n_components, width - 1], driver="evr")
        E = R - (R @ V) @ V.T
    else:
        _, U = scipy.linalg.eigh(R @ R.T, subset_by_index=[days - n_components, days - 1], driver="evr")
        E = R - U @ (U.T @ R)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[names] = -E[-horizon:].sum(axis=0) / E.std(axis=0, ddof=1)
    return out


def residual_reversal(close: pd.DataFrame, dates=None, **options) -> pd.DataFrame:
    """``residual_reversal_of_returns`` of the close-to-close returns of ``close`` (a dates x tickers
    close panel sorted by date; a return is missing where either close is). Load ``HISTORY_DAYS``
    trading days of closes before the first date you need."""
    if not close.index.is_monotonic_increasing:
        raise ValueError("close must be sorted by date")
    c = close.to_numpy(dtype="float64")
    returns = np.full_like(c, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        returns[1:] = c[1:] / c[:-1] - 1.0
    return residual_reversal_of_returns(
        pd.DataFrame(returns, index=close.index, columns=close.columns), dates, **options
    )


def residual_reversal_of_returns(
    returns: pd.DataFrame,
    dates=None,
    *,
    n_components: int = N_COMPONENTS,
    window: int = WINDOW,
    horizon: int = HORIZON,
    min_returns: int = MIN_RETURNS,
) -> pd.DataFrame:
    """The signal (module docstring) as a dates x tickers frame, for ``dates`` (default: every date
    of ``returns``, a dates x tickers frame of daily returns sorted by date, the return of t being
    the one that ends at t's close). A date with fewer than ``window`` rows up to it is all NaN."""
    if not 0 < horizon <= window or min_returns > window or n_components < 1:
        raise ValueError(
            f"need 0 < horizon <= window, min_returns <= window and n_components >= 1; got horizon={horizon}, "
            f"window={window}, min_returns={min_returns}, n_components={n_components}"
        )
    if not returns.index.is_monotonic_increasing:
        raise ValueError("returns must be sorted by date")
    r = returns.to_numpy(dtype="float64", copy=True)
    r[~np.isfinite(r)] = np.nan
    wanted = returns.index if dates is None else pd.DatetimeIndex(dates)
    positions = returns.index.get_indexer(wanted)
    if (positions < 0).any():
        missing = wanted[positions < 0]
        raise ValueError(f"{len(missing)} requested dates have no returns, e.g. {missing[0].date()}")
    out = np.full((len(wanted), r.shape[1]), np.nan)
    # one BLAS thread: at these sizes threads cost more than they save, and with another process on
    # the cores a multi-threaded eigensolver took 45-50 ms a date instead of 4-5 ms
    with threadpool_limits(limits=1, user_api="blas"):
        for i, t in enumerate(positions):
            if t >= window - 1:
                out[i] = _residual_reversal_at(r[t - window + 1 : t + 1], n_components, horizon, min_returns)
    return pd.DataFrame(out, index=wanted, columns=returns.columns)
