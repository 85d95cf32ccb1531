"""Daily return paths: market, sector and idiosyncratic shocks plus the planted factor alpha.

Return of stock i on day t (regime s_t):

    r = beta_{t-1} * (drift[s_t] + vol_m[s_t] sqrt(h_m) z_m) + load * f_sector + idio + alpha
        + growth_news + earnings_jump
    alpha = X_{t-1} . premia[s_t]

where beta_{t-1} and X_{t-1} are the beta and exposures known at the close of t-1 (value, quality, momentum, low-vol,
growth), h are GARCH(1,1) variance states (GJR asymmetry for the market) and the z are
standardised Student-t shocks, giving fat tails and volatility clustering. Growth news and
earnings jumps are zero-mean shocks (see ``universe`` and ``earnings``).

The exported expected return at the close of t is the exact conditional mean of r_{t+1}:
``beta * (P[s_t] @ drift) + X_t . (P[s_t] @ premia)`` with P the transition matrix, since the
next regime is unknown at t (exact up to the -60% floor on a day's return, which practically
never binds). Momentum X uses closes up to t only (12-1 month log return).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import IDIO_VOL_MULT, PREMIA, REGIME_DRIFT, REGIME_VOL, SECTOR_VOL_MULT, TRANSITION
from .universe import Universe

MOMENTUM_LOOKBACK = 252
MOMENTUM_SKIP = 21
SECTOR_VOL = 0.006
MAX_LOSS = -0.6
# GARCH(1,1) on unit-variance shocks: h = (1 - a - b - g/2) + (a + g 1[z<0]) z^2 h + b h.
MARKET_GARCH = (0.05, 0.90, 0.08)
SECTOR_GARCH = (0.08, 0.90, 0.0)
IDIO_GARCH = (0.10, 0.88, 0.0)


@dataclass
class Paths:
    """Outputs on the full day grid, arrays of shape (days, tickers) unless noted."""

    returns: np.ndarray  # simple daily returns (row 0 is 0)
    log_price: np.ndarray  # log close, up to a per-ticker constant
    expected: np.ndarray  # E[r_{t+1} | close of t]
    momentum_z: np.ndarray  # standardised 12-1 month return, 0 without a full history
    total_vol: np.ndarray  # conditional daily volatility of each stock on day t
    market_vol: np.ndarray  # (days,) conditional daily volatility of the market factor


def t_shocks(rng: np.random.Generator, df: float, size) -> np.ndarray:
    """Student-t draws scaled to unit variance (heavy tails, finite variance for df > 2)."""
    return rng.standard_t(df, size) * np.sqrt((df - 2.0) / df)


def _garch_step(h: np.ndarray | float, z: np.ndarray | float, params: tuple[float, float, float]):
    a, b, g = params
    return (1.0 - a - b - 0.5 * g) + (a + g * (np.asarray(z) < 0)) * np.square(z) * h + b * h


def _momentum_z(log_price: np.ndarray, t: int, eligible: np.ndarray) -> np.ndarray:
    if t < MOMENTUM_LOOKBACK or not eligible.any():
        return np.zeros(log_price.shape[1])
    mom = log_price[t - MOMENTUM_SKIP] - log_price[t - MOMENTUM_LOOKBACK]
    values = mom[eligible]
    std = values.std()
    z = np.zeros(log_price.shape[1])
    if std > 0:
        z[eligible] = np.clip((values - values.mean()) / std, -3.0, 3.0)
    return z


def simulate_paths(
    rng: np.random.Generator,
    universe: Universe,
    regimes: np.ndarray,
    jumps: np.ndarray,
    alpha_scale: float = 1.0,
) -> Paths:
    """Run the day loop (vectorised over tickers); returns and exposures use only the past."""
    n_days, n = universe.alive.shape
    n_sectors = int(universe.sector_idx.max()) + 1
    premia = alpha_scale * PREMIA
    next_drift = TRANSITION @ REGIME_DRIFT
    next_premia = TRANSITION @ premia

    z_m = t_shocks(rng, 5.0, n_days)
    z_s = t_shocks(rng, 5.0, (n_days, n_sectors))
    z_i = t_shocks(rng, 4.0, (n_days, n))
    h_m, h_s, h_i = 1.0, np.ones(n_sectors), np.ones(n)

    returns = np.zeros((n_days, n))
    log_price = np.zeros((n_days, n))
    expected = np.zeros((n_days, n))
    momentum = np.zeros((n_days, n))
    total_vol = np.zeros((n_days, n))
    market_vol = np.zeros(n_days)
    exposures = np.zeros((n, 5))

    def exposures_at(t: int) -> np.ndarray:
        trait = universe.exposures[t]
        eligible = universe.alive[t] & (universe.list_idx <= t - MOMENTUM_LOOKBACK)
        momentum[t] = _momentum_z(log_price, t, eligible)
        return np.column_stack([trait[:, 0], trait[:, 1], momentum[t], trait[:, 2], trait[:, 3]])

    exposures = exposures_at(0)
    expected[0] = universe.beta[0] * next_drift[regimes[0]] + exposures @ next_premia[regimes[0]]
    for t in range(1, n_days):
        s = regimes[t]
        h_m = _garch_step(h_m, z_m[t - 1], MARKET_GARCH)
        h_s = _garch_step(h_s, z_s[t - 1], SECTOR_GARCH)
        h_i = _garch_step(h_i, z_i[t - 1], IDIO_GARCH)
        sig_m = REGIME_VOL[s] * np.sqrt(h_m)
        sig_s = (SECTOR_VOL * SECTOR_VOL_MULT[s] * np.sqrt(h_s))[universe.sector_idx] * universe.sector_loading
        sig_i = universe.idio_vol[t - 1] * IDIO_VOL_MULT[s] * np.sqrt(h_i)
        beta = universe.beta[t - 1]
        market = REGIME_DRIFT[s] + sig_m * z_m[t]
        sector = sig_s * z_s[t, universe.sector_idx]
        r = beta * market + sector + sig_i * z_i[t] + exposures @ premia[s] + universe.growth_news[t] + jumps[t]
        r = np.maximum(r, MAX_LOSS)
        returns[t] = r
        log_price[t] = log_price[t - 1] + np.log1p(r)
        market_vol[t] = sig_m
        total_vol[t] = np.sqrt((beta * sig_m) ** 2 + sig_s**2 + sig_i**2)

        exposures = exposures_at(t)
        expected[t] = universe.beta[t] * next_drift[s] + exposures @ next_premia[s]
    market_vol[0], total_vol[0] = market_vol[1], total_vol[1]
    return Paths(returns, log_price, expected, momentum, total_vol, market_vol)
