"""Does averaging the ranking score with residual reversal beat either alone? Validation slices only.

Run: ``.venv/bin/python benchmarks/research_residual_blend.py`` (about 30 minutes on 2 cores; per-window
grids are kept under ``--workdir`` so a stopped run resumes).

``research_residual_features.py`` found that the 5-component residual reversal, given to the ranking
model as one more feature, moves its next-slice validation IC only from 0.0107 to 0.0116 (t 0.49),
while the signal alone ranks at 0.0161 on the same slices. This script tries the other use the issue
names, averaging: per window, the product's 15-leaf classifier (labels neutral to beta, volatility
and sector) is fitted to 600 rounds on the window's fitted rows; on its validation slice, every 20
rounds, the model's percentile within the date is averaged with the signal's percentile at weights
0, 0.25, 0.5, 0.75 and 1 (the signal alone); where the signal is missing, the model's percentile
alone. "Next slice" picks (rounds, weight) with the best mean over slices 0..k-1 and scores slice k,
as the product picks its rounds. No test window is read.
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
from research_residual_features import residual_feature
from research_training_window import SETUPS, with_span

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
STEP, ROUNDS = 20, 600


def slice_grid(model, X_val: pd.DataFrame, outcome: pd.Series, signal: pd.Series) -> pd.DataFrame:
    """Mean per-date rank IC on the slice for every (rounds, weight)."""
    from axion_pipeline.analytics.cross_section import group_columns, percentile_rank_rows, rank_ic_rows

    dates = X_val.index.get_level_values("date")
    codes, uniques = pd.factorize(dates)
    columns, width = group_columns(codes, len(uniques))

    def lay(values):
        out = np.full((len(uniques), width), np.nan)
        out[codes, columns] = values
        return out

    truth = lay(outcome.to_numpy(float))
    sig = percentile_rank_rows(lay(signal.to_numpy(float)))
    (booster,) = model.raw_boosters()
    matrix = model.feature_matrix(X_val)
    classes = np.arange(model.num_classes, dtype=float)
    rows, raw = [], None
    for rounds in range(STEP, ROUNDS + 1, STEP):  # raw scores summed chunk by chunk, then softmax
        part = booster.predict(matrix, start_iteration=rounds - STEP, num_iteration=STEP, raw_score=True)
        part = np.asarray(part, dtype=float).reshape(len(matrix), -1)
        raw = part if raw is None else raw + part
        e = np.exp(raw - raw.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        ml = percentile_rank_rows(lay(probs @ classes[: probs.shape[1]]))
        for w in WEIGHTS:
            blend = np.where(np.isfinite(sig), (1 - w) * ml + w * sig, ml if w < 1 else np.nan)
            ic, _ = rank_ic_rows(blend, truth)
            rows.append((rounds, w, float(np.nanmean(ic))))
    return pd.DataFrame(rows, columns=["rounds", "weight", "validation_ic"])


def main(argv: list[str] | None = None) -> int:
    from axion_pipeline.ml.config import MLConfig
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.feature_inputs import build_ranking_inputs
    from axion_pipeline.ml.ranking import StockRankingModel
    from axion_pipeline.ml.training import ranking_rows_for

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO.parent / "bench_quality" / "window")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data, wf = load("real13", args.workdir.parent)
    ml_config = MLConfig()
    ranking = ml_config.ranking
    size = dict(zip(ranking.candidate_num_leaves, ranking.candidate_min_child_samples))[15]
    inputs = build_ranking_inputs(data, ml_config.features)
    signal = residual_feature(data.prices, inputs.features)
    signal.index = pd.MultiIndex.from_arrays([pd.to_datetime(inputs.features["date"]), inputs.features["ticker"]])
    print(f"inputs {time.perf_counter() - started:.0f} s", flush=True)
    sectors = data.sectors.set_index("ticker")["sector"] if len(data.sectors) else None
    plan = plan_walk_forward(inputs.calendar, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
    windows = [w for w in plan.windows if w.has_validation]
    calendar = pd.DatetimeIndex(inputs.calendar)
    first_start = pd.Timestamp(windows[0].train_start)
    model_config = replace(
        ranking,
        num_leaves=15,
        min_child_samples=size,
        candidate_num_leaves=[],
        candidate_min_child_samples=[],
        n_ensemble=1,
        refit_on_validation=False,
        round_selection="fixed",
        n_estimators=ROUNDS,
    )
    parts = []
    for window in windows:
        file = args.workdir / f"blend.{window.key}.parquet"
        if not file.exists():
            t0 = time.perf_counter()
            moved = with_span(window, calendar, first_start, SETUPS["sliding_461"])
            rows = ranking_rows_for(inputs.features, inputs.targets, moved, ml_config, sectors=sectors)
            model = StockRankingModel(model_config)
            model.train(rows.selected, rows.labels)
            X_val = rows.validation["X_val"]
            keys = pd.MultiIndex.from_arrays(
                [X_val.index.get_level_values("date"), X_val.index.get_level_values(X_val.index.names[1])]
            )
            outcome = rows.validation["forward_returns"]
            if not outcome.index.equals(X_val.index):
                outcome = outcome.reindex(X_val.index)
            grid = slice_grid(model, X_val, outcome, signal.reindex(keys))
            grid.assign(fold=window.key, seconds=round(time.perf_counter() - t0, 1)).to_parquet(file)
            print(f"{window.key}: {time.perf_counter() - t0:.0f} s, peak {peak_rss_gib():.1f} GiB", flush=True)
        parts.append(pd.read_parquet(file))
    grids = pd.concat(parts, ignore_index=True).assign(objective="classifier", num_leaves=15)
    keys = [w.key for w in windows]
    families = {
        "model alone (weight 0)": grids["weight"] == 0.0,
        "signal alone (weight 1)": grids["weight"] == 1.0,
        "blend, weight chosen": grids["weight"] >= 0.0,
    }
    for w in WEIGHTS[1:-1]:
        families[f"blend, weight {w}"] = grids["weight"] == w
    parts = {name: grids.loc[keep] for name, keep in families.items()}
    print_table(family_table(parts, keys, ["weight", "rounds"], "model alone"), started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
