"""Cross-sectional ranks and rank correlations: the one implementation every layer calls.

A cross-section is one row of a 2-D array (one date, the names in columns), optionally split
further into groups (e.g. sectors). Everything here works one cross-section at a time, so a value
computed for a date never sees another date.

- ``average_ranks``: 1-based ranks within each cross-section, ties sharing the mean of their
  positions (scipy's ``rankdata(method="average")``, pandas' ``rank()``).
- ``percentile_rank_rows``: ``(average_rank - 1) / (n - 1)`` among the n valid values of the
  cross-section: 0 the lowest (or, with ``higher_is_better=False``, the highest), 1 the other end,
  0.5 for a lone value.
- ``rank_ic_rows``: Spearman rank correlation per cross-section (Pearson correlation of the
  average ranks), the information coefficient of a score against an outcome.
- ``group_columns``: lays long data (one row per item, a group code each) out as rows of a 2-D
  array, so per-date statistics of long frames use the same row-wise code.

What counts as missing is the caller's choice (``valid`` mask, ``inf_as_missing``): the factor
library treats +-inf as missing, pandas-style callers rank +-inf as the extreme values they are.
This module depends on numpy only, so the data, factor, ML and analytics layers can all import
it without an import cycle.
"""

from __future__ import annotations

import numpy as np


def _rows(values) -> np.ndarray:
    a = np.asarray(values, dtype="float64")
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array (one cross-section per row), got {a.ndim}-D")
    return a


def _ranks_and_sizes(
    a: np.ndarray, valid: np.ndarray, groups: np.ndarray | None, ascending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks (NaN outside ``valid``) and the number of valid cells in each cell's
    cross-section: per row as an (n_rows, 1) column, per row and group as a full array."""
    n_rows, n_cols = a.shape
    ranks = np.full(a.shape, np.nan)
    if n_cols == 0 or n_rows == 0:
        return ranks, np.full(a.shape, np.nan)
    key = a if ascending else -a
    # Invalid cells sort last: as +inf (numpy's argsort is faster without NaN) unless a valid cell
    # is +inf itself, then as NaN, which sorts after +inf and equals nothing.
    at_inf = key == np.inf
    sentinel = np.nan if at_inf.any() and (at_inf & valid).any() else np.inf
    key = np.where(valid, key, sentinel)
    order = np.argsort(key, axis=1)
    pos = np.arange(n_cols, dtype="float64")

    def first_of(starts: np.ndarray) -> np.ndarray:  # sorted position where each cell's run begins
        return np.maximum.accumulate(np.where(starts, pos, 0.0), axis=1)

    def last_of(starts: np.ndarray) -> np.ndarray:  # sorted position where each cell's run ends
        ends = np.ones(starts.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        return np.minimum.accumulate(np.where(ends, pos, float(n_cols))[:, ::-1], axis=1)[:, ::-1]

    if groups is None:
        # Position + 1, averaged over the runs of ties in the rows that have any.
        ks = np.take_along_axis(key, order, axis=1)
        rank = np.broadcast_to(pos + 1.0, a.shape).copy()
        tied = np.zeros(a.shape, dtype=bool)
        tied[:, 1:] = ks[:, 1:] == ks[:, :-1]
        if sentinel == np.inf:
            tied[:, 1:] &= ks[:, 1:] != np.inf
        rows = np.flatnonzero(tied.any(axis=1))
        if len(rows):
            starts = ~tied[rows]
            rank[rows] = (first_of(starts) + last_of(starts)) / 2.0 + 1.0
        np.put_along_axis(ranks, order, rank, axis=1)
        ranks[~valid] = np.nan
        return ranks, valid.sum(axis=1, keepdims=True).astype("float64")
    # Then by group, stably: each group becomes a run of equal codes holding its values in
    # ascending order, and a tie a run of equal values within a group.
    g = np.where(valid, groups, np.iinfo(np.int64).max).astype(np.int64)
    order = np.take_along_axis(order, np.argsort(np.take_along_axis(g, order, 1), axis=1, kind="stable"), 1)
    ks = np.take_along_axis(key, order, axis=1)
    gs = np.take_along_axis(g, order, axis=1)
    ok = np.take_along_axis(valid, order, axis=1)
    new_seg = np.ones(a.shape, dtype=bool)
    new_seg[:, 1:] = gs[:, 1:] != gs[:, :-1]
    new_run = new_seg.copy()
    new_run[:, 1:] |= ks[:, 1:] != ks[:, :-1]
    seg_start = first_of(new_seg)
    rank = (first_of(new_run) + last_of(new_run)) / 2.0 - seg_start + 1.0
    sizes = np.full(a.shape, np.nan)
    np.put_along_axis(ranks, order, np.where(ok, rank, np.nan), axis=1)
    np.put_along_axis(sizes, order, np.where(ok, last_of(new_seg) - seg_start + 1.0, np.nan), axis=1)
    return ranks, sizes


def _valid(a: np.ndarray, valid, groups, finite_only: bool = False) -> np.ndarray:
    mask = np.isfinite(a) if finite_only else ~np.isnan(a)
    if valid is not None:
        mask &= np.asarray(valid, dtype=bool)
    if groups is not None:
        if np.shape(groups) != a.shape:
            raise ValueError(f"groups {np.shape(groups)} and values {a.shape} differ in shape")
        mask &= np.asarray(groups) >= 0
    return mask


def average_ranks(values, valid=None, groups=None, ascending: bool = True) -> np.ndarray:
    """Average ranks (1..n) within each row of a 2-D array, NaN outside ``valid``.

    ``valid`` (same shape, default: not NaN) says which cells take part; ``groups`` (same shape,
    int codes, -1 = none) splits each row further, ranks then run 1..n within each group.
    ``ascending=False`` gives rank 1 to the largest value. Ties share the mean of their positions,
    so the result does not depend on the order of the columns.
    """
    a = _rows(values)
    return _ranks_and_sizes(a, _valid(a, valid, groups), groups, ascending)[0]


def percentile_rank_rows(
    values, groups=None, *, higher_is_better: bool = True, inf_as_missing: bool = False
) -> np.ndarray:
    """Percentile rank ``(rank - 1) / (n - 1)`` of each cell among the valid cells of its row (and
    group), in [0, 1]; a lone valid value gets 0.5; missing cells stay NaN.

    ``higher_is_better=False`` ranks descending (the lowest value gets 1). Missing is NaN, plus
    +-inf when ``inf_as_missing`` (else +-inf rank as the extremes); with ``groups`` (int codes,
    same shape, -1 = none) cells without a group are missing too.
    """
    a = _rows(values)
    valid = _valid(a, None, groups, finite_only=inf_as_missing)
    ranks, n = _ranks_and_sizes(a, valid, groups, higher_is_better)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (ranks - 1.0) / np.where(n > 1, n - 1.0, np.nan)
    return np.where((n == 1) & valid, 0.5, pct)


def group_columns(codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, int]:
    """Column of each item within its group and the size of the largest group, to lay long data
    out as ``n_groups`` rows: ``wide[codes, columns] = values``. Items of a group keep their order."""
    codes = np.asarray(codes, dtype=np.int64)
    sizes = np.bincount(codes, minlength=n_groups)
    order = np.argsort(codes, kind="stable")
    columns = np.empty(len(codes), dtype=np.int64)
    columns[order] = np.arange(len(codes)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return columns, int(sizes.max(initial=0))


def rank_correlation_rows(rx, ry, valid, *, one_pass: bool = False) -> np.ndarray:
    """Pearson correlation per row of the ranks ``rx`` and ``ry`` over the ``valid`` cells; NaN
    where a row has fewer than 2 valid cells or a constant side.

    The sums of half-integer ranks are exact, so both forms are the same number in exact
    arithmetic; they round differently in the last bit. Default: centred,
    ``sum(dx dy) / sqrt(sum(dx^2) sum(dy^2))`` with ``d`` the deviation from the row mean.
    ``one_pass``: from raw sums, ``(n sum(xy) - sum(x) sum(y)) / sqrt((n sum(x^2) - sum(x)^2)
    (n sum(y^2) - sum(y)^2))``, the tear sheet's form.
    """
    valid = np.asarray(valid, dtype=bool)
    n = valid.sum(axis=1).astype("float64")
    x, y = np.where(valid, rx, 0.0), np.where(valid, ry, 0.0)
    sx, sy = x.sum(axis=1), y.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if one_pass:
            num = n * (x * y).sum(axis=1) - sx * sy
            den = np.sqrt((n * (x * x).sum(axis=1) - sx * sx) * (n * (y * y).sum(axis=1) - sy * sy))
        else:
            dx = np.where(valid, x - (sx / n)[:, None], 0.0)
            dy = np.where(valid, y - (sy / n)[:, None], 0.0)
            num = (dx * dy).sum(axis=1)
            den = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
        ic = num / den
    ic[(den == 0) | (n < 2)] = np.nan
    return ic


def rank_ic_rows(x, y, valid=None, *, one_pass: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rank correlation of ``x`` with ``y`` per row, and the number of cells it used.

    A cell takes part when it is in ``valid`` (default: everywhere) and neither value is NaN;
    both sides are ranked (average ranks) over those cells only. NaN where fewer than 2 cells or a
    constant side (the correlation is undefined, not zero). ``one_pass``: see
    ``rank_correlation_rows``.
    """
    a, b = _rows(x), _rows(y)
    if a.shape != b.shape:
        raise ValueError(f"x {a.shape} and y {b.shape} differ in shape")
    both = _valid(a, valid, None) & ~np.isnan(b)
    rx, ry = _ranks_and_sizes(a, both, None, True)[0], _ranks_and_sizes(b, both, None, True)[0]
    return rank_correlation_rows(rx, ry, both, one_pass=one_pass), both.sum(axis=1)
