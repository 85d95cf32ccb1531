"""The spec's code examples, verbatim except ``from src.`` -> ``from axion_pipeline.``.

One constant per fenced Python block of ``../shared/spec/axion-ml-skill.md``, in the spec's order
(``BLOCKS``). ``test_spec_examples.py`` checks they still equal the spec's text; the tests run
them with ``exec`` on the generated market and on ``../shared/data``, so what runs is what a
reader of the spec would type.
"""

from __future__ import annotations

import re
from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "spec" / "axion-ml-skill.md"


def spec_blocks(path: Path = SPEC_PATH) -> list[str]:
    """The fenced Python blocks of the spec, module prefix swapped."""
    text = path.read_text()
    return [b.replace("from src.", "from axion_pipeline.") for b in re.findall(r"```python\n(.*?)```", text, re.S)]


SECTION_1 = """
from axion_pipeline.factor_engine import FactorEngineV2
import pandas as pd

# Initialize engine
engine = FactorEngineV2(
    use_adaptive_weights=True,    # regime-based weight adaptation
    use_sector_relative=True,     # sector-relative scoring adjustment
    use_momentum_overlay=True,    # tilt toward recently-performing factors
)

# Prepare inputs
# prices: DataFrame[dates x tickers] of adjusted close prices
# fundamentals: DataFrame[tickers x fields] (pe_ratio, roe, revenue_growth, etc.)
# sp500_prices: Series of S&P 500 closing prices (for regime detection)

scores = engine.compute_all_scores(
    prices=prices_df,
    fundamentals=fundamentals_df,
    sp500_prices=sp500_series,
    as_of_date=date(2026, 2, 7),
)
# scores columns: value, momentum, quality, growth, volatility, technical, composite, regime

# Access the detected regime
regime = engine.last_regime       # MarketRegime enum (BULL, BEAR, SIDEWAYS, CRISIS)
weights = engine.last_weights     # dict like {"value": 0.20, "momentum": 0.25, ...}

# Detailed breakdown for a single ticker
breakdown = engine.get_factor_breakdown("AAPL", prices_df, fundamentals_df)
# breakdown["category_scores"], breakdown["sub_factors"], breakdown["regime"]

# v1-compatible output (4 factors only: value, momentum, quality, growth)
v1_scores = engine.compute_v1_compatible_scores(prices_df, fundamentals_df)
"""


SECTION_2 = """
from axion_pipeline.factors import FactorRegistry, ValueFactors
from axion_pipeline.factors.registry import create_default_registry

registry = create_default_registry()
all_factors = registry.list_factors()       # dict[category -> [factor_names]]
total = registry.total_factor_count()       # 40+ factors across 6 categories
value_scores = registry.compute_category("value", prices_df, fundamentals_df)
all_scores = registry.compute_all(prices_df, fundamentals_df)  # dict[str, DataFrame]
"""


SECTION_3 = """
from axion_pipeline.ml import FeatureEngineer, FeatureConfig
from datetime import date

engineer = FeatureEngineer(config=FeatureConfig(
    max_features=100,
    collinearity_threshold=0.95,
    lag_periods=[5, 10, 21],
    rolling_windows=[5, 21, 63],
))

# Create cross-sectional features for ranking model
# raw_data: MultiIndex DataFrame (date, symbol) x factor columns
features = engineer.create_features(
    raw_data=stock_data_df,
    macro_data=macro_df,        # optional: macro indicators indexed by date
    target_date=date(2026, 1, 15),
)
# Features include: *_rank, *_sector_rank, *_x_* (interactions),
#                    *_lagNd, *_mean_Nd, *_std_Nd, month_of_year, quarter

# Create target: forward return quintile labels (1=worst, 5=best)
target = engineer.create_target(
    returns_data=daily_returns_df,  # columns are symbols
    target_date=date(2026, 1, 15),
    forward_days=21,                # 1-month forward
    num_quintiles=5,
)

# Get feature names from last call
feature_names = engineer.feature_names

# Create features for regime classification
regime_features = engineer.create_regime_features(
    market_data=market_data_df,  # columns: sp500_close, vix, yield_10y, etc.
    target_date=date(2026, 1, 15),
)
# Includes: sp500_return_20d/60d, sp500_volatility_20d, vix_level,
#           vix_term_structure, yield_curve_10y_2y, credit_spread_hy_ig,
#           advance_decline_10d, pct_above_200sma, put_call_ratio
"""


SECTION_4_RANKING = """
from axion_pipeline.ml import StockRankingModel, RankingModelConfig

model = StockRankingModel(config=RankingModelConfig(
    n_estimators=500,
    max_depth=6,
    learning_rate=0.05,
    n_ensemble=3,          # ensemble of 3 models with different seeds
    num_quintiles=5,
))

# Train with validation set for early stopping
metrics = model.train(X_train, y_train, X_val=X_val, y_val=y_val)
# metrics: accuracy, top_quintile_accuracy, bottom_quintile_accuracy,
#          information_coefficient, ic_pvalue

# Predict quintile probabilities and composite score
predictions = model.predict(X_test)
# DataFrame columns: prob_q1..prob_q5, predicted_quintile, score (0-1)

# Convenience: get continuous rank score only
rank_scores = model.predict_rank(X_test)  # Series, 0=worst to 1=best

# Feature importance (averaged across ensemble)
importance = model.get_feature_importance()  # Series sorted descending
"""


SECTION_4_REGIME = """
from axion_pipeline.ml import RegimeClassifier, RegimeModelConfig, RegimePrediction

model = RegimeClassifier(config=RegimeModelConfig(
    n_components=4,          # GMM components
    covariance_type="full",
    rf_n_estimators=200,
    rf_max_depth=8,
    regimes=["bull", "bear", "sideways", "crisis"],
))

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
"""


SECTION_4_EARNINGS = """
from axion_pipeline.ml import EarningsPredictionModel, EarningsModelConfig

model = EarningsPredictionModel(config=EarningsModelConfig())
metrics = model.train(X_earnings, y_beat_miss)
prediction = model.predict_single("AAPL", earnings_features)
# EarningsPrediction: symbol, beat_probability, predicted_surprise, confidence
"""


SECTION_4_FACTOR_TIMING = """
from axion_pipeline.ml import FactorTimingModel, FactorTimingConfig

model = FactorTimingModel(config=FactorTimingConfig(
    factors=["value", "momentum", "quality", "growth", "volatility", "technical"],
))
metrics = model.train(X_macro, factor_returns_df)
weights = model.get_factor_weights(X_current_macro)
# {"value": 0.22, "momentum": 0.18, "quality": 0.20, ...}
"""


SECTION_5 = """
from axion_pipeline.ml import TrainingPipeline, MLConfig, TrainingResult
from axion_pipeline.ml import WalkForwardValidator, WalkForwardConfig, HyperparameterOptimizer

pipeline = TrainingPipeline(config=MLConfig(model_dir="models/"))

# Train a single model with walk-forward
result = pipeline.train_ranking_model(
    raw_data=stock_data_df, returns_data=daily_returns_df,
    macro_data=macro_df, run_walk_forward=True,
)
# TrainingResult: model_name, version, metrics, walk_forward_metrics, model_path, status

# Train all models at once
results = pipeline.train_all(
    raw_data=stock_data_df, returns_data=daily_returns_df,
    market_data=market_data_df, regime_labels=regime_series,
    earnings_features=earnings_df, earnings_labels=beat_miss_series,
    factor_returns=factor_ls_returns_df,
)

# Load saved models
status = pipeline.load_models(model_dir="models/")

# Walk-forward validation standalone
validator = WalkForwardValidator(config=WalkForwardConfig(
    n_splits=5, train_size=252*3, test_size=63, gap=21,
))
wf_results = validator.run_walk_forward(model, X, y)
aggregated = validator.aggregate_results(wf_results)

# Hyperparameter optimization
optimizer = HyperparameterOptimizer()
best_params = optimizer.optimize(
    model_class=StockRankingModel, X=X_train, y=y_train,
    X_val=X_val, y_val=y_val, n_trials=50,
)
"""


SECTION_6 = """
from axion_pipeline.ml import MLPredictor, HybridScorer, HybridScoringConfig
from axion_pipeline.ml import ModelPerformanceTracker, DegradationDetector, ModelExplainer

# --- Production predictor ---
predictor = MLPredictor()
predictor.set_models(ranking=pipeline.ranking_model, regime=pipeline.regime_model)
rankings = predictor.predict_rankings(raw_data=current_data, target_date=date.today())
regime = predictor.predict_regime(market_data)       # RegimePrediction
weights = predictor.get_factor_timing_weights(market_data)  # dict
status = predictor.get_model_status()                # per-model health dict

# --- Hybrid scoring (rules + ML blend) ---
scorer = HybridScorer(config=HybridScoringConfig(
    ml_weight=0.30, min_ic_for_ml=0.03, fallback_to_rules=True,
))
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
"""


INTEGRATION = """
# 1. Compute raw factor scores
engine = FactorEngineV2()
scores = engine.compute_all_scores(prices, fundamentals)

# 2. Use factor scores as ML features
features = engineer.create_features(raw_data=scores)

# 3. Train ranking model on those features
model = StockRankingModel()
model.train(features, target)

# 4. Blend rule-based composite with ML predictions
hybrid = scorer.compute_hybrid_scores(
    rule_scores=scores["composite"],
    ml_scores=model.predict_rank(features),
)
"""


BLOCKS = {
    "SECTION_1": SECTION_1,
    "SECTION_2": SECTION_2,
    "SECTION_3": SECTION_3,
    "SECTION_4_RANKING": SECTION_4_RANKING,
    "SECTION_4_REGIME": SECTION_4_REGIME,
    "SECTION_4_EARNINGS": SECTION_4_EARNINGS,
    "SECTION_4_FACTOR_TIMING": SECTION_4_FACTOR_TIMING,
    "SECTION_5": SECTION_5,
    "SECTION_6": SECTION_6,
    "INTEGRATION": INTEGRATION,
}
