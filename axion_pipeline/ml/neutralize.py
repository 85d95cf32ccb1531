"""Neutral training labels: forward returns with the date's beta, volatility and sector effects removed.

Why: a ranking model trained on raw forward returns learns whatever paid in its training window,
and on real data that is mostly a volatility or beta bet whose premium flips sign between regimes.
Regressing each date's forward returns on the cross-sectional ranks of the chosen exposures (e.g.
``beta_rank``, ``realized_vol_rank``) and on sector dummies, and labelling the residuals, asks the
model for what those exposures do not explain. The model is still scored against the raw forward
returns (what a user earns).

Look-ahead: the exposures are feature columns of the same date (known at t); the regression is
fitted per date on that date's rows only, so nothing crosses dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import percentile_rank_rows


def residualize_by_date(
    values: np.ndarray,
    dates: np.ndarray,
    exposures: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    min_rows: int = 10,
) -> np.ndarray:
    """Per date, the OLS residual of ``values`` on an intercept, the centred percentile ranks of
    each ``exposures`` column (missing = median) and dummies of ``groups``. Rows with a missing
    value stay NaN; a date with fewer than ``min_rows`` values (or more regressors than rows)
    gets its values demeaned only."""
    values = np.asarray(values, dtype="float64")
    out = np.full(len(values), np.nan)
    codes = pd.factorize(pd.Series(groups, dtype=object).fillna("__missing__"))[0] if groups is not None else None
    for rows in pd.Series(np.arange(len(values))).groupby(np.asarray(dates)).indices.values():
        y = values[rows]
        ok = ~np.isnan(y)
        if not ok.any():
            continue
        idx = rows[ok]
        columns = [np.ones(len(idx))]
        if exposures is not None:
            ranks = percentile_rank_rows(np.asarray(exposures, dtype="float64")[idx].T)
            columns += [np.nan_to_num(r - 0.5) for r in ranks]
        if codes is not None:
            present = np.unique(codes[idx])
            columns += [(codes[idx] == c).astype(float) for c in present[1:]]
        Z = np.column_stack(columns)
        if len(idx) < max(min_rows, Z.shape[1] + 1):
            out[idx] = y[ok] - y[ok].mean()
            continue
        coef, *_ = np.linalg.lstsq(Z, y[ok], rcond=None)
        out[idx] = y[ok] - Z @ coef
    return out


def quantile_labels_by_date(
    values: np.ndarray, dates: np.ndarray, tickers: np.ndarray, num_quantiles: int
) -> np.ndarray:
    """Labels 1..q per date, as ``axion_pipeline.ml.targets.quintile_labels`` cuts them: ranks with
    ties broken by ticker, ``floor(q (rank - 1) / n) + 1``; NaN values, and dates with fewer than
    q values, get NaN."""
    frame = pd.DataFrame({"d": np.asarray(dates), "t": np.asarray(tickers, dtype=object), "v": values})
    frame = frame.sort_values(["d", "t"])
    ranks = frame.groupby("d")["v"].rank(method="first")
    n = frame.groupby("d")["v"].transform("count").astype("float64")
    q = float(num_quantiles)
    label = np.floor_divide(q * (ranks - 1.0), n) + 1.0
    label = label.where(ranks.notna() & (n >= q))
    return label.sort_index().to_numpy()
