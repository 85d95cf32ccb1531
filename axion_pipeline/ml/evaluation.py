"""Out-of-sample scores of trained models: per-window metrics and the walk-forward table.

Every figure here is computed on a model's test dates only. Labels are ``horizon``-day forward
returns, so consecutive dates' ICs overlap: the t-statistic and p-value of the mean IC use a
Newey-West error with ``horizon - 1`` lags, and its 95% interval comes from a circular block
bootstrap with blocks of ``horizon`` dates (``axion_pipeline.analytics.signal_evaluation``; NaN
when there are fewer than two blocks of dates).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.analytics.signal_evaluation import block_bootstrap_ci
from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.config import FORWARD_DAYS
from axion_pipeline.ml.jsonable import jsonable


def ranking_metrics(predictions: pd.DataFrame, horizon: int = FORWARD_DAYS) -> dict[str, Any]:
    """IC of the score with the forward return per date (mean, std, ICIR, hit rate, Newey-West
    t-statistic and p-value with horizon - 1 lags, block-bootstrap 95% interval of the mean),
    top-minus-bottom quintile spread and quintile accuracy."""
    known = predictions.dropna(subset=["fwd_return"])
    ic = M.per_date_ic(known["score"], known["fwd_return"], known["date"])  # in date order
    summary = M.ic_summary(ic, newey_west_lags=max(horizon - 1, 0))
    ci_low, ci_high = block_bootstrap_ci(ic.to_numpy(), block_length=max(horizon, 1))
    spread = M.quantile_spread(known["score"], known["fwd_return"], known["date"], 5)
    labelled = predictions.dropna(subset=["label"])
    return jsonable(
        {
            "ic_mean": summary["ic_mean"],
            "ic_std": summary["ic_std"],
            "icir": summary["icir"],
            "hit_rate": summary["hit_rate"],
            "ic_tstat_nw": summary["ic_tstat"],
            "ic_pvalue_nw": summary["ic_pvalue"],
            "ic_ci_low": ci_low,
            "ic_ci_high": ci_high,
            "n_ic_dates": int(summary["n_dates"]),
            "spread_mean": float(spread.mean()) if len(spread) else None,
            "accuracy": float((labelled["predicted_quintile"] == labelled["label"]).mean()) if len(labelled) else None,
            "n_rows": len(predictions),
            "n_dates": int(predictions["date"].nunique()),
        }
    )


def walk_forward_table(
    predictions: pd.DataFrame, true_alpha: pd.DataFrame | None = None, horizon: int = FORWARD_DAYS
) -> tuple[pd.DataFrame, pd.Series]:
    """Per fold and over all folds ("all"): ranking IC statistics (``ranking_metrics``: mean, ICIR,
    hit rate, Newey-West t and p, block-bootstrap interval), spread, accuracy and, when the planted
    ``true_alpha`` is given, the oracle IC (expected_return vs fwd_return on the same rows) and the
    model / oracle ratio. Returns the table and the model's IC per date."""
    preds = predictions.copy()
    preds["date"] = pd.to_datetime(preds["date"])
    oracle = None
    if true_alpha is not None and len(true_alpha):
        alpha = true_alpha[["date", "ticker", "expected_return"]].assign(date=lambda f: pd.to_datetime(f["date"]))
        preds = preds.merge(alpha, on=["date", "ticker"], how="left")
        oracle = True
    rows = []
    groups = [(key, g) for key, g in preds.groupby("fold", sort=True)] + [("all", preds)]
    for key, g in groups:
        row = {"fold": key, "test_start": g["date"].min(), "test_end": g["date"].max(), **ranking_metrics(g, horizon)}
        if oracle:
            known = g.dropna(subset=["fwd_return", "expected_return"])
            oic = M.per_date_ic(known["expected_return"], known["fwd_return"], known["date"])
            row["oracle_ic_mean"] = float(oic.mean()) if len(oic) else None
            ratio_ok = row["oracle_ic_mean"] not in (None, 0.0) and row["ic_mean"] is not None
            row["model_oracle_ratio"] = row["ic_mean"] / row["oracle_ic_mean"] if ratio_ok else None
        rows.append(row)
    known = preds.dropna(subset=["fwd_return"])
    ic = M.per_date_ic(known["score"], known["fwd_return"], known["date"])
    table = pd.DataFrame(rows)
    for column in table.columns.drop("fold"):  # a statistic undefined in every row (None) stays a float column
        if table[column].dtype == object:
            table[column] = pd.to_numeric(table[column]).astype("float64")
    return table, ic


def timing_metrics(predictions: pd.DataFrame) -> dict[str, Any]:
    """Per factor: Spearman IC of predicted vs realised return over the dates (overlapping windows:
    few independent observations); ``cross_factor_ic``: mean over dates of the rank correlation
    across factors; ``sign_hit_rate``."""
    known = predictions.dropna(subset=["realized_return"])
    out: dict[str, Any] = {
        "n_dates": int(predictions["date"].nunique()),
        "n_dates_realized": int(known["date"].nunique()),
    }
    per_factor = {
        f: M.per_date_ic(g["predicted_return"], g["realized_return"], None) for f, g in known.groupby("factor")
    }
    ics = {f: float(ic.iloc[0]) if len(ic) else np.nan for f, ic in per_factor.items()}
    out.update({f"{f}_ic": v for f, v in ics.items()})
    out["timing_ic_mean"] = float(np.nanmean(list(ics.values()))) if any(np.isfinite(list(ics.values()))) else None
    cross = M.per_date_ic(known["predicted_return"], known["realized_return"], known["date"])
    out["cross_factor_ic"] = float(cross.mean()) if len(cross) else None
    out["sign_hit_rate"] = (
        float((np.sign(known["predicted_return"]) == np.sign(known["realized_return"])).mean()) if len(known) else None
    )
    return jsonable(out)


def agreement(predicted: pd.Series, reference: pd.Series) -> float | None:
    """Share of dates where both are known and equal (None when none is known in both)."""
    both = predicted.notna() & reference.notna()
    return float((predicted[both] == reference[both]).mean()) if both.any() else None
