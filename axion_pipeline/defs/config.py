"""Run configuration of the assets, generated from the library's config dataclasses.

Every field and default lives once, in ``axion_pipeline.ml.config`` (and ``EngineOptions`` of the
factor engine); ``library_config`` turns chosen fields of those dataclasses into a ``dg.Config``
class, so the launchpad shows the library's defaults and a field added there appears here. The
config's ``to_library(cls)`` builds the dataclass back from the same-named fields.
"""

from __future__ import annotations

import typing
from dataclasses import MISSING, fields
from typing import Any, Optional

import dagster as dg
import pydantic

from axion_pipeline.factor_engine.panel import EngineOptions
from axion_pipeline.ml.alpha158 import Alpha158ReferenceConfig
from axion_pipeline.ml.config import (
    EarningsModelConfig,
    FactorTimingConfig,
    FeatureConfig,
    HybridScoringConfig,
    MLConfig,
    ModelEvaluationConfig,
    MonitoringConfig,
    RankingModelConfig,
    RegimeModelConfig,
)


class LibraryConfig(dg.Config):
    """A run config whose fields come from library dataclasses (see ``library_config``)."""

    def to_library(self, cls: type) -> Any:
        """``cls(**fields)`` from this config's same-named fields (the others keep cls' defaults)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in self.model_dump().items() if k in names})


def library_config(
    name: str, doc: str, *parts: tuple[type, list[str] | None], base: type = LibraryConfig, **extra: Any
) -> type:
    """A ``dg.Config`` class ``name`` with the fields of each (dataclass, field names or None for all
    plain-typed fields) part, typed and defaulted as in the dataclass; ``extra`` adds
    ``name=(type, default)`` fields that have no library counterpart."""
    spec: dict[str, Any] = {}
    for cls, wanted in parts:
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            if (wanted is not None and f.name not in wanted) or (wanted is None and not _plain(hints[f.name])):
                continue
            default = f.default if f.default is not MISSING else f.default_factory()
            spec[f.name] = (hints[f.name], pydantic.Field(default=default))
        missing = sorted(set(wanted or []) - {f.name for f in fields(cls)})
        if missing:
            raise TypeError(f"{cls.__name__} has no fields {missing}")
    spec.update(extra)
    model = pydantic.create_model(name, __base__=base, __module__=__name__, **spec)
    model.__doc__ = doc
    return model


def _plain(hint: Any) -> bool:
    """Config-able types: scalars, lists of scalars and their Optionals (not objects such as registries)."""
    origin = typing.get_origin(hint)
    if origin is None:
        return hint in (bool, int, float, str)
    return all(_plain(arg) for arg in typing.get_args(hint) if arg is not type(None))


FactorEngineConfig = library_config(
    "FactorEngineConfig",
    "Maps onto the factor engine's ``EngineOptions`` (regime weights, sector blend, overlay).",
    (EngineOptions, ["use_adaptive_weights", "use_sector_relative", "use_momentum_overlay", "sector_blend"]),
)

RANKING_SELECTION_FIELDS = ["max_features", "collinearity_threshold", "selection_max_rows"]
FeatureSettings = library_config(
    "FeatureSettings",
    "Maps onto ``FeatureConfig`` (lags and windows in trading days); its feature-selection "
    "fields belong to the ranking model's config.",
    (FeatureConfig, [f.name for f in fields(FeatureConfig) if f.name not in RANKING_SELECTION_FIELDS]),
)

RANKING_TRAINING_FIELDS = [
    "sample_every_n_days",
    "neutralize_label_exposures",
    "neutralize_label_sectors",
]
RankingTrainingConfig = library_config(
    "RankingTrainingConfig",
    "``RankingModelConfig``, the feature-selection fields of ``FeatureConfig`` and how ``MLConfig`` cuts the "
    "ranking model's training rows and labels (date sampling, label neutralisation).",
    (RankingModelConfig, None),
    (FeatureConfig, RANKING_SELECTION_FIELDS),
    (MLConfig, RANKING_TRAINING_FIELDS),
)

RegimeTrainingConfig = library_config(
    "RegimeTrainingConfig", "Maps onto ``RegimeModelConfig``.", (RegimeModelConfig, None)
)
EarningsTrainingConfig = library_config(
    "EarningsTrainingConfig", "Maps onto ``EarningsModelConfig``.", (EarningsModelConfig, None)
)
FactorTimingTrainingConfig = library_config(
    "FactorTimingTrainingConfig", "Maps onto ``FactorTimingConfig``.", (FactorTimingConfig, None)
)
HybridSettings = library_config("HybridSettings", "Maps onto ``HybridScoringConfig``.", (HybridScoringConfig, None))
Alpha158ReferenceSettings = library_config(
    "Alpha158ReferenceSettings",
    "Maps onto ``Alpha158ReferenceConfig`` (enabled, date sampling, Qlib's rounds and early stopping, threads).",
    (Alpha158ReferenceConfig, None),
)
ModelEvaluationSettings = library_config(
    "ModelEvaluationSettings",
    "Maps onto ``ModelEvaluationConfig`` (cost per unit of turnover, quantiles, bootstrap, the significant t).",
    (ModelEvaluationConfig, None),
)


class ProductionModelsConfig(dg.Config):
    """The four models' configs (defaults as for the folds) and the drift reference's size."""

    ranking: RankingTrainingConfig = RankingTrainingConfig()
    regime: RegimeTrainingConfig = RegimeTrainingConfig()
    earnings: EarningsTrainingConfig = EarningsTrainingConfig()
    factor_timing: FactorTimingTrainingConfig = FactorTimingTrainingConfig()
    drift_reference_rows: int = MonitoringConfig().reference_rows


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


def ranking_config(config: Any, horizon: int) -> MLConfig:
    """The library ``MLConfig`` of a ``RankingTrainingConfig``: the model, the feature selection and
    the training rows and labels, with the project's label horizon."""
    chosen = {name: getattr(config, name) for name in RANKING_TRAINING_FIELDS}
    return MLConfig(
        ranking=config.to_library(RankingModelConfig),
        features=config.to_library(FeatureConfig),
        forward_days=horizon,
        **chosen,
    )
