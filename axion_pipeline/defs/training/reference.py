"""The Alpha158 reference: Qlib's published price-volume recipe, fitted on every walk-forward window,
so the ranking model is measured against a known baseline on the same test dates."""

import time

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import PRICE_COLUMNS
from axion_pipeline.defs.common import (
    Skipped,
    add_metadata,
    every_partition,
    frame_metadata,
    group_attributes,
    markdown_table,
    train_or_skip,
)
from axion_pipeline.defs.config import Alpha158ReferenceSettings
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.training.models import GROUP
from axion_pipeline.ml.jsonable import jsonable

FOLD_FACTS = ["n_fit_dates", "n_train_rows", "n_validation_rows", "best_iteration", "rounds_trained", "test_ic_mean"]


def build_reference(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    @dg.asset(
        **group_attributes(GROUP, "whole-history"),
        kinds={"lightgbm", "duckdb"},
        metadata={"schema": GROUP},
        ins={"prices": every_partition(PRICE_COLUMNS), "targets": every_partition(["date", "ticker", "fwd_return"])},
    )
    def alpha158_reference(
        context: dg.AssetExecutionContext,
        config: Alpha158ReferenceSettings,
        prices: pd.DataFrame,
        targets: pd.DataFrame,
    ) -> pd.DataFrame:
        """Out-of-sample scores of an Alpha158 + LightGBM reference (Qlib's recipe, written here) on every fold's test
        window, one row per (fold, date, ticker)."""
        from axion_pipeline.ml.alpha158 import Alpha158ReferenceConfig, alpha158
        from axion_pipeline.ml.training import empty_predictions, train_alpha158_reference

        library = config.to_library(Alpha158ReferenceConfig)
        if not library.enabled:
            add_metadata(context, {"status": "disabled by the run config (enabled: false)"})
            return empty_predictions("alpha158_reference")
        started = time.perf_counter()
        features = alpha158(prices)  # the one feature panel; every window below is a row slice of it
        feature_seconds = round(time.perf_counter() - started, 2)
        folds, parts = [], []
        for window in plan.windows:
            started = time.perf_counter()
            run = train_or_skip(train_alpha158_reference, features, targets, window, library)
            fold = {"fold": window.key, "seconds": round(time.perf_counter() - started, 2)}
            if isinstance(run, Skipped):
                context.log.warning(f"alpha158_reference {window.key} not trained: {run.reason}")
                folds.append({**fold, "status": run.status})
                continue
            folds.append({**fold, "status": "trained", **{k: run.info[k] for k in FOLD_FACTS}})
            parts.append(run.predictions)
        out = pd.concat(parts, ignore_index=True) if parts else empty_predictions("alpha158_reference")
        folds = pd.DataFrame(folds)
        add_metadata(
            context,
            {
                **frame_metadata(out),
                "status": f"{len(parts)} of {len(folds)} folds trained",
                "feature_seconds": feature_seconds,
                "feature_panel": f"{len(features)} rows x {features.shape[1] - 2} features, "
                f"{features.memory_usage(index=False).sum() / 1e6:.0f} MB",
                "fold_seconds": jsonable(dict(zip(folds["fold"], folds["seconds"]))),
                "folds": markdown_table(folds),
                "skipped_folds": folds.loc[folds["status"] != "trained", "status"].tolist(),
            },
        )
        return out

    return alpha158_reference
