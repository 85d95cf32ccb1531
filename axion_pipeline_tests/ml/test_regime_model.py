"""RegimeClassifier on synthetic markets with four planted, partly overlapping regimes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import ModelLoadError, RegimeClassifier, RegimeModelConfig, RegimePrediction
from axion_pipeline.ml.regime import trailing_run_length

REGIMES = ["bull", "bear", "sideways", "crisis"]
CENTRES = {  # sp500 20d return, vix level, credit spread (standardised units)
    "bull": [1.0, -0.6, -0.3],
    "bear": [-1.0, 0.6, 0.5],
    "sideways": [0.0, -0.9, -0.6],
    "crisis": [-2.0, 2.0, 1.8],
}
COLUMNS = ["sp500_return_20d", "vix_level", "credit_spread_hy_ig"]


def synthetic_market(n: int = 900, seed: int = 0, noise: float = 0.45) -> tuple[pd.DataFrame, pd.Series]:
    """Regime spells of 15-60 days; features = regime centre + Gaussian noise; some NaN."""
    rng = np.random.default_rng(seed)
    labels: list[str] = []
    while len(labels) < n:
        labels += [REGIMES[rng.integers(4)]] * int(rng.integers(15, 60))
    labels = np.array(labels[:n], dtype=object)
    values = np.array([CENTRES[r] for r in labels]) + rng.normal(scale=noise, size=(n, 3))
    dates = pd.bdate_range("2014-01-02", periods=n)
    X = pd.DataFrame(values, index=dates, columns=COLUMNS)
    X.iloc[::17, 1] = np.nan
    return X, pd.Series(labels, index=dates, name="regime")


def small_config(**kw) -> RegimeModelConfig:
    return RegimeModelConfig(rf_n_estimators=40, rf_max_depth=6, **kw)


@pytest.fixture(scope="module")
def trained():
    X, y = synthetic_market()
    model = RegimeClassifier(small_config())
    metrics = model.train(X, y)
    return model, metrics, X, y


def test_accuracy_well_above_chance(trained):
    model, metrics, X, y = trained
    assert model.is_fitted
    assert metrics["accuracy"] > 0.7  # chance is about 0.25
    assert metrics["balanced_accuracy"] > 0.6
    assert metrics["n_holdout"] == 180 and metrics["n_train"] == 720
    holdout_truth = y.iloc[-180:]
    for regime in REGIMES:
        key = f"{regime}_accuracy"
        assert key in metrics
        assert (metrics[key] is None) == (regime not in set(holdout_truth))
    assert model.metadata.metrics["accuracy"] == metrics["accuracy"]
    assert model.metadata.feature_names == COLUMNS


def test_holdout_recall_is_computed_on_the_last_rows(trained):
    """Recompute the reported accuracy by hand from a model fitted on the first 80% of rows."""
    model, metrics, X, y = trained
    first = RegimeClassifier(small_config())
    first.train(X.iloc[:720], y.iloc[:720])
    # train() refits on everything it is given; the refit on the first 720 rows is the holdout model.
    pred = first.predict(X.iloc[720:])["regime"].to_numpy()
    assert np.mean(pred == y.iloc[720:].to_numpy()) == pytest.approx(metrics["accuracy"])


def test_predict_frame(trained):
    model, _, X, _ = trained
    out = model.predict(X)
    assert list(out.columns) == [f"prob_{r}" for r in REGIMES] + ["regime", "confidence"]
    assert out.index.equals(X.index)
    probs = out[[f"prob_{r}" for r in REGIMES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(out["confidence"], probs.max(axis=1))
    assert set(out["regime"]) <= set(REGIMES)
    imp = model.get_feature_importance()
    assert set(imp.index) == set(COLUMNS) | {f"gmm_component_{k}" for k in range(4)}
    assert imp.is_monotonic_decreasing and imp.sum() == pytest.approx(1.0)


def test_predict_regime_duration_hand_checked(trained):
    model, _, X, _ = trained
    rows = ["crisis"] * 4 + ["bull"] * 2 + ["crisis"] * 3 + ["bull"] * 5
    X_current = pd.DataFrame(
        [CENTRES[r] for r in rows], columns=COLUMNS, index=pd.bdate_range("2020-01-01", periods=len(rows))
    )
    assert list(model.predict(X_current)["regime"]) == rows  # centres are unambiguous
    pred = model.predict_regime(X_current)
    assert isinstance(pred, RegimePrediction)
    assert pred.regime == "bull" and pred.duration_days == 5
    assert pred.probabilities["bull"] == pytest.approx(pred.confidence)
    assert set(pred.probabilities) == set(REGIMES) and sum(pred.probabilities.values()) == pytest.approx(1.0)
    assert model.predict_regime(X_current.iloc[:4]).duration_days == 4  # whole window one regime
    assert model.predict_regime(X_current.iloc[:9]).duration_days == 3


def test_nan_features_use_training_medians(trained):
    model, _, X, _ = trained
    row = X.iloc[[5]].copy()
    row.iloc[0, 1] = np.nan
    filled = row.copy()
    filled.iloc[0, 1] = X["vix_level"].median()  # training medians: trained on all of X
    pd.testing.assert_frame_equal(model.predict(row), model.predict(filled))
    with pytest.raises(ValueError, match="lacks the training features"):
        model.predict(X.drop(columns=["vix_level"]))


def test_save_load_identical_and_no_pickle(trained, tmp_path):
    model, _, X, _ = trained
    model.save(tmp_path / "regime")
    files = sorted(p.name for p in (tmp_path / "regime").iterdir())
    assert files == ["metadata.json", "regime_model.json"]
    for name in files:
        json.loads((tmp_path / "regime" / name).read_text())  # every artefact is plain JSON
    assert not list(Path(tmp_path).rglob("*.pkl")) and not list(Path(tmp_path).rglob("*.joblib"))
    loaded = RegimeClassifier.load(tmp_path / "regime")
    assert loaded.is_fitted and loaded.metadata.metrics == model.metadata.metrics
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict_regime(X) == model.predict_regime(X)
    artefact = tmp_path / "regime" / "regime_model.json"
    artefact.write_text(artefact.read_text().replace('"medians":[', '"medians":[0.5,', 1))
    with pytest.raises(ModelLoadError, match="SHA-256"):
        RegimeClassifier.load(tmp_path / "regime")


def test_train_validates_labels():
    X, y = synthetic_market(n=200)
    with pytest.raises(ValueError, match="not among the configured regimes"):
        RegimeClassifier(small_config()).train(X, y.replace("crisis", "panic"))
    with pytest.raises(ValueError, match="share X's index"):
        RegimeClassifier(small_config()).train(X, y.reset_index(drop=True))
    with pytest.raises(RuntimeError, match="not fitted"):
        RegimeClassifier().predict(X)


def test_spec_example_runs_as_written():
    X_market, regime_labels = synthetic_market(n=500, seed=3)
    X_current = X_market.iloc[-60:]
    X_all = X_market
    # --- spec section 4, "Regime classifier (GMM + Random Forest)", src. -> axion_pipeline. ---
    from axion_pipeline.ml import RegimeClassifier, RegimeModelConfig, RegimePrediction

    model = RegimeClassifier(
        config=RegimeModelConfig(
            n_components=4,  # GMM components
            covariance_type="full",
            rf_n_estimators=200,
            rf_max_depth=8,
            regimes=["bull", "bear", "sideways", "crisis"],
        )
    )

    # Train on market data with regime labels
    metrics = model.train(X_market, regime_labels)
    # metrics: accuracy, bull_accuracy, bear_accuracy, ...

    # Predict regime for current market
    regime = model.predict_regime(X_current)
    # RegimePrediction: regime="bull", confidence=0.82,
    #                   probabilities={"bull": 0.82, "bear": 0.05, ...},
    #                   duration_days=45

    # Batch predictions
    batch = model.predict(X_all)
    # DataFrame: prob_bull, prob_bear, ..., regime, confidence
    # --- end of spec example ---
    assert {"accuracy", "bull_accuracy", "bear_accuracy"} <= set(metrics)
    assert isinstance(regime, RegimePrediction) and 1 <= regime.duration_days <= 60
    assert list(batch.columns[:2]) == ["prob_bull", "prob_bear"] and len(batch) == 500


def test_trailing_run_length():
    assert trailing_run_length(["bull", "bear", "bear"]) == 2
    assert trailing_run_length(["bear", "bear"]) == 2
    assert trailing_run_length(["bull"]) == 1
