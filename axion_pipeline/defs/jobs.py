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
from axion_pipeline.defs.market.assets import ASSETS as MARKET_ASSETS


def _keys(assets, partitioned: bool) -> list[dg.AssetKey]:
    return [key for a in assets for key in a.keys if (a.partitions_def is not None) == partitioned]


HISTORY_ASSETS = [*MARKET_ASSETS, *FACTOR_ASSETS, *FEATURE_ASSETS]

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


@dataclass(frozen=True)
class Stage:
    job: str
    partitioned: str | None  # None: unpartitioned; "range": one run over all trading days; "each": a run per key


BUILD_STAGES = [
    Stage("market_tables_job", None),
    Stage("daily_job", "range"),
    Stage("factor_analysis_job", None),
]
JOBS = [market_tables_job, daily_job, factor_analysis_job]
