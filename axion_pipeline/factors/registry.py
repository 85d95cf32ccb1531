"""Registry of factor calculators: one per category, with the static default category weights.

``create_default_registry()`` holds the six categories (46 sub-factors). Default weights (used by
``FactorEngineV2`` when adaptive weights are off): value 0.20, momentum 0.20, quality 0.20,
growth 0.15, volatility 0.10, technical 0.15, normalised to sum to 1 over the registered
categories.
"""

from __future__ import annotations

import pandas as pd

from axion_pipeline.factors.base import FactorCalculator
from axion_pipeline.factors.growth import GrowthFactors
from axion_pipeline.factors.momentum import MomentumFactors
from axion_pipeline.factors.panel import build_inputs
from axion_pipeline.factors.quality import QualityFactors
from axion_pipeline.factors.technical import TechnicalFactors
from axion_pipeline.factors.value import ValueFactors
from axion_pipeline.factors.volatility import VolatilityFactors


class FactorRegistry:
    """Ordered mapping category -> calculator."""

    def __init__(self):
        self._calculators: dict[str, FactorCalculator] = {}

    def register(self, calculator: FactorCalculator) -> FactorRegistry:
        """Add (or replace) the calculator of ``calculator.category``; returns self."""
        if not isinstance(calculator, FactorCalculator):
            raise TypeError(f"expected a FactorCalculator, got {type(calculator).__name__}")
        if not calculator.category:
            raise ValueError("calculator has no category")
        names = calculator.factor_names
        if len(set(names)) != len(names):
            raise ValueError(f"{calculator.category}: duplicated sub-factor names")
        clash = {
            n for c, calc in self._calculators.items() if c != calculator.category for n in calc.factor_names
        } & set(names)
        if clash:
            raise ValueError(f"sub-factor names already registered in another category: {sorted(clash)}")
        self._calculators[calculator.category] = calculator
        return self

    @property
    def categories(self) -> list[str]:
        return list(self._calculators)

    def get(self, category: str) -> FactorCalculator:
        try:
            return self._calculators[category]
        except KeyError:
            raise KeyError(f"unknown category {category!r}; registered: {self.categories}") from None

    def __iter__(self):
        return iter(self._calculators.items())

    def list_factors(self) -> dict[str, list[str]]:
        """category -> sub-factor names."""
        return {c: calc.factor_names for c, calc in self._calculators.items()}

    def factor_formulas(self) -> dict[str, dict[str, str]]:
        """category -> sub-factor name -> formula text."""
        return {c: {f.name: f.formula for f in calc.sub_factors()} for c, calc in self._calculators.items()}

    def total_factor_count(self) -> int:
        return sum(len(v) for v in self.list_factors().values())

    def get_default_weights(self) -> dict[str, float]:
        """Static category weights, summing to 1."""
        total = sum(calc.default_weight for calc in self._calculators.values())
        if total <= 0:
            raise ValueError("default weights must have a positive sum")
        return {c: calc.default_weight / total for c, calc in self._calculators.items()}

    def compute_category(
        self, category: str, prices: pd.DataFrame, fundamentals: pd.DataFrame | None = None, as_of_date=None, **inputs
    ) -> pd.DataFrame:
        """One category at one date: tickers x (sub-factor scores..., ``<category>``)."""
        return self.get(category).compute(prices, fundamentals, as_of_date=as_of_date, **inputs)

    def compute_all(
        self, prices: pd.DataFrame, fundamentals: pd.DataFrame | None = None, as_of_date=None, **inputs
    ) -> dict[str, pd.DataFrame]:
        """Every category at one date (inputs prepared once): category -> DataFrame as above."""
        fin = build_inputs(prices, fundamentals, as_of=as_of_date, **inputs)
        alive = fin.alive[-1]
        out = {}
        for c, calc in self._calculators.items():
            panel = calc.compute_panel(fin)
            frame = pd.DataFrame({k: v.iloc[-1] for k, v in panel.scores.items()})
            frame[c] = panel.category.iloc[-1]
            frame = frame.loc[alive]
            frame.index.name = "ticker"
            out[c] = frame
        return out


def create_default_registry() -> FactorRegistry:
    """The six categories: value, momentum, quality, growth, volatility, technical."""
    registry = FactorRegistry()
    for calc in (
        ValueFactors(),
        MomentumFactors(),
        QualityFactors(),
        GrowthFactors(),
        VolatilityFactors(),
        TechnicalFactors(),
    ):
        registry.register(calc)
    return registry
