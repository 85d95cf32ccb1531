import os
import re

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml.config import FeatureConfig, MLConfig, RankingModelConfig, RegimeModelConfig, WalkForwardConfig
from axion_pipeline.ml.pipeline import TrainingPipeline, TrainingResult

N_DATES, N_SYMBOLS = 260, 40


@pytest.fixture(scope="module")
def market():
    """Factor ``momentum`` at t predicts the returns of t+1 and t+2 (the 2-day label); ``value`` is noise."""
    rng = np.random.default_rng(21)
    dates = pd.bdate_range("2019-01-01", periods=N_DATES)
    symbols = [f"S{i:02d}" for i in range(N_SYMBOLS)]
    signal = rng.normal(size=(N_DATES, N_SYMBOLS))
    drift = 0.01 * (
        np.vstack([np.zeros((1, N_SYMBOLS)), signal[:-1]]) + np.vstack([np.zeros((2, N_SYMBOLS)), signal[:-2]])
    )
    returns = pd.DataFrame(drift + 0.02 * rng.normal(size=signal.shape), index=dates, columns=symbols)
    idx = pd.MultiIndex.from_product([dates, symbols], names=["date", "symbol"])
    raw = pd.DataFrame({"momentum": signal.ravel(), "value": rng.normal(size=signal.size)}, index=idx)
    sp500 = 3000 * np.exp(np.cumsum(0.01 * rng.normal(size=N_DATES) + 0.002 * np.sign(np.sin(np.arange(N_DATES) / 20))))
    market_data = pd.DataFrame({"sp500_close": sp500, "vix": 20 + rng.normal(size=N_DATES)}, index=dates)
    trailing = pd.Series(sp500, index=dates).pct_change(20)
    labels = pd.Series(np.where(trailing > 0, "bull", "bear"), index=dates).where(trailing.notna())
    return raw, returns, market_data, labels


def config(model_dir, **ranking):
    return MLConfig(
        model_dir=str(model_dir),
        forward_days=2,
        features=FeatureConfig(lag_periods=[1], rolling_windows=[3], max_features=10),
        ranking=RankingModelConfig(
            **{
                **dict(
                    n_estimators=40,
                    n_ensemble=2,
                    num_leaves=7,
                    max_depth=3,
                    min_child_samples=30,
                    learning_rate=0.1,
                    early_stopping_rounds=10,
                    n_jobs=1,
                    candidate_num_leaves=[3, 7],
                    candidate_min_child_samples=[30, 30],
                ),
                **ranking,
            }
        ),
        regime=RegimeModelConfig(regimes=["bull", "bear"], n_components=2, rf_n_estimators=30),
        walk_forward=WalkForwardConfig(n_splits=2, train_size=100, test_size=40, gap=2, validation_size=20),
        sample_every_n_days=1,
    )


@pytest.fixture(scope="module")
def trained(market, tmp_path_factory):
    raw, returns, _, _ = market
    model_dir = tmp_path_factory.mktemp("models")
    pipeline = TrainingPipeline(config(model_dir))
    return pipeline, pipeline.train_ranking_model(raw, returns), model_dir


def test_train_ranking_model_saves_a_versioned_model(trained):
    pipeline, result, model_dir = trained
    assert isinstance(result, TrainingResult) and result.status == "success"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", result.version)
    assert result.model_path == str(model_dir / "ranking" / result.version)
    assert (model_dir / "ranking" / "LATEST").read_text().strip() == result.version
    # size and rounds chosen on the validation curves of both folds and the production window's own
    # slice; the IC is the production slice's at that point (a probe fitted without those rows)
    assert result.metrics["evaluated_on"] == "validation curves" and result.metrics["information_coefficient"] > 0.1
    assert result.metrics["selection_windows"] == ["fold_0", "fold_1", "production"]
    wf = result.walk_forward_metrics
    assert wf["n_folds"] == 2 and wf["n_dates"] == 80 and wf["ic_mean"] > 0.1
    assert len(result.fold_results) == 2
    meta = pipeline.ranking_model.metadata
    assert meta.extra["feature_selection"]["selected"] == meta.feature_names
    assert len(meta.feature_names) <= 10 and meta.data_version
    assert not [p for pat in ("*.pkl", "*.joblib", "*.pickle") for p in model_dir.rglob(pat)]


def test_load_models_round_trip(trained, market):
    pipeline, result, model_dir = trained
    raw, returns, _, _ = market
    fresh = TrainingPipeline(config(model_dir))
    status = fresh.load_models()
    assert status["ranking"] == f"loaded: {result.version}"
    assert all(status[name].startswith("missing") for name in ("regime", "earnings", "factor_timing"))
    assert fresh.regime_model is None
    X, _ = fresh.build_ranking_dataset(raw, returns)
    pd.testing.assert_frame_equal(fresh.ranking_model.predict(X), pipeline.ranking_model.predict(X), check_exact=True)


def test_load_models_follows_latest_not_file_times(market, tmp_path):
    raw, returns, _, _ = market
    first = TrainingPipeline(config(tmp_path)).train_ranking_model(raw, returns, run_walk_forward=False)
    second = TrainingPipeline(config(tmp_path, learning_rate=0.2)).train_ranking_model(
        raw, returns, run_walk_forward=False
    )
    assert first.version != second.version and second.walk_forward_metrics is None
    (tmp_path / "ranking" / "LATEST").write_text(first.version + "\n")
    later = os.path.getmtime(tmp_path / "ranking" / second.version) + 100
    os.utime(tmp_path / "ranking" / second.version, (later, later))
    pipeline = TrainingPipeline(config(tmp_path))
    assert pipeline.load_models()["ranking"] == f"loaded: {first.version}"
    assert pipeline.ranking_model.config.learning_rate == 0.1


def test_corrupt_or_invalid_models_give_an_error_status(trained, tmp_path):
    _, result, model_dir = trained
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(model_dir, root)
    member = root / "ranking" / result.version / "member_0.lgb.txt"
    member.write_text(member.read_text()[:-200])
    status = TrainingPipeline(config(root)).load_models()
    assert status["ranking"].startswith("error:") and "SHA-256" in status["ranking"]
    (root / "ranking" / "LATEST").write_text("../../etc")
    assert "invalid version" in TrainingPipeline(config(root)).load_models()["ranking"]


def test_gap_shorter_than_label_horizon_is_refused(market, tmp_path):
    raw, returns, _, _ = market
    cfg = config(tmp_path)
    cfg.forward_days = 5
    with pytest.raises(ValueError, match="label horizon"):
        TrainingPipeline(cfg).train_ranking_model(raw, returns)


def test_train_all_with_the_spec_keywords(market, tmp_path):
    raw, returns, market_data, labels = market
    rng = np.random.default_rng(5)
    events = pd.MultiIndex.from_arrays(
        [np.sort(rng.choice(returns.index, 120)), rng.choice(returns.columns, 120)], names=["date", "symbol"]
    )
    earnings_df = pd.DataFrame({"revision": rng.normal(size=120), "past_surprise": rng.normal(size=120)}, index=events)
    beat_miss_series = pd.Series((earnings_df["revision"] + 0.5 * rng.normal(size=120) > 0).astype(float), index=events)
    factor_ls_returns_df = pd.DataFrame(
        0.01 * rng.normal(size=(N_DATES, 6)),
        index=returns.index,
        columns=["value", "momentum", "quality", "growth", "volatility", "technical"],
    )
    pipeline = TrainingPipeline(config(tmp_path))

    results = pipeline.train_all(
        raw_data=raw,
        returns_data=returns,
        market_data=market_data,
        regime_labels=labels,
        earnings_features=earnings_df,
        earnings_labels=beat_miss_series,
        factor_returns=factor_ls_returns_df,
    )
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(
        ["ranking", "regime", "earnings", "factor_timing"], "success"
    )
    assert results["regime"].metrics["accuracy"] > 0.5 and results["earnings"].metrics["auc"] > 0.6
    assert pipeline.factor_timing_model.is_fitted and pipeline.earnings_model.is_fitted
    status = TrainingPipeline(config(tmp_path)).load_models()
    assert all(s == f"loaded: {results[name].version}" for name, s in status.items())


def test_train_all_skips_models_without_inputs_and_reports_failures(market, tmp_path):
    raw, returns, market_data, labels = market
    results = TrainingPipeline(config(tmp_path)).train_all(
        market_data=market_data, regime_labels=labels.map({"bull": "bull", "bear": "crash"})
    )
    assert results["ranking"].status.startswith("skipped") and results["earnings"].status.startswith("skipped")
    assert results["regime"].status.startswith("error: ValueError") and "crash" in results["regime"].status
    assert not (tmp_path / "regime").exists()
