"""Benchmark: the daily run (one new trading-day partition through every daily asset) and a
multi-year single-run backfill through the same job, Dagster's own overhead included.

By default the benchmark first builds a throw-away warehouse (``python -m axion_pipeline.run_all``
on the generated market, in its own DAGSTER_HOME and warehouse), so it runs on a fresh clone; with
``--configured-warehouse`` it uses the warehouse of the settings instead (after ``make run``).
Then, in this process and a persistent instance configured like dagster.yaml:

1. one trading day (the newest partition) through ``daily_job`` (ingestion, factors, features,
   targets) and ``inference_job`` (predictions, hybrid scores, health, drift, SHAP), the evening
   run: both in process with the warehouse held open (``held_connection``); a first run (it pays
   the imports of lightgbm, shap and matplotlib, reported apart), then ``--runs`` runs, median
   wall and CPU seconds, and where the time goes: per step, from its Dagster events, the seconds
   loading inputs, in the asset or check body, writing the output and recording events, the rows
   read and written, and Dagster's time outside the steps;
2. one single-run backfill of the last ``--backfill-years`` years (~252 trading days a year) through
   the same jobs (the serving job over the live-span part of it), once: its wall time, time per
   day, and the ratio of the backfill to running the single day that many times (single-day
   median x days).

Run: ``.venv/bin/python benchmarks/bench_daily_partition.py [--tickers 300] [--years 8] [--runs 3]``
(``--backfill-years 0`` skips the backfill; ``--configured-warehouse`` measures on the settings'
warehouse, e.g. a copy of a built one named by ``AXION_WAREHOUSE``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

from _common import (
    DAGSTER_ENV,
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

JOBS = ("daily_job", "inference_job")  # the history day, then the live span's serving day
END_DATE = "2024-12-31"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def build_warehouse(env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "axion_pipeline.run_all"], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit("the warehouse build failed")
    return time.perf_counter() - started


def run(
    jobs, instance, live: list[str], warehouse: str, key: str | None = None, span: list[str] | None = None
) -> tuple[float, float, list[tuple[str, str, float]]]:
    """``daily_job`` then ``inference_job`` (two jobs: their assets have different partitions
    definitions) on one day ``key`` or a range ``span``; the serving job only on live-span days.
    Both runs hold the warehouse open (``held_connection``): every step's reads and writes are
    cursors on one connection instead of opening the 1 GB file about 70 times.

    Returns the wall seconds, the process CPU seconds (less sensitive to other jobs on the machine;
    DuckDB's and LightGBM's threads count too) and, per run, (job name, run id, wall seconds)."""
    from axion_pipeline.storage.lock import held_connection

    started, cpu = time.perf_counter(), time.process_time()
    live_days = set(live)
    with held_connection(warehouse):
        runs = _run_jobs(jobs, instance, live_days, key, span)
    return time.perf_counter() - started, time.process_time() - cpu, runs


def _run_jobs(jobs, instance, live_days: set[str], key, span) -> list[tuple[str, str, float]]:
    from axion_pipeline.defs.adapters.partition_results import range_tags

    runs = []
    for job in jobs:
        days = (span or [key]) if job.name == "daily_job" else [d for d in (span or [key]) if d in live_days]
        if not days:
            continue
        if len(days) == 1:
            kwargs = {"partition_key": days[0]}
        else:
            kwargs = {"tags": range_tags(days)}
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=True, **kwargs)
        assert result.success
        runs.append((job.name, result.run_id, time.perf_counter() - started))
    return runs


PHASES = ("load", "compute", "write", "events")


def step_phases(instance, run_id: str) -> dict[str, dict[str, float]]:
    """Per step of a run, from its events' timestamps: ``total`` (STEP_START to STEP_SUCCESS),
    ``load`` (to the last LOADED_INPUT: resources, the I/O manager's DuckDB reads and the
    warehouse reads a check makes itself are in ``compute``), ``compute`` (to the last STEP_OUTPUT:
    the asset or check body), ``write`` (to the last HANDLED_OUTPUT: the I/O manager's DuckDB write,
    its metadata queries and log line), ``events`` (the rest: materialization and check events)."""
    import dagster as dg

    kinds = dg.DagsterEventType
    marks: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        step = marks.setdefault(entry.step_key, {})
        name = {
            kinds.STEP_START: "start",
            kinds.LOADED_INPUT: "loaded",
            kinds.STEP_OUTPUT: "output",
            kinds.HANDLED_OUTPUT: "handled",
            kinds.STEP_SUCCESS: "end",
        }.get(event.event_type)
        if name:
            step[name] = max(step.get(name, 0.0), entry.timestamp)
        if event.event_type == kinds.ASSET_MATERIALIZATION:
            meta = event.event_specific_data.materialization.metadata
            count = meta.get("dagster/partition_row_count") or meta.get("dagster/row_count")
            if count is not None:
                step["written"] = step.get("written", 0) + int(count.value)
    out = {}
    for key, m in marks.items():
        start, end = m["start"], m["end"]
        loaded = m.get("loaded", start)
        output = m.get("output", loaded)
        handled = m.get("handled", output)
        out[key] = {
            "total": end - start,
            "load": loaded - start,
            "compute": output - loaded,
            "write": handled - output,
            "events": end - handled,
            "start": start,
            **({"written": m["written"]} if "written" in m else {}),
        }
    return out


def step_rows(runs: list[tuple[str, str, float]], instance) -> dict:
    """Each step's phases (``step_phases``), rows read (each input's rows as the I/O manager loaded
    them: ``axion_pipeline.defs.step_log``) and written, and per job the wall time outside its
    steps (run creation and planning, launching steps, the event log between them), of one
    measurement: its parts add up to its wall time."""
    from axion_pipeline.defs.step_log import step_reads

    steps, outside = {}, {}
    for job, run_id, wall in runs:
        phases = step_phases(instance, run_id)
        outside[job] = wall - sum(p["total"] for p in phases.values())
        for key, p in phases.items():
            steps[(job, key)] = {**p, "reads": step_reads(run_id, key), "written": p.get("written")}
    return {"steps": steps, "outside": outside}


def measure(args) -> dict:
    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.project import ProjectSettings

    settings = ProjectSettings.from_env()
    project = DagsterProject.from_settings(settings)
    keys, live = project.trading_days.get_partition_keys(), project.live_keys()
    defs = build_definitions(settings)
    jobs = [defs.resolve_job_def(name) for name in JOBS]
    out = {"key": keys[-1], "warehouse": settings.warehouse, "days_total": len(keys)}
    # the settings' DAGSTER_HOME (`make bench` exports it), else a temporary instance
    with dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral() as instance:
        # the first run in a process imports the heavy libraries (lightgbm, shap, matplotlib): reported apart
        out["first"], out["first_cpu"], _ = run(jobs, instance, live, settings.warehouse, key=keys[-1])
        warm = [run(jobs, instance, live, settings.warehouse, key=keys[-1]) for _ in range(args.runs)]
        single = [w[0] for w in warm]
        out["single"], out["single_cpu"] = stats(single), stats([w[1] for w in warm])
        # the breakdown of the median measurement (its parts add up to its wall time)
        median_run = sorted(warm, key=lambda w: w[0])[len(warm) // 2]
        out["breakdown"] = step_rows(median_run[2], instance)
        print(f"single day {keys[-1]}: {', '.join(f'{t:.2f}' for t in single)} s", flush=True)
        n_days = min(len(keys) - args.lookback_days, round(args.backfill_years * 252))
        if n_days > 0:
            span = keys[-n_days:]
            out["backfill"] = run(jobs, instance, live, settings.warehouse, span=span)[0]
            out["span"] = span
            print(f"backfill {span[0]} .. {span[-1]} ({n_days} days): {out['backfill']:.1f} s", flush=True)
    return out


def render(res: dict, args, build_seconds: float | None) -> str:
    single = res["single"]
    source = (
        f"the settings' warehouse {res['warehouse']}"
        if args.configured_warehouse
        else f"a fresh warehouse built by `run_all` on the generated market ({args.tickers} tickers, {args.years} "
        f"years ending {END_DATE}, {res['days_total']:,} trading days; build {fmt_seconds(build_seconds)})"
    )
    intro = (
        f"`daily_job` then `inference_job` (every daily asset: ingestion, factors, features, targets; then, on the "
        f"live span's days, predictions, hybrid scores, health, drift, SHAP) on {source}; `execute_in_process` on "
        f"a persistent instance configured like dagster.yaml, so Dagster's own overhead (run and event storage) "
        f"is included. Machine: {machine()}."
    )
    rows = [
        [
            "one trading day (" + res["key"] + "), first run of the process (imports included)",
            1,
            f"{res['first']:.2f}",
            "",
            "",
            "",
            "",
        ],
        [
            "**one trading day** (" + res["key"] + "), warm process",
            single.n,
            f"**{single.median:.2f}**",
            f"{single.min:.2f}",
            f"{single.max:.2f}",
            "",
            "",
        ],
    ]
    if "backfill" in res:
        days = len(res["span"])
        per_day = res["backfill"] / days
        rows.append(
            [
                f"single-run backfill {res['span'][0]} .. {res['span'][-1]} ({days:,} days)",
                1,
                f"{res['backfill']:.1f}",
                "",
                "",
                f"{per_day:.3f}",
                f"**{ratio(res['backfill'], single.median * days):.3f}** "
                f"({ratio(single.median * days, res['backfill']):.0f}x cheaper than day by day)",
            ]
        )
    rows[0].insert(2, f"{res['first_cpu']:.2f}")
    rows[1].insert(2, f"{res['single_cpu'].median:.2f}")
    if len(rows) > 2:
        rows[2].insert(2, "")
    header = [
        "run",
        "runs",
        "CPU s (median)",
        "median s",
        "min s",
        "max s",
        "s per day",
        "backfill / (single day x days)",
    ]
    parts = [markdown_table(header, rows)]
    if "breakdown" in res:
        parts += breakdown_tables(res["breakdown"], single.median)
    return section("Daily partition and backfill", intro, *parts)


def breakdown_tables(breakdown: dict, wall: float) -> list[str]:
    """Where the warm day's time goes: a summary line and one row per step (medians of the warm runs)."""
    steps, outside = breakdown["steps"], breakdown["outside"]
    totals = {name: sum(s[name] for s in steps.values()) for name in ("total", *PHASES)}
    summary = (
        f"Where the warm run's {wall:.2f} s go (the median measurement, from each step's Dagster events): "
        f"{totals['total']:.2f} s in {len(steps)} steps (inputs loaded {totals['load']:.2f} s, asset and check "
        f"bodies {totals['compute']:.2f} s, outputs written {totals['write']:.2f} s, materialization and check "
        f"events {totals['events']:.2f} s), {sum(outside.values()):.2f} s in Dagster outside the steps (run "
        "creation and planning, step launch, the event log between steps: "
        + ", ".join(f"`{job}` {seconds:.2f} s" for job, seconds in outside.items())
        + "). `load` is the I/O manager's DuckDB reads of the step's inputs (a check's own warehouse reads "
        "count under `compute`); `rows read` is each input's rows as loaded, `rows written` the day's stored rows."
    )
    rows = []
    for (job, key), step in sorted(steps.items(), key=lambda item: (item[0][0] != "daily_job", -item[1]["total"])):
        reads = ", ".join(f"{name} {n:,}" for name, n in step["reads"].items()) or ""
        rows.append(
            [
                job,
                f"`{key}`",
                f"{step['total']:.3f}",
                *(f"{step[name]:.3f}" for name in PHASES),
                reads,
                "" if step["written"] is None else f"{step['written']:,}",
            ]
        )
    for job, seconds in outside.items():
        rows.append([job, "Dagster outside the steps", f"{seconds:.3f}", "", "", "", "", "", ""])
    header = ["job", "step", "total s", "load s", "compute s", "write s", "events s", "rows read", "rows written"]
    return [summary, markdown_table(header, rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=300, help="generated market size of the fresh warehouse")
    parser.add_argument("--years", type=int, default=8, help="history of the fresh warehouse, ending 2024-12-31")
    parser.add_argument("--runs", type=int, default=3, help="runs of the single day (median)")
    parser.add_argument("--backfill-years", type=float, default=5.0, help="0 skips the backfill")
    parser.add_argument(
        "--lookback-days",
        type=int,
        default=300,
        help="days at the start of the history that the backfill leaves as lookback",
    )
    parser.add_argument(
        "--configured-warehouse",
        action="store_true",
        help="use the settings' warehouse (after `make run`) instead of building a fresh one",
    )
    parser.add_argument("--wf-train-days", type=int, help="AXION_WF_TRAIN_DAYS of the fresh build")
    parser.add_argument("--wf-test-days", type=int, help="AXION_WF_TEST_DAYS of the fresh build")
    parser.add_argument("--wf-folds", type=int, help="AXION_WF_FOLDS of the fresh build")
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()

    if args.configured_warehouse:
        for key, value in DAGSTER_ENV.items():
            os.environ.setdefault(key, value)
        publish(render(measure(args), args, None), append=not args.no_append)
        return
    with scratch_dir("axion-bench-daily-") as root:
        settings = {
            "AXION_SIM_TICKERS": args.tickers,
            "AXION_SIM_START": f"{int(END_DATE[:4]) - args.years + 1}-01-02",
            "AXION_SIM_END": END_DATE,
            "AXION_WF_TRAIN_DAYS": args.wf_train_days,
            "AXION_WF_TEST_DAYS": args.wf_test_days,
            "AXION_WF_FOLDS": args.wf_folds,
        }
        env = bench_env(root, **settings)
        print(f"building a fresh warehouse ({args.tickers} tickers, {args.years} years) ...", flush=True)
        build_seconds = build_warehouse(env)
        print(f"built in {fmt_seconds(build_seconds)}", flush=True)
        apply_env(env)
        result = measure(args)
    publish(render(result, args, build_seconds), append=not args.no_append)


if __name__ == "__main__":
    main()
