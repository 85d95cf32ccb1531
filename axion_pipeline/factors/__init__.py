"""Factor library: six calculator categories (46 sub-factors), the registry, point-in-time
fundamentals snapshots and the inputs shared by the single-date and panel paths."""

from axion_pipeline.factors.base import CategoryPanel, FactorCalculator, SubFactor
from axion_pipeline.factors.growth import GrowthFactors
from axion_pipeline.factors.momentum import MomentumFactors
from axion_pipeline.factors.ops import combine_subfactors, percentile_rank, winsorize, zscore
from axion_pipeline.factors.panel import FactorInputs, build_inputs
from axion_pipeline.factors.quality import QualityFactors
from axion_pipeline.factors.registry import FactorRegistry, create_default_registry
from axion_pipeline.factors.snapshot import augment_fundamentals, build_fundamentals_snapshot
from axion_pipeline.factors.technical import TechnicalFactors
from axion_pipeline.factors.value import ValueFactors
from axion_pipeline.factors.volatility import VolatilityFactors

__all__ = [
    "CategoryPanel",
    "FactorCalculator",
    "FactorInputs",
    "FactorRegistry",
    "GrowthFactors",
    "MomentumFactors",
    "QualityFactors",
    "SubFactor",
    "TechnicalFactors",
    "ValueFactors",
    "VolatilityFactors",
    "augment_fundamentals",
    "build_fundamentals_snapshot",
    "build_inputs",
    "combine_subfactors",
    "create_default_registry",
    "percentile_rank",
    "winsorize",
    "zscore",
]
