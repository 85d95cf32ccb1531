"""Production models: the four models retrained on the latest window that ends at the production
cutoff (the live span start minus the gap), saved as new versions with ``LATEST`` per model, plus
the drift reference sample of the production ranking model's training features."""

import json

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.defs.common import (
    WAREHOUSE_POOL,
    Skipped,
    every_partition,
    frame_metadata,
    group_attributes,
    markdown_table,
    tidy,
    train_or_skip,
)
from axion_pipeline.defs.config import ProductionModelsConfig, ranking_config
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore, Warehouse
from axion_pipeline.defs.training.models import (
    CLOSE_COLUMNS,
    GROUP,
    fit_earnings,
    fit_factor_timing,
    fit_regime,
    read_ranking_rows,
    require_curves,
)

PRODUCTION_COLUMNS = [
    "model_name",
    "status",
    "version",
    "train_start",
    "fit_end",
    "train_end",
    "production_cutoff",
    "live_start",
    "trained_at",
    "train_seconds",
    "n_features",
    "metrics",
    "data_version",
    "path",
]


def _train_all(
    config: ProductionModelsConfig,
    window,
    horizon: int,
    features,
    fit_dates,
    targets,
    sectors,
    regime_features,
    true_regimes,
    market_regime,
    earnings_events,
    prices,
    fundamentals,
    factor_scores,
    ranking_curves,
) -> dict:
    """The four models on the production window, through the same functions as the folds: a
    ``ModelRun`` each, or ``Skipped`` when the data cannot train it. The ranking model's tree size
    and rounds pool every fold's validation curves (``ranking_curves``) with its own slice's."""
    from axion_pipeline.ml.config import EarningsModelConfig, FactorTimingConfig, RegimeModelConfig
    from axion_pipeline.ml.training import train_ranking

    return {
        "ranking_model": train_or_skip(
            train_ranking,
            features,
            targets,
            window,
            ranking_config(config.ranking, horizon),
            fit_dates=fit_dates,
            sectors=sectors,
            curves=ranking_curves,
        ),
        "regime_model": fit_regime(
            regime_features, true_regimes, market_regime, window, config.regime.to_library(RegimeModelConfig)
        ),
        "earnings_model": fit_earnings(
            earnings_events, prices, fundamentals, window, config.earnings.to_library(EarningsModelConfig)
        ),
        "factor_timing_model": fit_factor_timing(
            regime_features, prices, factor_scores, window, config.factor_timing.to_library(FactorTimingConfig)
        ),
    }


def build_production(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    def row(name: str, run, version: str | None, path, window) -> dict:
        base = {
            "model_name": name,
            "train_start": window.train_start,
            "fit_end": window.fit_end,
            "train_end": window.train_end,
            "production_cutoff": plan.production_cutoff,
            "live_start": plan.live_start,
        }
        if isinstance(run, Skipped):
            return {**base, "status": run.status}
        meta = run.model.metadata
        return {
            **base,
            "status": "trained",
            "version": version,
            "trained_at": meta.trained_at,
            "train_seconds": float(run.info.get("train_seconds", float("nan"))),
            "n_features": len(meta.feature_names),
            "metrics": json.dumps(meta.metrics, sort_keys=True, default=str),
            "data_version": meta.data_version,
            "path": str(path),
        }

    @dg.multi_asset(
        outs={
            "production_models": dg.AssetOut(
                description="The production version of each model (ranking, regime, earnings, factor timing): window, "
                "training metrics and path in the model store, whose LATEST points at it.",
                **group_attributes(GROUP, "whole-history"),
                kinds={"lightgbm", "xgboost", "duckdb"},
                metadata={"schema": GROUP},
            ),
            "drift_reference": dg.AssetOut(
                description="A seeded sample of the production ranking model's training rows (date, ticker and its "
                "selected features): the reference distribution for drift monitoring.",
                **group_attributes(GROUP, "whole-history"),
                kinds={"pandas", "duckdb"},
                metadata={"schema": GROUP},
            ),
        },
        ins={
            "regime_features": every_partition(),
            "true_regimes": dg.AssetIn(),
            "market_regime": every_partition(["date", "regime"]),
            "earnings_events": dg.AssetIn(),
            "prices": every_partition(CLOSE_COLUMNS),
            "fundamentals": dg.AssetIn(),
            "sectors": dg.AssetIn(),
            "factor_scores": every_partition(["date", "ticker", *CATEGORIES]),
            "ranking_validation": every_partition(),
        },
        deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in ("features", "targets")],
        pool=WAREHOUSE_POOL,
    )
    def production_models(
        context: dg.AssetExecutionContext,
        config: ProductionModelsConfig,
        model_store: ModelStore,
        warehouse: Warehouse,
        regime_features: pd.DataFrame,
        true_regimes: pd.DataFrame,
        market_regime: pd.DataFrame,
        earnings_events: pd.DataFrame,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame,
        sectors: pd.DataFrame,
        factor_scores: pd.DataFrame,
        ranking_validation: pd.DataFrame,
    ):
        """Train and version the four production models on the window ending at the production cutoff;
        a model the data cannot train is skipped (status in the table, no LATEST: serving uses rules)."""
        from axion_pipeline.analytics.plots import plot_feature_importance, to_markdown_image
        from axion_pipeline.ml.datasets import sample_rows

        window = plan.production
        require_curves(ranking_validation, plan.keys)
        features, targets, fit_dates = read_ranking_rows(warehouse, window, config.ranking.sample_every_n_days)
        runs = _train_all(
            config,
            window,
            plan.horizon,
            features,
            fit_dates,
            targets,
            sectors.set_index("ticker")["sector"],
            regime_features,
            true_regimes,
            market_regime,
            earnings_events,
            prices,
            fundamentals,
            factor_scores,
            ranking_validation,
        )
        rows = []
        for name, run in runs.items():
            if isinstance(run, Skipped):
                model_store.retire_production(name, run.reason, window.to_dict())
                context.log.warning(f"production {name} not trained: {run.reason}")
                rows.append(row(name, run, None, None, window))
                continue
            version, path = model_store.save_production(name, run.model, run.fingerprint, run.model.metadata.config)
            rows.append(row(name, run, version, path, window))
        table = (
            pd.DataFrame(rows)
            .reindex(columns=PRODUCTION_COLUMNS)
            .astype(
                {
                    "version": "string",
                    "trained_at": "string",
                    "metrics": "string",
                    "data_version": "string",
                    "path": "string",
                    "train_seconds": "float64",
                    "n_features": "float64",
                }
            )
        )
        ranking = runs["ranking_model"]
        meta = {
            "train_window": f"{window.train_start.date()} .. {window.train_end.date()}",
            "production_cutoff": str(plan.production_cutoff.date()),
            "live_span": f"{plan.live_start.date()} .. {project.calendar[-1].date()}",
            "models": markdown_table(table[["model_name", "status", "version", "train_seconds", "n_features"]]),
            "skipped": int(table["status"].str.startswith("skipped").sum()),
            "total_train_seconds": round(float(table["train_seconds"].sum()), 2),
        }
        if not isinstance(ranking, Skipped):
            importance = ranking.model.get_feature_importance()
            meta["ranking_feature_importance"] = dg.MetadataValue.md(
                to_markdown_image(plot_feature_importance(importance), "ranking model feature importance (gain)")
            )
            meta["ranking_validation_ic"] = ranking.info.get("validation_ic")
            meta["ranking_pooled_validation_ic"] = ranking.info.get("pooled_validation_ic")
            meta["ranking_rounds"] = ranking.info.get("best_iterations")
            meta["ranking_num_leaves"] = ranking.info.get("num_leaves")
        yield dg.Output(table, "production_models", metadata=tidy(meta))
        if isinstance(ranking, Skipped):
            drift = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "ticker": pd.Series(dtype=object)})
            yield dg.Output(drift, "drift_reference", metadata={"status": ranking.status})
            return
        drift = sample_rows(ranking.training_rows, config.drift_reference_rows)
        version = table.loc[table["model_name"] == "ranking_model", "version"].iloc[0]
        yield dg.Output(
            drift,
            "drift_reference",
            metadata={
                **frame_metadata(drift),
                "features": len(drift.columns) - 2,
                "model_version": version,
                "sampled_from_rows": len(ranking.training_rows),
                "status": "trained",
            },
        )

    return production_models
