"""Run configuration of the training assets: ``dg.Config`` classes mapping field for field onto the
library's config dataclasses (``RankingModelConfig``, ``RegimeModelConfig``, ``EarningsModelConfig``,
``FactorTimingConfig``, the selection fields of ``FeatureConfig``), plus the few settings of the
training sets themselves (date sampling, price staleness, quantiles).

Defaults keep ``make run`` fast on two cores: up to 300 boosting rounds with early stopping after
50 without improvement, an ensemble of two, every 5th trading day of the training window (21-day
labels overlap, so consecutive days add little). The ranking trees are deliberately weak learners
(3 leaves, >= 1000 rows a leaf, half the features a tree, L2 10): the cross-sectional signal is
small (single-factor ICs ~0.05) and bigger trees fit noise. Measured on the generated market's 5
folds (OOS per-date rank IC with the 21-day return, with the ``eval_y`` encoding fix in
``ranking.py``): 0.023 for these trees on a sliding 504-day window and the category features
(0.022 for 15 leaves / 300 rows, 0.011 for 31 leaves / 50 rows); 0.037 with an expanding window
(``AXION_WF_EXPANDING``, now the default); 0.046 (oracle 0.091) once the features also hold the
sub-factor ranks and the regime interactions (``FeatureConfig.rank_only_columns``,
``include_regime_interactions``). ``max_features`` 200 keeps every column the collinearity filter
passes (about 107 of 154 on the generated market); the old cap of 100 dropped sub-factor ranks.
"""

from dataclasses import fields
from typing import Optional

import dagster as dg

from axion_pipeline.data.contracts import REGIMES
from axion_pipeline.ml.config import (
    EarningsModelConfig,
    FactorTimingConfig,
    FeatureConfig,
    RankingModelConfig,
    RegimeModelConfig,
)

CATEGORIES = ["value", "momentum", "quality", "growth", "volatility", "technical"]


def to_library(config: dg.Config, cls: type):
    """``cls(**fields)`` from the same-named fields of ``config`` (the others keep cls' defaults)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in config.model_dump().items() if k in names})


class RankingTrainingConfig(dg.Config):
    """RankingModelConfig + FeatureConfig selection (max_features, collinearity_threshold) + date sampling."""

    n_estimators: int = 300
    max_depth: int = 4
    learning_rate: float = 0.05
    n_ensemble: int = 2
    num_quintiles: int = 5
    num_leaves: int = 3
    min_child_samples: int = 1000
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    reg_lambda: float = 10.0
    early_stopping_rounds: int = 50
    n_jobs: int = 2
    random_state: int = 42
    fallback_estimator: str = "hist_gradient_boosting"
    max_features: int = 200
    collinearity_threshold: float = 0.95
    selection_max_rows: int = 10_000  # rows sampled to estimate the correlations of the collinearity filter
    sample_every_n_days: int = 5  # fit on every n-th trading day of the window (validation: every day)

    def library_config(self) -> RankingModelConfig:
        return to_library(self, RankingModelConfig)

    def feature_config(self) -> FeatureConfig:
        return to_library(self, FeatureConfig)


class RegimeTrainingConfig(dg.Config):
    """RegimeModelConfig."""

    n_components: int = 4
    covariance_type: str = "full"
    rf_n_estimators: int = 200
    rf_max_depth: int = 8
    regimes: list[str] = list(REGIMES)
    random_state: int = 42
    holdout_fraction: float = 0.2
    n_jobs: int = 2

    def library_config(self) -> RegimeModelConfig:
        return to_library(self, RegimeModelConfig)


class EarningsTrainingConfig(dg.Config):
    """EarningsModelConfig + how stale the last close before an announcement may be."""

    n_estimators: int = 300
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    random_state: int = 42
    holdout_fraction: float = 0.2
    n_jobs: int = 1
    max_price_staleness_days: int = 10

    def library_config(self) -> EarningsModelConfig:
        return to_library(self, EarningsModelConfig)


class FactorTimingTrainingConfig(dg.Config):
    """FactorTimingConfig + the quantiles of the long-short factor portfolios."""

    factors: list[str] = list(CATEGORIES)
    forward_days: int = 21
    min_weight: float = 0.05
    max_weight: float = 0.40
    alpha: float = 1.0
    random_state: int = 42
    holdout_fraction: float = 0.2
    tilt_strength: float = 1.0
    n_quantiles: int = 5

    def library_config(self) -> FactorTimingConfig:
        return to_library(self, FactorTimingConfig)


class ProductionModelsConfig(dg.Config):
    """The four models' configs (defaults as for the folds) and the drift reference's size."""

    ranking: RankingTrainingConfig = RankingTrainingConfig()
    regime: RegimeTrainingConfig = RegimeTrainingConfig()
    earnings: EarningsTrainingConfig = EarningsTrainingConfig()
    factor_timing: FactorTimingTrainingConfig = FactorTimingTrainingConfig()
    drift_reference_rows: int = 20_000


class HyperparameterSearchConfig(dg.Config):
    """Optuna search of the ranking model on one window's fit rows, scored on its validation slice.

    ``window``: a fold key (default ``fold_0``, the oldest: the later folds' test windows stay
    untouched by the search) or ``production``. ``study_name`` defaults to one per window and
    validation start, so a study resumes only on the same validation dates.
    """

    n_trials: int = 20
    window: str = "fold_0"
    study_name: Optional[str] = None
    timeout_seconds: Optional[float] = None
    ranking: RankingTrainingConfig = RankingTrainingConfig()
