"""Wall time of one new trading-day partition through every daily asset (Dagster overhead included).

Run after `make run`: re-materializes the newest partition of ``live_daily_job`` (ingestion through
explanations) on the configured warehouse, several times, and prints the median; the table is
appended to BENCHMARKS.md with the machine's cores and memory.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", "10000")
os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")

import dagster as dg  # noqa: E402

REPEATS = 3


def main() -> None:
    from axion_pipeline.definitions import defs
    from axion_pipeline.defs.partitions import trading_days
    from axion_pipeline.settings import get_settings

    key = trading_days.get_partition_keys()[-1]
    job = defs.resolve_job_def("live_daily_job")
    times = []
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(REPEATS):
            started = time.perf_counter()
            result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=True,
                                            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            assert result.success
            times.append(time.perf_counter() - started)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    table = "\n".join([
        f"### Daily partition ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, {mem:.0f} GiB)",
        "",
        f"One trading day ({key}) through every daily asset of `live_daily_job` on {get_settings().warehouse}, "
        f"{REPEATS} runs, Dagster overhead included.",
        "",
        "| median s | min s | max s |",
        "|---|---|---|",
        f"| {statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f} |",
        "",
    ])
    print(table)
    with open(Path(__file__).resolve().parent.parent / "BENCHMARKS.md", "a") as fh:
        fh.write("\n" + table)


if __name__ == "__main__":
    main()
