"""Benchmark: Qlib's stock recipe (Alpha158 + LightGBM) side by side with this pipeline's build, on
the 5-year real price file, in one run, per phase: wall seconds, CPU seconds, peak memory.

Qlib is a benchmark-only dependency: it lives in its own virtual environment (``--venv``, default
``.bench/qlib-venv``, ignored by git), created with the repository's uv from the pinned
``benchmarks/qlib-requirements.txt`` and reused while that file is unchanged (its hash is stamped in
the venv); the set-up time is reported, not counted as a phase. Nothing under ``axion_pipeline/``
imports Qlib (a test checks); the Qlib side is ``benchmarks/qlib_side/recipe.py``, run in that
venv, one process per phase (see its docstring for what each phase does and the choices made):
convert (the CSV into Qlib's binary layout with ``qlib_side/bin_layout.py``), features (the
Alpha158 handler over the whole calendar), train (one LGBModel per walk-forward fold of this
project's plan on the same file), predict (each fold's test dates; mean daily rank IC reported).

The pipeline side is ``python -m axion_pipeline.run_all`` on the same file (``AXION_DATA_DIR`` the
shared data folder, its own warehouse and DAGSTER_HOME), through ``bench_build.run_build``: stage
wall times from run_all's stage lines; per stage the process tree's CPU seconds (its running total
read at each stage line) and peak RSS (sampled every 0.2 s); the whole process's CPU from wait4.

Measures, for every process: CPU seconds = user + system of the process and its descendants: the
larger of wait4's (the process and its reaped descendants) and the largest total sampled over the
live tree every 0.2 s (it also sees descendants that exit unreaped); peak memory = the larger of
the process tree's summed RSS (sampled every 0.2 s) and the kernel's ru_maxrss. Both sides run
with ``OMP_WAIT_POLICY=passive``, as ``make`` sets it: with spinning OpenMP threads the Qlib side's
LightGBM fits took about 8x longer on this busy 2-core machine (30 tickers: 15-35 s vs 1.4-1.9 s a
fold).

Run: ``.venv/bin/python benchmarks/bench_qlib.py [--no-append] [--skip-pipeline]``. Data from
``$AXION_DATA_DIR`` or ``../shared/data``. A run without both sides is printed, never appended.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    REPO,
    RssSampler,
    fmt_seconds,
    machine,
    memory_gib,
    publish,
    real_data_dir,
    reap,
    scratch_dir,
    section,
)
from bench_build import STAGE_LABELS, Build, run_build

from axion_pipeline.analytics.markdown import markdown_table

REQUIREMENTS = REPO / "benchmarks" / "qlib-requirements.txt"
RECIPE = REPO / "benchmarks" / "qlib_side" / "recipe.py"
DEFAULT_VENV = REPO / ".bench" / "qlib-venv"
VENV_PYTHON = "3.11"  # the Python the requirements were resolved for
PRICE_FILE = Path("prices") / "all_stocks_5yr.csv.gz"
PHASES = ("convert", "features", "train", "predict")
PHASE_LABELS = {
    "convert": "convert (CSV -> binary layout)",
    "features": "features (Alpha158 handler)",
    "train": "train (LGBModel per fold)",
    "predict": "predict (test dates)",
}


@dataclass
class Phase:
    name: str
    wall: float
    cpu: float
    peak: int
    info: dict = field(default_factory=dict)


def uv_binary() -> str:
    for candidate in (REPO / ".tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise SystemExit("uv not found: run `make setup` (it installs the pinned uv under .tools/)")


def requirements_key() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes() + VENV_PYTHON.encode()).hexdigest()


def ensure_venv(venv: Path) -> tuple[Path, float, bool]:
    """The Qlib venv's python, the seconds its set-up took, and whether an existing one was reused
    (its stamp matches the requirements' hash); otherwise it is created afresh."""
    python, stamp, key = venv / "bin" / "python", venv / ".requirements-sha256", requirements_key()
    if python.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return python, 0.0, True
    started = time.perf_counter()
    if venv.exists():
        shutil.rmtree(venv)
    uv = uv_binary()
    print(f"creating the Qlib venv at {venv} from {REQUIREMENTS.name}", flush=True)
    subprocess.run([uv, "venv", "-q", "-p", VENV_PYTHON, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "-p", str(python), "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(key + "\n")
    return python, time.perf_counter() - started, False


def fold_plan(data_dir: Path) -> list[dict]:
    """This project's walk-forward windows on the file's calendar, as ISO dates: the settings the
    pipeline side's build reads (its environment, with ``AXION_DATA_DIR`` the data folder)."""
    from axion_pipeline.project.settings import ProjectSettings

    settings = ProjectSettings.from_env({**os.environ, "AXION_DATA_DIR": str(data_dir)})
    return [w.to_dict() for w in settings.plan.windows]


def phase_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "passive"))
    for key in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(key, None)
    return env


def run_phase(python: Path, name: str, work: Path, log_dir: Path, extra: list[str], limit: int | None) -> Phase:
    """One phase of the recipe in its own process; its wall time, CPU, peak memory and result."""
    log_path = log_dir / f"qlib-{name}.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(python), str(RECIPE), name, "--work", str(work), *extra],
            cwd=work,
            env=phase_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sampler = RssSampler(proc.pid, limit_bytes=limit)
        sampler.start()
        _, peak, cpu = reap(proc, sampler)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        why = "stopped at the memory limit" if sampler.exceeded else f"exit {proc.returncode}"
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-15:])
        raise SystemExit(f"Qlib phase {name} failed ({why}) after {fmt_seconds(wall)}; log {log_path}:\n{tail}")
    log_path.unlink()
    info = json.loads((work / f"{name}.json").read_text())
    return Phase(name, wall, cpu, peak, info)


def run_qlib(python: Path, data_dir: Path, plan: list[dict], args, log_dir: Path, limit: int | None) -> list[Phase]:
    phases = []
    with scratch_dir("axion-bench-qlib-", keep=args.keep) as work:
        (work / "folds.json").write_text(json.dumps(plan, indent=1))
        extra = {
            "convert": ["--csv", str(data_dir / PRICE_FILE)],
            "features": ["--processors", args.processors],
        }
        for name in PHASES:
            print(f"Qlib {name} ...", flush=True)
            phase = run_phase(python, name, work, log_dir, extra.get(name, []), limit)
            print(
                f"  {fmt_seconds(phase.wall)} wall, {fmt_seconds(phase.cpu)} CPU, peak {phase.peak / 2**30:.2f} GiB",
                flush=True,
            )
            phases.append(phase)
        if args.keep:
            print(f"Qlib work folder kept: {work}", flush=True)
    return phases


def gib(n: int) -> str:
    return f"{n / 2**30:.2f}"


def qlib_table(phases: list[Phase]) -> str:
    by = {p.name: p for p in phases}
    conv, feat, train, pred = (by[n].info for n in PHASES)
    rows_text = {
        "convert": f"{conv['rows']:,} CSV rows -> {conv['symbols']} symbols x {conv['dates']:,} dates",
        "features": f"{feat['rows']:,} stock-days x {feat['features']} features",
        "train": f"{train['rows']:,} fitted stock-days over {len(train['folds'])} folds "
        f"(+ {sum(f['valid_rows'] for f in train['folds']):,} validation)",
        "predict": f"{pred['rows']:,} scored stock-days ({pred['dates']} dates)",
    }
    rows = [[PHASE_LABELS[p.name], f"{p.wall:.1f}", f"{p.cpu:.1f}", gib(p.peak), rows_text[p.name]] for p in phases]
    rows.append(
        [
            "**all phases**",
            f"**{sum(p.wall for p in phases):.1f}**",
            f"**{sum(p.cpu for p in phases):.1f}**",
            f"**{gib(max(p.peak for p in phases))}**",
            "",
        ]
    )
    return markdown_table(["Qlib phase", "wall s", "CPU s", "peak RSS GiB", "rows"], rows)


def pipeline_table(build: Build, plan: list[dict]) -> str:
    history = f"{build.price_rows:,} stock-days"
    what = {
        "market_tables_job": history,
        "daily_job": history,
        "factor_analysis_job": history,
        "ranking_validation_job": f"{len(plan)} folds",
        "training_job": f"{len(plan)} folds x 4 models",
    }
    rows = []
    for stage, wall in build.stages.items():
        rows.append(
            [
                STAGE_LABELS.get(stage, stage),
                f"{wall:.1f}",
                f"{build.stage_cpu[stage]:.1f}" if stage in build.stage_cpu else "",
                gib(build.stage_peaks[stage]) if stage in build.stage_peaks else "",
                what.get(stage, ""),
            ]
        )
    rows.append(
        [
            "**whole process** (stages + start-up and summary)",
            f"**{build.wall:.1f}**",
            f"**{build.cpu:.1f}**",
            f"**{gib(build.peak_rss)}**",
            f"{build.tickers} tickers x {build.days:,} days",
        ]
    )
    return markdown_table(["pipeline stage", "wall s", "CPU s", "peak RSS GiB", "rows"], rows)


def render(phases: list[Phase], build: Build | None, plan: list[dict], setup: str, loads: dict[str, str], args) -> str:
    conv, feat, train, pred = (next(p.info for p in phases if p.name == n) for n in PHASES)
    folds, first, last = train["folds"], plan[0], plan[-1]
    processors = (
        "none on the features, DropnaLabel and CSZScoreNorm on the label (Alpha158's defaults: "
        "`workflow_config_lightgbm_Alpha158.yaml` sets no processors)"
        if args.processors == "stock"
        else "RobustZScoreNorm (clipped) and Fillna on the features, fitted on fold 0's fitted dates; "
        "DropnaLabel and CSRankNorm on the label (Qlib's neural-network Alpha158 configs)"
    )
    intro = (
        f"Qlib 0.9.7 (own venv, `benchmarks/qlib-requirements.txt`) next to this pipeline's `make run`, "
        f"on the 5-year real price file ({conv['symbols']} tickers x {conv['dates']:,} dates), in one run. They do not "
        "compute the same thing: the pipeline builds the 46 sub-factors and six category scores, its "
        "ML features and targets, a factor tear sheet, per walk-forward fold a validation curve and four "
        "models (ranking, regime, earnings, factor timing), its own Alpha158 re-implementation with "
        "Qlib's LightGBM recipe as a reference, the evaluation tables, production models and the scored "
        "live span, every table stored in DuckDB through Dagster with its checks; the Qlib side builds "
        "Qlib's binary data, the 158 Alpha158 features and one LightGBM per fold, then scores the "
        "folds' test dates."
    )
    choices = (
        f"Qlib side: each phase one process (Python start-up and imports included; the handler is "
        f"pickled by features in {feat['pickle_seconds']:.1f} s, {feat['pickle_bytes'] / 2**30:.2f} GiB, "
        f"and loaded again by train in {train['handler_load_seconds']:.1f} s and predict in "
        f"{pred['handler_load_seconds']:.1f} s). Label "
        f"`Ref($close, -22)/Ref($close, -1) - 1` (Qlib's next-close convention over this project's 21-day "
        f"horizon) instead of Alpha158's 2-day label; processors: {processors}; the handler spans the "
        f"whole file. LightGBM parameters of the benchmark config, `num_threads` {train['threads']} "
        f"(the config's 20 on 2 cores would oversubscribe), early stopping after 50 rounds on the "
        f"validation dates; Qlib's expression workers (`kernels`) {os.cpu_count()}. One fit per fold of "
        f"this project's default walk-forward plan on the file, {len(plan)} expanding folds (fold 0 fits "
        f"{first['train_start']}..{first['fit_end']}, stops early on {first['val_start']}..{first['train_end']}, "
        f"is tested on {first['test_start']}..{first['test_end']}; the last fold fits to {last['fit_end']} and "
        f"is tested on {last['test_start']}..{last['test_end']}; 21 trading days between fitted, "
        f"validation and test dates, as the project's folds); best iterations "
        f"{', '.join(str(f['best_iteration']) for f in folds)}. vwap, which the file lacks, "
        f"is (high + low + close) / 3; factor 1 (the file is split-adjusted; Alpha158 does not read "
        f"it). Conversion notes: {'; '.join(conv['notes']) or 'none'}. Mean daily rank IC of the "
        f"scores vs the label on the {pred['ic_dates']} test dates: {pred['mean_rank_ic']:.4f} "
        f"(information only, nothing is selected on it). Qlib venv: {setup}."
    )
    pipeline = (
        "Pipeline side: `python -m axion_pipeline.run_all` with `AXION_DATA_DIR` the shared folder, its "
        "own warehouse and DAGSTER_HOME (`bench_build.run_build`); a stage's CPU is the process tree's "
        "CPU total read at its stage line minus the previous one (the first stage includes start-up), its "
        "peak the tree's RSS peak since the previous stage line."
    )
    measures = (
        f"CPU s = user + system seconds of the process and its descendants (wait4's figure, or the "
        f"largest total sampled over the process tree every 0.2 s when larger: it also sees "
        f"descendants that exit unreaped); peak RSS = the "
        f"process tree's summed RSS sampled every 0.2 s or its ru_maxrss, whichever is larger. "
        f"`OMP_WAIT_POLICY=passive` on both sides. Machine: {machine()}; load average before the Qlib "
        f"side {loads.get('qlib', '?')}, before the pipeline side {loads.get('pipeline', '?')} (other "
        f"jobs on the machine slow both sides)."
    )
    parts = [intro, choices, qlib_table(phases)]
    if build is not None:
        if build.failure:
            parts += [f"Pipeline build did not finish: {build.failure}."]
        else:
            parts += [pipeline, pipeline_table(build, plan)]
            q_cpu, q_wall = sum(p.cpu for p in phases), sum(p.wall for p in phases)
            parts.append(
                f"Totals: Qlib {q_wall:.0f} s wall, {q_cpu:.0f} CPU s, peak {gib(max(p.peak for p in phases))} "
                f"GiB; pipeline {build.wall:.0f} s wall, {build.cpu:.0f} CPU s, peak {gib(build.peak_rss)} GiB."
            )
    parts.append(measures)
    return section("Side by side with Qlib (Alpha158 + LightGBM) on the 5-year file", *parts)


def load_text() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument(
        "--skip-pipeline", action="store_true", help="measure the Qlib side only (printed, never appended)"
    )
    parser.add_argument(
        "--processors",
        choices=["stock", "robust"],
        default="stock",
        help="stock: the LightGBM Alpha158 config (Alpha158's defaults); robust: RobustZScoreNorm, "
        "Fillna, DropnaLabel, CSRankNorm (Qlib's other Alpha158 configs)",
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the Qlib virtual environment")
    parser.add_argument("--keep", action="store_true", help="keep the Qlib side's work folder")
    parser.add_argument("--quiet", action="store_true", help="do not echo the pipeline's stage lines")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=round(memory_gib() * 0.8, 1),
        help="stop a process tree that grows past this (default 80%% of RAM; 0: no limit)",
    )
    args = parser.parse_args()
    data_dir = real_data_dir().resolve()
    if not (data_dir / PRICE_FILE).is_file():
        raise SystemExit(f"the 5-year price file is not at {data_dir / PRICE_FILE}: set AXION_DATA_DIR")
    limit = int(args.memory_limit_gib * 2**30) if args.memory_limit_gib else None
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # as `make` exports it; inherited by both sides

    python, seconds, reused = ensure_venv(args.venv)
    setup = "reused (requirements unchanged)" if reused else f"created in {fmt_seconds(seconds)}"
    print(f"Qlib venv {args.venv}: {setup}", flush=True)
    plan = fold_plan(data_dir)
    loads: dict[str, str] = {}
    build = None
    with scratch_dir("axion-bench-logs-", keep=True) as log_dir:
        loads["qlib"] = load_text()
        phases = run_qlib(python, data_dir, plan, args, log_dir, limit)
        if not args.skip_pipeline:
            loads["pipeline"] = load_text()
            print("pipeline build (run_all) on the same file ...", flush=True)
            build = run_build({"AXION_DATA_DIR": data_dir}, log_dir, verbose=not args.quiet, limit_bytes=limit)
            print(
                f"  process {fmt_seconds(build.wall)} wall, {fmt_seconds(build.cpu)} CPU, "
                f"peak {build.peak_rss / 2**30:.2f} GiB",
                flush=True,
            )
        if not any(log_dir.iterdir()):
            log_dir.rmdir()
    both = build is not None and not build.failure
    publish(render(phases, build, plan, setup, loads, args), append=both and not args.no_append)
    if not both and not args.no_append:
        print("not appended to BENCHMARKS.md: the section needs both sides from one run", flush=True)


if __name__ == "__main__":
    main()
