"""Ingestion assets on the generated market: tables, checks, idempotent partitions."""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd

from axion_pipeline_tests.defs.conftest import check_results, run_job


def _count(warehouse, sql, params=None):
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchone()[0]


def test_definitions_load_and_hold_market_assets(defs):
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {
        "prices",
        "market_series",
        "fundamentals",
        "sectors",
        "earnings_events",
        "universe",
        "rejected_rows",
        "true_regimes",
        "true_alpha",
    } <= keys
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name, f"{key} has no group"
        assert node.description, f"{key} has no description"


def test_market_tables_and_daily_range(defs, instance, warehouse, trading_days):
    run_job(defs, instance, "market_tables_job")
    keys = trading_days.get_partition_keys()
    result = run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
    checks = check_results(result)
    assert checks["prices_unique_keys"] and checks["market_series_one_row_per_day"]
    assert checks["prices_coverage"]
    assert checks["prices_no_split_jumps"]  # the generated market simulates crashes, no splits
    n_days = _count(warehouse, "select count(distinct date) from market.prices")
    assert n_days == len(keys)
    assert _count(warehouse, "select count(*) from market.market_series") == len(keys)
    assert _count(warehouse, "select count(*) from market.fundamentals") > 0
    assert _count(warehouse, "select count(distinct ticker) from market.sectors") == 40
    assert _count(warehouse, "select count(*) from market.true_regimes") == len(keys)
    # the generated market has no membership file: an empty table that says so
    assert _count(warehouse, "select count(*) from market.universe") == 0
    with duckdb.connect(warehouse, read_only=True) as con:
        columns = [r[0] for r in con.execute("describe market.universe").fetchall()]
    assert columns == ["ticker", "start_date", "end_date"]
    (materialization,) = [
        e.asset_materialization
        for e in instance.get_latest_materialization_events([dg.AssetKey("universe")]).values()
        if e is not None
    ]
    assert materialization.metadata["note"].value == "no membership file: every priced ticker is a member on every date"
    # fundamentals are point in time: never available before the period ends
    assert _count(warehouse, "select count(*) from market.fundamentals where available_date <= period_end") == 0


def test_rematerializing_a_partition_replaces_it(defs, instance, warehouse, project, trading_days):
    import dagster as dg

    from axion_pipeline.defs.market.assets import build_daily_assets

    prices, market_series = build_daily_assets(project)
    key = trading_days.get_partition_keys()[100]
    resources = {k: v for k, v in defs.resources.items() if k in ("io_manager", "market_source")}
    counts = []
    for _ in range(3):
        assert dg.materialize(
            [prices, market_series], partition_key=key, resources=resources, instance=instance
        ).success
        counts.append(_count(warehouse, "select count(*) from market.prices where date = ?", [pd.Timestamp(key)]))
    assert counts[0] > 0 and counts == [counts[0]] * 3
    assert _count(warehouse, "select count(*) - count(distinct (date, ticker)) from market.prices") == 0


def test_missing_lookback_is_a_clear_failure(defs, instance, trading_days):
    """Scoring a day whose 315-day price lookback was never materialized fails and says why."""
    key = trading_days.get_partition_keys()[400]
    result = defs.resolve_job_def("daily_job").execute_in_process(
        instance=instance, partition_key=key, raise_on_error=False
    )
    assert not result.success
    messages = " ".join(str(e.event_specific_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "lookback trading days" in messages and "not materialized" in messages
