"""Fitted feature selection: collinearity filter, cap, persistence, applied unchanged to test data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import FeatureConfig, FeatureEngineer
from axion_pipeline.ml.selection import FeatureSelection, fit_feature_selection, pairwise_correlation


def train_frame(n=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, c, g = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    f = g + rng.normal(scale=0.01, size=n)
    f[:40] = np.nan  # f: collinear with g but more often missing
    return pd.DataFrame(
        {
            "a": a,
            "b": a + rng.normal(scale=0.01, size=n),  # near-duplicate of a, listed later
            "c": c,
            "d": np.exp(4 * c),  # monotone in c: Spearman 1, Pearson well below 0.95
            "e": 1.0,  # constant
            "f": f,
            "g": g,
        }
    )


def test_collinear_and_constant_columns_are_dropped_by_the_documented_rule():
    train = train_frame()
    assert abs(np.corrcoef(train["c"], train["d"])[0, 1]) < 0.95
    eng = FeatureEngineer(FeatureConfig(collinearity_threshold=0.95)).fit_selection(train)
    assert eng.selected_features_ == ["a", "c", "g"]
    sel = eng.selection_
    assert sel.dropped_constant == ["e"]
    assert {k: v["kept"] for k, v in sel.dropped_collinear.items()} == {"b": "a", "d": "c", "f": "g"}
    assert all(v["correlation"] > 0.95 for v in sel.dropped_collinear.values())


def test_selection_is_applied_unchanged_to_test_data_where_columns_are_not_collinear():
    eng = FeatureEngineer(FeatureConfig(collinearity_threshold=0.95)).fit_selection(train_frame())
    rng = np.random.default_rng(9)
    test = pd.DataFrame(rng.normal(size=(50, 7)), columns=list("abcdefg"))  # nothing collinear now
    out = eng.transform_selection(test)
    assert list(out.columns) == ["a", "c", "g"] and eng.feature_names == ["a", "c", "g"]
    refit = FeatureEngineer(FeatureConfig(collinearity_threshold=0.95)).fit_selection(test.assign(e=1.0))
    assert "b" in refit.selected_features_  # a fit on test rows would differ: fitting there leaks
    with pytest.raises(ValueError, match="lack selected columns"):
        eng.transform_selection(test.drop(columns="g"))


def test_max_features_cap_keeps_least_missing_then_earliest():
    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(200, 5)), columns=["v", "w", "x", "y", "z"])
    train.loc[:9, "v"] = np.nan
    train.loc[:4, "x"] = np.nan
    sel = fit_feature_selection(train, max_features=3, collinearity_threshold=0.95)
    assert sel.selected == ["w", "y", "z"] and sel.dropped_cap == ["x", "v"]
    assert fit_feature_selection(train, 3, 0.95).to_dict() == sel.to_dict()  # deterministic


def test_selection_round_trips_through_json():
    eng = FeatureEngineer(FeatureConfig(max_features=2)).fit_selection(train_frame())
    stored = json.loads(json.dumps(eng.selection_to_dict()))
    loaded = FeatureEngineer().selection_from_dict(stored)
    assert loaded.selected_features_ == eng.selected_features_ == ["a", "c"]
    assert loaded.selection_ == eng.selection_
    with pytest.raises(ValueError, match="axion.feature_selection"):
        FeatureSelection.from_dict({"selected": ["a"]})
    with pytest.raises(RuntimeError, match="fit_selection"):
        FeatureEngineer().transform_selection(train_frame())
    with pytest.raises(ValueError, match="numeric"):
        FeatureEngineer().fit_selection(train_frame().assign(s="x"))


def test_selection_on_engineered_features_drops_duplicate_families():
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2024-01-01", periods=30)
    idx = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(20)]], names=["date", "symbol"])
    value = rng.normal(size=len(idx))
    raw = pd.DataFrame({"value": value, "momentum": value * 2 + 1, "quality": rng.normal(size=len(idx))}, index=idx)
    eng = FeatureEngineer(FeatureConfig(lag_periods=[1], rolling_windows=[3], include_sector_ranks=False))
    features = eng.create_features_panel(raw)
    train = features.loc[: dates[19]]
    eng.fit_selection(train)
    assert "value_rank" in eng.selected_features_ and "momentum_rank" not in eng.selected_features_
    assert eng.selection_.dropped_collinear["momentum_rank"]["kept"] == "value_rank"
    assert "month_of_year" in eng.selection_.dropped_constant  # one month of training data
    assert list(eng.transform_selection(features.loc[dates[20] :]).columns) == eng.selected_features_


def test_pairwise_correlation_matches_pandas_pairwise_complete():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6))
    x[:, 1] += x[:, 0]
    x[rng.random(x.shape) < 0.2] = np.nan
    np.testing.assert_allclose(pairwise_correlation(x), pd.DataFrame(x).corr().to_numpy(), atol=1e-12)
