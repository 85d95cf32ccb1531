"""Jobs, one per partitions definition and stage, in the order a full build runs them.

Dagster cannot run one selection over assets with different partitions definitions, so the build
(`make run`, ``axion_pipeline.run_all``) runs these jobs in order: unpartitioned ingestion tables,
the daily history (one single-run backfill over every trading day), whole-history analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from axion_pipeline.defs.factors.assets import ASSETS as FACTOR_ASSETS
from axion_pipeline.defs.features.assets import ASSETS as FEATURE_ASSETS
from axion_pipeline.defs.inference.assets import ASSETS as INFERENCE_ASSETS
from axion_pipeline.defs.market.assets import ASSETS as MARKET_ASSETS
from axion_pipeline.defs.monitoring.assets import ASSETS as MONITORING_ASSETS


def _keys(assets, partitioned: bool) -> list[dg.AssetKey]:
    return [key for a in assets for key in a.keys if (a.partitions_def is not None) == partitioned]


HISTORY_ASSETS = [*MARKET_ASSETS, *FACTOR_ASSETS, *FEATURE_ASSETS]
LIVE_ASSETS = [*INFERENCE_ASSETS, *MONITORING_ASSETS]

market_tables_job = dg.define_asset_job(
    "market_tables_job",
    selection=dg.AssetSelection.assets(*_keys(MARKET_ASSETS, partitioned=False)),
    description="Unpartitioned ingestion tables: fundamentals, sectors, earnings, rejected rows, planted truth.",
)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(*_keys(HISTORY_ASSETS, partitioned=True)),
    description="Trading-day partitioned history: prices and market series through factor scores, features "
                "and targets. Backfills run as one vectorised run per range.",
)

factor_analysis_job = dg.define_asset_job(
    "factor_analysis_job",
    selection=dg.AssetSelection.assets(*_keys([*FACTOR_ASSETS, *FEATURE_ASSETS], partitioned=False)),
    description="Factor tear sheet over the whole scored history.",
)


inference_job = dg.define_asset_job(
    "inference_job",
    selection=dg.AssetSelection.assets(*LIVE_ASSETS),
    description="Daily predictions, hybrid scores, regime, earnings, factor weights, health, drift and SHAP "
                "explanations (run over the live span: days after the production models' training window).",
)


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
    Stage("training_job", "each"),
    Stage("training_tables_job", None),
    Stage("inference_job", "live"),
]
JOBS = [market_tables_job, daily_job, factor_analysis_job, inference_job]
