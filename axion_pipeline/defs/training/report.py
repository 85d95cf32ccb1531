"""The walk-forward report: out-of-sample ranking quality per fold and over all folds."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import WAREHOUSE_POOL, add_metadata, group_attributes, markdown_table
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.training.models import GROUP
from axion_pipeline.ml.jsonable import jsonable

ORACLE_COLUMNS = ["oracle_ic_mean", "model_oracle_ratio"]


def build_report(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    @dg.asset(
        **group_attributes(GROUP, "whole-history"),
        kinds={"pandas", "duckdb"},
        metadata={"schema": GROUP},
        pool=WAREHOUSE_POOL,
        ins={
            "ranking_model": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
            "true_alpha": dg.AssetIn(metadata={"columns": ["date", "ticker", "expected_return"]}),
        },
    )
    def walk_forward_report(
        context: dg.AssetExecutionContext, ranking_model: pd.DataFrame, true_alpha: pd.DataFrame
    ) -> pd.DataFrame:
        """Out-of-sample IC (mean, std, ICIR, hit rate, Newey-West t and p, block-bootstrap 95% interval), quintile
        spread and accuracy of the ranking model per fold and overall, with the oracle IC on the generated market."""
        from axion_pipeline.analytics.plots import plot_walk_forward_ic, to_markdown_image
        from axion_pipeline.ml.evaluation import walk_forward_table

        folds = sorted(ranking_model["fold"].unique()) if len(ranking_model) else []
        missing = sorted(set(plan.keys) - set(folds))
        if missing:  # a fold whose model was skipped (see its materialization) or never trained
            context.log.warning(f"ranking_model has no predictions for {missing}: skipped or not trained")
        table, ic = walk_forward_table(ranking_model, true_alpha if len(true_alpha) else None, plan.horizon)
        for column in ORACLE_COLUMNS:  # real data has no planted truth: the columns exist, empty, so queries run
            if column not in table:
                table[column] = float("nan")
        table["status"] = table["fold"].map(lambda f: "scored" if f in folds or f == "all" else "")
        absent = pd.DataFrame({"fold": missing, "status": "no predictions: model skipped or not trained"})
        table = pd.concat([table, absent], ignore_index=True) if missing else table
        overall = table.loc[table["fold"] == "all"].iloc[0]
        bounds = plan.frame().rename(columns={"window": "fold"})
        if len(ic):
            plot = to_markdown_image(
                plot_walk_forward_ic(ic, bounds.loc[bounds["fold"].isin(folds)]), "walk-forward IC"
            )
        else:  # every test date's scores were constant (e.g. a model early-stopped before its first split)
            plot = "no date with a defined IC: the model's scores are constant within each date"
        meta = {
            "folds": len(folds),
            "oos_dates": int(overall["n_dates"]),
            "ic_mean": overall["ic_mean"],
            "icir": overall["icir"],
            "hit_rate": overall["hit_rate"],
            "ic_tstat_newey_west": overall["ic_tstat_nw"],
            "ic_pvalue_newey_west": overall["ic_pvalue_nw"],
            "ic_ci95_block_bootstrap": _interval(overall["ic_ci_low"], overall["ic_ci_high"]),
            "spread_mean": overall["spread_mean"],
        }
        if len(true_alpha):
            meta.update(oracle_ic_mean=overall["oracle_ic_mean"], model_oracle_ratio=overall["model_oracle_ratio"])
        else:
            meta["oracle_ic_mean"] = "no planted truth (real data): oracle_ic_mean and model_oracle_ratio are empty"
        add_metadata(
            context,
            {
                **jsonable(meta),
                "metrics": markdown_table(table.drop(columns=["test_start", "test_end"])),
                "ic_over_time": dg.MetadataValue.md(plot),
            },
        )
        return table

    return walk_forward_report


def _interval(low: float, high: float) -> str:
    if pd.isna(low) or pd.isna(high):
        return "n/a: fewer than two blocks of horizon-many dates"
    return f"[{low:.4f}, {high:.4f}]"
