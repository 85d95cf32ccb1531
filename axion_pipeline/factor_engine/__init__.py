"""Factor engine: ``FactorEngineV2`` (one date), ``compute_factor_panel`` (every date), market
regime detection and regime-adaptive category weights."""

from axion_pipeline.factor_engine.engine import FactorEngineV2
from axion_pipeline.factor_engine.panel import compute_factor_panel
from axion_pipeline.factor_engine.regime import MarketRegime, RegimeDetector
from axion_pipeline.factor_engine.weights import CATEGORIES, AdaptiveWeightManager

__all__ = [
    "CATEGORIES",
    "AdaptiveWeightManager",
    "FactorEngineV2",
    "MarketRegime",
    "RegimeDetector",
    "compute_factor_panel",
]
