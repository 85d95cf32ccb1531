"""The spec's "Integration with factor engine" example, run as written: the factor engine's one
cross-section (one row per ticker) feeds the feature engineer, the ranking model and the hybrid
scorer, which align it on the ticker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factor_engine import FactorEngineV2
from axion_pipeline.ml import FeatureEngineer, HybridScorer, StockRankingModel
from axion_pipeline_tests.factors.synthetic import synthetic_market
from axion_pipeline_tests.spec_examples import BLOCKS

# The spec's integration example (``spec_examples``).
SPEC_INTEGRATION = BLOCKS["INTEGRATION"]


@pytest.fixture(scope="module")
def namespace():
    market = synthetic_market(n_tickers=60, n_days=420, seed=3)
    close = market["close"]
    as_of = close.index[-30]  # 21-day forward returns after it are known
    engineer = FeatureEngineer()
    target = engineer.create_target(close.pct_change(), target_date=as_of, forward_days=21)
    ns = {
        "FactorEngineV2": FactorEngineV2,
        "StockRankingModel": StockRankingModel,
        "prices": close.loc[:as_of],
        "fundamentals": market["fundamentals"],
        "engineer": engineer,
        "target": target,
        "scorer": HybridScorer(),
    }
    exec(SPEC_INTEGRATION, ns)
    return ns, as_of


def test_integration_example_runs_as_written(namespace):
    ns, as_of = namespace
    scores, features, model, hybrid = ns["scores"], ns["features"], ns["model"], ns["hybrid"]
    assert scores.attrs["as_of_date"] == as_of
    # step 2: one row per ticker, dated by the engine's as_of date
    assert features.index.equals(scores.index)
    assert (features["month_of_year"] == as_of.month).all() and "composite_rank" in features.columns
    assert features["composite_rank"].corr(scores["composite"], method="spearman") == pytest.approx(1.0)
    # step 4: aligned on the ticker, both scores as given
    assert model.is_fitted and hybrid.index.equals(scores.index)
    pd.testing.assert_series_equal(hybrid["rule_score"], scores["composite"], check_names=False)
    ml = model.predict_rank(features)
    pd.testing.assert_series_equal(hybrid["ml_score"], ml, check_names=False)
    assert hybrid["hybrid_score"].between(0, 1).all()
    # the default model on 60 rows (min_child_samples=300) cannot split: it never predicts Q5, and
    # says so with a precision of 0 over 0 rows, not NaN
    metrics, predicted = model.metadata.metrics, model.predict(features)["predicted_quintile"]
    assert (predicted != 5).all() and metrics["n_predicted_top"] == 0
    assert metrics["top_quintile_accuracy"] == 0.0


def test_cross_section_needs_a_date_and_a_matching_one(namespace):
    ns, as_of = namespace
    undated = ns["scores"].copy()
    undated.attrs = {}
    with pytest.raises(ValueError, match="without a date"):
        FeatureEngineer().create_features(undated)
    dated = FeatureEngineer().create_features(undated, target_date=as_of)
    pd.testing.assert_frame_equal(dated, ns["features"])
    with pytest.raises(ValueError, match="differs from the cross-section's as_of_date"):
        FeatureEngineer().create_features(ns["scores"], target_date=as_of - pd.Timedelta(days=1))


def test_hybrid_aligns_one_dated_cross_section_on_the_ticker():
    tickers = ["A", "B", "C"]
    rule = pd.Series([0.0, 0.5, 1.0], index=pd.Index(tickers, name="ticker"))
    dated = pd.MultiIndex.from_product([[pd.Timestamp("2026-01-15")], tickers], names=["date", "symbol"])
    ml = pd.Series([1.0, 0.5, 0.0], index=dated)
    out = HybridScorer().compute_hybrid_scores(rule_scores=rule, ml_scores=ml)
    assert list(out.index) == tickers and np.allclose(out["ml_score"], [1.0, 0.5, 0.0])
    two_dates = pd.MultiIndex.from_product([pd.to_datetime(["2026-01-14", "2026-01-15"]), tickers])
    with pytest.raises(ValueError, match="spans 2 dates"):
        HybridScorer().compute_hybrid_scores(rule_scores=rule, ml_scores=pd.Series(0.5, index=two_dates))
