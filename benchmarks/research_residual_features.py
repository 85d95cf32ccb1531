"""Does the ranking model gain from a residual-reversal feature? Judged on validation slices only.

Run: ``.venv/bin/python benchmarks/research_residual_features.py`` after
``research_training_window.py --setups sliding_461`` (whose 15-leaf curves are the baseline; about
40 minutes on 2 cores; per-window curves are kept under ``--workdir`` so a stopped run resumes).

``research_residual_signals.py`` found, on the 13-year members' validation slices, that the 21-day
reversal of returns residual to the top 5 principal components of the trailing 252-day return
matrix ranks the next 21 days better (IC 0.0161, Newey-West t 2.53) than raw 1-month reversal
(0.0072) and than the ranking model itself (next-slice 0.0107). It needs prices only. This script
adds that signal, as a percentile within each date's members, to the ranking features and
records the product's 15-leaf classifier curves (every 10 rounds to 600, labels neutral to beta,
volatility and sector) on the same windows as the baseline; "next slice" picks the rounds on
slices 0..k-1 and scores slice k. No test window is read.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO  # noqa: F401  (puts the repository on sys.path)
from bench_model_quality import HORIZON, LIVE, WARMUP, load, peak_rss_gib
from research_ranking_candidates import family_table, print_table
from research_residual_signals import pca_residual_reversal
from research_training_window import SETUPS, with_span

FEATURE = "resid_rev_pca5_pct"


def residual_feature(prices: pd.DataFrame, features: pd.DataFrame) -> pd.Series:
    """The signal at each (date, ticker) of ``features``, as a percentile among that date's rows."""
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    c = close.to_numpy(float)
    r = np.full_like(c, np.nan)
    r[1:] = c[1:] / c[:-1] - 1.0
    signal = pca_residual_reversal(r, (5,))["resid_rev_pca5"]
    long = pd.DataFrame(signal, index=close.index, columns=close.columns).stack().rename("signal")
    keys = pd.MultiIndex.from_arrays([pd.to_datetime(features["date"]), features["ticker"]])
    values = long.reindex(keys).to_numpy()
    return pd.Series(values, index=features.index).groupby(features["date"].to_numpy()).rank(pct=True)


def main(argv: list[str] | None = None) -> int:
    from axion_pipeline.ml.config import MLConfig
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.feature_inputs import build_ranking_inputs
    from axion_pipeline.ml.training import ranking_rows_for, ranking_validation_curves

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO.parent / "bench_quality" / "window")
    parser.add_argument("--max-folds", type=int, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data, wf = load("real13", args.workdir.parent)
    ml_config = MLConfig()
    ranking = ml_config.ranking
    sizes = dict(zip(ranking.candidate_num_leaves, ranking.candidate_min_child_samples))
    ml_config = replace(
        ml_config, ranking=replace(ranking, candidate_num_leaves=[15], candidate_min_child_samples=[sizes[15]])
    )
    inputs = build_ranking_inputs(data, ml_config.features)
    features = inputs.features
    features[FEATURE] = residual_feature(data.prices, features)
    print(
        f"inputs {time.perf_counter() - started:.0f} s; {FEATURE} present on "
        f"{features[FEATURE].notna().mean():.1%} of {len(features):,} rows",
        flush=True,
    )
    sectors = data.sectors.set_index("ticker")["sector"] if len(data.sectors) else None
    plan = plan_walk_forward(inputs.calendar, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
    windows = [w for w in plan.windows[: args.max_folds] if w.has_validation]
    calendar = pd.DatetimeIndex(inputs.calendar)
    first_start = pd.Timestamp(windows[0].train_start)
    parts = []
    for window in windows:
        file = args.workdir / f"resid_pca5.{window.key}.15.parquet"
        if not file.exists():
            t0 = time.perf_counter()
            moved = with_span(window, calendar, first_start, SETUPS["sliding_461"])
            rows = ranking_rows_for(features, inputs.targets, moved, ml_config, sectors=sectors)
            if FEATURE not in rows.selected.columns:
                raise SystemExit(f"{window.key}: the feature selection dropped {FEATURE}")
            curves = ranking_validation_curves(features, inputs.targets, moved, ml_config, sectors=sectors, rows=rows)
            curves = curves.assign(setup="resid_pca5", n_fit_dates=rows.n_fit_dates, n_fit_rows=len(rows.selected))
            curves.assign(seconds=round(time.perf_counter() - t0, 1)).to_parquet(file)
            print(f"{window.key}: {time.perf_counter() - t0:.0f} s, peak {peak_rss_gib():.1f} GiB", flush=True)
        parts.append(pd.read_parquet(file))
        baseline = args.workdir / f"sliding_461.{window.key}.15.parquet"
        if not baseline.exists():
            raise SystemExit(f"no baseline curve {baseline}: run research_training_window.py --setups sliding_461")
        parts.append(pd.read_parquet(baseline))
    curves = pd.concat(parts, ignore_index=True).assign(objective="classifier", weight=0.0)
    keys = [w.key for w in windows]
    parts = {setup: curves.loc[curves["setup"] == setup] for setup in ("sliding_461", "resid_pca5")}
    table = family_table(parts, keys, ["num_leaves", "rounds"], "baseline").rename(columns={"family": "setup"})
    print_table(table, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
