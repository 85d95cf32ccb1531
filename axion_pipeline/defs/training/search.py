"""On-demand hyperparameter search of the ranking model (its own job, not part of the default build)."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import WAREHOUSE_POOL, markdown_table
from axion_pipeline.defs.training.config import HyperparameterSearchConfig
from axion_pipeline.defs.training.folds import PLAN
from axion_pipeline.defs.training.models import GROUP, call_library, every_partition
from axion_pipeline.defs.training.resources import ModelStore


@dg.asset(
    group_name=GROUP, kinds={"optuna", "lightgbm", "duckdb"}, metadata={"schema": GROUP}, pool=WAREHOUSE_POOL,
    owners=["team:ml"], ins={"features": every_partition(), "targets": every_partition()},
)
def hyperparameter_search(context: dg.AssetExecutionContext, config: HyperparameterSearchConfig,
                          model_store: ModelStore, features: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """Optuna trials of the ranking model (params, validation IC, state) on one window, with PBO and deflated Sharpe of the choice."""
    from axion_pipeline.training_glue import search_ranking

    try:
        window = PLAN.window(config.window)
    except KeyError as exc:
        raise dg.Failure(description=str(exc)) from exc
    study = config.study_name or f"ranking_{window.key}_{window.val_start.date() if window.has_validation else 'noval'}"
    trials, summary = call_library(
        search_ranking, features, targets, window, config.ranking.library_config(), config.ranking.feature_config(),
        config.ranking.sample_every_n_days, n_trials=config.n_trials, storage=model_store.hyperopt_storage(),
        study_name=study, timeout=config.timeout_seconds)
    context.add_output_metadata({
        "rows": len(trials), "study": study, "storage": summary["storage"], "window": config.window,
        "best_value_ic": summary["best_value"], "best_params": summary["best_params"],
        "pbo": summary["pbo"], "deflated_sharpe": summary["deflated_sharpe"],
        "n_complete": summary["n_complete"], "n_pruned": summary["n_pruned"],
        "top_trials": markdown_table(trials.sort_values("value", ascending=False).head(10)),
    })
    return trials
