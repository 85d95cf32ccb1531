"""Out-of-sample quality of the ranking model next to its baselines, on the same test dates.

Run: ``.venv/bin/python benchmarks/bench_model_quality.py [--sources real13 real5 generated]
[--max-folds N] [--no-write] [--real13-window sliding|expanding]`` (about 2 hours on 2 cores for all
three sources with sliding real13 windows; per-fold results
are kept under ``--workdir``, so an interrupted run resumes where it stopped).

Sources, each through the library exactly as the Dagster assets run it (nothing is chosen here):

- ``real13``: the 13-year S&P 500 members file (``../shared/data/prices/sp500_members_2005_2017.csv.gz``,
  611 stocks) in the generic layout prepared by ``axion_pipeline.data.sp500_members`` (links to
  the shared files, derived sectors and market series, no fundamentals), with the point-in-time
  membership intervals: every cross-section is the day's index members. Quarterly test windows
  from February 2008 (38 folds of 63 days, 21-day gaps, each trained on the 461 days before it
  with a 63-day validation slice at the end of that span; ``--real13-window expanding``: every
  span starts at the first window's start, 2006-03-14, the product's default, with the same
  validation slices and test windows); the last 63 days stay out (live span).
- ``real5``: the 5-year file of the shared layout (505 February-2018 members, 2013-2018, annual
  fundamentals with a 90-day lag) on the project's default walk forward (5 folds of 63 days).
- ``generated``: the embedded market (300 tickers, 2017-2024) on the default walk forward; the
  planted oracle (expected return) is scored on the same rows and its ratio reported, never used
  to choose anything.

Per source: the ranking model as the fold assets train it (``ranking_validation_curves`` per
window, then ``train_ranking`` per window: tree size and rounds with the best mean validation rank
IC over the window's own and earlier validation slices, labels neutral to beta, volatility and
sector, refit with the validation rows; its ML score ``ml_score`` is the equal average of the
model's percentile and residual reversal's, ``MLConfig.score_blend_weight``, and both halves are
scored alone as ``model_alone`` and ``residual_reversal``), Qlib's Alpha158 + LightGBM recipe on the same windows
(``train_alpha158_reference``), the rule composite and its categories, 12-1 momentum, 1-month
reversal and 60-day low volatility, all scored on exactly the rows the model scored
(``evaluation_frame``, ``evaluate_model``): mean rank IC with its Newey-West t and block-bootstrap
interval, the share of folds with a positive IC, the quintile long-short book net of 10 bps per
unit of turnover, and the paired Newey-West test of the model against each signal. Test windows
are scored once, after every fold is trained.

The bar (issue 14): on ``real13`` the model's mean IC >= the composite's and the reference's,
Newey-West t >= 2, positive IC in >= 60% of folds; on ``real5`` >= the composite's. The verdict is
printed and written with the tables to ``BENCHMARKS.md`` (``--no-write``: print only; a
``--max-folds`` run is a smoke test and never written).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from _common import BENCHMARKS_MD, REPO, machine

HORIZON, WARMUP, LIVE = 21, 300, 63
SHARED = Path(os.environ.get("AXION_SHARED_DATA") or REPO.parent / "shared" / "data")
SOURCES = ("real13", "real5", "generated")
# Quarterly test windows from 2008-02 on the 13-year file (38 fit between the 300 warm-up days, the
# first 461-day training span and the 63 live days), each trained on the 461 days before it:
# sliding, not the product's expanding default, because a 12-year expanding window makes the late
# folds five times the rows and the 38 folds several hours on 2 cores.
REAL13_WALK_FORWARD = dict(n_splits=38, train_size=461, test_size=63, gap=21, validation_size=63, expanding=False)
REAL13_WINDOWS = ("sliding", "expanding")  # --real13-window: the same test windows, expanding from the first
SHOWN = [
    "ml_score",
    "model_alone",
    "residual_reversal",
    "alpha158_reference",
    "composite",
    "momentum_12_1",
    "reversal_1m",
    "low_vol_60d",
]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def positive_fold_share(evaluation, signal: str) -> float:
    per_fold = evaluation.loc[(evaluation["signal"] == signal) & (evaluation["fold"] != "all"), "ic_mean"]
    return float((per_fold > 0).mean())


def load(source: str, workdir: Path, real13_window: str = "sliding"):
    """(MarketData, WalkForwardConfig) of a source; ``real13_window``: the 13-year file's training
    spans slide (461 days each) or expand from the first window's start (the product's default)."""
    from axion_pipeline.data.sources import load_source
    from axion_pipeline.ml.config import WalkForwardConfig
    from axion_pipeline.project import ProjectSettings

    default_wf = ProjectSettings().walk_forward
    if source == "real13":
        from axion_pipeline.data.sp500_members import prepare_sp500_members

        prepared = prepare_sp500_members(SHARED, workdir / "sp500_members_folder")
        if real13_window not in REAL13_WINDOWS:
            raise ValueError(f"real13_window must be one of {REAL13_WINDOWS}, got {real13_window!r}")
        wf = WalkForwardConfig(**{**REAL13_WALK_FORWARD, "expanding": real13_window == "expanding"})
        return load_source(prepared.directory), wf
    if source == "real5":
        return load_source(SHARED), default_wf
    if source == "generated":
        from axion_pipeline.data.simulator import SimulationConfig, simulate_market

        return simulate_market(SimulationConfig()), default_wf
    raise ValueError(f"unknown source {source!r}: one of {SOURCES}")


def fingerprint(*configs) -> str:
    """The library's code (its committed tree and any uncommitted change to it) and the
    configurations: a resumed run only reuses folds computed the same way. Commits that touch only
    tests, benchmarks or documents keep the folds (a 13-year run spans sessions)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout

    library = git("rev-parse", "HEAD:axion_pipeline").strip() + git("diff", "HEAD", "--", "axion_pipeline")
    text = json.dumps([library, *[asdict(c) for c in configs]], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def fold_curves(inputs, plan, ml_config, sectors, folder: Path, limit) -> tuple[pd.DataFrame, dict[str, float]]:
    """Every window's validation curves (``ranking_validation_curves``, one parquet file per fold in
    ``folder``, reused when present) and the seconds each took, as the ``ranking_validation`` fold
    assets compute them before any ranking model is trained."""
    from axion_pipeline.ml.training import ranking_validation_curves

    parts, seconds = [], {}
    for window in plan.windows[:limit]:
        file, timing = folder / f"{window.key}.curves.parquet", folder / f"{window.key}.curves.json"
        if not file.exists():
            started = time.perf_counter()
            curves = ranking_validation_curves(inputs.features, inputs.targets, window, ml_config, sectors=sectors)
            curves.to_parquet(file)
            timing.write_text(json.dumps({"curves_s": round(time.perf_counter() - started, 1)}))
            print(f"curves {window.key} {json.loads(timing.read_text())['curves_s']} s", flush=True)
        parts.append(pd.read_parquet(file))
        seconds[window.key] = json.loads(timing.read_text())["curves_s"]
    return pd.concat(parts, ignore_index=True), seconds


def train_folds(source, inputs, reference_features, plan, ml_config, reference_config, sectors, folder: Path, limit):
    """Every window's ranking-model and reference predictions (per-fold parquet files in
    ``folder``, reused when present) and one row of facts per fold. The ranking model of window k
    chooses its tree size and rounds from the validation curves of windows 0..k (the library
    drops later ones: ``usable_curves``)."""
    from axion_pipeline.ml.base import InsufficientDataError
    from axion_pipeline.ml.training import train_alpha158_reference, train_ranking

    folder.mkdir(parents=True, exist_ok=True)
    curves, curve_seconds = fold_curves(inputs, plan, ml_config, sectors, folder, limit)
    ranking, reference, facts = [], [], []
    for window in plan.windows[:limit]:
        files = {k: folder / f"{window.key}.{k}.parquet" for k in ("ranking", "reference")}
        info_file = folder / f"{window.key}.json"
        if info_file.exists():
            info = json.loads(info_file.read_text())
        else:
            info = {"fold": window.key, "test": f"{window.test_start.date()}..{window.test_end.date()}"}
            started = time.perf_counter()
            run = train_ranking(inputs.features, inputs.targets, window, ml_config, sectors=sectors, curves=curves)
            run.predictions.to_parquet(files["ranking"])
            info.update(
                curves_s=curve_seconds[window.key],
                ranking_s=round(time.perf_counter() - started, 1),
                fit_rows=int(run.info["n_fit_rows"]),
                num_leaves=run.info.get("num_leaves"),
                rounds=run.info.get("best_iterations"),
                validation_ic=run.info.get("validation_ic"),
                pooled_validation_ic=run.info.get("pooled_validation_ic"),
            )
            started = time.perf_counter()
            try:
                ref = train_alpha158_reference(reference_features, inputs.targets, window, reference_config)
                ref.predictions.to_parquet(files["reference"])
                info["reference_rounds"] = ref.info.get("best_iteration")
            except InsufficientDataError as exc:
                info["reference_status"] = f"skipped: {exc}"
            info["reference_s"] = round(time.perf_counter() - started, 1)
            info_file.write_text(json.dumps(info, default=str))
        print(source, json.dumps(info, default=str), flush=True)
        facts.append(info)
        ranking.append(pd.read_parquet(files["ranking"]))
        if files["reference"].exists():
            reference.append(pd.read_parquet(files["reference"]))
    return (
        pd.concat(ranking, ignore_index=True),
        pd.concat(reference, ignore_index=True) if reference else None,
        pd.DataFrame(facts),
    )


def measure(source: str, workdir: Path, limit: int | None, real13_window: str = "sliding") -> dict:
    from axion_pipeline.ml.alpha158 import Alpha158ReferenceConfig, alpha158
    from axion_pipeline.ml.config import MLConfig, ModelEvaluationConfig
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.evaluation import walk_forward_table
    from axion_pipeline.ml.feature_inputs import build_ranking_inputs
    from axion_pipeline.ml.model_evaluation import evaluate_model, evaluation_frame

    started = time.perf_counter()
    data, wf = load(source, workdir, real13_window)
    ml_config, reference_config, eval_config = MLConfig(), Alpha158ReferenceConfig(), ModelEvaluationConfig()
    inputs = build_ranking_inputs(data, ml_config.features)
    reference_features = alpha158(data.prices)
    sectors = data.sectors.set_index("ticker")["sector"] if len(data.sectors) else None
    plan = plan_walk_forward(inputs.calendar, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
    build_s = time.perf_counter() - started
    print(
        f"{source}: {len(data.prices):,} price rows, {len(inputs.features):,} feature rows x "
        f"{inputs.features.shape[1] - 2}, {len(inputs.targets):,} targets, {len(plan.windows)} folds; "
        f"inputs {build_s:.0f} s, peak RSS {peak_rss_gib():.1f} GiB",
        flush=True,
    )
    folder = workdir / f"{source}-{fingerprint(wf, ml_config, reference_config)}"
    ranking, reference, facts = train_folds(
        source, inputs, reference_features, plan, ml_config, reference_config, sectors, folder, limit
    )
    # The test windows are scored here, once, after every fold is trained.
    frame = evaluation_frame(ranking, inputs.scores, data.prices, reference, data.sectors)
    evaluation = evaluate_model(frame, HORIZON, eval_config)
    oracle = None
    if data.true_alpha is not None:
        table, _ = walk_forward_table(ranking, data.true_alpha, HORIZON)
        oracle = table.iloc[-1].to_dict()
    return {
        "source": source,
        "wf": wf,
        "facts": facts,
        "evaluation": evaluation,
        "oracle": oracle,
        "rows": len(frame),
        "dates": frame["date"].nunique(),
        "build_s": build_s,
        "train_s": float(facts["ranking_s"].sum() + facts["curves_s"].sum()),
        "reference_s": float(facts["reference_s"].sum()),
        "peak_gib": peak_rss_gib(),
    }


def bar(result: dict) -> list[tuple[str, bool]]:
    """The issue-14 criteria of a source, each (text, met)."""
    ev = result["evaluation"]
    overall = ev.overall().set_index("signal")
    ml = overall.loc["ml_score"]
    positive = positive_fold_share(ev.evaluation, "ml_score")
    composite = overall.loc["composite", "ic_mean"]
    checks = [(f"ML IC {ml['ic_mean']:.4f} >= composite {composite:.4f}", ml["ic_mean"] >= composite)]
    if result["source"] == "real13":
        if "alpha158_reference" in overall.index:
            ref = overall.loc["alpha158_reference", "ic_mean"]
            checks.append((f"ML IC >= Alpha158 reference {ref:.4f}", ml["ic_mean"] >= ref))
        else:
            checks.append(("Alpha158 reference has no scores", False))
        checks.append((f"Newey-West t {ml['ic_tstat_nw']:.2f} >= 2", ml["ic_tstat_nw"] >= 2))
        checks.append((f"positive IC in {positive:.0%} of folds >= 60%", positive >= 0.6))
    return checks


def report(result: dict) -> str:
    from axion_pipeline.analytics.markdown import markdown_table

    def f(v, digits=4):
        return "-" if v is None or pd.isna(v) else f"{v:.{digits}f}"

    ev = result["evaluation"]
    overall = ev.overall().set_index("signal")
    paired = ev.paired.set_index("baseline")
    rows = []
    for signal in [s for s in SHOWN if s in overall.index] + [s for s in overall.index if s not in SHOWN]:
        r = overall.loc[signal]
        p = paired.loc[signal] if signal in paired.index else None
        rows.append(
            [
                f"**{signal}**" if signal == "ml_score" else signal,
                f(r["ic_mean"]),
                f(r["ic_tstat_nw"], 2),
                f"[{f(r['ic_ci_low'])}, {f(r['ic_ci_high'])}]",
                f(positive_fold_share(ev.evaluation, signal), 2),
                f(r["ls_return_net_mean"], 4),
                f(r["turnover"], 2),
                "-" if p is None else f"{f(p['diff_mean'])} (t {f(p['diff_tstat_nw'], 2)}, {p['verdict']})",
            ]
        )
    header = ["signal", "mean IC", "NW t", "95% CI", "folds IC>0", "L/S net / period", "turnover", "ML minus signal"]
    folds = ev.evaluation.loc[ev.evaluation["fold"] != "all"].pivot(index="fold", columns="signal", values="ic_mean")
    folds = folds.reindex(result["facts"]["fold"])[[s for s in SHOWN if s in folds.columns]]
    fold_rows = [
        [k, test, *[f(v) for v in folds.loc[k]], leaves, rounds, f"{secs:.0f}"]
        for k, test, leaves, rounds, secs in zip(
            result["facts"]["fold"],
            result["facts"]["test"],
            result["facts"]["num_leaves"],
            result["facts"]["rounds"],
            result["facts"]["ranking_s"] + result["facts"]["curves_s"],
        )
    ]
    fold_header = ["fold", "test dates", *folds.columns, "leaves", "rounds", "train s"]
    checks = bar(result)
    met = all(ok for _, ok in checks)
    oracle = ""
    if result["oracle"]:
        o = result["oracle"]
        oracle = (
            f"Planted oracle on the same rows: IC {f(o.get('oracle_ic_mean'))}, model / oracle "
            f"{f(o.get('model_oracle_ratio'), 2)} (reported, never optimised).\n\n"
        )
    wf = result["wf"]
    spans = "expanding" if wf.expanding else f"sliding {wf.train_size}-day"
    return (
        f"#### {result['source']}: {len(result['facts'])} folds x {wf.test_size} test days, {spans} training spans "
        f"({result['dates']} dates, {result['rows']:,} scored rows)\n\n"
        f"Bar: {'MET' if met else 'NOT MET'} ({'; '.join(('ok ' if ok else 'short: ') + t for t, ok in checks)}). "
        f"Inputs {result['build_s']:.0f} s, ranking model {result['train_s']:.0f} s, reference "
        f"{result['reference_s']:.0f} s, peak RSS {result['peak_gib']:.1f} GiB.\n\n"
        f"{oracle}{markdown_table(header, rows)}\n\nPer fold (rank IC):\n\n{markdown_table(fold_header, fold_rows)}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", choices=SOURCES, default=list(SOURCES))
    parser.add_argument("--max-folds", type=int, help="smoke test: the first N folds only (never written)")
    parser.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "axion_bench_quality")
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to BENCHMARKS.md")
    parser.add_argument(
        "--real13-window",
        choices=REAL13_WINDOWS,
        default="sliding",
        help="real13's training spans: 461 days sliding, or expanding from the first window's start",
    )
    args = parser.parse_args(argv)
    sections = []
    for source in args.sources:
        if source != "generated" and not SHARED.is_dir():
            print(f"{source}: shared data folder {SHARED} not found, skipped", flush=True)
            continue
        section = report(measure(source, args.workdir, args.max_folds, args.real13_window))
        print(section, flush=True)
        sections.append(section)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"\n\n### Ranking model vs baselines, out of sample ({stamp})\n\n"
        "Rank IC: per-date Spearman of each signal with the realised 21-day return on the test dates, on the "
        "rows the model scored; NW t: Newey-West (20 lags) t of the mean IC; CI: circular block bootstrap; "
        "L/S net: top minus bottom quintile return per 21-day period net of 10 bps per unit of turnover; "
        "ML minus signal: paired per-date IC difference with its Newey-West t (win/loss at |t| >= 2). "
        f"Machine: {machine()}.\n\n" + "\n".join(sections)
    )
    if args.max_folds is None and not args.no_write and sections:
        with open(BENCHMARKS_MD, "a") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
