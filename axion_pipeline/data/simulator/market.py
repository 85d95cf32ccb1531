"""``simulate_market``: assemble the simulated market into the canonical ``MarketData``.

Pipeline of the simulation (each stage has its own random stream, spawned from the seed, so a
change in one stage does not reshuffle the others): regimes -> universe and traits -> reporting
calendar -> daily return paths -> OHLCV and index -> accounts -> earnings -> market series.
A burn-in year is simulated before ``start`` and dropped from every daily output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import TRUE_ALPHA_COLUMNS, MarketData

from .config import TRANSITION, SimulationConfig
from .earnings import announcement_jumps, build_schedule, earnings_frame, surprises
from .fundamentals import fundamentals_frame, simulate_accounts
from .macro import market_series_frame
from .ohlcv import bars, cap_weighted_returns, close_levels, prices_frame, to_long
from .regimes import regime_names, simulate_regimes
from .returns import Paths, simulate_paths
from .universe import Universe, build_universe

TRUE_EXPOSURE_COLUMNS = ["true_value", "true_quality", "true_momentum", "true_lowvol", "true_growth", "true_beta"]
_STREAMS = ("regimes", "universe", "schedule", "returns", "bars", "accounts", "macro")


def simulate_market(config: SimulationConfig | None = None) -> MarketData:
    """Simulate prices, fundamentals, sectors, market series and earnings with a planted truth.

    ``true_regimes`` holds the hidden regime of each day and ``true_alpha`` the exact expected
    next-day return known at each close with the exposures behind it: evaluation data only.
    """
    config = config or SimulationConfig()
    rng = {
        name: np.random.default_rng(seq)
        for name, seq in zip(_STREAMS, np.random.SeedSequence(config.seed).spawn(len(_STREAMS)))
    }
    grid = config.all_days()
    dates = config.trading_days()
    burn = config.burn_in_days
    emit = slice(burn, None)

    regimes = simulate_regimes(
        rng["regimes"], len(grid), TRANSITION, check_from=burn, ensure_all=config.ensure_all_regimes
    )
    universe = build_universe(rng["universe"], config, len(grid))
    tickers = universe.tickers
    schedule = build_schedule(rng["schedule"], grid, universe.list_idx, universe.delist_idx)
    paths = simulate_paths(
        rng["returns"], universe, regimes, announcement_jumps(schedule, universe.alive), config.alpha_scale
    )
    close = close_levels(paths.log_price, universe)
    panels = bars(rng["bars"], close, paths.returns, paths.total_vol, universe)
    index_returns = cap_weighted_returns(close, paths.returns, universe.shares, universe.alive)
    alive = universe.alive[emit]
    prices = prices_frame({k: v[emit] for k, v in panels.items()}, alive, dates, tickers)

    accounts = simulate_accounts(
        rng["accounts"], schedule, grid, close, universe.shares, universe.traits, universe.sector_idx
    )
    fundamentals = fundamentals_frame(accounts, schedule, tickers)
    surprise = surprises(schedule, paths.momentum_z, universe.exposures[:, :, 3], accounts["forward_eps"])
    earnings = earnings_frame(schedule, tickers, surprise, accounts["eps_quarter"], dates[0], dates[-1])
    market_series = market_series_frame(
        rng["macro"],
        dates,
        regimes[emit],
        paths.market_vol[emit],
        index_returns[emit],
        prices,
        config.index_start_level,
    )
    sectors = pd.DataFrame({"ticker": tickers.astype(object), "sector": universe.sectors.astype(object)})
    true_regimes = pd.DataFrame({"date": dates.values, "regime": regime_names(regimes[emit])})
    true_alpha = _true_alpha(universe, paths, emit, alive, dates)

    frames = {
        "prices": prices,
        "fundamentals": fundamentals,
        "sectors": sectors,
        "market_series": market_series,
        "earnings_events": earnings,
    }
    return MarketData(
        **frames,
        read_counts={name: len(frame) for name, frame in frames.items()},
        true_regimes=true_regimes,
        true_alpha=true_alpha,
        notes=[
            f"simulated market (seed={config.seed}, {config.n_tickers} tickers, {dates[0].date()}..{dates[-1].date()})",
            "trading days are all weekdays (no holidays); prices need no split or dividend adjustment",
            "fundamentals are quarterly with trailing-twelve-month flows; filings 25-60 days after quarter end",
            "breadth is computed from the emitted prices: advance_decline is missing on the first day and "
            "pct_above_200sma until a name has 200 closes",
            "true_regimes and true_alpha are the planted truth, for evaluation only (never model inputs)",
        ],
        source="simulated",
    )


def _true_alpha(
    universe: Universe, paths: Paths, emit: slice, alive: np.ndarray, dates: pd.DatetimeIndex
) -> pd.DataFrame:
    exposures = universe.exposures[emit]
    panels = {
        "expected_return": paths.expected[emit],
        "true_value": exposures[:, :, 0],
        "true_quality": exposures[:, :, 1],
        "true_momentum": paths.momentum_z[emit],
        "true_lowvol": exposures[:, :, 2],
        "true_growth": exposures[:, :, 3],
        "true_beta": universe.beta[emit],
    }
    return to_long(panels, alive, dates, universe.tickers, [*TRUE_ALPHA_COLUMNS, *TRUE_EXPOSURE_COLUMNS])
