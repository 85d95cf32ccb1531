"""Vectorised building blocks of feature engineering: panel layout, lags, rolling stats.

Every transform is *window-local*: the value for date ``t`` is computed from the rows inside its
own window with a fixed order of floating-point operations, never from a running total carried
from the start of the history (as ``pandas.rolling`` and ``cumsum`` do). The single-date path,
which slices only the history it needs, and the panel path are therefore bit-identical, which is
what lets the leakage audit demand exact equality. Look-ahead could only enter through a window
bound: every window here ends at ``t``. Cross-sectional ranks (the date ``t`` itself) come from
``axion_pipeline.analytics.cross_section``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_BLOCK = 64  # series per block in rolling stats: keeps a block's working set in the CPU cache


@dataclass(frozen=True)
class Panel:
    """Rows of a (date, symbol) frame laid out as a dense ``columns x dates x symbols`` array.

    ``values`` is NaN where the input has no row. ``date_pos``/``symbol_pos`` give, for every input
    row in order, its position in ``dates``/``symbols``. The calendar is the sorted unique dates of
    the input, so "N dates earlier" means N dates of the data, not N weekdays.
    """

    dates: pd.DatetimeIndex
    symbols: pd.Index
    values: np.ndarray
    date_pos: np.ndarray
    symbol_pos: np.ndarray


def to_panel(frame: pd.DataFrame, columns: Sequence[str]) -> Panel:
    """Lay out ``frame[columns]`` (unique (date, symbol) MultiIndex) as a dense 3-D array."""
    date_pos, dates = pd.factorize(frame.index.get_level_values(0), sort=True)
    symbol_pos, symbols = pd.factorize(frame.index.get_level_values(1), sort=True)
    values = np.full((len(columns), len(dates), len(symbols)), np.nan)
    values[:, date_pos, symbol_pos] = frame[list(columns)].to_numpy(dtype="float64").T
    return Panel(pd.DatetimeIndex(dates), pd.Index(symbols), values, date_pos, symbol_pos)


def lagged(panel: Panel, periods: int, rows: np.ndarray) -> np.ndarray:
    """``columns x rows``: values ``periods`` calendar dates before each row, same symbol (NaN if none)."""
    pos = panel.date_pos[rows] - periods
    n_dates, n_symbols = panel.values.shape[1:]
    flat = np.maximum(pos, 0) * n_symbols + panel.symbol_pos[rows]
    out = panel.values.reshape(len(panel.values), n_dates * n_symbols)[:, flat]
    out[:, pos < 0] = np.nan
    return out


def _block_stats(seg: np.ndarray, window: int, need: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean/std of a block of series (rows), ``seg`` starting ``window - 1`` steps early."""
    valid = ~np.isnan(seg)
    # Without missing values (or when the full window is required, so NaN may simply propagate),
    # masking is skipped; on a full window both branches perform the same operations bit for bit.
    full = need == window or bool(valid.all())
    x = seg if full else np.where(valid, seg, 0.0)
    total = x[:, :n_out].copy()
    for k in range(1, window):
        total += x[:, k : k + n_out]
    if full:
        count = np.full(total.shape, window, dtype=np.int64)
    else:  # integer counts are exact, so a cumulative-sum difference is still window-local
        csum = np.concatenate([np.zeros((len(seg), 1), dtype=np.int64), valid.cumsum(axis=1)], axis=1)
        count = csum[:, window : window + n_out] - csum[:, :n_out]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        mean[count < need] = np.nan
        squares, dev = np.zeros_like(mean), np.empty_like(mean)
        for k in range(window):
            np.subtract(x[:, k : k + n_out], mean, out=dev)
            if not full:
                dev *= valid[:, k : k + n_out]
            np.multiply(dev, dev, out=dev)
            squares += dev
        std = np.sqrt(squares / (count - 1))
    std[(count < need) | (count < 2)] = np.nan
    return mean, std


def rolling_mean_std(
    x: np.ndarray, window: int, min_periods: int | None = None, first: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Trailing mean and sample std (ddof=1) over ``window`` steps ending at each step, along the
    last axis (time last: one series per row of ``x``).

    Results are given for steps ``first..`` (shape ``x.shape[:-1] + (len - first,)``). NaN values
    are skipped; a window with fewer than ``min_periods`` (default: ``window``) valid values gives
    NaN, and the std needs two. Sums run oldest to newest inside each window, so a value depends
    only on its own window.
    """
    if window < 1:
        raise ValueError(f"rolling window must be >= 1, got {window}")
    need = window if min_periods is None else max(1, min(int(min_periods), window))
    n_steps = x.shape[-1]
    series = x.reshape(-1, n_steps)
    start = first - window + 1
    seg = series[:, max(start, 0) :]
    if start < 0:
        seg = np.concatenate([np.full((len(series), -start), np.nan), seg], axis=1)
    n_out = n_steps - first
    mean, std = np.empty((len(series), n_out)), np.empty((len(series), n_out))
    for j in range(0, len(series), _BLOCK):
        block = np.ascontiguousarray(seg[j : j + _BLOCK])
        mean[j : j + _BLOCK], std[j : j + _BLOCK] = _block_stats(block, window, need, n_out)
    shape = x.shape[:-1] + (n_out,)
    return mean.reshape(shape), std.reshape(shape)


def asof_rows(index: pd.DatetimeIndex, dates: pd.DatetimeIndex) -> np.ndarray:
    """Position in sorted ``index`` of the last entry on or before each date (-1 when none)."""
    return index.searchsorted(dates, side="right") - 1
