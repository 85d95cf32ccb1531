"""The project's jobs run unchanged on a Dask cluster (``axion_pipeline.defs.executors``: dagster-dask's
executor made pool-aware; a local cluster of two worker processes) on the small generated market:
the unpartitioned market tables (independent
steps, spread over both workers) and a single-run backfill of the daily prices and market series.

Every asset is in the ``duckdb_warehouse`` pool (one slot): the executor holds a cluster-wide Dask
semaphore per pool, so no two warehouse steps overlap although two workers are free.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

pytest.importorskip("dagster_dask")
pytestmark = pytest.mark.dask

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project_instance(tmp_path):
    """A temporary instance configured like the project's dagster_instance.yaml (one slot per pool)."""
    overrides = yaml.safe_load((REPO_ROOT / "dagster_instance.yaml").read_text())
    overrides["event_log_storage"].setdefault("config", {})["base_dir"] = str(tmp_path / "event_log")
    with dg.instance_for_test(overrides=overrides) as inst:
        assert inst.global_op_concurrency_default_limit == 1
        yield inst


@pytest.fixture
def dask_cluster():
    """A local Dask cluster of two single-threaded worker processes, shared by the test's runs
    (as a user's cluster would be: jobs connect to its scheduler address)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


def _count(warehouse: str, sql: str) -> int:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def _step_pids(result) -> set[int]:
    return {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}


def _step_spans(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """step key -> (start, end) timestamps from the run's event log."""
    spans: dict[str, list[float]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            spans.setdefault(event.step_key, [record.timestamp, record.timestamp])[0] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            spans.setdefault(event.step_key, [record.timestamp, record.timestamp])[1] = record.timestamp
    return {k: (v[0], v[1]) for k, v in spans.items()}


def _overlaps(spans: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    ordered = sorted(spans.items(), key=lambda kv: kv[1][0])
    return [(a, b) for (a, (_, end_a)), (b, (start_b, _)) in zip(ordered, ordered[1:]) if start_b < end_a]


@pytest.mark.slow
def test_market_jobs_on_a_local_dask_cluster(warehouse, settings, trading_days, project_instance, dask_cluster):
    instance = project_instance
    address = dask_cluster.scheduler_address
    from axion_pipeline.defs.executors import reconstructable_dask_job
    from axion_pipeline.defs.resources import MarketDataSource

    keys = trading_days.get_partition_keys()
    with dg.execute_job(
        reconstructable_dask_job("market_tables_job", settings, address=address), instance=instance
    ) as tables:
        assert tables.success
        table_steps = {e.step_key for e in tables.all_events if e.event_type_value == "STEP_SUCCESS"}
        table_pids = _step_pids(tables)
    assert {"fundamentals", "sectors", "earnings_events", "rejected_rows", "true_regimes", "true_alpha"} <= table_steps
    # the steps ran in the Dask worker processes, not in this one
    assert table_pids and os.getpid() not in table_pids
    # one slot in the duckdb_warehouse pool: the warehouse steps ran one at a time
    assert _overlaps(_step_spans(instance, tables.run_id)) == []

    span = keys[-60:]  # a single-run backfill of the last 60 trading days
    selection = [dg.AssetKey("prices"), dg.AssetKey("market_series")]
    tags = {"dagster/asset_partition_range_start": span[0], "dagster/asset_partition_range_end": span[-1]}
    with dg.execute_job(
        reconstructable_dask_job("daily_job", settings, address=address),
        instance=instance,
        tags=tags,
        asset_selection=selection,
    ) as daily:
        assert daily.success
        materialized = {
            e.asset_key.to_user_string() for e in daily.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
        }
    assert materialized == {"prices", "market_series"}

    market = MarketDataSource.from_settings(settings).load()
    first, last = pd.Timestamp(span[0]), pd.Timestamp(span[-1])
    expected_prices = int(market.prices["date"].between(first, last).sum())
    assert _count(warehouse, "select count(*) from market.prices") == expected_prices
    assert _count(warehouse, "select count(*) - count(distinct (date, ticker)) from market.prices") == 0
    assert _count(warehouse, "select count(distinct date) from market.prices") == len(span)
    assert _count(warehouse, "select count(*) from market.market_series") == len(span)
    assert _count(warehouse, "select count(*) from market.fundamentals") == len(market.fundamentals)
    assert _count(warehouse, "select count(*) from market.earnings_events") == len(market.earnings_events)
    assert _count(warehouse, "select count(distinct ticker) from market.sectors") == 40
    assert _count(warehouse, "select count(*) from market.true_regimes") == len(market.true_regimes)
    assert _count(warehouse, "select count(*) from market.true_alpha") == len(market.true_alpha)


def test_dask_code_location_keeps_every_job_and_the_default_is_unchanged(settings):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.executors import DASK_RUN_CONFIG, definitions_with_executor, local_dask_executor

    default = build_definitions(settings)
    on_dask = definitions_with_executor(local_dask_executor(2), settings)
    names = {j.name for j in default.resolve_all_job_defs()}
    assert names == {j.name for j in on_dask.resolve_all_job_defs()}
    for name in names:
        assert on_dask.resolve_job_def(name).executor_def.name == "dask_local"
        assert default.resolve_job_def(name).executor_def.name != "dask_local"
    # the documented run config validates against the Dask executor configured by run config
    from axion_pipeline.defs.executors import dask_executor

    job = definitions_with_executor(dask_executor(), settings).resolve_job_def("market_tables_job")
    assert job.run_config_schema.config_type is not None
    assert dg.validate_run_config(job, DASK_RUN_CONFIG)
