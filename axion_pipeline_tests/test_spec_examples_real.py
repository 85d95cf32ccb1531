"""Every example of the spec, run as written on ``../shared/data`` (the 5-year S&P 500 file), and
what its comments claim.

Inputs are the real files through ``load_real_market``: seven tickers (``TICKERS``, seven sectors;
JNJ has no fundamentals in the file) over the whole 2013-02-08 .. 2018-02-07 span, which the
spec's walk-forward example needs (756 + 21 + 5 x 63 dates). Seven keep the run short: the
section 5 block trains the ranking model twice with walk-forward and the optimiser 50 times.

The blocks are ``spec_examples`` (the spec's text) executed with ``exec``. The spec's dates lie in
2026 and the file ends on 2018-02-07, so where a date must exist in the data the real-data run
swaps it (``on_real_dates``): ``date(2026, 1, 15)`` -> ``date(2018, 1, 5)`` (21 trading days
before the file's end, so the target has its forward returns) and ``date.today()`` ->
``date(2018, 2, 7)``. ``date(2026, 2, 7)`` stays: the engine scores the last trading day on or
before it. The unswapped blocks are run too where they must fail or fall back loudly.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factor_engine import CATEGORIES, MarketRegime, RegimeDetector
from axion_pipeline_tests.spec_examples import BLOCKS

pytestmark = pytest.mark.realdata

TICKERS = ["AAPL", "CAT", "DUK", "HD", "JNJ", "WMT", "XOM"]
LAST = pd.Timestamp("2018-02-07")  # the file's last trading day
AS_OF = pd.Timestamp("2018-01-05")  # stands for the spec's date(2026, 1, 15)


def on_real_dates(block: str) -> str:
    """The spec's 2026 dates replaced by dates the 2013-2018 file holds (module docstring)."""
    swapped = block.replace("date(2026, 1, 15)", "date(2018, 1, 5)").replace("date.today()", "date(2018, 2, 7)")
    assert swapped != block
    return swapped


@pytest.fixture(scope="module")
def real(shared_data_dir):
    from axion_pipeline.data.frames import sector_map
    from axion_pipeline.data.real import load_real_market
    from axion_pipeline.data.real_market import load_gspc
    from axion_pipeline.factor_engine import compute_factor_panel
    from axion_pipeline.ml.datasets import earnings_dataset, factor_returns
    from axion_pipeline.ml.feature_inputs import raw_factor_frame
    from axion_pipeline.ml.regime_features import regime_features

    md = load_real_market(shared_data_dir)
    prices = md.prices[md.prices["ticker"].isin(TICKERS)].reset_index(drop=True)
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    fundamentals = md.fundamentals[md.fundamentals["ticker"].isin(TICKERS)].reset_index(drop=True)
    sectors = sector_map(md.sectors).reindex(TICKERS)
    market = md.market_series.assign(date=pd.to_datetime(md.market_series["date"])).set_index("date").sort_index()
    gspc = load_gspc(shared_data_dir).loc[:LAST]  # the index's whole history: a regime from day one
    panel = compute_factor_panel(prices, fundamentals, gspc, sectors=sectors)
    stock = raw_factor_frame(panel, [*CATEGORIES, "composite"])
    stock["sector"] = sectors.reindex(stock.index.get_level_values("symbol")).to_numpy()
    events = md.earnings_events[md.earnings_events["ticker"].isin(TICKERS)]
    X_earnings, beat, _ = earnings_dataset(events, prices, fundamentals)
    assert close.index[-1] == LAST and list(close.columns) == TICKERS
    return {
        "prices": prices,
        "close": close,
        "fundamentals": fundamentals,
        "sectors": sectors,
        "market": market,
        "gspc": gspc,
        "panel": panel,
        "stock": stock,
        "macro": regime_features(market),
        "returns": close.pct_change(fill_method=None),
        "X_earnings": X_earnings,
        "beat": beat,
        "factor_returns": factor_returns(panel, prices, list(CATEGORIES)),
    }


@pytest.fixture(scope="module")
def dataset(real):
    """The ranking model's labelled rows as the training pipeline builds them: (features, labels)."""
    from axion_pipeline.ml import MLConfig, TrainingPipeline

    features, targets = TrainingPipeline(MLConfig()).build_ranking_dataset(
        real["stock"], real["returns"], real["macro"]
    )
    return features, targets["label"]


def by_dates(frame, dates):
    return frame[frame.index.get_level_values("date").isin(dates)]


# ------------------------------------------------------------------------------------ sections 1-3
def test_section_1_factor_engine(real):
    from axion_pipeline.factors import build_fundamentals_snapshot

    close = real["close"]
    snap = build_fundamentals_snapshot(real["fundamentals"], LAST, close.iloc[-1])
    fundamentals_df = pd.DataFrame(  # tickers x fields, as the spec describes it
        {
            "pe_ratio": close.iloc[-1].reindex(snap.index) / snap["eps"],
            "roe": snap["net_income"] / snap["total_equity"],
            "revenue_growth": snap["revenue_growth"],
            "debt_to_equity": snap["total_debt"] / snap["total_equity"],
            "sector": real["sectors"].reindex(snap.index),
        }
    )
    ns = {"prices_df": close, "fundamentals_df": fundamentals_df, "sp500_series": real["gspc"], "date": dt.date}
    exec(BLOCKS["SECTION_1"], ns)
    scores, breakdown = ns["scores"], ns["breakdown"]
    assert list(scores.columns) == [*CATEGORIES, "composite", "regime"] and list(scores.index) == TICKERS
    assert scores.attrs["as_of_date"] == LAST  # date(2026, 2, 7): the last trading day before it
    values = scores[[*CATEGORIES, "composite"]].to_numpy(dtype=float)
    assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0 and scores["composite"].notna().all()
    # the regime is the S&P 500's (for regime detection), one per date, in the breakdown too
    assert isinstance(ns["regime"], MarketRegime) and ns["regime"] == RegimeDetector().detect(real["gspc"], LAST)
    assert (scores["regime"] == ns["regime"].value).all()
    assert breakdown["regime"] == ns["regime"].value and breakdown["regime_source"] == "sp500_prices"
    assert set(ns["weights"]) == set(CATEGORIES) and sum(ns["weights"].values()) == pytest.approx(1.0)
    assert breakdown["category_scores"] == pytest.approx(scores.loc["AAPL", CATEGORIES].astype(float).to_dict())
    assert set(breakdown["sub_factors"]) == set(CATEGORIES)
    pd.testing.assert_frame_equal(ns["v1_scores"], scores[["value", "momentum", "quality", "growth"]])


def test_section_2_factor_registry(real):
    ns = {"prices_df": real["close"], "fundamentals_df": real["fundamentals"]}
    exec(BLOCKS["SECTION_2"], ns)
    assert set(ns["all_factors"]) == set(CATEGORIES) and ns["total"] >= 40
    assert ns["total"] == sum(len(names) for names in ns["all_factors"].values())
    all_scores = ns["all_scores"]
    assert set(all_scores) == set(CATEGORIES)
    pd.testing.assert_frame_equal(all_scores["value"], ns["value_scores"])
    for category, frame in all_scores.items():
        assert list(frame.index) == TICKERS and set(ns["all_factors"][category]) <= set(frame.columns)
        values = frame.to_numpy(dtype=float)
        assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0
    assert np.isnan(all_scores["value"].loc["JNJ", "value"])  # no fundamentals in the file
    assert all_scores["momentum"]["momentum"].notna().all()


def test_section_3_feature_engineering(real):
    ns = {
        "stock_data_df": real["stock"],
        "macro_df": real["macro"],
        "daily_returns_df": real["returns"],
        "market_data_df": real["market"],
    }
    exec(on_real_dates(BLOCKS["SECTION_3"]), ns)
    features, target, regime = ns["features"], ns["target"], ns["regime_features"]
    assert set(features.index.get_level_values("date")) == {AS_OF} and len(features) == len(TICKERS)
    assert ns["feature_names"] == list(features.columns)
    for name in ["value_rank", "value_sector_rank", "value_x_momentum", "value_lag21d", "value_mean_5d"]:
        assert name in features.columns, name
    assert {"momentum_std_63d", "month_of_year", "quarter", "vix_level"} <= set(features.columns)
    assert (features["month_of_year"] == 1).all() and (features["quarter"] == 1).all()
    # forward-return quintiles of the 21 trading days after AS_OF: 1 = worst, 5 = best
    forward = (1 + real["returns"].loc[AS_OF:].iloc[1:22]).prod() - 1
    expected = np.floor(5 * (forward.rank(method="first") - 1) / len(forward)) + 1  # equal-count buckets
    pd.testing.assert_series_equal(target.sort_index(), expected.sort_index(), check_names=False)
    assert set(target) == {1.0, 2.0, 3.0, 4.0, 5.0}
    listed = ["sp500_return_20d", "sp500_return_60d", "sp500_volatility_20d", "vix_level", "vix_term_structure"]
    listed += ["yield_curve_10y_2y", "credit_spread_hy_ig", "advance_decline_10d", "pct_above_200sma"]
    assert list(regime.index) == [AS_OF] and set(listed) <= set(regime.columns) and "put_call_ratio" in regime
    # the file has no VIX 3-month, IG spread or put/call series: those features are NaN, not invented
    assert regime[["vix_term_structure", "credit_spread_hy_ig", "put_call_ratio"]].isna().all().all()
    assert regime[["sp500_return_60d", "vix_level", "yield_curve_10y_2y"]].notna().all().all()
    # strictly point in time: later rows do not change the features
    later = real["stock"].index.get_level_values("date") > AS_OF
    changed = real["stock"].copy()
    changed.loc[later, "value"] = 0.5
    again = ns["engineer"].create_features(changed, real["macro"], target_date=AS_OF)
    pd.testing.assert_frame_equal(again, features)
    # as written (2026-01-15), the file has no such date: a clear error, not stale features
    with pytest.raises(ValueError, match="no rows on 2026-01-15 .latest date on or before it: 2018-02-07"):
        exec(BLOCKS["SECTION_3"], dict(ns))


# ----------------------------------------------------------------------------------------- section 4
def test_section_4_ranking_model(dataset):
    X, y = dataset
    dates = X.index.get_level_values("date").unique()
    ns = {
        "X_train": by_dates(X, dates[-300:-150]),
        "y_train": by_dates(y, dates[-300:-150]),
        "X_val": by_dates(X, dates[-129:-70]),  # after a 21-day gap: the labels do not overlap
        "y_val": by_dates(y, dates[-129:-70]),
        "X_test": by_dates(X, dates[-48:]),
    }
    exec(BLOCKS["SECTION_4_RANKING"], ns)
    metrics, predictions, rank_scores, importance = (
        ns["metrics"],
        ns["predictions"],
        ns["rank_scores"],
        ns["importance"],
    )
    keys = {"accuracy", "top_quintile_accuracy", "bottom_quintile_accuracy", "information_coefficient", "ic_pvalue"}
    assert keys <= set(metrics) and metrics["evaluated_on"] == "validation"
    assert ns["model"].config.n_ensemble == 3 and len(ns["model"].raw_boosters()) == 3
    probs = predictions[[f"prob_q{k}" for k in range(1, 6)]].to_numpy()
    assert list(predictions.columns[-2:]) == ["predicted_quintile", "score"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (predictions["predicted_quintile"] == probs.argmax(axis=1) + 1).all()
    assert predictions["score"].between(0, 1).all()
    per_date = rank_scores.groupby(level="date")
    assert (per_date.min() == 0.0).all() and (per_date.max() == 1.0).all()  # 0 = worst, 1 = best each date
    best = predictions["score"].groupby(level="date").idxmax()
    assert (rank_scores.loc[best.to_numpy()] == 1.0).all()
    assert importance.is_monotonic_decreasing and importance.sum() == pytest.approx(1.0)


def test_section_4_regime_classifier(real):
    from axion_pipeline.ml import FeatureEngineer

    X_market = FeatureEngineer().create_regime_features(real["market"])
    labels = RegimeDetector().detect_series(real["gspc"])["regime"].reindex(X_market.index)
    ns = {"X_market": X_market, "regime_labels": labels, "X_current": X_market.iloc[-60:], "X_all": X_market}
    exec(BLOCKS["SECTION_4_REGIME"], ns)
    metrics, regime, batch = ns["metrics"], ns["regime"], ns["batch"]
    assert {"accuracy", "bull_accuracy", "bear_accuracy", "sideways_accuracy"} <= set(metrics)
    assert metrics["crisis_accuracy"] is None  # no crisis day in 2013-2018: said, not invented
    assert isinstance(regime, ns["RegimePrediction"]) and regime.regime in {"bull", "bear", "sideways", "crisis"}
    assert regime.confidence == pytest.approx(max(regime.probabilities.values()))
    assert sum(regime.probabilities.values()) == pytest.approx(1.0) and 1 <= regime.duration_days <= 60
    assert list(batch.columns) == ["prob_bull", "prob_bear", "prob_sideways", "prob_crisis", "regime", "confidence"]
    assert len(batch) == len(X_market) and batch.loc[X_market.index[-1], "regime"] == regime.regime


def test_section_4_earnings_model(real):
    X = real["X_earnings"]
    aapl = X.xs("AAPL", level="ticker") if "ticker" in X.index.names else X
    ns = {"X_earnings": X, "y_beat_miss": real["beat"], "earnings_features": aapl.iloc[-1].to_dict()}
    exec(BLOCKS["SECTION_4_EARNINGS"], ns)
    metrics, prediction = ns["metrics"], ns["prediction"]
    assert {"auc", "accuracy", "brier_score"} <= set(metrics)
    assert prediction.symbol == "AAPL" and 0.0 <= prediction.beat_probability <= 1.0
    assert prediction.confidence == pytest.approx(abs(2 * prediction.beat_probability - 1))
    # trained on beat/miss alone: no surprise size, and the prediction says why
    assert math.isnan(prediction.predicted_surprise)
    assert prediction.surprise_status.startswith("no surprise model: trained without a surprise target")


def test_section_4_factor_timing_model(real):
    X_macro = real["macro"].loc[real["factor_returns"].index.min() :]
    ns = {"X_macro": X_macro, "factor_returns_df": real["factor_returns"], "X_current_macro": X_macro.iloc[[-1]]}
    exec(BLOCKS["SECTION_4_FACTOR_TIMING"], ns)
    weights, config = ns["weights"], ns["model"].config
    assert {f"{c}_r2_oos" for c in CATEGORIES} <= set(ns["metrics"])
    assert set(weights) == set(CATEGORIES) and sum(weights.values()) == pytest.approx(1.0)
    assert all(config.min_weight - 1e-12 <= w <= config.max_weight + 1e-12 for w in weights.values())


# ------------------------------------------------------------------------------------ sections 5, 6
@pytest.fixture(scope="module")
def section_5(real, dataset, tmp_path_factory):
    """The section 5 block's namespace after it ran (section 6 continues from its pipeline)."""
    import os

    from axion_pipeline.ml import RankingModelConfig, StockRankingModel

    X, y = dataset
    dates = X.index.get_level_values("date").unique()
    ns = {
        "stock_data_df": real["stock"],
        "daily_returns_df": real["returns"],
        "macro_df": real["macro"],
        "market_data_df": real["market"],
        "regime_series": RegimeDetector().detect_series(real["gspc"])["regime"].loc[real["market"].index[0] :],
        "earnings_df": real["X_earnings"],
        "beat_miss_series": real["beat"],
        "factor_ls_returns_df": real["factor_returns"],
        "StockRankingModel": StockRankingModel,
        # the model the standalone walk-forward validates (section 4's), with small trees: it
        # fits five folds of 756+ dates
        "model": StockRankingModel(RankingModelConfig(n_estimators=40, n_ensemble=1, num_leaves=7, n_jobs=1)),
        "X": X,
        "y": y,
        # the optimiser's 50 trials on 20 + 40 dates, 21 dates apart
        "X_train": by_dates(X, dates[-81:-61]),
        "y_train": by_dates(y, dates[-81:-61]),
        "X_val": by_dates(X, dates[-40:]),
        "y_val": by_dates(y, dates[-40:]),
    }
    workdir = tmp_path_factory.mktemp("spec5")
    before = os.getcwd()
    os.chdir(workdir)  # MLConfig(model_dir="models/") is relative, as the spec writes it
    try:
        exec(BLOCKS["SECTION_5"], ns)
    finally:
        os.chdir(before)
    return ns, workdir


def test_section_5_training_pipeline(section_5):
    from axion_pipeline.ml import FeatureConfig, FeatureEngineer, MLPredictor, RankingModelConfig, StockRankingModel
    from axion_pipeline.ml.hyperopt import DEFAULT_PARAM_SPACE

    ns, workdir = section_5
    result, results, status = ns["result"], ns["results"], ns["status"]
    assert isinstance(result, ns["TrainingResult"]) and result.status == "success"
    assert result.model_name == "ranking" and result.walk_forward_metrics["n_folds"] == 5
    assert (workdir / result.model_path / "metadata.json").is_file()
    assert {name: r.status for name, r in results.items()} == dict.fromkeys(
        ["ranking", "regime", "earnings", "factor_timing"], "success"
    )
    assert status == {name: f"loaded: {r.version}" for name, r in results.items()}
    assert len(ns["wf_results"]) == 5 and ns["aggregated"]["n_folds"] == 5
    assert np.isfinite(ns["aggregated"]["ic_mean"])
    assert set(ns["best_params"]) == set(DEFAULT_PARAM_SPACE) and ns["optimizer"].summary_["n_trials"] == 50
    RankingModelConfig(**ns["best_params"])  # the parameters build a config
    # the first ranking model (trained with macro_df) saved its last year of macro rows: loaded, it
    # scores the file's last date without being given macro data
    loaded = StockRankingModel.load(workdir / result.model_path)
    macro = loaded.macro_data
    assert len(macro) == 252 and macro.index[-1] == LAST and list(macro.columns) == list(ns["macro_df"].columns)
    rankings = MLPredictor().set_models(ranking=loaded).predict_rankings(ns["stock_data_df"], LAST)
    assert (rankings["source"] == "ml").all() and rankings["fallback_reason"].isna().all()
    engineer = FeatureEngineer(FeatureConfig(**loaded.metadata.extra["feature_config"]))
    own = loaded.predict(engineer.create_features(ns["stock_data_df"], ns["macro_df"], LAST))["score"].droplevel(0)
    pd.testing.assert_series_equal(rankings["raw_score"].sort_index(), own.sort_index(), check_names=False)


def test_section_6_serving_monitoring_explaining(section_5, real):
    from axion_pipeline.ml import FeatureConfig, FeatureEngineer, RegimePrediction
    from axion_pipeline.ml.predictor import ModelUnavailableError

    base, _ = section_5
    pipeline = base["pipeline"]
    ranking_model = pipeline.ranking_model
    engineer = FeatureEngineer(FeatureConfig(**ranking_model.metadata.extra["feature_config"]))
    features = engineer.create_features_panel(real["stock"], real["macro"])[ranking_model.feature_names]
    dates = features.index.get_level_values("date")
    calendar = real["close"].index
    prediction_date = calendar[-22]  # its 21-day forward returns are realised on LAST
    current = features[dates == LAST]
    composites = real["stock"].loc[LAST, "composite"]
    ns = {
        "pipeline": pipeline,
        "date": dt.date,
        "current_data": real["stock"],  # holds the composite: a silent fallback to rules would be possible
        "market_data": real["market"],
        "composites": composites,
        "ml_scores": ranking_model.predict_rank(current).droplevel(0),
        "prediction_date": prediction_date,
        "predicted_scores": ranking_model.predict_rank(features[dates == prediction_date]).droplevel(0),
        "actual_returns": (1 + real["returns"].loc[prediction_date:].iloc[1:]).prod() - 1,
        "X_train": features[dates < calendar[-60]],
        "X_current": current,
        "ranking_model": ranking_model,
        "X_single": current.xs("AAPL", level="symbol", drop_level=False),
    }
    exec(on_real_dates(BLOCKS["SECTION_6"]), ns)
    rankings = ns["rankings"]
    assert (rankings["source"] == "ml").all() and rankings["fallback_reason"].isna().all()
    assert set(rankings.index) == set(TICKERS) and (rankings["date"] == LAST).all()
    own = ranking_model.predict(current)["score"].droplevel(0)
    pd.testing.assert_series_equal(rankings["raw_score"].sort_index(), own.sort_index(), check_names=False)
    assert isinstance(ns["regime"], RegimePrediction) and sum(ns["weights"].values()) == pytest.approx(1.0)
    assert ns["status"]["ranking"]["status"] == "ok" and ns["status"]["regime"]["status"] == "ok"
    hybrid = ns["hybrid"]
    assert hybrid["hybrid_score"].between(0, 1).all() and set(hybrid.index) == set(TICKERS)
    assert ns["scorer"].ml_active  # IC 0.045 >= min_ic_for_ml 0.03
    assert ns["health"].n_observations == 1 and np.isfinite(ns["health"].current_ic)
    assert set(ns["drift"].psi_scores) <= set(ns["X_train"].columns) and len(ns["drift"].psi_scores) > 0
    explanation = ns["explanation"]
    assert explanation.symbol == "AAPL" and explanation.top_positive_factors + explanation.top_negative_factors
    assert sum(explanation.feature_contributions.values()) == pytest.approx(
        explanation.score - explanation.base_value, abs=1e-6
    )
    # as written (date.today(), years after the file ends): neither the model nor the composite has
    # a row on that date, and the predictor says so instead of scoring stale rows
    with pytest.raises(ModelUnavailableError, match="raw_data has no rows on .*rule-based scores hold no value on"):
        exec("predictor.predict_rankings(raw_data=current_data, target_date=date.today())", dict(ns))


# ------------------------------------------------------------------------------------- integration
def test_integration_example(real):
    from axion_pipeline.factor_engine import FactorEngineV2
    from axion_pipeline.ml import FeatureEngineer, HybridScorer, StockRankingModel

    engineer = FeatureEngineer()
    ns = {
        "FactorEngineV2": FactorEngineV2,
        "StockRankingModel": StockRankingModel,
        "prices": real["close"].loc[:AS_OF],
        "fundamentals": real["fundamentals"],
        "engineer": engineer,
        "target": engineer.create_target(real["returns"], target_date=AS_OF, forward_days=21),
        "scorer": HybridScorer(),
    }
    exec(BLOCKS["INTEGRATION"], ns)
    scores, features, model, hybrid = ns["scores"], ns["features"], ns["model"], ns["hybrid"]
    assert scores.attrs["as_of_date"] == AS_OF and list(scores.index) == TICKERS
    assert features.index.equals(scores.index) and "composite_rank" in features.columns
    assert features["composite_rank"].corr(scores["composite"], method="spearman") == pytest.approx(1.0)
    assert model.is_fitted and hybrid.index.equals(scores.index)
    pd.testing.assert_series_equal(hybrid["rule_score"], scores["composite"], check_names=False)
    pd.testing.assert_series_equal(hybrid["ml_score"], model.predict_rank(features), check_names=False)
    assert hybrid["hybrid_score"].between(0, 1).all()
    # the default model (min_child_samples=300) cannot split one cross-section of seven names: one
    # score for all, a top-quintile precision of 0 over 0 rows and an undefined IC, said as such
    metrics, predicted = model.metadata.metrics, model.predict(features)
    assert predicted["score"].nunique() == 1 and (predicted["predicted_quintile"] != 5).all()
    assert metrics["n_predicted_top"] == 0 and metrics["top_quintile_accuracy"] == 0.0
    assert np.isnan(metrics["information_coefficient"]) and np.isnan(metrics["ic_pvalue"])
