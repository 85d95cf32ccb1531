"""Forward-return targets: ``fwd_return`` and cross-sectional quintile ``label`` per (date, symbol).

``returns_data`` holds daily simple returns, index = trading dates, columns = symbols; the return
on row ``d`` is close(d-1) -> close(d). The target at ``t`` is the return from close ``t`` to close
``t+h`` (``h = forward_days`` rows of the data later): ``prod(1 + r[t+1..t+h]) - 1``, multiplied in
date order inside the window, so it depends on returns in (t, t+h] only and is bit-identical
whichever path computes it.

Rules, none of which drop or fill rows:
- fewer than ``h`` later rows (window not elapsed) -> NaN return and label;
- a missing return inside the window -> NaN for that symbol;
- labels 1 (worst) .. ``q = num_quintiles`` (best): rank the ``n`` valid forward returns of the
  date with ``method="first"`` (ties broken by symbol name, ascending, since columns are sorted),
  then ``label = floor(q * (rank - 1) / n) + 1`` in exact integer arithmetic: equal-count buckets
  whose sizes differ by at most one (the same as ``pd.qcut(ranks, q)`` when ``q`` divides ``n``;
  otherwise qcut's floating-point bin edges can move a rank that sits on an edge);
- a date with fewer valid returns than ``num_quintiles`` gets NaN labels;
- with index ``membership`` intervals, a symbol that is not a member on ``t`` has no target at
  ``t`` (NaN return and label) and the quintiles of ``t`` rank the members of ``t`` only. The
  forward return of a member is its own price path, also if it leaves the index inside the
  window: membership on ``t`` is known at ``t``, later membership is never read.

Labels are float64 (NaN allowed). Look-ahead here is the point: a target must never be used as a
feature, and the walk-forward gap must be at least ``h`` dates (purge).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.universe import has_membership, membership_panel


def prepare_returns(returns_data: pd.DataFrame, forward_days: int, num_quintiles: int) -> pd.DataFrame:
    """Validated copy: sorted unique naive dates, symbols sorted by name (the tie-break order)."""
    if int(forward_days) < 1 or int(num_quintiles) < 2:
        raise ValueError("forward_days must be >= 1 and num_quintiles >= 2")
    index = pd.DatetimeIndex(pd.to_datetime(returns_data.index))
    if index.tz is not None or index.has_duplicates:
        raise ValueError("returns_data needs unique timezone-naive dates as index")
    frame = returns_data.set_axis(index.astype("datetime64[ns]"), axis=0).sort_index()
    frame = frame[sorted(frame.columns)].astype("float64")
    frame.index.name, frame.columns.name = "date", returns_data.columns.name or "symbol"
    return frame


def _window_product(growth: np.ndarray, forward_days: int, rows: np.ndarray) -> np.ndarray:
    """``prod(growth[t+1..t+h]) - 1`` for each row position ``t`` in ``rows`` (NaN past the end)."""
    out = np.full((len(rows), growth.shape[1]), np.nan)
    ok = rows + forward_days < len(growth)
    r = rows[ok]
    acc = growth[r + 1].copy()
    for k in range(2, forward_days + 1):
        acc *= growth[r + k]
    out[ok] = acc - 1.0
    return out


def quintile_labels(fwd: np.ndarray, num_quintiles: int) -> np.ndarray:
    """Row-wise labels 1..q of forward returns (2-D: dates x symbols sorted by name), NaN-aware."""
    ranks = pd.DataFrame(fwd).rank(axis=1, method="first").to_numpy()
    n = np.sum(~np.isnan(fwd), axis=1, keepdims=True).astype("float64")
    q = float(num_quintiles)
    with np.errstate(invalid="ignore", divide="ignore"):
        label = np.floor_divide(q * (ranks - 1.0), n) + 1.0  # integer-valued floats: exact
    return np.where(np.isnan(ranks) | (n < q), np.nan, label)


def targets_at_rows(
    frame: pd.DataFrame, rows: np.ndarray, forward_days: int, num_quintiles: int, members: np.ndarray | None = None
):
    """``(fwd_return, label)`` arrays (rows x symbols) at row positions ``rows`` of a prepared frame;
    ``members`` (rows x symbols, True = in the cross-section) blanks the others before labelling."""
    fwd = _window_product(1.0 + frame.to_numpy(), int(forward_days), rows)
    if members is not None:
        fwd = np.where(members, fwd, np.nan)
    return fwd, quintile_labels(fwd, num_quintiles)


def member_mask(frame: pd.DataFrame, membership: pd.DataFrame | None) -> np.ndarray | None:
    """Dates x symbols membership of a prepared frame; None without membership information."""
    return membership_panel(frame.index, frame.columns, membership) if has_membership(membership) else None


def target_panel(
    returns_data: pd.DataFrame,
    forward_days: int = 21,
    num_quintiles: int = 5,
    membership: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """(date, symbol) -> ``fwd_return``, ``label`` for every date x symbol of ``returns_data``;
    ``membership``: index membership intervals (see the module docstring)."""
    frame = prepare_returns(returns_data, forward_days, num_quintiles)
    fwd, label = targets_at_rows(
        frame, np.arange(len(frame)), forward_days, num_quintiles, member_mask(frame, membership)
    )
    index = pd.MultiIndex.from_product([frame.index, frame.columns])
    return pd.DataFrame({"fwd_return": fwd.ravel(), "label": label.ravel()}, index=index)


def target_for_date(
    returns_data: pd.DataFrame, target_date: pd.Timestamp, forward_days: int = 21, num_quintiles: int = 5
) -> pd.DataFrame:
    """symbol -> ``fwd_return``, ``label`` at ``target_date`` (a date of ``returns_data``)."""
    frame = prepare_returns(returns_data, forward_days, num_quintiles)
    pos = frame.index.get_indexer([pd.Timestamp(target_date)])[0]
    if pos < 0:
        raise ValueError(f"returns_data has no row on {pd.Timestamp(target_date).date()}")
    fwd, label = targets_at_rows(frame, np.array([pos]), forward_days, num_quintiles)
    return pd.DataFrame({"fwd_return": fwd[0], "label": label[0]}, index=frame.columns)
