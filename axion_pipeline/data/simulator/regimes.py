"""The hidden Markov chain of market regimes (bull, bear, sideways, crisis).

The regime of day ``t`` generates the returns of day ``t``. Nothing downstream sees the chain
except through prices and market series; ``MarketData.true_regimes`` exposes it for evaluation
only (a model that reads it would be looking at the answer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import REGIMES


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """Long-run share of days in each regime (left eigenvector of the transition matrix)."""
    values, vectors = np.linalg.eig(np.asarray(transition).T)
    p = np.real(vectors[:, np.argmax(np.real(values))])
    return p / p.sum()


def _draw_chain(rng: np.random.Generator, n_days: int, transition: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(transition, axis=1)
    cumulative[:, -1] = 1.0
    uniforms = rng.random(n_days)
    states = np.empty(n_days, dtype=np.int64)
    state = int(np.searchsorted(np.cumsum(stationary_distribution(transition)), uniforms[0]))
    states[0] = min(state, len(transition) - 1)
    for t in range(1, n_days):
        states[t] = np.searchsorted(cumulative[states[t - 1]], uniforms[t], side="right")
    return states


def simulate_regimes(
    rng: np.random.Generator,
    n_days: int,
    transition: np.ndarray,
    check_from: int = 0,
    ensure_all: bool = True,
    max_draws: int = 500,
) -> np.ndarray:
    """Regime index per day (0..3 in ``REGIMES`` order), first state from the stationary law.

    With ``ensure_all`` the chain is redrawn from the same generator until every regime occurs
    in ``states[check_from:]`` (conditioning on a full sample; deterministic for a given seed).
    """
    n_regimes = len(transition)
    for _ in range(max_draws):
        states = _draw_chain(rng, n_days, transition)
        if not ensure_all or len(np.unique(states[check_from:])) == n_regimes:
            return states
    raise RuntimeError(f"no regime path with all {n_regimes} regimes in {max_draws} draws; lengthen the window")


def spell_lengths(regimes: pd.Series | np.ndarray) -> pd.DataFrame:
    """One row per uninterrupted spell: ``regime`` and ``length`` in days."""
    values = np.asarray(regimes)
    if len(values) == 0:
        return pd.DataFrame({"regime": pd.Series(dtype=object), "length": pd.Series(dtype="int64")})
    change = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(values)]
    return pd.DataFrame({"regime": values[starts], "length": ends - starts})


def regime_names(states: np.ndarray) -> np.ndarray:
    """Map regime indices to the names of ``REGIMES``."""
    return np.asarray(REGIMES, dtype=object)[states]
