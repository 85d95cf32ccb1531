"""Cross-sectional evaluation of ranking scores: per-date rank IC, ICIR, hit rate, quantile spread.

Every statistic is computed per date first (one cross-section at a time) and then summarised over
dates, so a date with many symbols does not outweigh a date with few and no comparison crosses
dates. Look-ahead cannot enter here: these functions only compare scores with outcomes that the
caller aligned to the same (date, symbol) rows. With overlapping forward returns (a 21-day label
on every trading day) consecutive per-date ICs are autocorrelated; the plain t-test then overstates
significance, so ``ic_summary`` offers a Newey-West standard error (``newey_west_lags``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from axion_pipeline.analytics.cross_section import group_columns, percentile_rank_rows, rank_ic_rows

DATE_LEVEL = "date"


def date_labels(index: pd.Index) -> np.ndarray | None:
    """The date of every row: the ``date`` level of a MultiIndex, a DatetimeIndex itself, else None."""
    if isinstance(index, pd.MultiIndex):
        if DATE_LEVEL in index.names:
            return np.asarray(index.get_level_values(DATE_LEVEL))
        return None
    if isinstance(index, pd.DatetimeIndex) or index.name == DATE_LEVEL:
        return np.asarray(index)
    return None


def align_to_index(values: Any, index: pd.Index, name: str) -> np.ndarray:
    """Values of ``values`` for the rows of ``index``: by label when it is an indexed pandas object
    covering ``index``, else positionally when the lengths match."""
    if isinstance(values, (pd.Series, pd.DataFrame)):
        if isinstance(values, pd.DataFrame):
            if values.shape[1] != 1:
                raise ValueError(f"{name} must be one column, got {values.shape[1]}")
            values = values.iloc[:, 0]
        if values.index.equals(index):
            return values.to_numpy(dtype=float)
        if index.is_unique and values.index.is_unique and index.isin(values.index).all():
            return values.reindex(index).to_numpy(dtype=float)
    arr = np.asarray(values, dtype=float).reshape(-1)
    if len(arr) != len(index):
        raise ValueError(f"{name} has {len(arr)} values for {len(index)} rows and does not share their index")
    return arr


def per_date_ic(scores, outcomes, dates=None, min_obs: int = 3) -> pd.Series:
    """Spearman rank correlation of ``scores`` with ``outcomes`` within each date.

    ``dates`` gives the date of each row (None: one cross-section, returned under key ``"all"``).
    Rows where either value is NaN are dropped; dates with fewer than ``min_obs`` valid rows or a
    constant score/outcome are omitted (their IC is undefined, not zero).
    """
    s = np.asarray(scores, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    if s.shape != o.shape:
        raise ValueError(f"scores {s.shape} and outcomes {o.shape} differ in shape")
    d = np.full(len(s), "all", dtype=object) if dates is None else np.asarray(dates)
    if len(d) != len(s):
        raise ValueError(f"{len(d)} dates for {len(s)} scores")
    frame = pd.DataFrame({"date": d, "s": s, "o": o}).dropna()
    if frame.empty:
        return pd.Series(dtype=float, name="ic")
    codes, labels = pd.factorize(frame["date"], sort=True)
    columns, width = group_columns(codes, len(labels))
    wide_s, wide_o = np.full((len(labels), width), np.nan), np.full((len(labels), width), np.nan)
    wide_s[codes, columns], wide_o[codes, columns] = frame["s"].to_numpy(), frame["o"].to_numpy()
    ic, n = rank_ic_rows(wide_s, wide_o)
    keep = (n >= min_obs) & ~np.isnan(ic)
    return pd.Series(ic[keep], index=labels[keep].rename(DATE_LEVEL), name="ic")


def newey_west_se(values: np.ndarray, lags: int) -> float:
    """Newey-West (Bartlett kernel) standard error of the mean of ``values``."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    e = x - x.mean()
    var = e @ e / n
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1.0 - lag / (lags + 1.0)
        var += 2.0 * weight * (e[lag:] @ e[:-lag]) / n
    return float(np.sqrt(max(var, 0.0) / n))


def ic_summary(ic: pd.Series, newey_west_lags: int = 0) -> dict[str, float]:
    """Summary of a per-date IC series.

    ``ic_mean``, ``ic_std`` (sample std over dates), ``icir`` = mean/std (per date, not annualised),
    ``hit_rate`` = share of dates with IC > 0, ``ic_tstat`` = mean / SE and two-sided ``ic_pvalue``
    (Student t with n-1 df). SE is std/sqrt(n), or Newey-West with ``newey_west_lags`` lags when
    > 0 (use horizon - 1 for overlapping labels). Fewer than 2 dates give NaN statistics.
    """
    values = np.asarray(pd.Series(ic).dropna(), dtype=float)
    n = len(values)
    out = {
        "ic_mean": np.nan,
        "ic_std": np.nan,
        "icir": np.nan,
        "hit_rate": np.nan,
        "ic_tstat": np.nan,
        "ic_pvalue": np.nan,
        "n_dates": float(n),
    }
    if n == 0:
        return out
    out["ic_mean"] = float(values.mean())
    out["hit_rate"] = float((values > 0).mean())
    if n < 2:
        return out
    std = float(values.std(ddof=1))
    out["ic_std"] = std
    if std > 0:
        out["icir"] = out["ic_mean"] / std
        se = newey_west_se(values, newey_west_lags) if newey_west_lags > 0 else std / np.sqrt(n)
        if se > 0:
            t = out["ic_mean"] / se
            out["ic_tstat"] = float(t)
            out["ic_pvalue"] = float(2.0 * stats.t.sf(abs(t), df=n - 1))
    return out


def single_cross_section_pvalue(scores, outcomes) -> float:
    """p-value of one Spearman correlation (used when there is no date level); NaN with fewer than
    three pairs or a constant side (e.g. a model that could not split), where it is undefined."""
    s = pd.Series(np.asarray(scores, dtype=float))
    o = pd.Series(np.asarray(outcomes, dtype=float))
    mask = s.notna() & o.notna()
    if mask.sum() < 3 or s[mask].nunique() < 2 or o[mask].nunique() < 2:
        return float("nan")
    return float(stats.spearmanr(s[mask], o[mask]).pvalue)


def quantile_spread(scores, outcomes, dates=None, num_quantiles: int = 5) -> pd.Series:
    """Per date: mean outcome of the top score quantile minus that of the bottom quantile.

    Quantiles are cut on the within-date percentile rank of the score (ties in row order), so
    every date contributes its own top and bottom buckets; dates with fewer rows than
    ``num_quantiles``, or with the same score on every row (no ranking to cut), are omitted.
    """
    s = np.asarray(scores, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    d = np.full(len(s), "all", dtype=object) if dates is None else np.asarray(dates)
    frame = pd.DataFrame({"date": d, "s": s, "o": o}).dropna()
    if frame.empty:
        return pd.Series(dtype=float, name="spread")
    by_date = frame.groupby("date")["s"]
    frame = frame[(by_date.transform("size") >= num_quantiles) & (by_date.transform("nunique") > 1)]
    pct = frame.groupby("date")["s"].rank(method="first", pct=True)
    bucket = np.ceil(pct * num_quantiles).clip(1, num_quantiles).astype(int)
    top = frame["o"].where(bucket == num_quantiles).groupby(frame["date"]).mean()
    bottom = frame["o"].where(bucket == 1).groupby(frame["date"]).mean()
    spread = (top - bottom).dropna()
    spread.index.name = DATE_LEVEL
    return spread.rename("spread")


def classification_metrics(y_true, y_pred, num_classes: int) -> dict[str, float]:
    """Accuracy plus precision of the top and bottom classes.

    ``top_quintile_accuracy`` is the *precision* of class K: of the rows predicted in the top
    quintile, the share truly in it (what a long book cares about); ``bottom_quintile_accuracy``
    is the same for class 1 (the short book). A class never predicted has precision 0 (the model
    picked none of its members: an empty book, not an unknown), and ``n_predicted_top`` /
    ``n_predicted_bottom`` give how many rows each precision is over (0 there). NaN only without rows.
    """
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    mask = ~np.isnan(t) & ~np.isnan(p)
    t, p = t[mask], p[mask]

    def precision(cls: int) -> float:
        chosen = p == cls
        if not len(t):
            return float("nan")
        return float((t[chosen] == cls).mean()) if chosen.any() else 0.0

    return {
        "accuracy": float((t == p).mean()) if len(t) else float("nan"),
        "top_quintile_accuracy": precision(num_classes),
        "bottom_quintile_accuracy": precision(1),
        "n_predicted_top": int((p == num_classes).sum()),
        "n_predicted_bottom": int((p == 1).sum()),
    }


def percentile_rank_by_date(values, dates=None) -> np.ndarray:
    """Within-date percentile rank in [0, 1]: (rank - 1) / (n - 1), 0 worst, 1 best.

    Ties share their average rank; a date with a single row gets 0.5; NaN stays NaN (+-inf are
    ranked as the extremes), as does a row without a date.
    """
    v = np.asarray(values, dtype=float).reshape(1, -1)
    groups = None if dates is None else pd.factorize(pd.Series(np.asarray(dates)), sort=True)[0].reshape(1, -1)
    return percentile_rank_rows(v, groups)[0]


def blend_with_signal(model_score, signal, dates, weight: float) -> np.ndarray:
    """The ranking score averaged with a signal within each date: (1 - weight) x the model score's
    percentile + weight x the signal's percentile, the model's percentile alone where the signal is
    missing. ``weight`` 0 or no ``signal``: ``model_score`` unchanged (the raw model score)."""
    model_score = np.asarray(model_score, dtype=float)
    if signal is None or weight == 0:
        return model_score
    model_pct = percentile_rank_by_date(model_score, dates)
    signal_pct = percentile_rank_by_date(np.asarray(signal, dtype=float), dates)
    return np.where(np.isfinite(signal_pct), (1.0 - weight) * model_pct + weight * signal_pct, model_pct)
