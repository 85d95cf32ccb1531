"""Benchmark: vectorised tear sheet vs alphalens-reloaded on the real 505-ticker price file.

Two point-in-time factors (21-day reversal, 12-1 momentum) from closes known at ``t``. Both sides
start from the same long price frame and compute the same statistics: clean factor and forward
returns (1, 5, 21 days), per-date IC, quantile returns (raw and demeaned, pooled and by date for the
spread), turnover of every quantile and rank autocorrelation. Prints a markdown table (medians of
several runs, speed ratio, machine) and appends it to BENCHMARKS.md at the repository root.

Run: ``.venv/bin/python benchmarks/bench_tearsheet.py [--repeats 5]``. Data from ``$AXION_DATA_DIR``
or ``../shared/data`` next to the repository. Not a test: nothing here gates CI.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings

import numpy as np
import pandas as pd
from _common import machine, publish, ratio, real_data_dir, section, stats, timed

from axion_pipeline.analytics.markdown import markdown_table
from axion_pipeline.analytics.tearsheet import compute_tear_sheet

HORIZONS = (1, 5, 21)


def load_prices() -> pd.DataFrame:
    raw = pd.read_csv(real_data_dir() / "prices" / "all_stocks_5yr.csv.gz", parse_dates=["date"])
    return raw.rename(columns={"Name": "ticker"})[["date", "ticker", "close"]]


def make_factors(prices: pd.DataFrame) -> pd.DataFrame:
    """21-day reversal and 12-1 momentum, using closes up to and including t only."""
    close = prices.pivot(index="date", columns="ticker", values="close")
    reversal = -(close / close.shift(21) - 1)
    momentum = close.shift(21) / close.shift(252) - 1
    frame = pd.DataFrame(
        {"reversal_21d": reversal.stack(future_stack=True), "momentum_12_1": momentum.stack(future_stack=True)}
    )
    frame = frame.dropna(how="all").reset_index()
    return frame


def run_ours(factors: pd.DataFrame, prices: pd.DataFrame):
    return compute_tear_sheet(factors, prices, horizons=HORIZONS, quantiles=5)


def run_alphalens(factors: pd.DataFrame, prices: pd.DataFrame) -> dict:
    import alphalens as al

    close = prices.pivot(index="date", columns="ticker", values="close")
    out = {}
    for name in ["reversal_21d", "momentum_12_1"]:
        series = factors.set_index(["date", "ticker"])[name].dropna()
        series.index.names = ["date", "asset"]
        with contextlib.redirect_stdout(io.StringIO()):
            clean = al.utils.get_clean_factor_and_forward_returns(
                series, close, quantiles=5, periods=HORIZONS, filter_zscore=None, max_loss=0.35
            )
        ic = al.performance.factor_information_coefficient(clean)
        mean_q, _ = al.performance.mean_return_by_quantile(clean, demeaned=False)
        mean_qd, _ = al.performance.mean_return_by_quantile(clean, demeaned=True)
        by_date, _ = al.performance.mean_return_by_quantile(clean, by_date=True, demeaned=True)
        spread, _ = al.performance.compute_mean_returns_spread(by_date, 5, 1)
        turnover = {q: al.performance.quantile_turnover(clean["factor_quantile"], q).mean() for q in range(1, 6)}
        autocorr = al.performance.factor_rank_autocorrelation(clean).mean()
        out[name] = dict(ic=ic, mean_q=mean_q, mean_qd=mean_qd, spread=spread, turnover=turnover, autocorr=autocorr)
    return out


def max_abs_difference(ours, theirs: dict) -> float:
    """Largest absolute difference across IC, quantile means, turnover and autocorrelation."""
    worst = 0.0
    for name, al_out in theirs.items():
        for h, col in zip(HORIZONS, al_out["ic"].columns):
            mine = ours.ic[(ours.ic.factor == name) & (ours.ic.horizon == h)].set_index("date")["ic"]
            ref = al_out["ic"][col].dropna()
            worst = max(worst, float(np.abs(mine.reindex(ref.index) - ref).max()))
            q = ours.quantile_returns[
                (ours.quantile_returns.factor == name) & (ours.quantile_returns.horizon == h)
            ].set_index("quantile")
            worst = max(
                worst,
                float(np.abs(q["mean_return"] - al_out["mean_q"][col]).max()),
                float(np.abs(q["mean_demeaned_return"] - al_out["mean_qd"][col]).max()),
            )
        turn = ours.turnover[ours.turnover.factor == name].set_index("quantile")["turnover"]
        worst = max(worst, max(abs(turn[q] - v) for q, v in al_out["turnover"].items()))
        auto = ours.rank_autocorrelation.set_index("factor").loc[name, "rank_autocorrelation"]
        worst = max(worst, abs(auto - al_out["autocorr"]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    prices = load_prices()
    factors = make_factors(prices)
    run_ours(factors, prices)  # warm-up (imports, caches)
    ours_t, ours = timed(lambda: run_ours(factors, prices), args.repeats)
    al_t, theirs = timed(lambda: run_alphalens(factors, prices), args.repeats)
    diff = max_abs_difference(ours, theirs)
    ours_s, al_s = stats(ours_t), stats(al_t)

    import alphalens

    n_tickers, n_dates = prices["ticker"].nunique(), prices["date"].nunique()
    intro = (
        f"Real prices: {n_tickers} tickers x {n_dates} dates; factors reversal_21d and momentum_12_1; "
        f"horizons {HORIZONS}; 5 quantiles; {args.repeats} runs each. Machine: {machine()} "
        f"(other jobs slow both sides alike)."
    )
    table = markdown_table(
        ["implementation", "median s", "min s", "max s"],
        [
            ["axion `compute_tear_sheet`", *ours_s.cells(".3f")],
            ["alphalens-reloaded", *al_s.cells(".3f")],
            ["**speed ratio**", f"**{ratio(al_s.median, ours_s.median):.1f}x**", "", ""],
        ],
    )
    note = (
        f"Largest absolute difference of the statistics (IC, quantile returns, turnover, rank "
        f"autocorrelation): {diff:.1e}."
    )
    publish(
        section(f"Factor tear sheet vs alphalens-reloaded {alphalens.__version__}", intro, table, note),
        append=not args.no_append,
    )


if __name__ == "__main__":
    main()
