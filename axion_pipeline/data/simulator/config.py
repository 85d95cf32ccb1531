"""Configuration and planted parameters of the simulated market.

Everything the simulator plants (regime drift and volatility, the regime transition matrix, the
factor premia per regime, sector profiles) is a module constant here, so tests and documentation
can state the truth the pipeline is expected to recover.

Order of regimes everywhere: ``REGIMES`` = bull, bear, sideways, crisis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import REGIMES

FACTORS = ("value", "quality", "momentum", "lowvol", "growth")
CHARACTERISTICS = ("value", "quality", "lowvol", "growth")  # latent firm traits (momentum is path-made)

# Daily market drift and volatility per regime (bull, bear, sideways, crisis).
REGIME_DRIFT = np.array([0.0009, -0.0012, 0.0001, -0.0040])
REGIME_VOL = np.array([0.0075, 0.0140, 0.0090, 0.0330])
# Multipliers of sector and idiosyncratic volatility per regime: stress raises all volatility.
SECTOR_VOL_MULT = np.array([1.0, 1.4, 1.1, 2.2])
IDIO_VOL_MULT = np.array([1.0, 1.25, 1.05, 1.8])

# Daily transition probabilities, row = today, column = tomorrow. Expected spell lengths
# 1 / (1 - p_stay): bull ~130 days, bear ~43, sideways ~59, crisis ~18; stationary
# shares about 59% bull, 15% bear, 23% sideways, 3% crisis.
TRANSITION = np.array(
    [
        [0.9923, 0.0025, 0.0045, 0.0007],
        [0.0080, 0.9770, 0.0070, 0.0080],
        [0.0120, 0.0040, 0.9830, 0.0010],
        [0.0200, 0.0230, 0.0120, 0.9450],
    ]
)

# Latent traits follow Ornstein-Uhlenbeck paths with this half-life. Revenue grows faster by
# REVENUE_GROWTH_PER_SD a quarter per standard deviation of the growth trait; since the trait
# mean-reverts, that extra growth is worth GROWTH_MULTIPLE (log units) per standard deviation of
# growth, which sets both the growth firms' valuation premium and the price reaction to news about
# growth (a zero-mean shock, so expected returns are unaffected).
TRAIT_HALF_LIFE_DAYS = 378.0
REVENUE_GROWTH_PER_SD = 0.025
GROWTH_MULTIPLE = REVENUE_GROWTH_PER_SD / (1.0 - 0.5 ** (63.0 / TRAIT_HALF_LIFE_DAYS))

# Daily factor premia (return per 1 cross-sectional standard deviation of exposure), per regime.
# Columns follow FACTORS. Momentum pays in bull markets and crashes in crisis reversals; quality
# and low volatility pay in bear and crisis; growth pays in bull and suffers in stress.
PREMIA = 1e-4 * np.array(
    [
        [0.8, 0.6, 2.0, -1.0, 1.8],  # bull
        [0.5, 2.2, 0.6, 2.2, -1.2],  # bear
        [1.8, 1.2, 1.0, 0.8, 0.4],  # sideways
        [-1.6, 3.6, -5.6, 4.4, -2.4],  # crisis
    ]
)


@dataclass(frozen=True)
class SectorProfile:
    """Typical traits of a GICS sector: characteristic tilts and accounting ratios."""

    weight: float  # share of the universe
    value: float  # tilt of the latent characteristics (in standard deviations)
    quality: float
    lowvol: float
    growth: float
    beta: float  # added to the firm's market beta
    gross_margin: float
    rnd_share: float  # R&D as a share of operating expenses
    capex_ratio: float  # capital expenditure / revenue
    leverage: float  # log tilt of debt / equity
    other_liabilities: float  # non-debt liabilities / total assets


SECTORS: dict[str, SectorProfile] = {
    "Information Technology": SectorProfile(0.14, -0.5, 0.5, -0.2, 0.4, 0.15, 0.60, 0.45, 0.05, -0.6, 0.25),
    "Health Care": SectorProfile(0.12, -0.2, 0.3, 0.2, 0.25, -0.05, 0.55, 0.50, 0.04, -0.3, 0.25),
    "Financials": SectorProfile(0.13, 0.5, 0.0, 0.0, -0.1, 0.10, 0.70, 0.00, 0.02, 0.6, 0.60),
    "Consumer Discretionary": SectorProfile(0.11, -0.1, 0.0, -0.3, 0.2, 0.10, 0.38, 0.05, 0.05, 0.0, 0.30),
    "Communication Services": SectorProfile(0.05, 0.0, 0.1, -0.1, 0.2, 0.0, 0.50, 0.25, 0.08, 0.0, 0.25),
    "Industrials": SectorProfile(0.14, 0.1, 0.1, 0.0, 0.0, 0.05, 0.30, 0.10, 0.05, 0.1, 0.30),
    "Consumer Staples": SectorProfile(0.07, 0.1, 0.4, 0.7, -0.2, -0.30, 0.35, 0.03, 0.04, 0.1, 0.30),
    "Energy": SectorProfile(0.05, 0.7, -0.3, -0.6, -0.2, 0.20, 0.30, 0.00, 0.14, 0.2, 0.25),
    "Utilities": SectorProfile(0.06, 0.4, -0.1, 1.0, -0.3, -0.40, 0.40, 0.00, 0.15, 0.6, 0.30),
    "Real Estate": SectorProfile(0.06, 0.3, -0.2, 0.4, -0.1, -0.10, 0.55, 0.00, 0.10, 0.7, 0.20),
    "Materials": SectorProfile(0.05, 0.4, 0.0, -0.3, -0.1, 0.10, 0.28, 0.02, 0.09, 0.2, 0.30),
}


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config -> identical frames; another seed -> another market.

    ``alpha_scale`` multiplies the planted factor premia (0 switches the cross-sectional alpha off).
    ``burn_in_days`` trading days are simulated before ``start`` and discarded, so momentum
    exposures and volatility states are warm on the first emitted day.
    ``ensure_all_regimes`` redraws the regime chain (deterministically) until every regime occurs
    in the emitted window, so short simulations still contain a crisis.
    """

    seed: int = 7
    n_tickers: int = 300
    start: str = "2017-01-02"
    end: str = "2024-12-31"
    listing_fraction: float = 0.04
    delisting_fraction: float = 0.04
    alpha_scale: float = 1.0
    burn_in_days: int = 252
    index_start_level: float = 2000.0
    ensure_all_regimes: bool = True

    def __post_init__(self) -> None:
        if self.n_tickers < 5:
            raise ValueError(f"n_tickers must be at least 5, got {self.n_tickers}")
        if len(self.trading_days()) < 130:
            raise ValueError(f"need at least 130 trading days between {self.start} and {self.end}")
        for name in ("listing_fraction", "delisting_fraction"):
            if not 0.0 <= getattr(self, name) <= 0.5:
                raise ValueError(f"{name} must be in [0, 0.5]")
        if self.burn_in_days < 252:
            raise ValueError("burn_in_days must cover the 252-day momentum window")

    def trading_days(self) -> pd.DatetimeIndex:
        """Emitted trading days: weekdays from start to end, no holidays."""
        return pd.bdate_range(self.start, self.end)

    def all_days(self) -> pd.DatetimeIndex:
        """Burn-in days followed by the emitted trading days."""
        days = self.trading_days()
        burn = pd.bdate_range(end=days[0] - pd.offsets.BDay(1), periods=self.burn_in_days)
        return burn.append(days)


__all__ = [
    "CHARACTERISTICS",
    "FACTORS",
    "GROWTH_MULTIPLE",
    "REVENUE_GROWTH_PER_SD",
    "TRAIT_HALF_LIFE_DAYS",
    "IDIO_VOL_MULT",
    "PREMIA",
    "REGIMES",
    "REGIME_DRIFT",
    "REGIME_VOL",
    "SECTORS",
    "SECTOR_VOL_MULT",
    "SectorProfile",
    "SimulationConfig",
    "TRANSITION",
]
