"""Group ``training``: models per walk-forward fold, the walk-forward report, production models,
the drift reference, the model store table and an on-demand hyperparameter search.

- ``ranking_validation_job`` (fold-partitioned, before training_job): ranking_validation, the
  validation IC curves of each candidate tree size on the fold's validation slice.
- ``training_job`` (fold-partitioned: run once per fold key): ranking_model (size and rounds
  chosen on the curves of this and earlier folds), regime_model,
  earnings_model, factor_timing_model; each saves its model under the model store and stores
  its out-of-sample predictions on the fold's test window.
- ``training_tables_job`` (unpartitioned): walk_forward_report, alpha158_reference (Qlib's
  recipe fitted on every fold window), model_evaluation + model_vs_baselines + model_exposures
  (the folds' out-of-sample scores against the rules and baselines), production_models +
  drift_reference, model_store.
- ``hyperparameter_search_job``: hyperparameter_search only; not part of the default build.
"""

import dagster as dg

from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.training.checks import build_checks
from axion_pipeline.defs.training.evaluation import build_evaluation
from axion_pipeline.defs.training.models import FOLD_ASSET_KEYS, build_fold_assets
from axion_pipeline.defs.training.production import build_production
from axion_pipeline.defs.training.reference import build_reference
from axion_pipeline.defs.training.report import build_report
from axion_pipeline.defs.training.search import build_search
from axion_pipeline.defs.training.store import build_store

TABLE_ASSET_KEYS = [
    "walk_forward_report",
    "alpha158_reference",
    "model_evaluation",
    "model_vs_baselines",
    "model_exposures",
    "production_models",
    "drift_reference",
    "model_store",
]


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    return [
        *build_fold_assets(project),
        build_report(project),
        build_reference(project),
        build_evaluation(project),
        build_production(project),
        build_store(project),
        build_search(project),
    ]


def build_jobs() -> list:
    return [
        dg.define_asset_job(
            "ranking_validation_job",
            selection=dg.AssetSelection.assets("ranking_validation"),
            description="The ranking model's validation curves of one walk-forward fold (each candidate tree size's "
            "validation rank IC by rounds): run for every fold before training_job, which chooses from them.",
        ),
        dg.define_asset_job(
            "training_job",
            selection=dg.AssetSelection.assets(*FOLD_ASSET_KEYS),
            description="The four models of one walk-forward fold: train on the fold's window, save, score its "
            "test window.",
        ),
        dg.define_asset_job(
            "training_tables_job",
            selection=dg.AssetSelection.assets(*TABLE_ASSET_KEYS),
            description="Walk-forward report over all folds, the Alpha158 reference and the model evaluation against "
            "the rules and baselines, production models (+ drift reference) and the model store table.",
        ),
        dg.define_asset_job(
            "hyperparameter_search_job",
            selection=dg.AssetSelection.assets("hyperparameter_search"),
            description="On demand: Optuna search of the ranking model's hyperparameters (config: n_trials, window).",
        ),
    ]


__all__ = ["build_assets", "build_checks", "build_jobs"]
