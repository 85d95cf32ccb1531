"""Benchmark: factor engine throughput (stock-days per second) at several universe sizes.

On the generated market (``--tickers`` sizes, ``--years`` years ending 2024-12-31), times the two
vectorised panel computations of the daily history, as the assets call them but without Dagster or
DuckDB:

- ``compute_factor_panel`` (``axion_pipeline.factor_engine.panel``): 46 sub-factors, six
  sector-relative category scores, the regime and the adaptive-weight composite for every date;
- ``FeatureEngineer.create_features_panel`` on those scores and the regime features (the
  ``features`` asset's library call).

Throughput = scored stock-days (output rows) / wall seconds, median of ``--runs`` runs. The tear
sheet vs alphalens-reloaded comparison is ``bench_tearsheet.py``.
Run: ``.venv/bin/python benchmarks/bench_factor_engine.py [--tickers 100 500] [--years 8] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import warnings

import psutil
from _common import RssSampler, machine, publish, section, stats

from axion_pipeline.analytics.markdown import markdown_table

END_DATE = "2024-12-31"


def simulate(n_tickers: int, years: int, seed: int):
    from axion_pipeline.data.simulator import SimulationConfig, simulate_market

    start = f"{int(END_DATE[:4]) - years + 1}-01-02"
    return simulate_market(SimulationConfig(seed=seed, n_tickers=n_tickers, start=start, end=END_DATE))


def factor_panel(market):
    from axion_pipeline.factor_engine.panel import compute_factor_panel

    sp500 = market.market_series.set_index("date")["sp500_close"].sort_index()
    return compute_factor_panel(
        market.prices, market.fundamentals, sp500, sectors=market.sectors.set_index("ticker")["sector"]
    )


def features_panel(market, scores):
    from axion_pipeline.ml.config import FeatureConfig
    from axion_pipeline.ml.feature_inputs import macro_frame, raw_factor_frame
    from axion_pipeline.ml.features import FeatureEngineer
    from axion_pipeline.ml.regime_features import regime_features

    regime = regime_features(market.market_series.set_index("date").sort_index()).rename_axis("date").reset_index()
    return FeatureEngineer(FeatureConfig()).create_features_panel(
        raw_factor_frame(scores), macro_data=macro_frame(regime), sectors=market.sectors.set_index("ticker")["sector"]
    )


def measure(fn, runs: int):
    """Wall times of ``runs`` calls, the last result, and the largest rise of this process's RSS
    above its level before a call (sampled every 0.1 s): the computation's working memory."""
    times, result, peak_rise = [], None, 0
    process = psutil.Process()
    for _ in range(runs):
        result = None
        gc.collect()
        before = process.memory_info().rss
        sampler = RssSampler(os.getpid(), interval=0.1)
        sampler.start()
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
        peak_rise = max(peak_rise, sampler.stop() - before)
    return stats(times), result, peak_rise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-features", action="store_true", help="time the factor panel only")
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    rows = []
    for n in args.tickers:
        market = simulate(n, args.years, args.seed)
        n_prices = len(market.prices)
        f_stats, scores, f_mem = measure(lambda market=market: factor_panel(market), args.runs)
        rows.append(
            [
                "`compute_factor_panel` (46 sub-factors, 6 categories, composite)",
                f"{n:,}",
                f"{n_prices:,}",
                f"{len(scores):,}",
                *f_stats.cells(".2f"),
                f"**{len(scores) / f_stats.median:,.0f}**",
                f"{f_mem / 2**30:.2f}",
            ]
        )
        print(rows[-1], flush=True)
        if not args.no_features:
            x_stats, feats, x_mem = measure(lambda m=market, s=scores: features_panel(m, s), args.runs)
            rows.append(
                [
                    f"`create_features_panel` ({feats.shape[1]} features)",
                    f"{n:,}",
                    f"{n_prices:,}",
                    f"{len(feats):,}",
                    *x_stats.cells(".2f"),
                    f"**{len(feats) / x_stats.median:,.0f}**",
                    f"{x_mem / 2**30:.2f}",
                ]
            )
            del feats
            print(rows[-1], flush=True)
    header = [
        "computation",
        "tickers",
        "input stock-days",
        "output rows",
        "median s",
        "min s",
        "max s",
        "stock-days per s",
        "working memory GiB",
    ]
    intro = (
        f"Generated market, {args.years} years ending {END_DATE} (seed {args.seed}); the library calls of the "
        f"`factor_scores` and `features` assets over the whole history in one pass, without Dagster or "
        f"DuckDB; {args.runs} run(s) each (median, min, max). Working memory: the largest rise of the process's "
        f"RSS during a run (sampled every 0.1 s). Machine: {machine()}."
    )
    publish(section("Factor engine throughput", intro, markdown_table(header, rows)), append=not args.no_append)


if __name__ == "__main__":
    main()
