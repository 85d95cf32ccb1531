"""Group ``inference``: daily predictions of the production models and hybrid rule/ML scores."""

from axion_pipeline.defs.inference.assets import build_assets

__all__ = ["build_assets"]
