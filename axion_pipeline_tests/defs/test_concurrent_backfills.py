"""Two backfills of overlapping daily ranges launched at once on the same warehouse and Dagster
instance: DuckDB takes one writer process at a time, so every warehouse step (assets and checks)
is in the ``duckdb_warehouse`` pool and the second run's steps queue for the slot instead of
failing on the file lock. Both finish; no partition is lost or duplicated."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from axion_pipeline_tests.defs.conftest import child_env, run_at_once, small_settings

REPO = Path(__file__).resolve().parents[2]
DAILY_TABLES = ["market.prices", "factors.factor_scores", "features.features", "features.targets"]


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, float, float]]:
    """(step, start, end) timestamps of every step of a run."""
    starts, spans = {}, []
    for event in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
        if event.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = event.timestamp
        else:
            spans.append((event.step_key, starts[event.step_key], event.timestamp))
    return spans


@pytest.mark.slow
def test_overlapping_backfills_launched_at_once_both_succeed(tmp_path, monkeypatch, trading_days):
    keys = trading_days.get_partition_keys()
    env = child_env(small_settings(str(tmp_path / "shared.duckdb")), tmp_path / "home")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    runner = [sys.executable, "-m", "axion_pipeline.run_all", "--stages"]
    # the history both backfills look back into (a year of prices for 12-1 momentum). The two
    # ranges are short: a range run of at most 300 days records one check result per day and check
    # (about 10 ms each in SQLite), and what is tested is the queueing, not the length
    first = subprocess.run(
        runner + ["market_tables_job", "daily_job", "--end", keys[-61]],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]

    ranges = [(keys[-90], keys[-31]), (keys[-60], keys[-1])]  # 30 days in common, 60 new days
    done = run_at_once(
        {f"range_{k}": runner + ["daily_job", "--start", start, "--end", end] for k, (start, end) in enumerate(ranges)},
        env,
        tmp_path,
        timeout=600,
    )
    for code, out in done.values():
        assert code == 0, out[-4000:]

    # the pool made them queue: no two warehouse steps of the two runs ever ran at the same time
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        runs = [
            r
            for r in instance.get_runs(dg.RunsFilter(job_name="daily_job"))
            if r.tags.get("dagster/asset_partition_range_start") in {start for start, _ in ranges}
        ]
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        spans = [_step_spans(instance, run.run_id) for run in runs]
    assert len(spans[0]) >= 4 and len(spans[1]) >= 4
    overlaps = [(a, b) for a in spans[0] for b in spans[1] if a[1] < b[2] and b[1] < a[2]]
    assert not overlaps, overlaps

    with duckdb.connect(env["AXION_WAREHOUSE"], read_only=True) as con:
        n_tickers = con.execute("select count(*) from market.sectors").fetchone()[0]
        for table in DAILY_TABLES:
            days, dups = con.execute(
                f"select count(distinct date), count(*) - count(distinct (date, ticker)) from {table}"
            ).fetchone()
            assert dups == 0, table
            if table != "features.targets":  # labels exist only once their 21-day window has elapsed
                assert days == len(keys), table
        # every day of both ranges has a full cross-section of prices and factor scores
        per_day = con.execute(
            "select min(n), max(n), count(*) from (select date, count(*) n from factors.factor_scores group by date)"
        ).fetchone()
        assert per_day[2] == len(keys) and per_day[1] <= n_tickers
