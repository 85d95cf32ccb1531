"""Deterministic simulated market: the project's embedded default data, with a planted truth.

``simulate_market(SimulationConfig(...))`` returns canonical ``MarketData`` (prices, quarterly
point-in-time fundamentals, sectors, market series, earnings events) plus ``true_regimes`` and
``true_alpha`` for evaluating what the pipeline recovers. See ``config`` for the planted values.
"""

from .config import FACTORS, PREMIA, REGIME_DRIFT, REGIME_VOL, SECTORS, TRANSITION, SimulationConfig
from .diagnostics import forward_rank_ic, oracle_rank_ic
from .market import TRUE_EXPOSURE_COLUMNS, simulate_market
from .regimes import spell_lengths, stationary_distribution

__all__ = [
    "FACTORS",
    "PREMIA",
    "REGIME_DRIFT",
    "REGIME_VOL",
    "SECTORS",
    "TRANSITION",
    "TRUE_EXPOSURE_COLUMNS",
    "SimulationConfig",
    "forward_rank_ic",
    "oracle_rank_ic",
    "simulate_market",
    "spell_lengths",
    "stationary_distribution",
]
