"""`make run`: materialize every asset on the configured source as real Dagster runs, then summarise.

Dagster refuses one selection over assets with different partitions definitions, so the build runs
one job per partitions definition in dependency order (``BUILD_STAGES``); daily assets run as
single-run backfills over consecutive ranges of trading days (``backfill_chunks``). Runs are
recorded in the instance at ``DAGSTER_HOME``, so they appear in the UI's run history. The
settings come from the environment once (``ProjectSettings.from_env``) and travel with every run's
job (``reconstructable_job``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import dagster as dg

from axion_pipeline.project import ProjectSettings

# In process (one step after another in this process: no per-step interpreter start-up) and quiet.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "execution": {"config": {"in_process": {}}}}


def backfill_chunks(keys: list[str], n_tickers: int, max_stock_days: int, max_days: int) -> list[list[str]]:
    """Split a daily backfill into consecutive ranges of at most ``max_stock_days`` stock-days
    (``AXION_BACKFILL_MAX_STOCK_DAYS``, default 1,000,000) and ``max_days`` trading days
    (``AXION_BACKFILL_MAX_DAYS``, default 300), each one single run.

    Why: a single run holds the whole range's features in memory (about 6 KB a stock-day), so
    2,000 tickers over 8 years in one run would need over 20 GB. And a run of at most 300 days
    records each check's result per day (``defs.adapters.partition_results``), so after ``make run``
    the UI shows every day of the history checked, and each run's page stays small. Each range
    reloads its own lookback (a year of prices)."""
    days = max(21, min(max_stock_days // max(n_tickers, 1), max_days))
    return [keys[i : i + days] for i in range(0, len(keys), days)]


def _universe_size(warehouse: str) -> int:
    """Tickers in the warehouse's ``market.sectors`` (written by the market tables stage)."""
    import duckdb

    from axion_pipeline.storage.lock import queued_connection

    try:
        with queued_connection(warehouse) as con:
            return int(con.execute("select count(*) from market.sectors").fetchone()[0])
    except (FileNotFoundError, duckdb.Error):  # no warehouse or no table yet: the range then runs whole
        return 1


def _execute(job_name: str, settings: ProjectSettings, instance: dg.DagsterInstance, tags: dict[str, str]):
    """One in-process run of ``job_name``; returns (success, run_id, failure events).

    Why not ``execute_in_process``: it keeps every step output in memory for the result object (the
    whole history's features, factor scores, prices: gigabytes on the real data); ``execute_run``
    hands outputs to the I/O manager, and records the run as one of the UI's code location, which
    ``dg.execute_job`` does not (``adapters/code_location_runs.py``)."""
    from axion_pipeline.definitions import reconstructable_job
    from axion_pipeline.defs.adapters.code_location_runs import execute_as_code_location_run

    recon = reconstructable_job(job_name, settings)
    with execute_as_code_location_run(recon, instance, RUN_CONFIG, tags) as result:
        failures = (
            []
            if result.success
            else [e for e in result.all_events if e.is_step_failure or e.event_type_value == "RUN_FAILURE"]
        )
        return result.success, result.run_id, failures


class StopRequested(BaseException):
    """SIGINT or SIGTERM reached the runner: no further run is started (a BaseException, like
    KeyboardInterrupt, so no `except Exception` on the way swallows it)."""

    def __init__(self, signum: int, where: str):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name} {where}; no further stage or run was started")


class StopSignals:
    """Watches SIGINT and SIGTERM for the build, also while a Dagster run executes.

    Why a wakeup pipe: during a run Dagster installs its own handlers (SIGTERM mapped to SIGINT);
    a signal in a step interrupts the step and fails the run ("interrupted unexpectedly"), and one
    that arrives between steps is recorded in a flag Dagster clears when the run ends. Neither
    reaches the caller of ``execute_job``, which then started the next fold. Python writes every
    signal it traps to the wakeup file descriptor, whichever handler is installed, so the runner
    checks the pipe after each run. Outside a run its own handler raises ``StopRequested``."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.received: int | None = None
        self.where = "between runs"

    def __enter__(self) -> StopSignals:
        self._read, self._write = os.pipe()
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._old = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._read)
        os.close(self._write)

    def _handle(self, signum, frame) -> None:
        self.received = signum
        raise StopRequested(signum, self.where)

    def check(self, where: str) -> None:
        """Raise ``StopRequested`` when a stop signal arrived (during the run that just ended)."""
        try:
            trapped = os.read(self._read, 512)
        except BlockingIOError:
            trapped = b""
        for signum in trapped:
            if signum in self.SIGNALS:
                self.received = signum
        if self.received is not None:
            raise StopRequested(self.received, where)


def _failure_reason(failures) -> str:
    """The first failed step and the first line of its error (else the run failure's message)."""
    for event in failures:
        err = getattr(event.event_specific_data, "error", None)
        if event.is_step_failure and err is not None:
            cause = err.cause or err
            while cause.cause is not None:
                cause = cause.cause
            return f"{event.step_key}: {cause.cls_name}: {cause.message.strip().splitlines()[0]}"
    return failures[0].message if failures else "the run failed"


def _report(stage: str, what: str, run_id: str, failures) -> None:
    for event in failures:
        print(f"FAILED {stage} {what} {event.step_key or ''}: {event.message}", file=sys.stderr)
        err = getattr(event.event_specific_data, "error", None)
        if err is not None:
            print(err.to_string(), file=sys.stderr)
    raise SystemExit(
        f"stage {stage} failed at {what} (run {run_id}): {_failure_reason(failures)}\n"
        "Stopped at the first failed run: no further run or stage was started. See the UI or the log above."
    )


def run_stages(
    settings: ProjectSettings,
    instance: dg.DagsterInstance,
    stages,
    partition_keys: list[str],
    stop: StopSignals | None = None,
) -> list[tuple[str, float]]:
    """Run each stage's job (per its partitioning) in order, one run after another; stop at the first
    failed run (a fold, a backfill range) with its reason, and after the run in progress when
    ``stop`` saw SIGINT or SIGTERM."""
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.adapters.partition_results import range_tags
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.recovery import end_own_runs, reap_orphaned_runs, runner_tags

    for run_id in reap_orphaned_runs(instance):
        print(f"  run {run_id} lost its process (killed or crashed): marked failed, its pool slots freed", flush=True)
    defs, project = build_definitions(settings), DagsterProject.from_settings(settings)
    tags = runner_tags()
    timings = []
    for stage in stages:
        job = defs.resolve_job_def(stage.job)
        started = time.perf_counter()
        if stage.partitioned == "range":
            chunks = backfill_chunks(
                partition_keys,
                _universe_size(settings.warehouse),
                settings.backfill_max_stock_days,
                settings.backfill_max_days,
            )
            runs = [(f"{c[0]}..{c[-1]}", range_tags(c)) for c in chunks]
        elif stage.partitioned == "live":
            keys = project.live_keys()
            runs = [(f"{keys[0]}..{keys[-1]}", range_tags(keys))]
        elif stage.partitioned == "each":
            runs = [(k, {"dagster/partition": k}) for k in job.partitions_def.get_partition_keys()]
        else:
            runs = [("", {})]
        for what, extra in runs:
            where = f"during {stage.job} {what}".rstrip()
            if len(runs) > 1:
                print(f"  {stage.job} {what} ...", flush=True)
            try:
                if stop is not None:
                    stop.where = where
                success, run_id, failures = _execute(stage.job, settings, instance, {**tags, **extra})
            except StopRequested:  # before Dagster's handlers took over: the run may be half set up
                for run_id in end_own_runs(instance, f"runner stopped by a signal {where}"):
                    print(f"  run {run_id} marked canceled", file=sys.stderr, flush=True)
                raise
            if stop is not None:
                stop.check(f"{where} (run {run_id} {'ended' if success else 'interrupted: marked failed'})")
                stop.where = f"after {stage.job} {what}".rstrip()
            if not success:
                _report(stage.job, what or "its run", run_id, failures)
        elapsed = time.perf_counter() - started
        print(f"  {stage.job:<28} {len(runs)} run(s)  {elapsed:7.1f} s", flush=True)
        timings.append((stage.job, elapsed))
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="*", help="only these jobs (default: every stage)")
    parser.add_argument("--start", help="first trading day of the daily backfill (YYYY-MM-DD; default: the first)")
    parser.add_argument("--end", help="last trading day of the daily backfill (YYYY-MM-DD; default: the last)")
    args = parser.parse_args(argv)

    from axion_pipeline.defs.jobs import BUILD_STAGES
    from axion_pipeline.defs.project import trading_day_partitions
    from axion_pipeline.storage.summary import print_summary
    from axion_pipeline.storage.warehouse import WarehouseMixError, claim_warehouse

    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "10000")
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    settings = ProjectSettings.from_env()
    stages = [s for s in BUILD_STAGES if not args.stages or s.job in args.stages]
    keys = [
        k
        for k in trading_day_partitions(settings.calendar).get_partition_keys()
        if (args.start is None or k >= args.start) and (args.end is None or k <= args.end)
    ]
    if not keys:
        raise SystemExit(f"no trading day between {args.start} and {args.end}")
    print(
        f"Axion Pipeline: {settings.describe_source()}; {len(keys)} trading days {keys[0]} .. {keys[-1]}; "
        f"warehouse {settings.warehouse}",
        flush=True,
    )
    Path(settings.warehouse).parent.mkdir(parents=True, exist_ok=True)
    try:
        claim_warehouse(settings.warehouse, settings.source_identity, settings.queue_wait_seconds)
    except WarehouseMixError as exc:
        raise SystemExit(f"refused: {exc}") from None
    started = time.perf_counter()
    try:
        with StopSignals() as stop, dg.DagsterInstance.get() as instance:
            run_stages(settings, instance, stages, keys, stop)
    except StopRequested as exc:
        print(f"Axion Pipeline {exc}", file=sys.stderr, flush=True)
        return 128 + exc.signum
    print(f"  {'total':<28} {time.perf_counter() - started:18.1f} s\n")
    print_summary(settings.warehouse)
    return 0


if __name__ == "__main__":
    sys.exit(main())
