"""The code location: every asset, check, job, schedule, sensor and resource of Axion Pipeline."""

from __future__ import annotations

import dagster as dg

from axion_pipeline.defs.io_manager import AxionDuckDBIOManager
from axion_pipeline.defs.factors.assets import ASSETS as FACTOR_ASSETS
from axion_pipeline.defs.factors.checks import CHECKS as FACTOR_CHECKS
from axion_pipeline.defs.features.assets import ASSETS as FEATURE_ASSETS
from axion_pipeline.defs.features.checks import CHECKS as FEATURE_CHECKS
from axion_pipeline.defs.jobs import JOBS
from axion_pipeline.defs.market.assets import ASSETS as MARKET_ASSETS
from axion_pipeline.defs.market.checks import CHECKS as MARKET_CHECKS
from axion_pipeline.defs.resources import default_market_source
from axion_pipeline.settings import get_settings


def build_definitions(warehouse: str | None = None) -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        assets=[*MARKET_ASSETS, *FACTOR_ASSETS, *FEATURE_ASSETS],
        asset_checks=[*MARKET_CHECKS, *FACTOR_CHECKS, *FEATURE_CHECKS],
        jobs=JOBS,
        resources={
            "io_manager": AxionDuckDBIOManager(database=warehouse or settings.warehouse),
            "market_source": default_market_source(),
        },
    )


defs = build_definitions()
