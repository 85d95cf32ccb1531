import copy
import json
import shutil
from datetime import date

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factor_engine import AdaptiveWeightManager, FactorEngineV2, RegimeDetector
from axion_pipeline.ml import (
    EarningsModelConfig,
    EarningsPrediction,
    EarningsPredictionModel,
    FeatureEngineer,
    MLPredictor,
    RegimePrediction,
    StockRankingModel,
)
from axion_pipeline.ml.config import FeatureConfig, MLConfig, RankingModelConfig, RegimeModelConfig, WalkForwardConfig
from axion_pipeline.ml.pipeline import TrainingPipeline
from axion_pipeline.ml.predictor import ModelUnavailableError

N_DATES, N_SYMBOLS = 160, 30


def synthetic_market(seed=5):
    """Daily calendar ending today; ``momentum`` at t predicts returns over t+1..t+2."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(end=pd.Timestamp(date.today()), periods=N_DATES, freq="D")
    symbols = [f"S{i:02d}" for i in range(N_SYMBOLS)]
    signal = rng.normal(size=(N_DATES, N_SYMBOLS))
    drift = 0.01 * (
        np.vstack([np.zeros((1, N_SYMBOLS)), signal[:-1]]) + np.vstack([np.zeros((2, N_SYMBOLS)), signal[:-2]])
    )
    returns = pd.DataFrame(drift + 0.02 * rng.normal(size=signal.shape), index=dates, columns=symbols)
    idx = pd.MultiIndex.from_product([dates, symbols], names=["date", "symbol"])
    raw = pd.DataFrame({"momentum": signal.ravel(), "value": rng.normal(size=signal.size)}, index=idx)
    sp500 = 3000 * np.exp(np.cumsum(0.01 * rng.normal(size=N_DATES) + 0.002 * np.sign(np.sin(np.arange(N_DATES) / 20))))
    market = pd.DataFrame({"sp500_close": sp500, "vix": 20 + rng.normal(size=N_DATES)}, index=dates)
    trailing = pd.Series(sp500, index=dates).pct_change(20)
    labels = pd.Series(np.where(trailing > 0, "bull", "bear"), index=dates).where(trailing.notna())
    return raw, returns, market, labels


def small_config(model_dir):
    return MLConfig(
        model_dir=str(model_dir),
        forward_days=2,
        features=FeatureConfig(lag_periods=[1], rolling_windows=[3], max_features=10),
        ranking=RankingModelConfig(
            n_estimators=30,
            n_ensemble=2,
            num_leaves=7,
            max_depth=3,
            min_child_samples=30,
            learning_rate=0.1,
            early_stopping_rounds=10,
            n_jobs=1,
        ),
        regime=RegimeModelConfig(regimes=["bull", "bear"], n_components=2, rf_n_estimators=20),
        walk_forward=WalkForwardConfig(n_splits=2, train_size=60, test_size=30, gap=2),
    )


@pytest.fixture(scope="module")
def market():
    return synthetic_market()


@pytest.fixture(scope="module")
def trained(market, tmp_path_factory):
    raw, returns, market_data, labels = market
    model_dir = tmp_path_factory.mktemp("models")
    pipeline = TrainingPipeline(small_config(model_dir))
    pipeline.train_ranking_model(raw, returns, run_walk_forward=False)
    pipeline.train_regime_model(market_data, labels)
    return pipeline, model_dir


TODAY = pd.Timestamp(date.today())
MACRO_COLUMNS = ["vix", "yield_10y", "yield_2y", "hy_spread"]


def synthetic_macro(dates, seed=11):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(len(dates), len(MACRO_COLUMNS))), index=dates, columns=MACRO_COLUMNS)


@pytest.fixture(scope="module")
def trained_with_macro(market, tmp_path_factory):
    """The spec's section 5 call: ``train_ranking_model(..., macro_data=macro_df)``."""
    raw, returns, market_data, labels = market
    model_dir = tmp_path_factory.mktemp("models_macro")
    macro = synthetic_macro(market_data.index)
    pipeline = TrainingPipeline(small_config(model_dir))
    pipeline.train_ranking_model(raw_data=raw, returns_data=returns, macro_data=macro, run_walk_forward=False)
    pipeline.train_regime_model(market_data, labels)
    assert set(MACRO_COLUMNS) <= set(pipeline.ranking_model.feature_names)  # the model uses them
    return pipeline, model_dir, macro


def rules_for(raw):
    return raw.loc[TODAY, "value"].rank(pct=True).rename("composite")


def model_features(model, raw, target_date=None, macro=None):
    """The ranking model's inputs, built as at training time (stored feature config + selection)."""
    engineer = FeatureEngineer(FeatureConfig(**model.metadata.extra["feature_config"]))
    return engineer.create_features(raw, macro_data=macro, target_date=target_date)[model.feature_names]


def test_ml_rankings_and_status(trained, market):
    pipeline, _ = trained
    raw = market[0]
    predictor = MLPredictor().set_models(ranking=pipeline.ranking_model, regime=pipeline.regime_model)
    out = predictor.predict_rankings(raw, TODAY)
    assert list(out.columns) == ["date", "score", "raw_score", "rank", "source", "fallback_reason", "model_score"]
    assert len(out) == N_SYMBOLS and (out["source"] == "ml").all() and out.attrs["fallback_reason"] is None
    assert out["fallback_reason"].isna().all()
    features = model_features(pipeline.ranking_model, raw, TODAY)
    expected = pipeline.ranking_model.predict(features)["score"].droplevel(0)
    pd.testing.assert_series_equal(out["raw_score"].sort_index(), expected.sort_index(), check_names=False)
    # a model without a score blend (trained outside ``train_ranking``): the ML score is its own
    np.testing.assert_array_equal(out["model_score"], out["raw_score"])
    assert out["score"].between(0, 1).all() and out["score"].max() == 1.0 and out["score"].min() == 0.0
    assert out.iloc[0]["rank"] == 1 and out.iloc[0]["raw_score"] == out["raw_score"].max()
    status = predictor.get_model_status()
    assert set(status) == {"ranking", "regime", "earnings", "factor_timing"}
    assert status["ranking"]["status"] == "ok" and status["ranking"]["version"].startswith("mem-")
    assert status["ranking"]["last_source"] == "ml"
    assert status["earnings"]["status"] == "missing" and status["factor_timing"]["status"] == "missing"


def test_cache_hits_and_misses(trained, market):
    pipeline, _ = trained
    raw = market[0]
    predictor = MLPredictor(cache_size=4).set_models(ranking=pipeline.ranking_model)
    first = predictor.predict_rankings(raw, TODAY)
    assert predictor.cache_info()["misses"] == 1 and predictor.cache_info()["hits"] == 0
    first.loc[:, "score"] = -1.0  # the caller's copy; the cache keeps its own
    second = predictor.predict_rankings(raw, TODAY)
    assert predictor.cache_info() == {"hits": 1, "misses": 1, "size": 1, "maxsize": 4}
    assert second["score"].between(0, 1).all()
    changed = raw.copy()
    changed.iloc[-1, 0] += 1.0
    predictor.predict_rankings(changed, TODAY)
    predictor.predict_rankings(raw, TODAY - pd.Timedelta(days=1))
    assert predictor.cache_info()["misses"] == 3 and predictor.cache_info()["hits"] == 1
    predictor.deactivate("ranking", "IC below threshold")  # model state is part of the key
    rules = predictor.predict_rankings(raw, TODAY, rule_scores=rules_for(raw))
    assert (rules["source"] == "rules").all() and predictor.cache_info()["misses"] == 4


def test_missing_model_falls_back_to_rules(market):
    raw = market[0]
    predictor = MLPredictor()
    rule = rules_for(raw)
    out = predictor.predict_rankings(raw, TODAY, rule_scores=rule)
    assert (out["source"] == "rules").all() and "ranking model missing" in out.attrs["fallback_reason"]
    assert (out["fallback_reason"] == out.attrs["fallback_reason"]).all()  # in the frame, not only attrs
    pd.testing.assert_series_equal(out["raw_score"].sort_index(), rule.sort_index(), check_names=False)
    assert not (out["score"] == 0).all()
    with pytest.raises(ModelUnavailableError, match="no rule-based fallback"):
        predictor.predict_rankings(raw, TODAY)
    # a composite column (the factor engine's output) or a rule_scorer are used when no scores are passed
    with_composite = raw.assign(composite=raw["value"].groupby(level="date").rank(pct=True))
    via_column = predictor.predict_rankings(with_composite, TODAY)
    pd.testing.assert_series_equal(via_column["raw_score"].sort_index(), rule.sort_index(), check_names=False)
    predictor.set_models(rule_scorer=lambda data, t: rules_for(data))
    assert predictor.predict_rankings(raw, TODAY)["raw_score"].sort_index().equals(rule.sort_index().astype(float))


def test_rules_from_factor_engine_when_prices_are_given():
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=260)
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.01, (260, 12)), axis=0)),
        index=dates,
        columns=[f"S{i:02d}" for i in range(12)],
    )
    out = MLPredictor().predict_rankings(None, dates[-1], prices=prices)
    expected = FactorEngineV2().compute_all_scores(prices, as_of_date=dates[-1])["composite"]
    pd.testing.assert_series_equal(out["raw_score"].sort_index(), expected.sort_index(), check_names=False)


def test_unfitted_and_deactivated_models_fall_back(trained, market):
    pipeline, _ = trained
    raw, rule = market[0], rules_for(market[0])
    predictor = MLPredictor().set_models(ranking=StockRankingModel())
    assert predictor.get_model_status()["ranking"]["status"] == "unfitted"
    assert (predictor.predict_rankings(raw, TODAY, rule_scores=rule)["source"] == "rules").all()
    predictor.set_models(ranking=pipeline.ranking_model)
    predictor.deactivate("ranking", "hybrid scorer: IC 0.01 < 0.03")
    status = predictor.get_model_status()["ranking"]
    assert (
        status["status"] == "deactivated"
        and "IC 0.01" in status["detail"]
        and status["fallback"] == "rule-based scores"
    )
    assert (predictor.predict_rankings(raw, TODAY, rule_scores=rule)["source"] == "rules").all()
    predictor.activate("ranking")
    assert (predictor.predict_rankings(raw, TODAY, rule_scores=rule)["source"] == "ml").all()


def test_failing_prediction_falls_back_and_reports_error(trained, market):
    pipeline, _ = trained
    raw = market[0]
    predictor = MLPredictor().set_models(ranking=pipeline.ranking_model)
    out = predictor.predict_rankings(raw[["value"]], TODAY, rule_scores=rules_for(raw))  # momentum column lost
    assert (out["source"] == "rules").all() and "prediction failed" in out.attrs["fallback_reason"]
    status = predictor.get_model_status()["ranking"]
    assert status["status"] == "error" and "momentum" in status["last_error"]
    predictor.predict_rankings(raw, TODAY)
    assert predictor.get_model_status()["ranking"]["status"] == "ok"


def test_load_from_directory_and_tampered_model(trained, market, tmp_path):
    pipeline, model_dir = trained
    raw, rule = market[0], rules_for(market[0])
    predictor = MLPredictor()
    status = predictor.load_from_directory(model_dir)
    version = (model_dir / "ranking" / "LATEST").read_text().strip()
    assert status["ranking"]["status"] == "ok" and status["ranking"]["version"] == version
    assert status["earnings"]["status"] == "missing"
    reference = MLPredictor().set_models(ranking=pipeline.ranking_model).predict_rankings(raw, TODAY)
    pd.testing.assert_frame_equal(predictor.predict_rankings(raw, TODAY), reference)

    import shutil

    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    member = copy / "ranking" / version / "member_0.lgb.txt"
    data = bytearray(member.read_bytes())
    data[len(data) // 2] ^= 0x01  # flip one bit
    member.write_bytes(bytes(data))
    status = predictor.load_from_directory(copy)
    assert status["ranking"]["status"] == "error" and "SHA-256" in status["ranking"]["detail"]
    assert status["regime"]["status"] == "ok"
    out = predictor.predict_rankings(raw, TODAY, rule_scores=rule)
    assert (out["source"] == "rules").all() and "error" in out.attrs["fallback_reason"]
    pd.testing.assert_series_equal(out["raw_score"].sort_index(), rule.sort_index(), check_names=False)


def test_one_unloadable_model_does_not_stop_the_others(trained, tmp_path):
    import json
    import shutil

    _, model_dir = trained
    copy = tmp_path / "models"
    shutil.copytree(model_dir, copy)
    version = (copy / "regime" / "LATEST").read_text().strip()
    manifest = copy / "regime" / version / "metadata.json"
    payload = json.loads(manifest.read_text())
    payload["metadata"] = 5  # well-formed JSON, ill-typed field
    manifest.write_text(json.dumps(payload))
    (copy / "earnings").mkdir()
    (copy / "earnings" / "LATEST").write_text("../ranking\n")
    status = MLPredictor().load_from_directory(copy)
    assert status["ranking"]["status"] == "ok"
    # ml.base refuses the ill-typed manifest with a ModelLoadError naming it (it used to escape as TypeError)
    assert status["regime"]["status"] == "error" and status["regime"]["detail"].startswith(
        f"ModelLoadError: {manifest}: "
    )
    assert status["earnings"]["status"] == "error" and "invalid version" in status["earnings"]["detail"]


def test_regime_and_factor_timing(trained, market):
    pipeline, _ = trained
    market_data = market[2]
    predictor = MLPredictor().set_models(regime=pipeline.regime_model)
    regime = predictor.predict_regime(market_data)
    assert isinstance(regime, RegimePrediction) and regime.regime in ("bull", "bear")
    assert regime.confidence == pytest.approx(max(regime.probabilities.values()))
    predictor.predict_regime(market_data)
    assert predictor.cache_info()["hits"] == 1

    rules = MLPredictor().predict_regime(market_data)  # no model: the rule-based detector
    expected = RegimeDetector().detect(market_data["sp500_close"])
    assert rules.regime == expected.value and np.isnan(rules.confidence)
    weights = MLPredictor().get_factor_timing_weights(market_data)
    assert weights == AdaptiveWeightManager(use_momentum_overlay=False).get_weights(expected)
    assert sum(weights.values()) == pytest.approx(1.0)
    with pytest.raises(ModelUnavailableError, match="S&P 500"):
        MLPredictor().predict_regime(market_data[["vix"]])


def test_earnings_predictions():
    predictor = MLPredictor()
    features = pd.DataFrame({"a": [0.1, -0.2], "b": [1.0, 2.0]})
    with pytest.raises(ModelUnavailableError, match="no rule-based earnings fallback"):
        predictor.predict_earnings(features)
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    model = EarningsPredictionModel(EarningsModelConfig(n_estimators=10, max_depth=2))
    model.train(X, (X["a"] > 0).astype(float))
    predictor.set_models(earnings=model)
    batch = predictor.predict_earnings(features)
    assert list(batch.columns) == ["beat_probability", "predicted_surprise", "surprise_status", "confidence"]
    assert batch["surprise_status"].str.startswith("no surprise model").all()
    single = predictor.predict_earnings({"a": 0.1, "b": 1.0}, symbol="AAPL")
    assert isinstance(single, EarningsPrediction) and single.symbol == "AAPL"
    assert single.beat_probability == pytest.approx(batch["beat_probability"].iloc[0])


def test_spec_section_6_example_runs_as_written(trained_with_macro, market):
    """The spec's section 6 code, verbatim except ``src.`` -> ``axion_pipeline.``, after a pipeline
    trained with ``macro_data=`` (section 5). ``current_data`` holds the factor engine's
    ``composite``, so a silent fallback to rules would be possible: the rankings must be the model's."""
    pipeline, _, macro = trained_with_macro
    raw, returns, market_data, _ = market
    composites = rules_for(raw)
    current_data = raw.assign(composite=composites.reindex(raw.index, level="symbol"))
    ranking_model = pipeline.ranking_model
    features = model_features(ranking_model, raw, macro=macro)
    dates = features.index.get_level_values("date")
    ml_scores = ranking_model.predict_rank(features[dates == TODAY]).droplevel(0)
    prediction_date = TODAY - pd.Timedelta(days=2)  # its 2-day forward returns are realised today
    predicted_scores = ranking_model.predict_rank(features[dates == prediction_date]).droplevel(0)
    actual_returns = returns.loc[prediction_date + pd.Timedelta(days=1) : TODAY].sum()
    X_train, X_current = features[dates < TODAY - pd.Timedelta(days=30)], features[dates == TODAY]
    X_single = X_current.rename(index={"S03": "AAPL"}, level="symbol").xs("AAPL", level="symbol", drop_level=False)

    from axion_pipeline.ml import (
        DegradationDetector,
        HybridScorer,
        HybridScoringConfig,
        MLPredictor,
        ModelExplainer,
        ModelPerformanceTracker,
    )

    # --- Production predictor ---
    predictor = MLPredictor()
    predictor.set_models(ranking=pipeline.ranking_model, regime=pipeline.regime_model)
    rankings = predictor.predict_rankings(raw_data=current_data, target_date=date.today())
    regime = predictor.predict_regime(market_data)  # RegimePrediction
    weights = predictor.get_factor_timing_weights(market_data)  # dict
    status = predictor.get_model_status()  # per-model health dict

    # --- Hybrid scoring (rules + ML blend) ---
    scorer = HybridScorer(
        config=HybridScoringConfig(
            ml_weight=0.30,
            min_ic_for_ml=0.03,
            fallback_to_rules=True,
        )
    )
    hybrid = scorer.compute_hybrid_scores(rule_scores=composites, ml_scores=ml_scores)
    scorer.update_ml_performance(ic=0.045)  # auto-deactivates if IC < threshold

    # --- Monitoring ---
    tracker = ModelPerformanceTracker()
    tracker.record_prediction(prediction_date, predicted_scores, actual_returns)
    health = tracker.get_health_status("stock_ranking")
    # ModelHealthStatus: status, current_ic, rolling_ic_3m, ic_trend, needs_retraining

    detector = DegradationDetector()
    drift = detector.check_feature_drift(reference_data=X_train, current_data=X_current)
    # DriftReport: overall_drift, psi_scores, drifted_features

    # --- Explainability (SHAP) ---
    explainer = ModelExplainer()
    explanation = explainer.explain(model=ranking_model, X=X_single, symbol="AAPL")
    print(explanation.to_text())
    # Shows top_positive_factors, top_negative_factors, feature_contributions

    assert (rankings["source"] == "ml").all() and len(rankings) == N_SYMBOLS
    assert rankings["fallback_reason"].isna().all()
    # the model's own ranking (its macro features included), not the composite's order
    own = ranking_model.predict_rank(features[dates == TODAY]).droplevel(0)
    assert rankings["score"].corr(own.reindex(rankings.index), method="spearman") > 0.999
    assert rankings["score"].corr(composites.reindex(rankings.index), method="spearman") < 0.9
    assert isinstance(regime, RegimePrediction) and abs(sum(weights.values()) - 1) < 1e-9
    assert status["ranking"]["status"] == "ok" and status["regime"]["status"] == "ok"
    assert len(hybrid) == N_SYMBOLS and hybrid["hybrid_score"].between(0, 1).all() and scorer.ml_active
    assert health.status == "unknown" and health.n_observations == 1 and not np.isnan(health.current_ic)
    assert set(drift.psi_scores) == set(X_train.columns)
    assert explanation.symbol == "AAPL"
    assert sum(explanation.feature_contributions.values()) == pytest.approx(
        explanation.score - explanation.base_value, abs=1e-6
    )


def test_saved_macro_model_scores_after_loading_and_says_when_it_cannot(trained_with_macro, market, tmp_path):
    """A model trained with macro data saves the macro rows it carries (covered by the SHA-256
    manifest): loaded, it scores exactly like the trained one without macro_data=. When it cannot
    find macro data for the target date, the fallback and its reason are in the returned frame."""
    from axion_pipeline.ml.base import METADATA_FILE, sha256_file
    from axion_pipeline.ml.carried_macro import MACRO_FILE, MACRO_ROWS_KEPT
    from axion_pipeline.ml.ranking import STATE_FILE

    pipeline, model_dir, macro = trained_with_macro
    raw = market[0]
    rule = rules_for(raw)
    model = pipeline.ranking_model
    carried = model.macro_data
    assert list(carried.columns) == MACRO_COLUMNS and len(carried) == min(len(macro), MACRO_ROWS_KEPT)
    reference = MLPredictor().set_models(ranking=model).predict_rankings(raw, TODAY)
    assert (reference["source"] == "ml").all()

    loaded = MLPredictor()
    loaded.load_from_directory(model_dir)  # the LATEST version TrainingPipeline saved
    version_dir = model_dir / "ranking" / loaded.get_model_status()["ranking"]["version"]
    manifest = json.loads((version_dir / METADATA_FILE).read_text())["artifacts"]
    assert manifest[MACRO_FILE] == sha256_file(version_dir / MACRO_FILE)
    assert (version_dir / MACRO_FILE).stat().st_size < 100_000
    pd.testing.assert_frame_equal(loaded.usable("ranking").macro_data, carried)
    pd.testing.assert_frame_equal(loaded.predict_rankings(raw, TODAY), reference)
    assert loaded.get_model_status()["ranking"]["status"] == "ok"

    # a model saved without macro rows (as before they were kept) falls back and says why
    old = tmp_path / "old"
    shutil.copytree(version_dir, old)
    state = json.loads((old / STATE_FILE).read_text())
    state["macro_data"] = None
    (old / STATE_FILE).write_text(json.dumps(state))
    (old / MACRO_FILE).unlink()
    meta = json.loads((old / METADATA_FILE).read_text())
    meta["artifacts"] = {n: sha256_file(old / n) for n in meta["artifacts"] if n != MACRO_FILE}
    (old / METADATA_FILE).write_text(json.dumps(meta))
    without = MLPredictor().set_models(ranking=StockRankingModel.load(old))
    out = without.predict_rankings(raw, TODAY, rule_scores=rule)
    assert (out["source"] == "rules").all() and out["fallback_reason"].str.contains("pass macro_data=").all()
    assert without.get_model_status()["ranking"]["status"] == "error"
    pd.testing.assert_frame_equal(without.predict_rankings(raw, TODAY, macro_data=macro), reference)
    assert without.get_model_status()["ranking"]["status"] == "ok"

    # target dates outside the carried rows: never stale or missing macro values in silence
    dates = macro.index
    for rows, t, says in [(macro.iloc[:-5], TODAY, "ends on"), (macro.iloc[100:], dates[50], "starts on")]:
        model.macro_data = rows
        try:
            out = MLPredictor().set_models(ranking=model).predict_rankings(raw, t, rule_scores=rule)
        finally:
            model.macro_data = carried
        assert (out["source"] == "rules").all() and out["fallback_reason"].str.contains(says).all()


def test_a_blended_model_averages_its_score_with_the_signal_of_the_features(trained, market):
    pipeline, _ = trained
    model = copy.deepcopy(pipeline.ranking_model)
    model.metadata.extra["score_blend"] = {"signal": "residual_reversal", "weight": 0.5}
    features = model_features(model, market[0], TODAY)
    signal = pd.Series(np.linspace(0, 1, len(features)), index=features.index)
    signal.iloc[3] = np.nan
    out = MLPredictor().set_models(ranking=model).predict_rankings(features.assign(residual_reversal=signal), TODAY)
    own = model.predict(features)["score"]
    by_symbol = pd.DataFrame({"own": own.to_numpy(), "signal": signal.to_numpy()}, index=features.index.droplevel(0))
    expected = np.where(
        by_symbol["signal"].notna(),
        0.5 * by_symbol["own"].rank().sub(1) / (len(by_symbol) - 1)
        + 0.5 * by_symbol["signal"].rank().sub(1) / (by_symbol["signal"].notna().sum() - 1),
        by_symbol["own"].rank().sub(1) / (len(by_symbol) - 1),
    )
    expected = pd.Series(expected, index=by_symbol.index)
    np.testing.assert_allclose(out["raw_score"], expected.reindex(out.index), atol=1e-12)
    np.testing.assert_allclose(out["model_score"], by_symbol["own"].reindex(out.index))
    # features without the column: the model's own score, not a failure
    plain = MLPredictor().set_models(ranking=model).predict_rankings(features, TODAY)
    np.testing.assert_array_equal(plain["raw_score"], plain["model_score"])
