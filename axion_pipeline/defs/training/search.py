"""On-demand hyperparameter search of the ranking model (its own job, not part of the default build)."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import (
    WAREHOUSE_POOL,
    add_metadata,
    call_library,
    every_partition,
    group_attributes,
    markdown_table,
)
from axion_pipeline.defs.config import HyperparameterSearchConfig, ranking_config
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore
from axion_pipeline.defs.training.models import GROUP


def build_search(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    @dg.asset(
        **group_attributes(GROUP, "on-demand"),
        kinds={"optuna", "lightgbm", "duckdb"},
        metadata={"schema": GROUP},
        pool=WAREHOUSE_POOL,
        ins={"features": every_partition(), "targets": every_partition(), "sectors": dg.AssetIn()},
    )
    def hyperparameter_search(
        context: dg.AssetExecutionContext,
        config: HyperparameterSearchConfig,
        model_store: ModelStore,
        features: pd.DataFrame,
        targets: pd.DataFrame,
        sectors: pd.DataFrame,
    ) -> pd.DataFrame:
        """Optuna trials of the ranking model (params, validation IC, state) on one window, with PBO and deflated Sharpe
        of the choice."""
        from axion_pipeline.ml.hyperopt import search_ranking

        try:
            window = plan.window(config.window)
        except KeyError as exc:
            raise dg.Failure(description=str(exc)) from exc
        study = (
            config.study_name or f"ranking_{window.key}_{window.val_start.date() if window.has_validation else 'noval'}"
        )
        trials, summary = call_library(
            search_ranking,
            features,
            targets,
            window,
            ranking_config(config.ranking, plan.horizon),
            n_trials=config.n_trials,
            storage=model_store.hyperopt_storage(),
            study_name=study,
            timeout=config.timeout_seconds,
            sectors=sectors.set_index("ticker")["sector"],
        )
        add_metadata(
            context,
            {
                "study": study,
                "storage": summary["storage"],
                "window": config.window,
                "best_value_ic": summary["best_value"],
                "best_params": summary["best_params"],
                "pbo": summary["pbo"],
                "deflated_sharpe": summary["deflated_sharpe"],
                "n_complete": summary["n_complete"],
                "n_pruned": summary["n_pruned"],
                "top_trials": markdown_table(trials.sort_values("value", ascending=False).head(10)),
            },
        )
        return trials

    return hyperparameter_search
