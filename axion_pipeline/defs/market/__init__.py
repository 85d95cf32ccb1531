"""Group ``market``: ingestion of prices, fundamentals, sectors, market series, earnings events,
rejected rows and (generated market only) the planted truth."""

from axion_pipeline.defs.market.assets import build_assets
from axion_pipeline.defs.market.checks import build_checks

__all__ = ["build_assets", "build_checks"]
