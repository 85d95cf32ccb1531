"""Benchmark: the full history build (`make run`) end to end, per stage, at several universe sizes.

Each build runs ``python -m axion_pipeline.run_all`` in a fresh subprocess with its own DuckDB
warehouse and DAGSTER_HOME (a copy of dagster.yaml), on the generated market at each ``--tickers``
size over ``--years`` years ending 2024-12-31, and on the real S&P 500 file (``--real``). Measured:

- wall time of every stage (parsed from run_all's stage lines) and their total; the process's wall
  time (imports, the generated market, the closing summary included);
- peak memory of the process tree: RSS sampled every 0.2 s (children summed) and the kernel's
  ru_maxrss of the process, whichever is larger;
- time per stock-day: the stages' total over the rows of ``market.prices`` (tickers x trading days
  actually loaded). It should stay flat as the universe grows.

Figures are medians of ``--runs`` builds (``--runs-large`` for universes of at least
``--large-from`` tickers, whose builds are long); the table says how many runs each row is a median
of. Run: ``.venv/bin/python benchmarks/bench_build.py [--tickers 100 500 2000] [--years 8] [--no-real]``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    REPO,
    RssSampler,
    bench_env,
    fmt_seconds,
    machine,
    memory_gib,
    publish,
    real_data_dir,
    reap,
    scratch_dir,
    section,
    stats,
    tree_cpu_seconds,
)

from axion_pipeline.analytics.markdown import markdown_table

STAGE_RE = re.compile(r"^\s+(\w+)\s+(\d+) run\(s\)\s+([\d.]+) s\s*$")
TOTAL_RE = re.compile(r"^\s+total\s+([\d.]+) s\s*$")
STAGE_LABELS = {
    "market_tables_job": "market tables",
    "daily_job": "daily history",
    "factor_analysis_job": "tear sheet",
    "ranking_validation_job": "fold validation",
    "training_job": "folds",
    "training_tables_job": "production",
    "inference_job": "live span",
}
END_DATE = "2024-12-31"


@dataclass
class Build:
    """One measured build (``failure`` says why a build did not finish)."""

    stages: dict[str, float]
    total: float
    wall: float
    peak_rss: int
    price_rows: int
    tickers: int
    days: int
    failure: str | None = None
    stage_peaks: dict[str, int] = field(default_factory=dict)
    # CPU seconds (user + system) of the process tree: per stage (from the tree's running total at
    # each stage line; the first stage includes start-up) and of the whole process (wait4's, or the
    # largest sampled total when larger: descendants that exit unreaped escape wait4)
    stage_cpu: dict[str, float] = field(default_factory=dict)
    cpu: float = 0.0


@dataclass
class Case:
    label: str
    settings: dict[str, object]
    runs: int
    builds: list[Build] = field(default_factory=list)


def warehouse_counts(path: str) -> tuple[int, int, int]:
    import duckdb

    with duckdb.connect(path, read_only=True) as con:
        rows, tickers, days = con.execute(
            "select count(*), count(distinct ticker), count(distinct date) from market.prices"
        ).fetchone()
    return int(rows), int(tickers), int(days)


def step_report(home: Path) -> tuple[list[str], list[str]]:
    """From the build's SQLite event logs: the steps that started and never finished (where a killed
    build stopped) and the finished steps of over 5 s with their durations."""
    import sqlite3
    from datetime import datetime

    running: list[str] = []
    slow: list[str] = []
    for db in sorted((home / "storage").glob("*.db")):
        if db.name == "index.db":
            continue
        with sqlite3.connect(db) as con:
            rows = con.execute(
                "select timestamp, dagster_event_type, step_key from event_logs where dagster_event_type "
                "in ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') order by id"
            ).fetchall()
        started: dict[str, datetime] = {}
        for stamp, kind, step in rows:
            moment = datetime.fromisoformat(str(stamp))
            if kind == "STEP_START":
                started[step] = moment
            elif step in started:
                seconds = (moment - started.pop(step)).total_seconds()
                if seconds > 5:
                    slow.append(f"{step} {seconds:.0f} s")
        running += list(started)
    return running, slow


def run_build(
    settings: dict[str, object], log_dir: Path, verbose: bool, code_dir: Path = REPO, limit_bytes: int | None = None
) -> Build:
    with scratch_dir("axion-bench-build-") as root:
        env = bench_env(root, **settings)
        log_path = log_dir / f"build-{int(time.time())}.log"
        started = time.perf_counter()
        with log_path.open("w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "axion_pipeline.run_all"],
                cwd=code_dir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
            sampler = RssSampler(proc.pid, limit_bytes=limit_bytes)
            sampler.start()
            stages: dict[str, float] = {}
            stage_peaks: dict[str, int] = {}
            stage_cpu: dict[str, float] = {}
            cpu_before = 0.0
            total = None
            for line in proc.stdout:
                log.write(line)
                if m := STAGE_RE.match(line):
                    stages[m.group(1)] = float(m.group(3))
                    stage_peaks[m.group(1)] = sampler.take_window_peak()
                    cpu_now = tree_cpu_seconds(proc.pid)
                    stage_cpu[m.group(1)], cpu_before = cpu_now - cpu_before, cpu_now
                    if verbose:
                        print(f"    {line.strip()}  (peak {stage_peaks[m.group(1)] / 2**30:.2f} GiB)", flush=True)
                elif m := TOTAL_RE.match(line):
                    total = float(m.group(1))
            _, peak, cpu = reap(proc, sampler)
            wall = time.perf_counter() - started
        if proc.returncode == 0 and total is not None:
            rows, tickers, days = warehouse_counts(env["AXION_WAREHOUSE"])
            log_path.unlink()
            return Build(
                stages, total, wall, peak, rows, tickers, days, stage_peaks=stage_peaks, stage_cpu=stage_cpu, cpu=cpu
            )
        running, slow = step_report(Path(env["DAGSTER_HOME"]))
        if sampler.exceeded:
            why = f"stopped at the memory limit ({limit_bytes / 2**30:.2f} GiB)"
        elif proc.returncode == -9:
            why = "killed (SIGKILL: out of memory?)"
        else:
            why = f"failed (exit {proc.returncode}; log {log_path})"
        failure = (
            f"{why} after {fmt_seconds(wall)} in step(s) {', '.join(running) or '?'} "
            f"(finished steps over 5 s: {', '.join(slow) or 'none'})"
        )
        print(f"  build {failure}; peak {peak / 2**30:.1f} GiB", flush=True)
        return Build(
            stages,
            sum(stages.values()),
            wall,
            peak,
            0,
            int(settings.get("AXION_SIM_TICKERS", 0)),
            0,
            failure,
            stage_peaks,
            stage_cpu,
            cpu,
        )


def cases(args) -> list[Case]:
    start = f"{int(END_DATE[:4]) - args.years + 1}-01-02"
    wf = {
        "AXION_WF_TRAIN_DAYS": args.wf_train_days,
        "AXION_WF_TEST_DAYS": args.wf_test_days,
        "AXION_WF_FOLDS": args.wf_folds,
    }
    wf = {k: v for k, v in wf.items() if v is not None}
    out = []
    for n in args.tickers:
        settings = {
            "AXION_SIM_TICKERS": n,
            "AXION_SIM_START": start,
            "AXION_SIM_END": END_DATE,
            "AXION_SIM_SEED": args.seed,
            **wf,
        }
        runs = args.runs_large if n >= args.large_from else args.runs
        out.append(Case(f"generated, {n} tickers, {args.years} y", settings, runs))
    if args.real:
        data = real_data_dir()
        if (data / "prices" / "all_stocks_5yr.csv.gz").is_file():
            out.append(Case("real S&P 500 file", {"AXION_DATA_DIR": data.resolve(), **wf}, args.runs))
        else:
            print(f"real data not found under {data}: skipping the real-data build", flush=True)
    return out


def render(done: list[Case], args) -> str:
    stage_names = [s for s in STAGE_LABELS if any(s in b.stages for c in done for b in c.builds)]
    header = [
        "build",
        "runs",
        "tickers x days",
        *[STAGE_LABELS[s] + " s" for s in stage_names],
        "stages total s (min-max)",
        "process wall s",
        "peak memory GiB",
        "µs per stock-day",
    ]
    rows, failures = [], []
    for case in done:
        failed = [b for b in case.builds if b.failure]
        if failed:
            b = failed[0]
            done_stages = ", ".join(f"{STAGE_LABELS.get(k, k)} {v:.1f} s" for k, v in b.stages.items()) or "none"
            failures.append(
                f"- {case.label}: {b.failure}; finished stages: {done_stages}; peak memory "
                f"{b.peak_rss / 2**30:.1f} GiB."
            )
            rows.append(
                [
                    case.label,
                    len(case.builds),
                    "",
                    *["" for _ in stage_names],
                    "**did not finish**",
                    f"{b.wall:.1f}",
                    f"{b.peak_rss / 2**30:.2f}",
                    "",
                ]
            )
            continue
        b0 = case.builds[0]
        total = stats([b.total for b in case.builds])
        per_stock_day = stats([b.total / b.price_rows * 1e6 for b in case.builds])
        rows.append(
            [
                case.label,
                len(case.builds),
                f"{b0.tickers:,} x {b0.days:,}",
                *[f"{stats([b.stages.get(s, float('nan')) for b in case.builds]).median:.1f}" for s in stage_names],
                f"**{total.median:.1f}** ({total.min:.1f}-{total.max:.1f})",
                f"{stats([b.wall for b in case.builds]).median:.1f}",
                f"{stats([b.peak_rss / 2**30 for b in case.builds]).median:.2f}",
                f"{per_stock_day.median:.1f}",
            ]
        )
    wf = ", ".join(
        f"{k}={v}"
        for k, v in (("train", args.wf_train_days), ("test", args.wf_test_days), ("folds", args.wf_folds))
        if v is not None
    )
    intro = (
        f"`make run` (`python -m axion_pipeline.run_all`) in a fresh process per build, each with its own "
        f"warehouse and DAGSTER_HOME; generated market seed {args.seed}, {args.years} years ending {END_DATE}"
        f"{'; walk-forward ' + wf if wf else ''}. Stage times are medians of the runs column; peak memory is "
        f"the process tree's RSS (sampled every 0.2 s) or its ru_maxrss, whichever is larger; time per "
        f"stock-day is the stages' total over the rows of `market.prices`. Machine: {machine()}."
    )
    flat = ""
    sim = [c for c in done if c.label.startswith("generated") and not any(b.failure for b in c.builds)]
    if len(sim) > 1:
        per = [stats([b.total / b.price_rows * 1e6 for b in c.builds]).median for c in sim]
        flat = (
            f"Time per stock-day from {sim[0].builds[0].tickers} to {sim[-1].builds[0].tickers} tickers: "
            f"{per[0]:.1f} -> {per[-1]:.1f} µs ({per[-1] / per[0]:.2f}x)."
        )
    peak_rows = [
        [
            case.label,
            *[
                f"{stats([b.stage_peaks[s] / 2**30 for b in case.builds if s in b.stage_peaks]).median:.2f}"
                if any(s in b.stage_peaks for b in case.builds)
                else ""
                for s in stage_names
            ],
        ]
        for case in done
    ]
    peaks = (
        "Peak memory of the process tree during each stage (GiB, median of the runs; the first stage "
        "includes the imports and generating the market; memory a stage freed but the allocator kept "
        "counts again in the next stage):\n\n"
        + markdown_table(["build", *[STAGE_LABELS[s] for s in stage_names]], peak_rows)
    )
    return section(
        "Full build, end to end",
        intro,
        markdown_table(header, rows),
        flat,
        peaks,
        "Builds that did not finish:\n" + "\n".join(failures) if failures else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, nargs="*", default=[100, 500, 2000])
    parser.add_argument("--years", type=int, default=8)
    parser.add_argument(
        "--real",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also build on the real S&P 500 file ($AXION_DATA_DIR or ../shared/data)",
    )
    parser.add_argument("--runs", type=int, default=3, help="builds per case (the median is reported)")
    parser.add_argument("--runs-large", type=int, default=1, help="builds per case of --large-from tickers or more")
    parser.add_argument("--large-from", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wf-train-days", type=int, help="AXION_WF_TRAIN_DAYS (short histories need fewer)")
    parser.add_argument("--wf-test-days", type=int, help="AXION_WF_TEST_DAYS")
    parser.add_argument("--wf-folds", type=int, help="AXION_WF_FOLDS")
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("--quiet", action="store_true", help="do not echo the stage lines")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=round(memory_gib() * 0.8, 1),
        help="stop a build whose process tree grows past this (default 80%% of RAM; 0: no limit)",
    )
    parser.add_argument(
        "--code-dir",
        type=Path,
        default=REPO,
        help="run the builds from this copy of the repository (e.g. a snapshot while the checkout changes)",
    )
    args = parser.parse_args()

    done = []
    with scratch_dir("axion-bench-logs-", keep=True) as log_dir:
        for case in cases(args):
            for i in range(case.runs):
                print(f"{case.label}: build {i + 1} of {case.runs}", flush=True)
                build = run_build(
                    case.settings,
                    log_dir,
                    verbose=not args.quiet,
                    code_dir=args.code_dir,
                    limit_bytes=int(args.memory_limit_gib * 2**30) if args.memory_limit_gib else None,
                )
                print(
                    f"  stages {fmt_seconds(build.total)}, process {fmt_seconds(build.wall)}, "
                    f"peak {build.peak_rss / 2**30:.2f} GiB, {build.price_rows:,} stock-days",
                    flush=True,
                )
                case.builds.append(build)
                if build.failure:
                    break  # the next build of the case would fail the same way
            done.append(case)
        if not any(log_dir.iterdir()):
            log_dir.rmdir()
    publish(render(done, args), append=not args.no_append)


if __name__ == "__main__":
    main()
