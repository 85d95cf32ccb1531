"""The simulated universe: tickers, sectors, life spans and latent firm characteristics.

Each firm carries four latent traits (value, quality, low volatility, growth): a sector tilt plus
an Ornstein-Uhlenbeck path with a half-life of about 1.5 years, so traits drift slowly. The traits
drive the firm's beta and idiosyncratic volatility (low-vol), its accounts (value, quality, growth)
and, through the planted premia, its expected return. Exposures are the traits standardised over
the names alive on each day; they use nothing after that day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from .config import CHARACTERISTICS, GROWTH_MULTIPLE, SECTORS, TRAIT_HALF_LIFE_DAYS, SimulationConfig

_CONSONANTS = np.array(list("BCDFGHJKLMNPRSTVWXZ"))
_VOWELS = np.array(list("AEIOU"))
_PATTERNS = ("CVC", "CVCC", "CVCV", "CCVC", "VCCV", "CCV", "VCV")
_TRAIT_CORRELATION = np.array(
    [  # value, quality, lowvol, growth
        [1.00, -0.15, 0.15, -0.20],
        [-0.15, 1.00, 0.30, 0.10],
        [0.15, 0.30, 1.00, -0.20],
        [-0.20, 0.10, -0.20, 1.00],
    ]
)


@dataclass
class Universe:
    """Static and daily firm attributes on the full day grid (burn-in included), shape (days, tickers)."""

    tickers: np.ndarray
    sectors: np.ndarray
    sector_idx: np.ndarray
    list_idx: np.ndarray  # first day with a price (0 = listed before the grid starts)
    delist_idx: np.ndarray  # last day with a price
    alive: np.ndarray
    traits: np.ndarray  # (days, tickers, 4) latent traits in CHARACTERISTICS order
    exposures: np.ndarray  # (days, tickers, 4) traits standardised over alive names, clipped at +-3
    beta: np.ndarray
    idio_vol: np.ndarray  # daily idiosyncratic volatility before regime and GARCH scaling
    sector_loading: np.ndarray
    growth_news: np.ndarray  # zero-mean return from news about growth: GROWTH_MULTIPLE x trait innovation
    shares: np.ndarray
    first_price: np.ndarray  # close on the first day of the grid or on the listing day


def make_tickers(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` unique readable symbols of 3-4 upper-case letters, sorted."""
    seen: set[str] = set()
    while len(seen) < n:
        pattern = _PATTERNS[rng.integers(len(_PATTERNS))]
        symbol = "".join(
            _CONSONANTS[rng.integers(len(_CONSONANTS))] if c == "C" else _VOWELS[rng.integers(len(_VOWELS))]
            for c in pattern
        )
        seen.add(symbol)
    return np.array(sorted(seen), dtype=object)


def assign_sectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Sector index per ticker, in proportion to the sector weights (largest remainder), shuffled."""
    weights = np.array([p.weight for p in SECTORS.values()])
    quota = weights / weights.sum() * n
    counts = np.floor(quota).astype(int)
    counts[np.argsort(-(quota - counts))[: n - counts.sum()]] += 1
    return rng.permutation(np.repeat(np.arange(len(SECTORS)), counts))


def standardise(panel: np.ndarray, alive: np.ndarray, clip: float = 3.0) -> np.ndarray:
    """Cross-sectional z-score per day over alive names (others 0), clipped at +-clip."""
    masked = np.where(alive, panel, np.nan)
    mean = np.nanmean(masked, axis=1, keepdims=True)
    std = np.nanstd(masked, axis=1, keepdims=True)
    z = (masked - mean) / np.where(std > 0, std, 1.0)
    return np.clip(np.nan_to_num(z, nan=0.0), -clip, clip)


def _life_spans(rng: np.random.Generator, config: SimulationConfig, n_total: int) -> tuple[np.ndarray, np.ndarray]:
    n, burn = config.n_tickers, config.burn_in_days
    n_emit = n_total - burn

    def count(fraction: float) -> int:
        return 0 if fraction == 0 else max(1, int(round(fraction * n)))

    order = rng.permutation(n)
    listers = order[: count(config.listing_fraction)]
    delisters = order[len(listers) : len(listers) + count(config.delisting_fraction)]
    list_idx = np.zeros(n, dtype=np.int64)
    delist_idx = np.full(n, n_total - 1, dtype=np.int64)
    list_idx[listers] = burn + rng.integers(20, max(21, n_emit - 130), size=len(listers))
    delist_idx[delisters] = burn + rng.integers(min(60, n_emit - 11), n_emit - 10, size=len(delisters))
    return list_idx, delist_idx


def _trait_paths(rng: np.random.Generator, n_days: int, sector_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trait paths (sector tilt + OU) and their daily innovations (row 0 is the initial draw)."""
    n = len(sector_idx)
    phi = np.exp(-np.log(2.0) / TRAIT_HALF_LIFE_DAYS)
    chol = np.linalg.cholesky(_TRAIT_CORRELATION)
    shocks = rng.standard_normal((n_days, n, 4)) @ chol.T
    shocks[1:] *= np.sqrt(1.0 - phi**2)
    paths = lfilter([1.0], [1.0, -phi], shocks, axis=0)
    tilts = np.array([[getattr(p, c) for c in CHARACTERISTICS] for p in SECTORS.values()])
    return paths + tilts[sector_idx][None, :, :], shocks


def build_universe(rng: np.random.Generator, config: SimulationConfig, n_total: int) -> Universe:
    """Draw the universe for a grid of ``n_total`` days (burn-in plus emitted days)."""
    n = config.n_tickers
    tickers = make_tickers(rng, n)
    sector_idx = assign_sectors(rng, n)
    profiles = list(SECTORS.values())
    list_idx, delist_idx = _life_spans(rng, config, n_total)
    days = np.arange(n_total)[:, None]
    alive = (days >= list_idx[None, :]) & (days <= delist_idx[None, :])

    traits, innovations = _trait_paths(rng, n_total, sector_idx)
    growth_news = GROWTH_MULTIPLE * innovations[:, :, 3]
    growth_news[0] = 0.0
    exposures = np.stack([standardise(traits[:, :, k], alive) for k in range(4)], axis=2)
    quality, lowvol, growth = traits[:, :, 1], traits[:, :, 2], traits[:, :, 3]

    sector_beta = np.array([p.beta for p in profiles])[sector_idx]
    beta_noise = 0.15 * rng.standard_normal(n)
    beta = np.clip(1.0 + sector_beta + beta_noise - 0.15 * lowvol, 0.3, 2.2)
    idio_base = 0.010 * np.exp(0.25 * rng.standard_normal(n))
    idio_vol = idio_base * np.exp(-0.30 * lowvol)
    sector_loading = rng.uniform(0.7, 1.3, n)

    market_cap = np.exp(rng.normal(np.log(15e9), 1.1, n))
    first_price = np.clip(np.exp(rng.normal(np.log(60.0), 0.7, n)), 5.0, 800.0)
    issuance = 0.02 * growth[0] - 0.012 * quality[0] + 0.01 * rng.standard_normal(n)
    years = (days - list_idx[None, :]) / 252.0
    shares = (market_cap / first_price)[None, :] * np.exp(issuance[None, :] * years)
    return Universe(
        tickers=tickers,
        sectors=np.array(list(SECTORS), dtype=object)[sector_idx],
        sector_idx=sector_idx,
        list_idx=list_idx,
        delist_idx=delist_idx,
        alive=alive,
        traits=traits,
        exposures=exposures,
        beta=beta,
        idio_vol=idio_vol,
        sector_loading=sector_loading,
        growth_news=growth_news,
        shares=shares,
        first_price=first_price,
    )
