"""Group ``training``: models per walk-forward fold, the walk-forward report, production models,
the drift reference, the model store table and an on-demand hyperparameter search.

- ``training_job`` (fold-partitioned: run once per fold key): ranking_model, regime_model,
  earnings_model, factor_timing_model; each saves its model under the model store and stores
  its out-of-sample predictions on the fold's test window.
- ``training_tables_job`` (unpartitioned): walk_forward_report, production_models +
  drift_reference, model_store.
- ``hyperparameter_search_job``: hyperparameter_search only; not part of the default build.

Wiring: add ``ASSETS``/``CHECKS``/``JOBS`` to the Definitions, the ``model_store`` resource
(``default_model_store(warehouse)``), and ``STAGES`` (job name, "each" | None) after the
features stages of the build. Fold windows: ``axion_pipeline.defs.training.folds``.
"""

import dagster as dg

from axion_pipeline.defs.training.checks import CHECKS
from axion_pipeline.defs.training.models import FOLD_ASSETS
from axion_pipeline.defs.training.production import production_models
from axion_pipeline.defs.training.report import walk_forward_report
from axion_pipeline.defs.training.resources import ModelStore, default_model_store
from axion_pipeline.defs.training.search import hyperparameter_search
from axion_pipeline.defs.training.store import model_store

ASSETS = [*FOLD_ASSETS, walk_forward_report, production_models, model_store, hyperparameter_search]

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.assets(*FOLD_ASSETS),
    description="The four models of one walk-forward fold: train on the fold's window, save, score its test window.",
)
training_tables_job = dg.define_asset_job(
    "training_tables_job",
    selection=dg.AssetSelection.assets(walk_forward_report, production_models, model_store),
    description="Walk-forward report over all folds, production models (+ drift reference) and the model store table.",
)
hyperparameter_search_job = dg.define_asset_job(
    "hyperparameter_search_job",
    selection=dg.AssetSelection.assets(hyperparameter_search),
    description="On demand: Optuna search of the ranking model's hyperparameters (config: n_trials, window).",
)

JOBS = [training_job, training_tables_job, hyperparameter_search_job]
STAGES = [("training_job", "each"), ("training_tables_job", None)]
RESOURCES = {"model_store": default_model_store}

__all__ = ["ASSETS", "CHECKS", "JOBS", "STAGES", "ModelStore", "default_model_store"]
