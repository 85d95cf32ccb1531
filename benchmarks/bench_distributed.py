"""Fold training on Celery workers: wall time with 1 and 2 workers, the speed-up.

The Celery code location (``axion_pipeline.defs.executors``) with its pieces as processes on this
machine: a Postgres server (the Dagster instance), a Redis server (broker and results) and N Celery
workers of one task slot each, the warehouse as Parquet partitions in a scratch folder. The history
of a generated market is built once, in this process (in-process executor, same Parquet warehouse);
then, for each worker count, the fold stage runs: every fold's ``ranking_validation_job`` and then
its ``training_job``, one submitting process per fold, all started at once (as a backfill of the
fold partitions launches one run process per run), each run's steps spread over the workers by
Celery. Workers are started and pinged before the clock starts; the submitting processes' start-up
(imports, about 3 s) is inside it, alike for both counts. Not a test: prints a table and appends it
to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

from _common import REPO, fmt_seconds, machine, publish, ratio, scratch_dir, section, stats

END_DATE = "2024-12-31"


def build_history(settings) -> float:
    """Market tables and the daily history into the Parquet warehouse, in this process."""
    import dagster as dg

    from axion_pipeline.defs.executors import definitions_with_executor
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.resources import build_shared_resources

    defs = definitions_with_executor(
        dg.in_process_executor, settings, build_shared_resources(settings, settings.shared_dir)
    )
    keys = DagsterProject.from_settings(settings).trading_days.get_partition_keys()
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        assert defs.resolve_job_def("market_tables_job").execute_in_process(instance=instance).success
        tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
        assert defs.resolve_job_def("daily_job").execute_in_process(instance=instance, tags=tags).success
    return time.perf_counter() - started


def train_fold(fold: str, settings_json: str, home: str) -> None:
    """In a submitting process: the fold's ranking_validation_job, then its training_job, on the workers."""
    import dagster as dg

    from axion_pipeline.defs.executors import reconstructable_celery_job
    from axion_pipeline.project import ProjectSettings

    settings = ProjectSettings.from_json(settings_json)
    with dg.DagsterInstance.from_config(home) as instance:
        for job in ("ranking_validation_job", "training_job"):
            recon = reconstructable_celery_job(job, settings)
            with dg.execute_job(recon, instance=instance, tags={"dagster/partition": fold}) as result:
                if not result.success:
                    raise SystemExit(f"{job} {fold} failed")


def fold_stage(settings, home: Path, folds: list[str], log_dir: Path) -> float:
    """Wall time of every fold's runs, one submitting process per fold, all started at once."""
    started = time.perf_counter()
    procs = []
    for fold in folds:
        command = [
            sys.executable,
            __file__,
            "--train-fold",
            fold,
            "--settings",
            settings.to_json(),
            "--home",
            str(home),
        ]
        with open(log_dir / f"{fold}.log", "w") as log:
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - started
    if any(codes):
        raise SystemExit(f"fold runs failed ({codes}): see {log_dir}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=100)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--runs", type=int, default=1, help="fold stages per worker count")
    parser.add_argument(
        "--start-with", type=int, choices=(1, 2), default=1, help="worker count of the first stage (then alternating)"
    )
    parser.add_argument("--no-append", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("--train-fold", help=argparse.SUPPRESS)  # a submitting process (fold_stage)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_fold:
        train_fold(args.train_fold, args.settings, args.home)
        return

    import dagster as dg

    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    from axion_pipeline.data.simulator.config import SimulationConfig
    from axion_pipeline.project import ProjectSettings
    from axion_pipeline_tests.cluster import celery_workers, missing_servers, postgres_server, redis_server

    if missing_servers():
        raise SystemExit(f"missing {', '.join(missing_servers())}: run scripts/install_servers.sh")
    start = f"{int(END_DATE[:4]) - args.years + 1}-01-02"
    with scratch_dir("axion-bench-distributed-") as root, postgres_server() as postgres, redis_server() as broker:
        backend = broker.rsplit("/", 1)[0] + "/1"
        settings = ProjectSettings(
            simulation=SimulationConfig(n_tickers=args.tickers, start=start, end=END_DATE),
            warehouse=str(root / "unused.duckdb"),
            shared_dir=str(root / "shared"),
            celery_broker=broker,
            celery_backend=backend,
        )
        folds = settings.plan.keys
        print(f"building the history ({args.tickers} tickers, {args.years} years) ...", flush=True)
        build_seconds = build_history(settings)
        print(f"built in {fmt_seconds(build_seconds)}; {len(folds)} folds", flush=True)
        home = root / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", home / "dagster.yaml")
        os.environ["AXION_DAGSTER_PG_URL"] = postgres
        env = {"PATH": os.environ["PATH"], "AXION_DAGSTER_PG_URL": postgres, "OMP_WAIT_POLICY": "passive"}
        walls: dict[int, list[float]] = {1: [], 2: []}
        order = (1, 2) if args.start_with == 1 else (2, 1)
        for i in range(args.runs):
            for n in order if i % 2 == 0 else order[::-1]:
                with celery_workers(n, broker, backend, env, root):
                    wall = fold_stage(settings, home, folds, root)
                walls[n].append(wall)
                print(f"{n} worker(s): {fmt_seconds(wall)}", flush=True)
    one, two = stats(walls[1]), stats(walls[2])
    table = "\n".join(
        [
            "| workers | fold stage wall, median (min-max) | runs |",
            "|---|---|---|",
            f"| 1 | {fmt_seconds(one.median)} ({fmt_seconds(one.min)}-{fmt_seconds(one.max)}) | {one.n} |",
            f"| 2 | {fmt_seconds(two.median)} ({fmt_seconds(two.min)}-{fmt_seconds(two.max)}) | {two.n} |",
        ]
    )
    publish(
        section(
            "Fold training on Celery workers: 1 vs 2 workers (bench_distributed.py)",
            f"Machine: {machine()}. Generated market, {args.tickers} tickers, {args.years} years "
            f"({start} .. {END_DATE}), {len(folds)} walk-forward folds, default training settings; the "
            f"history built in-process into the Parquet warehouse in {fmt_seconds(build_seconds)}. Fold stage: every "
            "fold's ranking_validation_job then training_job, one submitting process per fold started at once, "
            "steps on the Celery workers (one task slot each), instance on Postgres, broker Redis, all on this "
            "machine.",
            table,
            f"Speed-up with 2 workers: **{ratio(one.median, two.median):.2f}x**.",
        ),
        append=not args.no_append,
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
