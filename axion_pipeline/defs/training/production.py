"""Production models: the four models retrained on the latest window that ends at the production
cutoff (the live span start minus the gap), saved as new versions with ``LATEST`` per model, plus
the drift reference sample of the production ranking model's training features."""

import json

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.defs.common import WAREHOUSE_POOL, call_library, every_partition, frame_metadata, markdown_table
from axion_pipeline.defs.config import ProductionModelsConfig, ranking_configs
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore, Warehouse
from axion_pipeline.defs.training.models import CLOSE_COLUMNS, GROUP, read_ranking_rows

PRODUCTION_COLUMNS = [
    "model_name",
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
    features,
    fit_dates,
    targets,
    regime_features,
    true_regimes,
    market_regime,
    earnings_events,
    prices,
    fundamentals,
    factor_scores,
) -> dict:
    """The four library training calls on the production window (same functions as the folds)."""
    from axion_pipeline.ml.config import EarningsModelConfig, FactorTimingConfig, RegimeModelConfig
    from axion_pipeline.ml.datasets import earnings_dataset, factor_returns, regime_labels
    from axion_pipeline.ml.training import train_earnings, train_factor_timing, train_ranking, train_regime

    model_config, feature_config, every_n = ranking_configs(config.ranking)
    earnings = config.earnings.to_library(EarningsModelConfig)
    timing = config.factor_timing.to_library(FactorTimingConfig)
    labels, source = call_library(regime_labels, true_regimes, market_regime)
    X, beat, surprise = call_library(
        earnings_dataset, earnings_events, prices, fundamentals, earnings.max_price_staleness_days
    )
    returns = call_library(factor_returns, factor_scores, prices, list(timing.factors), timing.n_quantiles)
    return {
        "ranking_model": call_library(
            train_ranking, features, targets, window, model_config, feature_config, every_n, fit_dates=fit_dates
        ),
        "regime_model": call_library(
            train_regime, regime_features, labels, source, window, config.regime.to_library(RegimeModelConfig)
        ),
        "earnings_model": call_library(train_earnings, X, beat, surprise, window, earnings),
        "factor_timing_model": call_library(train_factor_timing, regime_features, returns, window, timing),
    }


def build_production(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    def row(name: str, run, version: str, path, window) -> dict:
        meta = run.model.metadata
        return {
            "model_name": name,
            "version": version,
            "train_start": window.train_start,
            "fit_end": window.fit_end,
            "train_end": window.train_end,
            "production_cutoff": plan.production_cutoff,
            "live_start": plan.live_start,
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
                group_name=GROUP,
                kinds={"lightgbm", "xgboost", "duckdb"},
                metadata={"schema": GROUP},
                owners=["team:ml"],
            ),
            "drift_reference": dg.AssetOut(
                description="A seeded sample of the production ranking model's training rows (date, ticker and its "
                "selected features): the reference distribution for drift monitoring.",
                group_name=GROUP,
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
            "factor_scores": every_partition(["date", "ticker", *CATEGORIES]),
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
        factor_scores: pd.DataFrame,
    ):
        """Train and version the four production models on the window ending at the production cutoff."""
        from axion_pipeline.analytics.plots import plot_feature_importance, to_markdown_image
        from axion_pipeline.ml.datasets import sample_rows

        window = plan.production
        features, targets, fit_dates = read_ranking_rows(warehouse, window, config.ranking.sample_every_n_days)
        runs = _train_all(
            config,
            window,
            features,
            fit_dates,
            targets,
            regime_features,
            true_regimes,
            market_regime,
            earnings_events,
            prices,
            fundamentals,
            factor_scores,
        )
        rows = []
        for name, run in runs.items():
            version, path = model_store.save_production(name, run.model, run.fingerprint, run.model.metadata.config)
            rows.append(row(name, run, version, path, window))
        table = pd.DataFrame(rows, columns=PRODUCTION_COLUMNS)
        importance = runs["ranking_model"].model.get_feature_importance()
        yield dg.Output(
            table,
            "production_models",
            metadata={
                "ranking_feature_importance": dg.MetadataValue.md(
                    to_markdown_image(plot_feature_importance(importance), "ranking model feature importance (gain)")
                ),
                "rows": len(table),
                "train_window": f"{window.train_start.date()} .. {window.train_end.date()}",
                "production_cutoff": str(plan.production_cutoff.date()),
                "live_span": f"{plan.live_start.date()} .. {project.calendar[-1].date()}",
                "models": markdown_table(table[["model_name", "version", "train_seconds", "n_features"]]),
                "ranking_validation_ic": runs["ranking_model"].info.get("validation_ic"),
                "total_train_seconds": round(float(table["train_seconds"].sum()), 2),
            },
        )
        drift = sample_rows(runs["ranking_model"].training_rows, config.drift_reference_rows)
        yield dg.Output(
            drift,
            "drift_reference",
            metadata={
                **frame_metadata(drift),
                "features": len(drift.columns) - 2,
                "model_version": rows[0]["version"],
                "sampled_from_rows": len(runs["ranking_model"].training_rows),
            },
        )

    return production_models
