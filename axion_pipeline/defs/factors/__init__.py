"""Group ``factors``: daily factor scores, the market regime with the weights in force, tear sheets."""

from axion_pipeline.defs.factors.assets import build_assets
from axion_pipeline.defs.factors.checks import build_checks

__all__ = ["build_assets", "build_checks"]
