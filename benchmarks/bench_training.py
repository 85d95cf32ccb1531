"""Benchmark: training overhead. The walk-forward ranking model assets (Dagster runs) vs raw LightGBM
fits on the same matrices, and the SHAP asset vs raw ``shap.TreeExplainer`` on the same rows.

Setup: a throw-away warehouse built by ``python -m axion_pipeline.run_all`` on the generated market
(``--tickers``, ``--years``; own DAGSTER_HOME and warehouse). Then, in this process, on a persistent
instance configured like dagster.yaml:

1. Training: for each walk-forward fold, a ``training_job`` run of the ``ranking_model`` asset only
   (``execute_in_process``): the whole asset path, i.e. run start, reading the fold's feature and target rows from
   DuckDB, building the fold's rows, feature selection, the ensemble's early-stopped LightGBM fits,
   scoring the test window, saving the model and storing the predictions. Every
   ``LGBMClassifier.fit`` inside the asset is recorded (estimator parameters, the exact matrices
   and fit arguments); the baseline replays them as raw fits: a fresh ``LGBMClassifier`` with the
   same parameters, data, validation set and early stopping. Ratio = asset run / raw fits (target
   at most 1.3x). The table splits the run into Dagster's run overhead, loading inputs, the compute
   (fits and the rest) and storing the output.
2. SHAP: a run of the ``shap_explanations`` asset over the last ``--shap-days`` trading days vs
   ``shap.TreeExplainer(booster).shap_values(matrix)`` on the same rows for every member of the
   production ranking ensemble (the rows and the model are recorded inside the asset).

The libraries the assets import lazily are imported first (a first run would pay for them); the SHAP
asset gets a warm-up run. Figures are medians of ``--runs`` runs.
Run: ``.venv/bin/python benchmarks/bench_training.py [--tickers 300] [--years 8] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from _common import (
    REPO,
    apply_env,
    bench_env,
    fmt_seconds,
    machine,
    publish,
    ratio,
    scratch_dir,
    section,
    stats,
)

from axion_pipeline.analytics.markdown import markdown_table

END_DATE = "2024-12-31"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dataclass
class Fit:
    cls: type
    params: dict
    X: object
    y: object
    kwargs: dict
    seconds: float


@contextmanager
def record_fits() -> Iterator[list[Fit]]:
    """Record every scikit-learn-API LightGBM fit (estimator class, parameters, data, arguments)."""
    import lightgbm

    fits: list[Fit] = []
    originals = {}
    for cls in (lightgbm.LGBMClassifier, lightgbm.LGBMRegressor, lightgbm.LGBMRanker):
        original = cls.__dict__["fit"]
        originals[cls] = original

        def spy(self, X, y, *args, _original=original, **kwargs):
            started = time.perf_counter()
            out = _original(self, X, y, *args, **kwargs)
            fits.append(Fit(type(self), self.get_params(), X, y, dict(kwargs), time.perf_counter() - started))
            return out

        cls.fit = spy
    try:
        yield fits
    finally:
        for cls, original in originals.items():
            cls.fit = original


def fresh_callbacks(callbacks) -> list:
    """New callback objects equal to the recorded ones (early stopping keeps state between fits)."""
    import lightgbm

    out = []
    for cb in callbacks or []:
        if hasattr(cb, "stopping_rounds"):
            out.append(
                lightgbm.early_stopping(
                    cb.stopping_rounds, first_metric_only=cb.first_metric_only, verbose=False, min_delta=cb.min_delta
                )
            )
        else:
            out.append(cb)
    return out


def replay(fits: list[Fit]) -> float:
    """Wall time of the recorded fits as raw LightGBM calls."""
    started = time.perf_counter()
    for fit in fits:
        kwargs = dict(fit.kwargs)
        if "callbacks" in kwargs:
            kwargs["callbacks"] = fresh_callbacks(kwargs["callbacks"])
        fit.cls(**fit.params).fit(fit.X, fit.y, **kwargs)
    return time.perf_counter() - started


@contextmanager
def record_explanations() -> Iterator[list[tuple]]:
    """Record the (model, rows) of every ``ModelExplainer.contributions`` call."""
    from axion_pipeline.ml.explain import ModelExplainer

    calls: list[tuple] = []
    original = ModelExplainer.__dict__["contributions"]

    def spy(self, model, X, *args, **kwargs):
        calls.append((model, X))
        return original(self, model, X, *args, **kwargs)

    ModelExplainer.contributions = spy
    try:
        yield calls
    finally:
        ModelExplainer.contributions = original


def raw_shap(model, X) -> float:
    """``shap.TreeExplainer(member).shap_values(matrix)`` for every member, wall seconds."""
    import shap

    matrix = model.feature_matrix(X)
    started = time.perf_counter()
    for member in model.raw_boosters():
        shap.TreeExplainer(member).shap_values(matrix)
    return time.perf_counter() - started


def step_phases(instance, run_id: str, step_key: str) -> dict[str, float]:
    """Seconds of the run and of the step's phases, from the event log's timestamps."""
    times: dict[str, list[float]] = {}
    run_start = run_end = None
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type_value
        if kind == "RUN_START":
            run_start = record.timestamp
        elif kind in ("RUN_SUCCESS", "RUN_FAILURE"):
            run_end = record.timestamp
        if event.step_key == step_key:
            times.setdefault(kind, []).append(record.timestamp)
    start, end = times["STEP_START"][0], times["STEP_SUCCESS"][0]
    loaded = max(times.get("LOADED_INPUT", [start]))
    output = min(times.get("STEP_OUTPUT", [end]))
    return {
        "run": (run_end or end) - (run_start or start),
        "step": end - start,
        "load": loaded - start,
        "compute": output - loaded,
        "store": end - output,
    }


def build_warehouse(env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "axion_pipeline.run_all"], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit("the warehouse build failed")
    return time.perf_counter() - started


def execute(job, instance, **kwargs):
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=True, **kwargs)
    return result, time.perf_counter() - started


def measure_training(defs, instance, args) -> list[dict]:
    import dagster as dg

    job = defs.resolve_job_def("training_job")
    folds = job.partitions_def.get_partition_keys()[: args.folds or None]
    selection = [dg.AssetKey("ranking_model")]
    # warm-up: the imports the asset does lazily (a first run would pay them), not a whole extra run
    import lightgbm  # noqa: F401
    import matplotlib.pyplot  # noqa: F401

    import axion_pipeline.analytics.plots  # noqa: F401
    import axion_pipeline.ml.training  # noqa: F401

    out = []
    for fold in folds:
        walls, phases, inside, raw = [], [], [], []
        for _ in range(args.runs):  # record_fits gives each run a new list: ``fits`` is the last run's
            with record_fits() as fits:
                result, wall = execute(job, instance, partition_key=fold, asset_selection=selection)
            walls.append(wall)
            phases.append({**step_phases(instance, result.run_id, "ranking_model"), "wall": wall})
            inside.append(sum(f.seconds for f in fits))
        if not fits:
            raise SystemExit(
                "no LightGBM scikit-learn fit was recorded inside ranking_model: "
                "the model no longer trains through LGBMClassifier/LGBMRegressor/LGBMRanker"
            )
        for _ in range(args.runs):
            raw.append(replay(fits))
        rows = len(fits[0].y)
        out.append(
            {
                "fold": fold,
                "wall": stats(walls),
                "raw": stats(raw),
                "inside": stats(inside),
                "fits": len(fits),
                "rows": rows,
                "features": fits[0].X.shape[1],
                "phases": {k: stats([p[k] for p in phases]).median for k in phases[0]},
            }
        )
        print(
            f"{fold}: asset {stats(walls).median:.2f} s, raw fits {stats(raw).median:.2f} s "
            f"({len(fits)} fits, {rows:,} rows)",
            flush=True,
        )
    return out


def measure_shap(defs, instance, args) -> dict:
    import dagster as dg

    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.project import ProjectSettings

    keys = DagsterProject.from_settings(ProjectSettings.from_env()).live_keys()[-args.shap_days :]
    job = defs.resolve_job_def("inference_job")
    selection = [dg.AssetKey("shap_explanations")]
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    import shap  # noqa: F401  (both sides start with shap imported)

    execute(job, instance, tags=tags, asset_selection=selection)  # warm-up
    walls, steps, raw = [], [], []
    for _ in range(args.runs):  # ``calls``: the last run's explanations
        with record_explanations() as calls:
            result, wall = execute(job, instance, tags=tags, asset_selection=selection)
        walls.append(wall)
        steps.append(step_phases(instance, result.run_id, "shap_explanations")["step"])
    model, X = max(calls, key=lambda c: len(c[1]))
    for _ in range(args.runs):
        raw.append(raw_shap(model, X))
    return {
        "span": (keys[0], keys[-1]),
        "days": len(keys),
        "rows": len(X),
        "features": len(model.feature_names),
        "members": len(model.raw_boosters()),
        "wall": stats(walls),
        "step": stats(steps),
        "raw": stats(raw),
    }


def render(training: list[dict], shap_res: dict | None, args, build_seconds: float) -> str:
    header = [
        "fold",
        "fit rows x features",
        "LightGBM fits",
        "asset run s",
        "raw fits s",
        "**ratio**",
        "Dagster run s (outside the step)",
        "I/O manager inputs s",
        "compute s (fits inside)",
        "store s",
    ]
    rows = []
    for r in training:
        p = r["phases"]
        rows.append(
            [
                r["fold"],
                f"{r['rows']:,} x {r['features']}",
                r["fits"],
                f"{r['wall'].median:.2f}",
                f"{r['raw'].median:.2f}",
                f"**{ratio(r['wall'].median, r['raw'].median):.2f}x**",
                f"{p['wall'] - p['step']:.2f}",
                f"{p['load']:.2f}",
                f"{p['compute']:.2f} ({r['inside'].median:.2f})",
                f"{p['store']:.2f}",
            ]
        )
    total_wall = sum(r["wall"].median for r in training)
    total_raw = sum(r["raw"].median for r in training)
    rows.append(
        [
            "**all folds**",
            "",
            sum(r["fits"] for r in training),
            f"{total_wall:.2f}",
            f"{total_raw:.2f}",
            f"**{ratio(total_wall, total_raw):.2f}x**",
            "",
            "",
            "",
            "",
        ]
    )
    intro = (
        f"Generated market, {args.tickers} tickers, {args.years} years ending {END_DATE} (warehouse built by "
        f"`run_all` in {fmt_seconds(build_seconds)}). Training: one `training_job` run per fold of the "
        f"`ranking_model` asset alone (`execute_in_process`, persistent instance like dagster.yaml) vs the "
        f"same `LGBMClassifier` fits replayed raw (same parameters, matrices, validation set and early "
        f"stopping); target ratio at most 1.3x. Phases from the event log: Dagster run = the run's wall time minus the "
        f"asset step (planning, resources, event storage, the asset's checks); I/O manager inputs = inputs "
        f"loaded before the step body (none since the asset reads its own rows); compute = the step body until "
        f"the output is yielded, including the asset's parameterised read of the feature and target rows the "
        f"fold uses (the recorded fits inside it in brackets); store = writing the predictions to DuckDB. "
        f"Medians of {args.runs} runs (lazy imports done "
        f"beforehand). Machine: {machine()}."
    )
    parts = [intro, markdown_table(header, rows)]
    if shap_res:
        s = shap_res
        shap_rows = [
            [
                f"{s['span'][0]} .. {s['span'][1]} ({s['days']} days)",
                f"{s['rows']:,} x {s['features']}",
                s["members"],
                f"{s['wall'].median:.2f}",
                f"{s['step'].median:.2f}",
                f"{s['raw'].median:.2f}",
                f"**{ratio(s['wall'].median, s['raw'].median):.2f}x**",
                f"{ratio(s['step'].median, s['raw'].median):.2f}x",
            ]
        ]
        parts += [
            f"SHAP: the `shap_explanations` asset (one `inference_job` run over the span: native LightGBM "
            f"TreeSHAP of every member, top-5 reasons per row in long form, plus the latest day's summary "
            f"plot) vs `shap.TreeExplainer(member).shap_values(matrix)` for every member of the production "
            f"ranking ensemble on the same rows. Medians of {args.runs} runs.",
            markdown_table(
                [
                    "span",
                    "rows x features",
                    "members",
                    "asset run s",
                    "asset step s",
                    "raw shap s",
                    "**run / raw**",
                    "step / raw",
                ],
                shap_rows,
            ),
        ]
    return section("Training and SHAP overhead", *parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=300)
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folds", type=int, default=0, help="only the first N folds (0: all)")
    parser.add_argument("--shap-days", type=int, default=21, help="trading days of the SHAP run (live span)")
    parser.add_argument("--no-shap", action="store_true")
    parser.add_argument("--wf-train-days", type=int, help="AXION_WF_TRAIN_DAYS of the build")
    parser.add_argument("--wf-test-days", type=int, help="AXION_WF_TEST_DAYS of the build")
    parser.add_argument("--wf-folds", type=int, help="AXION_WF_FOLDS of the build")
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()

    with scratch_dir("axion-bench-training-") as root:
        env = bench_env(
            root,
            AXION_SIM_TICKERS=args.tickers,
            AXION_SIM_START=f"{int(END_DATE[:4]) - args.years + 1}-01-02",
            AXION_SIM_END=END_DATE,
            AXION_WF_TRAIN_DAYS=args.wf_train_days,
            AXION_WF_TEST_DAYS=args.wf_test_days,
            AXION_WF_FOLDS=args.wf_folds,
        )
        print(f"building a fresh warehouse ({args.tickers} tickers, {args.years} years) ...", flush=True)
        build_seconds = build_warehouse(env)
        print(f"built in {fmt_seconds(build_seconds)}", flush=True)
        apply_env(env)

        import dagster as dg

        warnings.filterwarnings("ignore", category=dg.BetaWarning)
        warnings.filterwarnings("ignore", category=dg.PreviewWarning)
        from axion_pipeline.definitions import build_definitions
        from axion_pipeline.project import ProjectSettings

        defs = build_definitions(ProjectSettings.from_env())
        with dg.DagsterInstance.get() as instance:
            training = measure_training(defs, instance, args)
            shap_res = None if args.no_shap else measure_shap(defs, instance, args)
    publish(render(training, shap_res, args, build_seconds), append=not args.no_append)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
