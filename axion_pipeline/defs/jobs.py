"""Jobs, one per partitions definition, in the order a full build runs them."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from axion_pipeline.defs.market import assets as market

market_tables_job = dg.define_asset_job(
    "market_tables_job",
    selection=dg.AssetSelection.assets(
        market.fundamentals, market.sectors, market.earnings_events, market.rejected_rows,
        market.true_regimes, market.true_alpha,
    ),
    description="Unpartitioned ingestion tables: fundamentals, sectors, earnings, rejected rows, planted truth.",
)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.assets(market.prices, market.market_series),
    description="Every trading-day partitioned asset, from prices to explanations.",
)


@dataclass(frozen=True)
class Stage:
    job: str
    partitioned: str | None  # None: unpartitioned; "range": one run over all trading days


BUILD_STAGES = [Stage("market_tables_job", None), Stage("daily_job", "range")]
JOBS = [market_tables_job, daily_job]
