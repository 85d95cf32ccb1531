"""The walk-forward table: per-fold and overall IC statistics with Newey-West and block-bootstrap
errors for overlapping labels, checked against plain reference code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.analytics.signal_evaluation import block_bootstrap_ci
from axion_pipeline.ml.evaluation import walk_forward_table

H = 5


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """Two folds of 60 dates x 30 tickers; the score carries a little of the forward return, and
    the forward returns overlap (an H-day sum of daily shocks), as the ranking model's labels do."""
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2022-01-03", periods=120 + H)
    daily = rng.normal(size=(len(dates), 30))
    fwd = np.lib.stride_tricks.sliding_window_view(daily, H, axis=0).sum(axis=2)[:120]
    score = 0.15 * fwd + rng.normal(size=fwd.shape)
    frame = pd.DataFrame(
        {
            "date": np.repeat(dates[:120], 30),
            "ticker": np.tile([f"T{i:02d}" for i in range(30)], 120),
            "score": score.ravel(),
            "fwd_return": fwd.ravel(),
            "label": 3.0,
            "predicted_quintile": 3,
        }
    )
    frame["fold"] = np.where(frame["date"] < dates[60], "fold_0", "fold_1")
    frame["expected_return"] = frame["fwd_return"]  # a perfect oracle
    return frame


def _hac_tstat(x: np.ndarray, lags: int) -> float:
    sm = pytest.importorskip("statsmodels.api")
    fit = sm.OLS(x, np.ones(len(x))).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    return float(fit.tvalues[0])


def test_walk_forward_table_has_newey_west_and_bootstrap_statistics(predictions):
    alpha = predictions[["date", "ticker", "expected_return"]]
    table, ic = walk_forward_table(predictions.drop(columns="expected_return"), alpha, horizon=H)
    assert list(table["fold"]) == ["fold_0", "fold_1", "all"]
    for fold, row in table.set_index("fold").iterrows():
        rows = predictions if fold == "all" else predictions[predictions["fold"] == fold]
        per_date = np.array([stats.spearmanr(g["score"], g["fwd_return"]).statistic for _, g in rows.groupby("date")])
        t = _hac_tstat(per_date, H - 1)
        assert row["ic_mean"] == pytest.approx(per_date.mean())
        assert row["ic_tstat_nw"] == pytest.approx(t)
        assert row["ic_pvalue_nw"] == pytest.approx(2 * stats.t.sf(abs(t), len(per_date) - 1))
        # overlapping labels: the i.i.d. t-statistic would be larger
        assert abs(stats.ttest_1samp(per_date, 0.0).statistic) > abs(row["ic_tstat_nw"])
        low, high = block_bootstrap_ci(per_date, H)
        assert (row["ic_ci_low"], row["ic_ci_high"]) == pytest.approx((low, high))
        assert low < row["ic_mean"] < high
        assert row["oracle_ic_mean"] == pytest.approx(1.0)
        assert row["model_oracle_ratio"] == pytest.approx(row["ic_mean"])
    assert len(ic) == 120 and ic.index.is_monotonic_increasing


def test_too_few_dates_for_the_bootstrap_give_nan_not_none(predictions):
    short = predictions[predictions["date"] < predictions["date"].unique()[2 * H - 1]]  # 9 dates < two blocks
    table, _ = walk_forward_table(short, None, horizon=H)
    assert table["ic_ci_low"].dtype == "float64" and table["ic_ci_low"].isna().all()
    assert np.isfinite(table["ic_tstat_nw"]).all()
