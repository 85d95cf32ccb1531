"""FactorTimingModel: strictly forward targets, OOS metrics, bounded softmax weights."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.ml import FactorTimingConfig, FactorTimingModel
from axion_pipeline.ml.factor_timing import bounded_softmax, forward_sums

FACTORS = ["value", "momentum", "quality", "growth", "volatility", "technical"]


def synthetic_macro(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A persistent macro signal m1 drives value's next-day return; every other factor is noise."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2012-01-02", periods=n)
    m1 = 3.0 * pd.Series(rng.normal(size=n)).rolling(30, min_periods=1).mean().to_numpy()
    X = pd.DataFrame({"m1": m1, "m2": rng.normal(size=n), "m3": rng.normal(size=n)}, index=dates)
    X.iloc[::25, 2] = np.nan
    R = pd.DataFrame(rng.normal(scale=0.005, size=(n, len(FACTORS))), index=dates, columns=FACTORS)
    R["value"] += 0.002 * np.r_[0.0, m1[:-1]]  # the return on day t+1 responds to m1 at t
    return X, R


@pytest.fixture(scope="module")
def trained():
    X, R = synthetic_macro()
    model = FactorTimingModel(FactorTimingConfig(factors=FACTORS))
    return model, model.train(X, R), X, R


def test_forward_sums_hand_checked():
    dates = pd.bdate_range("2021-01-04", periods=8)
    r = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6, 7, 8], "b": [1.0, 1, np.nan, 1, 1, 1, 1, 1]}, index=dates)
    out = forward_sums(r, dates, 3)
    assert out["a"].tolist()[:5] == [2 + 3 + 4, 3 + 4 + 5, 4 + 5 + 6, 5 + 6 + 7, 6 + 7 + 8]  # t+1..t+3
    assert out["a"].iloc[5:].isna().all()  # incomplete windows
    assert out["b"].iloc[:2].isna().all() and out["b"].iloc[2] == 3.0  # a NaN inside the window
    weekend = forward_sums(r, pd.DatetimeIndex(["2021-01-09"]), 2)  # a Saturday: starts Monday 11th
    assert weekend["a"].iloc[0] == 6 + 7


def test_changing_returns_outside_the_window_changes_nothing():
    X, R = synthetic_macro(n=300)
    base = forward_sums(R, X.index, 21)
    t = 100
    R2 = R.copy()
    R2.iloc[: t + 1] = 9.0  # returns up to and including t
    R2.iloc[t + 22 :] = -9.0  # returns after t + 21
    pd.testing.assert_series_equal(forward_sums(R2, X.index, 21).iloc[t], base.iloc[t])


def test_metrics(trained):
    model, metrics, X, _ = trained
    assert metrics["forward_days"] == 21
    for f in FACTORS:
        assert {f"{f}_r2_oos", f"{f}_hit_rate", f"{f}_ic", f"{f}_n_train", f"{f}_n_holdout"} <= set(metrics)
        assert metrics[f"{f}_n_dropped"] == 21  # the last 21 dates have no complete window
        assert metrics[f"{f}_n_train"] + metrics[f"{f}_n_holdout"] + 21 == len(X) - 21  # purge gap of 21
    assert metrics["value_r2_oos"] > 0.05 and metrics["value_ic"] > 0.1 and metrics["value_hit_rate"] > 0.55
    assert metrics["value_ic"] > max(metrics[f"{f}_ic"] or -1 for f in FACTORS[1:])
    assert model.metadata.feature_names == ["m1", "m2", "m3"]


def test_weights_sum_to_one_within_bounds_and_tilt_to_the_predictable_factor(trained):
    model, _, X, _ = trained
    cfg = model.config
    high, low = X.iloc[[-1]].copy(), X.iloc[[-1]].copy()
    high["m1"], low["m1"] = X["m1"].quantile(0.95), X["m1"].quantile(0.05)
    for frame in (high, low, X):
        w = model.get_factor_weights(frame)
        assert list(w) == FACTORS
        assert sum(w.values()) == pytest.approx(1.0, abs=1e-12)
        assert all(cfg.min_weight - 1e-12 <= v <= cfg.max_weight + 1e-12 for v in w.values())
    w_high, w_low = model.get_factor_weights(high), model.get_factor_weights(low)
    assert w_high["value"] == max(w_high.values()) and w_high["value"] > 1 / 6
    assert w_low["value"] == min(w_low.values()) and w_low["value"] < 1 / 6
    assert model.get_factor_weights(high.iloc[0]) == w_high  # a Series works too
    assert model.get_factor_weights(X) == model.get_factor_weights(X.iloc[[-1]])  # last row used


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(-50, 50), min_size=1, max_size=12),
    strength=st.floats(0, 20),
    low_share=st.floats(0, 1),
    high_share=st.floats(0, 1),
)
def test_bounded_softmax_property(scores, strength, low_share, high_share):
    n = len(scores)
    low = low_share / n  # n * low <= 1
    high = 1 / n + high_share * (1 - 1 / n)  # n * high >= 1
    w = bounded_softmax(np.array(scores), strength, low, high)
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(w >= low - 1e-9) and np.all(w <= high + 1e-9)
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-9)  # a higher forecast never gets less weight


def test_bounded_softmax_hand_checked():
    np.testing.assert_allclose(bounded_softmax(np.zeros(4), 1.0, 0.05, 0.4), 0.25)
    # One dominant factor hits the cap; the rest share 0.6 equally.
    np.testing.assert_allclose(bounded_softmax(np.array([30.0, 0, 0, 0]), 1.0, 0.05, 0.4), [0.4, 0.2, 0.2, 0.2])
    # Without bounds it is the plain softmax.
    s = np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(bounded_softmax(s, 2.0, 0.0, 1.0), np.exp(2 * s) / np.exp(2 * s).sum())
    with pytest.raises(ValueError, match="cannot hold"):
        bounded_softmax(np.zeros(2), 1.0, 0.05, 0.40)


def test_save_load_identical(trained, tmp_path):
    model, _, X, _ = trained
    model.save(tmp_path / "ft")
    assert sorted(p.name for p in (tmp_path / "ft").iterdir()) == ["factor_timing.json", "metadata.json"]
    json.loads((tmp_path / "ft" / "factor_timing.json").read_text())
    loaded = FactorTimingModel.load(tmp_path / "ft")
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_factor_weights(X) == model.get_factor_weights(X)


def test_train_validates_inputs():
    X, R = synthetic_macro(n=200)
    with pytest.raises(ValueError, match="lacks the configured factors"):
        FactorTimingModel().train(X, R.drop(columns=["growth"]))
    with pytest.raises(TypeError, match="indexed by date"):
        FactorTimingModel().train(X.reset_index(drop=True), R)


def test_spec_example_runs_as_written():
    X_macro, factor_returns_df = synthetic_macro(n=600, seed=5)
    X_current_macro = X_macro.iloc[[-1]]
    # --- spec section 4, "Factor timing model", src. -> axion_pipeline. ---
    from axion_pipeline.ml import FactorTimingConfig, FactorTimingModel

    model = FactorTimingModel(
        config=FactorTimingConfig(
            factors=["value", "momentum", "quality", "growth", "volatility", "technical"],
        )
    )
    metrics = model.train(X_macro, factor_returns_df)
    weights = model.get_factor_weights(X_current_macro)
    # {"value": 0.22, "momentum": 0.18, "quality": 0.20, ...}
    # --- end of spec example ---
    assert "value_r2_oos" in metrics
    assert set(weights) == set(FACTORS) and sum(weights.values()) == pytest.approx(1.0)


def _window(dates: pd.DatetimeIndex):
    from axion_pipeline.ml.datasets import TrainWindow

    return TrainWindow("fold_0", dates[0], dates[799], None, dates[799], dates[821], dates[880])


def test_factors_without_a_history_are_left_out_and_the_rest_are_timed():
    """No fundamentals file: value, quality and growth have no scores, hence no returns. The timing
    model is still trained on momentum, volatility and technical, and says what it left out."""
    from axion_pipeline.ml.training import train_factor_timing

    X, R = synthetic_macro(n=900)
    R[["value", "quality", "growth"]] = np.nan
    regime_features = X.rename_axis("date").reset_index()
    run = train_factor_timing(regime_features, R, _window(X.index), FactorTimingConfig(factors=FACTORS))
    kept = ["momentum", "volatility", "technical"]
    assert run.model.factors == kept and sorted(run.predictions["factor"].unique()) == sorted(kept)
    assert run.info["factors_left_out"].startswith("value (0 dates with a complete window, need 30)")
    weights = run.predictions.groupby("date")["weight"].sum()
    np.testing.assert_allclose(weights.to_numpy(), 1.0)


def test_too_few_factors_with_a_history_cannot_be_weighted_within_bounds():
    from axion_pipeline.ml.base import InsufficientDataError
    from axion_pipeline.ml.training import train_factor_timing

    X, R = synthetic_macro(n=900)
    R[["value", "quality", "growth", "technical"]] = np.nan  # 2 factors x max_weight 0.4 < 1
    with pytest.raises(InsufficientDataError, match="2 factors with a history cannot hold weights in"):
        train_factor_timing(X.rename_axis("date").reset_index(), R, _window(X.index), FactorTimingConfig(FACTORS))
