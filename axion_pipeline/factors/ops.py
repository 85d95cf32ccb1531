"""Elementwise and cross-sectional operations shared by the factor formulas and their scoring.

Elementwise helpers (``safe_div``, ``inverse``, ``first_valid``, ``growth_ratio``,
``relative_change``) work on aligned DataFrames or Series and return NaN where a formula is
undefined. Cross-sectional operations (``percentile_rank``, ``winsorize``, ``zscore``,
``weighted_mean``, ``combine_subfactors``) act on one date at a time: a DataFrame is dates x
tickers and each row is one cross-section, so a value for date t never sees another date.

Percentile rank: ``(average_rank - 1) / (n - 1)`` among the n names of the date with a finite
value (0 worst, 1 best, 0.5 for a single name; +-inf counts as missing), computed by
``axion_pipeline.analytics.cross_section.percentile_rank_rows``; ``higher_is_better=False`` ranks
descending, so ``lower is better`` factors (P/E, volatility, leverage) score high when low.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import percentile_rank_rows

Frame = pd.DataFrame | pd.Series


# --------------------------------------------------------------------------- elementwise helpers
def _aligned(a, b) -> bool:
    return type(a) is type(b) and a.index.equals(b.index) and (isinstance(a, pd.Series) or a.columns.equals(b.columns))


def _like(template, values: np.ndarray):
    if isinstance(template, pd.DataFrame):
        return pd.DataFrame(values, index=template.index, columns=template.columns)
    return pd.Series(values, index=template.index, name=template.name)


def safe_div(num, den, positive_den: bool = False):
    """num / den, NaN where den is 0 or missing (or <= 0 when ``positive_den``), and where the
    result is infinite."""
    if not _aligned(num, den):
        num, den = num.align(den)
    n, d = num.to_numpy(dtype="float64"), den.to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        bad = d <= 0 if positive_den else d == 0
        out = n / np.where(bad, np.nan, d)
    out[np.isinf(out)] = np.nan
    return _like(num, out)


def inverse(x):
    """1 / x, NaN where x is 0 or missing (a precomputed multiple turned into a yield)."""
    return safe_div(_like(x, np.ones(x.shape)), x)


def first_valid(*frames):
    """Elementwise first non-missing value across same-shaped frames (precomputed column first,
    then the raw-field formula, then fallbacks)."""
    out = frames[0]
    for f in frames[1:]:
        if not _aligned(out, f):
            out = out.where(out.notna(), f)
            continue
        a, b = out.to_numpy(dtype="float64"), f.to_numpy(dtype="float64")
        out = _like(out, np.where(np.isnan(a), b, a))
    return out


def growth_ratio(now, before):
    """now / before - 1, NaN unless before > 0 (growth from a non-positive base is undefined)."""
    return safe_div(now, before, positive_den=True) - 1.0


def relative_change(now, before):
    """(now - before) / |before|, NaN where before is 0: growth of a quantity that can be negative."""
    return safe_div(now - before, before.abs())


# --------------------------------------------------------------------------- cross-sectional ops
def percentile_rank(values: Frame, higher_is_better: bool = True) -> Frame:
    """Cross-sectional percentile rank in [0, 1]: 1.0 = best, 0.0 = worst, 0.5 = single name.

    A DataFrame is ranked row by row (one cross-section per date); a Series as one cross-section.
    ``(average_rank - 1) / (n - 1)`` with n the non-missing names; NaN stays NaN (as does
    +-inf, treated as missing).
    """
    if isinstance(values, pd.Series):
        return percentile_rank(values.to_frame().T, higher_is_better).iloc[0].rename(values.name)
    pct = percentile_rank_rows(values.to_numpy(dtype="float64"), higher_is_better=higher_is_better, inf_as_missing=True)
    return pd.DataFrame(pct, index=values.index, columns=values.columns)


def winsorize(values: Frame, lower: float = 0.01, upper: float = 0.99) -> Frame:
    """Clip each cross-section to its [lower, upper] quantiles (linear interpolation); NaN kept."""
    if not 0.0 <= lower < upper <= 1.0:
        raise ValueError(f"need 0 <= lower < upper <= 1, got {lower}, {upper}")
    if isinstance(values, pd.Series):
        return values.clip(values.quantile(lower), values.quantile(upper))
    lo = values.quantile(lower, axis=1)
    hi = values.quantile(upper, axis=1)
    return values.clip(lo, hi, axis=0)


def zscore(values: Frame) -> Frame:
    """(x - mean) / std per cross-section (sample std, ddof=1); NaN kept. A cross-section with
    zero dispersion gets 0 (every value sits at the mean); with fewer than 2 values, NaN."""
    if isinstance(values, pd.Series):
        return zscore(values.to_frame().T).iloc[0].rename(values.name)
    mean = values.mean(axis=1)
    std = values.std(axis=1, ddof=1)
    z = values.sub(mean, axis=0).div(std.where(std > 0), axis=0)
    flat = (std == 0).to_numpy()
    if flat.any():
        z.loc[flat] = z.loc[flat].where(values.loc[flat].isna(), 0.0)
    return z


def weighted_mean(
    scores: Mapping[str, pd.DataFrame], weights: Mapping[str, float | np.ndarray] | None = None
) -> pd.DataFrame:
    """sum_k w_k s_k / sum_k w_k over the non-missing s_k of each cell (missing ones skipped);
    NaN where every s_k is missing. Summed in the order of ``scores``. A weight is a number, or
    an array with one weight per row (date) of the panels."""
    names = list(scores)
    if not names:
        raise ValueError("no scores to combine")
    first = scores[names[0]]
    num = np.zeros(first.shape)
    den = np.zeros(first.shape)
    for k in names:
        w = 1.0 if weights is None else np.asarray(weights[k], dtype="float64")
        if np.ndim(w) == 1:
            w = w[:, None]
        s = scores[k].to_numpy(dtype="float64")
        ok = ~np.isnan(s)
        num = num + np.where(ok, s * w, 0.0)
        den = den + np.where(ok, w, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / np.where(den > 0, den, np.nan)
    return pd.DataFrame(mean, index=first.index, columns=first.columns)


def combine_subfactors(
    scores: pd.DataFrame | Mapping[str, pd.DataFrame], weights: Mapping[str, float] | None = None
) -> Frame:
    """Category score: percentile rank of the weighted mean of the available sub-factor scores.

    ``scores`` is either tickers x sub-factors (one date; returns a Series over tickers) or a
    mapping name -> dates x tickers panel (returns a panel).
    """
    if isinstance(scores, pd.DataFrame):
        panels = {c: scores[[c]].T for c in scores.columns}
        return percentile_rank(weighted_mean(panels, weights)).iloc[0].rename(None)
    return percentile_rank(weighted_mean(scores, weights))
