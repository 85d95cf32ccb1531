"""Group ``monitoring``: realized model health, feature drift against the training data, SHAP explanations."""

from axion_pipeline.defs.monitoring.assets import build_assets
from axion_pipeline.defs.monitoring.checks import build_checks

__all__ = ["build_assets", "build_checks"]
