"""Jobs, one per partitions definition and stage, in the order a full build runs them.

Dagster cannot run one selection over assets with different partitions definitions, so the build
(`make run`, ``axion_pipeline.run_all``) runs these jobs in order: unpartitioned ingestion tables,
the daily history (one single-run backfill over every trading day), whole-history analysis,
training per fold, the training tables, then the live span.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


def _keys(assets, partitioned: bool) -> list[dg.AssetKey]:
    return [key for a in assets for key in a.keys if (a.partitions_def is not None) == partitioned]


def build_jobs(market: list, factors: list, features: list, live: list) -> list:
    """The build's jobs over the stage asset lists (``live``: inference and monitoring)."""
    history = [*market, *factors, *features]
    return [
        dg.define_asset_job(
            "market_tables_job",
            selection=dg.AssetSelection.assets(*_keys(market, partitioned=False)),
            description="Unpartitioned ingestion tables: fundamentals, sectors, earnings, universe membership, "
            "rejected rows, planted truth.",
        ),
        dg.define_asset_job(
            "daily_job",
            selection=dg.AssetSelection.assets(*_keys(history, partitioned=True)),
            description="Trading-day partitioned history: prices and market series through factor scores, features "
            "and targets. Backfills run as one vectorised run per range.",
        ),
        dg.define_asset_job(
            "factor_analysis_job",
            selection=dg.AssetSelection.assets(*_keys([*factors, *features], partitioned=False)),
            description="Factor tear sheet over the whole scored history.",
        ),
        dg.define_asset_job(
            "inference_job",
            selection=dg.AssetSelection.assets(*live),
            description="Daily predictions, hybrid scores, regime, earnings, factor weights, health, drift and SHAP "
            "explanations (run over the live span: days after the production models' training window).",
        ),
    ]


@dataclass(frozen=True)
class Stage:
    job: str
    # None: unpartitioned; "range": one run over every trading day; "live": one run over the live
    # span; "each": one run per partition key (walk-forward folds)
    partitioned: str | None


BUILD_STAGES = [
    Stage("market_tables_job", None),
    Stage("daily_job", "range"),
    Stage("factor_analysis_job", None),
    Stage("ranking_validation_job", "each"),
    Stage("training_job", "each"),
    Stage("training_tables_job", None),
    Stage("inference_job", "live"),
]
