"""ML stack: features, models, walk-forward training, serving, monitoring, explanations.

Names are resolved lazily so that ``import axion_pipeline.ml`` stays cheap (LightGBM, XGBoost and
SHAP cost seconds to import; Dagster's multiprocess executor imports the code location per step).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # config
    "MLConfig": "config",
    "FeatureConfig": "config",
    "RankingModelConfig": "config",
    "RegimeModelConfig": "config",
    "EarningsModelConfig": "config",
    "FactorTimingConfig": "config",
    "WalkForwardConfig": "config",
    "MonitoringConfig": "config",
    "HybridScoringConfig": "config",
    # features
    "FeatureEngineer": "features",
    # models
    "BaseModel": "base",
    "ModelMetadata": "base",
    "ModelLoadError": "base",
    "StockRankingModel": "ranking",
    "RegimeClassifier": "regime",
    "RegimePrediction": "regime",
    "EarningsPredictionModel": "earnings",
    "EarningsPrediction": "earnings",
    "FactorTimingModel": "factor_timing",
    # training
    "WalkForwardValidator": "walk_forward",
    "HyperparameterOptimizer": "hyperopt",
    "TrainingPipeline": "pipeline",
    "TrainingResult": "pipeline",
    # serving and monitoring
    "MLPredictor": "predictor",
    "HybridScorer": "hybrid",
    "ModelPerformanceTracker": "monitoring",
    "ModelHealthStatus": "monitoring",
    "DegradationDetector": "monitoring",
    "DriftReport": "monitoring",
    "ModelExplainer": "explain",
    "Explanation": "explain",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'axion_pipeline.ml' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
