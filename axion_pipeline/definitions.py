"""The code location: every asset, check, job, schedule, sensor and resource of Axion Pipeline."""

from __future__ import annotations

import dagster as dg

from axion_pipeline.defs import training
from axion_pipeline.defs.automation import build_automation
from axion_pipeline.defs.factors.assets import ASSETS as FACTOR_ASSETS
from axion_pipeline.defs.factors.checks import CHECKS as FACTOR_CHECKS
from axion_pipeline.defs.features.assets import ASSETS as FEATURE_ASSETS
from axion_pipeline.defs.features.checks import CHECKS as FEATURE_CHECKS
from axion_pipeline.defs.inference.assets import ASSETS as INFERENCE_ASSETS
from axion_pipeline.defs.io_manager import AxionDuckDBIOManager
from axion_pipeline.defs.jobs import HISTORY_ASSETS, JOBS, LIVE_ASSETS
from axion_pipeline.defs.market.assets import ASSETS as MARKET_ASSETS
from axion_pipeline.defs.market.checks import CHECKS as MARKET_CHECKS
from axion_pipeline.defs.monitoring.assets import ASSETS as MONITORING_ASSETS
from axion_pipeline.defs.monitoring.checks import CHECKS as MONITORING_CHECKS
from axion_pipeline.defs.resources import Warehouse, default_market_source
from axion_pipeline.settings import get_settings

ALL_ASSETS = [*MARKET_ASSETS, *FACTOR_ASSETS, *FEATURE_ASSETS, *training.ASSETS, *INFERENCE_ASSETS,
              *MONITORING_ASSETS]
ALL_CHECKS = [*MARKET_CHECKS, *FACTOR_CHECKS, *FEATURE_CHECKS, *training.CHECKS, *MONITORING_CHECKS]
AUTOMATION_JOBS, SCHEDULES, SENSORS = build_automation(
    daily_assets=[a for a in [*HISTORY_ASSETS, *LIVE_ASSETS] if a.partitions_def is not None],
    retraining_assets=[training.production_models, training.model_store],
)


def build_definitions(warehouse: str | None = None) -> dg.Definitions:
    """Definitions over the given warehouse file (default: the settings'); tests pass a temporary one."""
    path = warehouse or get_settings().warehouse
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=[*JOBS, *training.JOBS, *AUTOMATION_JOBS],
        schedules=SCHEDULES,
        sensors=SENSORS,
        resources={
            "io_manager": AxionDuckDBIOManager(database=path),
            "market_source": default_market_source(),
            "model_store": training.default_model_store(path),
            "warehouse": Warehouse(path=path),
        },
    )


defs = build_definitions()
