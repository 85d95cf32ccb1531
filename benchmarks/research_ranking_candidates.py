"""Which ranking-model candidates win on validation slices only: objectives and a blend with the composite.

Run: ``.venv/bin/python benchmarks/research_ranking_candidates.py [--sources real13 real5]
[--max-folds N] [--cached real13=DIR]`` (about an hour on 2 cores for real13; per-fold curves are
kept under ``--workdir`` so an interrupted run resumes).

Issue 14 asks to try a regression or LambdaRank objective beside the spec's quintile classifier,
and averaging with the rule composite, and to keep only what wins on validation. This script
answers that without reading a test window: for every walk-forward window of a source it fits,
on the window's fitted rows exactly as ``ranking_rows_for`` cuts them (labels neutral to beta,
volatility and sector), one probe per candidate and records the rank IC on the window's
validation slice every 10 rounds up to ``RankingModelConfig.n_estimators``:

- ``classifier``: the product's multiclass quintile classifier (``StockRankingModel``), score =
  expected quintile; by default at 15 leaves only (the size the product's pooled choice settles
  on; ``--classifier-sizes`` for more: each multiclass round fits 5 trees);
- ``regression``: L2 regression on the same quintile labels;
- ``lambdarank``: LambdaRank with one query per date, relevance = label - 1 with linear gains;
- ``xendcg``: LightGBM's listwise ``rank_xendcg`` objective on the same relevance;

each at the configured tree sizes and each blended with the composite: the score's percentile
within the date averaged with the composite's percentile at weights 0, 0.25 and 0.5 (where the
composite is missing, the model's percentile alone), and the composite alone (weight 1).

Two summaries per candidate family, both on validation slices only:

- ``best pooled``: the mean validation IC over all slices at the family's best point (an
  in-sample optimum of the validation data: optimistic, the same way for every family);
- ``next slice``: for window k, the point with the best mean over slices 0..k-1 is scored on
  slice k (the product's pooled choice, evaluated one slice ahead): mean, Newey-West t (lag 1),
  share of slices above 0, and the paired difference with the product's family.

``--cached SOURCE=DIR`` reads the product's classifier curves at every configured size from a
``bench_model_quality.py`` fold folder (``fold_k.curves.parquet``) so that family is the product
exactly as it chooses today.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO  # noqa: F401  (puts the repository on sys.path)
from bench_model_quality import HORIZON, LIVE, WARMUP, load, peak_rss_gib

WEIGHTS = (0.0, 0.25, 0.5)
OBJECTIVES = ("regression", "lambdarank", "xendcg")


def wide(codes: np.ndarray, columns: np.ndarray, n_rows: int, width: int, values: np.ndarray) -> np.ndarray:
    out = np.full((n_rows, width), np.nan)
    out[codes, columns] = values
    return out


class Slice:
    """A validation slice laid out one row per date: forward returns and the composite percentile."""

    def __init__(self, X_val: pd.DataFrame, forward_returns: pd.Series, composite: pd.Series):
        from axion_pipeline.analytics.cross_section import group_columns, percentile_rank_rows

        dates = X_val.index.get_level_values("date")
        self.codes, uniques = pd.factorize(dates)
        self.n_dates = len(uniques)
        self.columns, self.width = group_columns(self.codes, self.n_dates)
        self.truth = self.lay(forward_returns.reindex(X_val.index).to_numpy(dtype="float64"))
        comp = composite.reindex(X_val.index).to_numpy(dtype="float64")
        self.composite = percentile_rank_rows(self.lay(comp))
        self.composite_share = float(np.isfinite(comp).mean())

    def lay(self, values: np.ndarray) -> np.ndarray:
        return wide(self.codes, self.columns, self.n_dates, self.width, values)

    def ic(self, score: np.ndarray | None, weight: float) -> float:
        """Mean per-date rank IC of (1 - w) * pct(score) + w * pct(composite) with the outcome."""
        from axion_pipeline.analytics.cross_section import percentile_rank_rows, rank_ic_rows

        if score is None:
            blended = self.composite
        else:
            pct = percentile_rank_rows(self.lay(score))
            blended = np.where(np.isfinite(self.composite), (1 - weight) * pct + weight * self.composite, pct)
        ic, _ = rank_ic_rows(blended, self.truth)
        return float(np.nanmean(ic)) if np.isfinite(ic).any() else float("nan")


def lightgbm_params(objective: str, leaves: int, child: int, ranking, n_rows: int) -> dict:
    from axion_pipeline.ml.ranking import MULTITHREAD_MIN_ROWS

    params = dict(
        objective={"xendcg": "rank_xendcg"}.get(objective, objective),
        num_leaves=leaves,
        min_data_in_leaf=child,
        learning_rate=ranking.learning_rate,
        bagging_fraction=ranking.subsample,
        bagging_freq=1 if ranking.subsample < 1 else 0,
        feature_fraction=ranking.colsample_bytree,
        lambda_l2=ranking.reg_lambda,
        num_threads=ranking.n_jobs if n_rows >= MULTITHREAD_MIN_ROWS else 1,
        seed=ranking.random_state,
        verbose=-1,
    )
    if objective == "lambdarank":
        params.update(label_gain=list(range(ranking.num_quintiles)), lambdarank_truncation_level=100)
    return params


def staged_scores(booster, matrix: np.ndarray, step: int, total: int):
    """(rounds, raw score) after every ``step`` rounds of a single-output booster."""
    raw = np.zeros(len(matrix))
    for start in range(0, total, step):
        raw = raw + booster.predict(matrix, start_iteration=start, num_iteration=step, raw_score=True)
        yield start + step, raw


def window_curves(inputs, window, ml_config, sectors, classifier_sizes: set[int]) -> pd.DataFrame:
    """Validation IC every ``ic_checkpoint_rounds`` rounds of every candidate on one window."""
    import lightgbm as lgb

    from axion_pipeline.ml.ranking import StockRankingModel
    from axion_pipeline.ml.training import ranking_rows_for

    ranking = ml_config.ranking
    rows = ranking_rows_for(inputs.features, inputs.targets, window, ml_config, sectors=sectors)
    X_val = rows.validation["X_val"]
    composite = inputs.scores.assign(
        date=pd.to_datetime(inputs.scores["date"]), ticker=inputs.scores["ticker"].astype(str)
    )
    composite = composite.set_index(["date", "ticker"])["composite"]
    vslice = Slice(X_val, rows.validation["forward_returns"], composite)
    step, total = int(ranking.ic_checkpoint_rounds), int(ranking.n_estimators)
    out = [
        dict(
            family="composite",
            objective="composite",
            num_leaves=0,
            weight=1.0,
            rounds=0,
            validation_ic=vslice.ic(None, 1.0),
        )
    ]

    def record(objective, leaves, rounds, score):
        for w in WEIGHTS:
            out.append(
                dict(
                    family=objective,
                    objective=objective,
                    num_leaves=leaves,
                    weight=w,
                    rounds=rounds,
                    validation_ic=vslice.ic(score, w),
                )
            )

    labels = rows.labels
    keep = labels.notna().to_numpy()
    X_fit = rows.selected.loc[keep]
    y_fit = labels.to_numpy()[keep]
    for candidate in ranking.candidates():
        leaves, child = candidate.num_leaves, candidate.min_child_samples
        if leaves in classifier_sizes:
            probe = StockRankingModel(
                replace(candidate, n_ensemble=1, refit_on_validation=False, round_selection="fixed", n_estimators=total)
            )
            probe.train(rows.selected, rows.labels)
            member = probe.raw_boosters()[0]
            val_matrix = probe.feature_matrix(X_val)
            for rounds, probs in probe._staged_probs(member, val_matrix, step):
                record("classifier", leaves, rounds, probe._score(probs))
        order = np.argsort(X_fit.index.get_level_values("date").to_numpy(), kind="stable")
        matrix = X_fit.to_numpy(dtype="float64")[order]
        y = y_fit[order]
        group = pd.Series(X_fit.index.get_level_values("date").to_numpy()[order]).value_counts(sort=False).sort_index()
        val_matrix = X_val[X_fit.columns].to_numpy(dtype="float64")
        for objective in OBJECTIVES:
            params = lightgbm_params(objective, leaves, child, ranking, len(matrix))
            target = y if objective == "regression" else (y - 1).astype(int)
            data = lgb.Dataset(
                matrix, target, group=None if objective == "regression" else group.to_numpy(), free_raw_data=False
            )
            booster = lgb.train(params, data, num_boost_round=total)
            fitted = booster.current_iteration()
            for rounds, score in staged_scores(booster, val_matrix, step, fitted):
                record(objective, leaves, rounds, score)
            for rounds in range(fitted + step, total + 1, step):  # stopped growing: keep the last score
                record(objective, leaves, rounds, score)
    frame = pd.DataFrame(out)
    frame.insert(0, "fold", window.key)
    frame["n_dates"] = vslice.n_dates
    frame["composite_share"] = vslice.composite_share
    return frame


def cached_product_curves(folder: Path, keys: list[str]) -> pd.DataFrame:
    parts = []
    for key in keys:
        file = folder / f"{key}.curves.parquet"
        if file.exists():
            c = pd.read_parquet(file)
            c = c.loc[c["rounds"] > 0]
            parts.append(
                c.assign(family="product", objective="classifier", weight=0.0)[
                    ["fold", "family", "objective", "num_leaves", "weight", "rounds", "validation_ic"]
                ]
            )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def newey_west_t(values: np.ndarray, lags: int = 1) -> float:
    from axion_pipeline.ml.metrics import newey_west_se

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return float("nan")
    se = newey_west_se(values, lags)
    return float(values.mean() / se) if se > 0 else float("nan")


def next_slice(curves: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per window k >= 1: the IC on slice k of the point with the best mean over slices 0..k-1."""
    points = ["objective", "num_leaves", "weight", "rounds"]
    table = curves.pivot_table(index=points, columns="fold", values="validation_ic")
    out = {}
    for k in range(1, len(keys)):
        earlier = [f for f in keys[:k] if f in table.columns]
        if keys[k] not in table.columns or not earlier:
            continue
        mean = table[earlier].mean(axis=1, skipna=False).dropna()
        if mean.empty:
            continue
        best = mean.sort_values(ascending=False, kind="stable").index[0]
        out[keys[k]] = table.loc[best, keys[k]]
    return pd.Series(out, dtype="float64")


def next_slice_summary(
    part: pd.DataFrame, keys: list[str], baseline: pd.Series | None, points: list[str], baseline_name: str
) -> tuple[dict, pd.Series]:
    """One family's row of a validation-only table, and its next-slice ICs: the best pooled point of
    ``points`` and its mean IC, the next-slice mean, Newey-West t (lag 1) and share above 0, and the
    paired difference with ``baseline``'s next-slice ICs (none: this family is the baseline)."""
    pooled = part.groupby(points)["validation_ic"].mean().sort_values(ascending=False)
    nxt = next_slice(part, keys)
    diff = (nxt - (nxt if baseline is None else baseline)).dropna()
    row = {
        "best pooled point": "/".join(str(v) for v in pooled.index[0]),
        "best pooled IC": round(float(pooled.iloc[0]), 4),
        "next-slice IC": round(float(nxt.mean()), 4),
        "NW t": round(newey_west_t(nxt.to_numpy()), 2),
        "slices > 0": round(float((nxt > 0).mean()), 2),
        f"vs {baseline_name}": round(float(diff.mean()), 4) if len(diff) else None,
        "t": round(newey_west_t(diff.to_numpy()), 2) if len(diff) > 2 and diff.abs().sum() > 0 else None,
        "slices": len(nxt),
    }
    return row, nxt


def summarise(curves: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    families = {
        "product (classifier 3/15/63, no blend)": curves["family"] == "product",
        "classifier 15 leaves, no blend": (curves["family"] == "classifier") & (curves["weight"] == 0),
        "classifier 15 leaves + composite blend": curves["family"] == "classifier",
    }
    for objective in OBJECTIVES:
        families[f"{objective}, no blend"] = (curves["family"] == objective) & (curves["weight"] == 0)
        families[f"{objective} + composite blend"] = curves["family"] == objective
    families["all candidates (objective, size, blend)"] = curves["family"].isin(["classifier", *OBJECTIVES])
    families["composite alone"] = curves["family"] == "composite"
    parts = {name: curves.loc[mask] for name, mask in families.items()}
    return family_table(parts, keys, ["objective", "num_leaves", "weight", "rounds"], "product")


def family_table(parts: dict[str, pd.DataFrame], keys: list[str], points: list[str], baseline: str) -> pd.DataFrame:
    """``next_slice_summary`` of every non-empty family in ``parts`` (name -> its curves), one row
    each; the first family is the baseline the others are paired with."""
    rows, first = [], None
    for name, part in parts.items():
        if part.empty:
            continue
        row, nxt = next_slice_summary(part, keys, first, points, baseline)
        first = nxt if first is None else first
        rows.append({"family": name, **row})
    return pd.DataFrame(rows)


def print_table(table: pd.DataFrame, started: float) -> None:
    """The table in full width, then the script's wall time and peak memory."""
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"total {time.perf_counter() - started:.0f} s, peak {peak_rss_gib():.1f} GiB")


def main(argv: list[str] | None = None) -> int:
    from axion_pipeline.ml.config import MLConfig
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.feature_inputs import build_ranking_inputs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", nargs="+", default=["real13", "real5"])
    parser.add_argument("--max-folds", type=int, default=None)
    parser.add_argument("--classifier-sizes", type=int, nargs="*", default=[15])
    parser.add_argument(
        "--cached", nargs="*", default=[], help="SOURCE=DIR: bench_model_quality fold folder of that source"
    )
    parser.add_argument("--rounds", type=int, default=None, help="override n_estimators (smoke runs)")
    parser.add_argument("--workdir", type=Path, default=REPO.parent / "bench_quality" / "research")
    args = parser.parse_args(argv)
    for source in args.sources:
        started = time.perf_counter()
        data, wf = load(source, args.workdir.parent)
        ml_config = MLConfig()
        if args.rounds:
            ml_config = replace(ml_config, ranking=replace(ml_config.ranking, n_estimators=args.rounds))
        inputs = build_ranking_inputs(data, ml_config.features)
        sectors = data.sectors.set_index("ticker")["sector"] if len(data.sectors) else None
        plan = plan_walk_forward(inputs.calendar, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
        windows = [w for w in plan.windows[: args.max_folds] if w.has_validation]
        print(
            f"{source}: inputs {time.perf_counter() - started:.0f} s, {len(windows)} windows, "
            f"peak {peak_rss_gib():.1f} GiB",
            flush=True,
        )
        folder = args.workdir / source
        folder.mkdir(parents=True, exist_ok=True)
        parts = []
        for window in windows:
            file = folder / f"{window.key}.parquet"
            if not file.exists():
                t0 = time.perf_counter()
                window_curves(inputs, window, ml_config, sectors, set(args.classifier_sizes)).to_parquet(file)
                print(f"{source} {window.key} {time.perf_counter() - t0:.0f} s", flush=True)
            parts.append(pd.read_parquet(file))
        curves = pd.concat(parts, ignore_index=True)
        keys = [w.key for w in windows]
        cached = dict(item.split("=", 1) for item in args.cached)
        if source in cached:
            curves = pd.concat([cached_product_curves(Path(cached[source]), keys), curves], ignore_index=True)
        table = summarise(curves, keys)
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(
                f"\n{source}: validation slices only ({len(keys)} windows, "
                f"composite coverage {curves['composite_share'].mean():.2f})"
            )
            print(table.to_string(index=False), flush=True)
        table.to_csv(folder / "summary.csv", index=False)
        (folder / "meta.json").write_text(
            json.dumps(
                {
                    "windows": keys,
                    "peak_rss_gib": round(peak_rss_gib(), 2),
                    "seconds": round(time.perf_counter() - started),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
