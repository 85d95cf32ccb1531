"""How much history a ranking window should learn from, judged on validation slices only.

Run: ``.venv/bin/python benchmarks/research_training_window.py [--max-folds N] [--sizes 15 63]``
(per-window curves are kept under ``--workdir`` so an interrupted run resumes).

The 13-year benchmark (``bench_model_quality.py``) slides a 461-day training span for cost, while
the product's default walk forward is expanding. Issue 14's untested lever is more history per
fold: 461 days sampled every 5th date are about 90 fitted dates, some 22 independent 21-day label
periods. This script answers it without reading a test window. For every window of the 13-year
plan it keeps the window's validation slice and fitted end exactly as the benchmark has them and
only moves ``train_start``:

- ``sliding_461``: the benchmark's window (461 trading days up to ``train_end``);
- ``sliding_1008``: four years (1,008 trading days), cut at the first window's start;
- ``expanding``: every window starts at the first window's start (the product's default).

Per setup and window it records the validation rank IC of the product's classifier at each tree
size of ``--sizes`` every 10 rounds up to 600 (``ranking_validation_curves``, labels neutral to beta,
volatility and sector, every 5th date fitted), then summarises, as ``research_ranking_candidates``
does: the best pooled point (optimistic, the same way for every setup), and ``next slice``: for
window k the point with the best mean over slices 0..k-1, scored on slice k, with its Newey-West t
and the paired difference with ``sliding_461``. The validation slices are the same rows in every
setup, so the comparison is paired date by date.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from _common import REPO  # noqa: F401  (puts the repository on sys.path)
from bench_model_quality import HORIZON, LIVE, WARMUP, load, peak_rss_gib
from research_ranking_candidates import next_slice_summary

SETUPS = {"sliding_461": 461, "sliding_1008": 1008, "expanding": None}


def with_span(window, calendar: pd.DatetimeIndex, first_start: pd.Timestamp, days: int | None):
    """``window`` with ``train_start`` moved so the span up to ``train_end`` holds ``days`` trading
    days (None: from ``first_start``), never before ``first_start``. Nothing after ``fit_end`` moves."""
    if days is None:
        return replace(window, train_start=first_start)
    end = calendar.get_loc(pd.Timestamp(window.train_end))
    start = max(end - days + 1, calendar.get_loc(first_start))
    return replace(window, train_start=calendar[start])


def summarise(curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    rows, baseline = [], None
    for setup in SETUPS:
        part = curves.loc[curves["setup"] == setup].assign(objective="classifier", weight=0.0)
        if part.empty:
            continue
        row, nxt = next_slice_summary(part, keys, baseline, ["num_leaves", "rounds"], "sliding_461")
        baseline = nxt if baseline is None else baseline
        spans = f"{part['n_fit_dates'].min()}..{part['n_fit_dates'].max()}"
        rows.append({"setup": setup, "fitted dates (first..last window)": spans, **row})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from axion_pipeline.ml.config import MLConfig
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.feature_inputs import build_ranking_inputs
    from axion_pipeline.ml.training import ranking_rows_for, ranking_validation_curves

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-folds", type=int, default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[15])
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--workdir", type=Path, default=REPO.parent / "bench_quality" / "window")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data, wf = load("real13", args.workdir.parent)
    ml_config = MLConfig()
    ranking = ml_config.ranking
    sizes = dict(zip(ranking.candidate_num_leaves, ranking.candidate_min_child_samples))
    unknown = sorted(set(args.sizes) - set(sizes))
    if unknown:
        raise SystemExit(f"--sizes {unknown}: not among the configured candidates {sorted(sizes)}")
    ml_config = replace(
        ml_config,
        ranking=replace(
            ranking, candidate_num_leaves=list(args.sizes), candidate_min_child_samples=[sizes[s] for s in args.sizes]
        ),
    )
    inputs = build_ranking_inputs(data, ml_config.features)
    sectors = data.sectors.set_index("ticker")["sector"] if len(data.sectors) else None
    plan = plan_walk_forward(inputs.calendar, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
    windows = [w for w in plan.windows[: args.max_folds] if w.has_validation]
    calendar = pd.DatetimeIndex(inputs.calendar)
    first_start = pd.Timestamp(windows[0].train_start)
    print(f"real13: inputs {time.perf_counter() - started:.0f} s, {len(windows)} windows", flush=True)
    args.workdir.mkdir(parents=True, exist_ok=True)
    parts = []
    for window in windows:  # window by window, every setup: a stopped run still has paired slices
        for setup in args.setups:
            file = args.workdir / f"{setup}.{window.key}.{'-'.join(map(str, args.sizes))}.parquet"
            if not file.exists():
                t0 = time.perf_counter()
                moved = with_span(window, calendar, first_start, SETUPS[setup])
                rows = ranking_rows_for(inputs.features, inputs.targets, moved, ml_config, sectors=sectors)
                curves = ranking_validation_curves(
                    inputs.features, inputs.targets, moved, ml_config, sectors=sectors, rows=rows
                )
                curves = curves.assign(setup=setup, n_fit_dates=rows.n_fit_dates, n_fit_rows=len(rows.selected))
                curves.assign(seconds=round(time.perf_counter() - t0, 1)).to_parquet(file)
                print(
                    f"{window.key} {setup}: {rows.n_fit_dates} dates, {len(rows.selected):,} rows, "
                    f"{time.perf_counter() - t0:.0f} s, peak {peak_rss_gib():.1f} GiB",
                    flush=True,
                )
            parts.append(pd.read_parquet(file))
    curves = pd.concat(parts, ignore_index=True)
    keys = [w.key for w in windows]
    table = summarise(curves, keys)
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(f"\nreal13: validation slices only ({len(keys)} windows, sizes {args.sizes})")
        print(table.to_string(index=False), flush=True)
    table.to_csv(args.workdir / "summary.csv", index=False)
    seconds = curves.drop_duplicates(["setup", "fold"]).groupby("setup")["seconds"].sum().round().to_dict()
    (args.workdir / "meta.json").write_text(
        json.dumps({"windows": keys, "peak_rss_gib": round(peak_rss_gib(), 2), "curve_seconds": seconds})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
