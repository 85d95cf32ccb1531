"""The factor calculator contract: every category scores its sub-factors the same way.

A calculator is a list of ``SubFactor`` formulas. Each formula maps ``FactorInputs`` (a dates x
tickers close panel with its history, optional volume, market returns and point-in-time
fundamental fields) to a raw dates x tickers panel. Scoring is then the same for every category
(the operations live in ``axion_pipeline.factors.ops``):

    sub-factor score  s_k = percentile_rank(raw_k, direction_k)         per date, in [0, 1]
    category score    c   = percentile_rank(sum_k w_k s_k / sum_k w_k)  over the available k

so a missing sub-factor is skipped (never zero-filled) and a category is NaN only when all its
sub-factors are. Direction is handled by ``percentile_rank``, so ``lower is better`` factors
(P/E, volatility, leverage) are ranked descending.

Look-ahead: every operation here is cross-sectional (one date at a time), so a score for date t
sees only the raw values of date t; the raw formulas are responsible for using data known at t.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.factors.ops import combine_subfactors, percentile_rank, weighted_mean, winsorize, zscore
from axion_pipeline.factors.panel import FactorInputs, build_inputs


@dataclass(frozen=True)
class SubFactor:
    """One formula: ``func(inputs) -> raw panel`` (out_dates x tickers); higher raw is better
    when ``higher_is_better``. ``formula`` is the human-readable definition."""

    name: str
    func: Callable[[FactorInputs], pd.DataFrame]
    higher_is_better: bool
    formula: str
    weight: float = 1.0


@dataclass
class CategoryPanel:
    """Raw sub-factor panels, their percentile scores, their weighted mean (``combined``) and the
    category score panel (percentile rank of ``combined``)."""

    raw: dict[str, pd.DataFrame]
    scores: dict[str, pd.DataFrame]
    combined: pd.DataFrame
    category: pd.DataFrame


class FactorCalculator(ABC):
    """One factor category. Subclasses set ``category`` and list their ``sub_factors()``.

    ``compute(prices, fundamentals, as_of_date=None, **inputs)`` scores one date;
    ``compute_panel(inputs)`` scores every date of ``inputs.out_dates`` with the same formulas.
    """

    category: str = ""
    default_weight: float = 1.0

    @abstractmethod
    def sub_factors(self) -> list[SubFactor]:
        """The category's formulas, in output order."""

    @property
    def factor_names(self) -> list[str]:
        return [f.name for f in self.sub_factors()]

    # The shared operations, exposed on the class as the spec asks.
    percentile_rank = staticmethod(percentile_rank)
    winsorize = staticmethod(winsorize)
    zscore = staticmethod(zscore)

    def combine_subfactors(self, scores, weights: Mapping[str, float] | None = None):
        """Percentile rank of the weighted mean of the available sub-factor scores (see module)."""
        if weights is None:
            weights = {f.name: f.weight for f in self.sub_factors()}
        return combine_subfactors(scores, weights)

    def raw_panels(self, inputs: FactorInputs) -> dict[str, pd.DataFrame]:
        """Raw value of every sub-factor on ``inputs.out_dates``, NaN outside the universe
        (no close on that date, or not an index member then) and where the formula is undefined."""
        alive = inputs.alive
        out = {}
        for f in self.sub_factors():
            raw = f.func(inputs)
            if not (raw.index.equals(inputs.out_dates) and raw.columns.equals(inputs.tickers)):
                raw = raw.reindex(index=inputs.out_dates, columns=inputs.tickers)
            v = raw.to_numpy(dtype="float64")
            out[f.name] = pd.DataFrame(
                np.where(alive & np.isfinite(v), v, np.nan), index=inputs.out_dates, columns=inputs.tickers
            )
        return out

    def compute_panel(self, inputs: FactorInputs) -> CategoryPanel:
        """Raw values, sub-factor scores and category score for every date of ``inputs``."""
        raw = self.raw_panels(inputs)
        subs = {f.name: f for f in self.sub_factors()}
        scores = {k: percentile_rank(v, subs[k].higher_is_better) for k, v in raw.items()}
        combined = weighted_mean(scores, {k: f.weight for k, f in subs.items()})
        return CategoryPanel(raw=raw, scores=scores, combined=combined, category=percentile_rank(combined))

    def compute(
        self, prices: pd.DataFrame, fundamentals: pd.DataFrame | None = None, as_of_date=None, **inputs
    ) -> pd.DataFrame:
        """Scores at one date: tickers x (sub-factor scores..., ``<category>``), all in [0, 1].

        ``prices`` is dates x tickers of adjusted closes (or canonical long prices); prices after
        ``as_of_date`` (default: the last date) are dropped before anything is computed.
        ``inputs`` are the keyword inputs of ``build_inputs`` (volume, market_returns, sp500).
        """
        fin = build_inputs(prices, fundamentals, as_of=as_of_date, **inputs)
        panel = self.compute_panel(fin)
        out = pd.DataFrame({k: v.iloc[-1] for k, v in panel.scores.items()})
        out[self.category] = panel.category.iloc[-1]
        out = out.loc[fin.alive[-1]]
        out.index.name = "ticker"
        return out

    def compute_raw(
        self, prices: pd.DataFrame, fundamentals: pd.DataFrame | None = None, as_of_date=None, **inputs
    ) -> pd.DataFrame:
        """Raw sub-factor values at one date (tickers x sub-factors), before ranking."""
        fin = build_inputs(prices, fundamentals, as_of=as_of_date, **inputs)
        raw = self.raw_panels(fin)
        out = pd.DataFrame({k: v.iloc[-1] for k, v in raw.items()})
        out = out.loc[fin.alive[-1]]
        out.index.name = "ticker"
        return out
