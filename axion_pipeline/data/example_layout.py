"""The README's minimal bring-your-own-data example: a generic-layout folder holding prices only.

``python -m axion_pipeline.data.example_layout <folder>`` writes ``<folder>/prices.csv`` with the
columns of the generic layout (``date,ticker,open,high,low,close,volume``), taken from the
generated market (30 tickers, 2021-01-04 .. 2023-06-30 by default), and nothing else: no
fundamentals, sectors, market series, earnings or membership file. Run it as your own data would
run (``AXION_DATA_DIR=<folder> make run``, with the small walk-forward plan the README gives: two
and a half years hold the 300-day warm-up, two short folds and the 63-day live span, not the
default five folds of two years each). The generated market's planted truth (regimes, expected
returns) is not written: the folder looks like real data.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from axion_pipeline.data.contracts import PRICE_COLUMNS
from axion_pipeline.data.simulator.config import SimulationConfig

EXAMPLE = SimulationConfig(seed=11, n_tickers=30, start="2021-01-04", end="2023-06-30")


def write_prices_only(folder: str | Path, n_tickers: int | None = None, seed: int | None = None) -> Path:
    """Write ``folder/prices.csv`` (ISO dates, 4-decimal prices) from the generated market; returns its path."""
    from axion_pipeline.data.simulator import simulate_market

    config = replace(EXAMPLE, n_tickers=n_tickers or EXAMPLE.n_tickers, seed=EXAMPLE.seed if seed is None else seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "prices.csv"
    prices = simulate_market(config).prices[PRICE_COLUMNS]
    prices.to_csv(path, index=False, date_format="%Y-%m-%d", float_format="%.4f")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the folder to write prices.csv into (created if needed)")
    parser.add_argument("--tickers", type=int, default=EXAMPLE.n_tickers)
    parser.add_argument("--seed", type=int, default=EXAMPLE.seed)
    args = parser.parse_args(argv)
    path = write_prices_only(args.folder, args.tickers, args.seed)
    print(f"wrote {path}: prices only ({args.tickers} tickers, {EXAMPLE.start} .. {EXAMPLE.end})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
