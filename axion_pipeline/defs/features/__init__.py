"""Group ``features``: ML features per (date, ticker), forward-return targets, regime features."""

from axion_pipeline.defs.features.assets import build_assets
from axion_pipeline.defs.features.checks import build_checks

__all__ = ["build_assets", "build_checks"]
