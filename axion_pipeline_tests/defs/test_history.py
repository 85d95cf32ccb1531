"""Factor and feature assets on the small generated market: tables, checks, the leakage audit."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from axion_pipeline_tests.defs.conftest import batching_instance, check_results, run_job, small_settings


@pytest.fixture
def history(defs, instance, warehouse, trading_days):
    keys = trading_days.get_partition_keys()
    run_job(defs, instance, "market_tables_job")
    result = run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
    return keys, check_results(result), result


@pytest.fixture(scope="module")
def built_history(tmp_path_factory) -> Path:
    """The small market's whole history (market tables, then every day in one range run), built
    once for the module in a warehouse of its own."""
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject

    root = tmp_path_factory.mktemp("history")
    settings = small_settings(str(root / "history.duckdb"))
    defs = build_definitions(settings)
    keys = DagsterProject.from_settings(settings).trading_days.get_partition_keys()
    with batching_instance(root) as instance:
        run_job(defs, instance, "market_tables_job")
        run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
    return Path(settings.warehouse)


@pytest.fixture
def stored_history(built_history, warehouse) -> None:
    """The test's warehouse starts as a copy of ``built_history``: for tests that run more days on
    stored history and read only the warehouse, not the instance's events of how it was built."""
    shutil.copyfile(built_history, warehouse)


def _one(warehouse, sql, params=None):
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchone()


def test_history_tables_and_checks(history, defs, instance, warehouse):
    keys, checks, result = history
    for name in [
        "scores_within_unit_interval",
        "composite_weights_sum_to_one",
        "features_leakage_audit",
        "targets_use_only_the_forward_window",
        "features_are_finite",
        "composite_coverage_per_date",
    ]:
        assert checks[name], name
    days, tickers = _one(warehouse, "select count(distinct date), count(distinct ticker) from factors.factor_scores")
    assert days == len(keys) and tickers == 40
    lo, hi = _one(warehouse, "select min(composite), max(composite) from factors.factor_scores")
    assert 0.0 <= lo < 0.1 and 0.9 < hi <= 1.0
    assert _one(warehouse, "select count(distinct date) from factors.market_regime")[0] == len(keys)
    # targets mature 21 trading days later: none for the last 21 dates, each label_date = date + 21 rows
    cal = pd.DatetimeIndex(keys)
    (last_date,) = _one(warehouse, "select max(date) from features.targets")
    assert pd.Timestamp(last_date) == cal[-22]
    sample = _one(warehouse, "select date, label_date from features.targets where date = ? limit 1", [cal[100]])
    assert pd.Timestamp(sample[1]) == cal[121]
    n_features = len(_one(warehouse, "select * from features.features limit 1")) - 2
    assert n_features > 50

    # a run longer than MAX_PARTITION_RESULTS records each check once for the range, saying so; each
    # partition still gets its own row count
    from axion_pipeline.defs.adapters.partition_results import MAX_PARTITION_RESULTS

    assert len(keys) > MAX_PARTITION_RESULTS
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert pd.Series([e.check_name for e in evaluations]).value_counts().max() == 1
    assert all(e.partition is None and "per_partition_results" in e.metadata for e in evaluations)
    counts = {
        e.event_specific_data.materialization.partition: e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.path == ["factor_scores"]
    }
    assert sorted(counts) == keys
    day = keys[100]
    stored = _one(warehouse, "select count(*) from factors.factor_scores where date = ?", [pd.Timestamp(day)])[0]
    assert counts[day]["dagster/partition_row_count"].value == stored
    (total,) = _one(warehouse, "select count(*) from factors.factor_scores")
    assert counts[day]["range_row_count"].value == total
    # the day's own tickers; the output's totals only under range_* names
    (own_tickers,) = _one(
        warehouse, "select count(distinct ticker) from factors.factor_scores where date = ?", [pd.Timestamp(day)]
    )
    assert counts[day]["tickers"].value == own_tickers
    assert counts[day]["range_dates"].value == len(keys) and "dates" not in counts[day]

    # one new day after the backfill (the daily schedule's case): every check passes with its lookback
    single = check_results(run_job(defs, instance, "daily_job", partition_key=keys[-1]))
    assert all(single.values()), single

    # a shorter range (a UI backfill): one result per partition and check, each on its day
    recent = run_job(defs, instance, "daily_job", key_range=(keys[-5], keys[-1]))
    evaluations = [e.event_specific_data for e in recent.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    per_check = pd.Series([e.check_name for e in evaluations]).value_counts()
    assert len(per_check) == len(checks) and (per_check == 5).all(), per_check
    assert {e.partition for e in evaluations} == set(keys[-5:]) and all(e.passed for e in evaluations)

    result = run_job(defs, instance, "factor_analysis_job")
    assert result.success
    ic = _one(warehouse, "select ic_mean from factors.factor_tear_sheet where factor = 'composite' and horizon = 21")[0]
    assert ic == ic  # a number, not NaN


def test_leakage_audit_fails_on_a_leaking_feature(stored_history, defs, instance, monkeypatch, trading_days):
    """Features built with tomorrow's value of a score must fail the blocking audit."""
    from axion_pipeline.defs.features import assets as feature_assets

    honest = feature_assets.build_features

    def leaking(cutoff, *, raw, **inputs):
        out = honest(cutoff, raw=raw, **inputs)
        tomorrow = raw["momentum"].groupby(level="symbol").shift(-1)
        return out.assign(momentum_tomorrow=tomorrow.reindex(out.index))

    monkeypatch.setattr(feature_assets, "build_features", leaking)
    # a range, so that the stored rows before its last day hold tomorrow's values (on a run's last
    # day tomorrow is not in the inputs: the leak has nothing to leak there)
    keys = trading_days.get_partition_keys()
    job = defs.resolve_job_def("daily_job")
    tags = {"dagster/asset_partition_range_start": keys[300], "dagster/asset_partition_range_end": keys[340]}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert check_results(result)["features_leakage_audit"] is False
    audit = next(
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "features_leakage_audit"
    )
    assert "momentum_tomorrow" in audit.event_specific_data.metadata["leaking_columns"].value


def test_leakage_audit_rebuilds_with_the_runs_feature_settings(stored_history, defs, instance, warehouse, trading_days):
    """A run with non-default feature settings: the audit must rebuild with them (with the defaults
    it would find lag_10/lag_21 columns the stored rows lack and fail)."""
    key = trading_days.get_partition_keys()[300]
    job = defs.resolve_job_def("daily_job")
    run_config = {"ops": {"features": {"config": {"lag_periods": [5], "rolling_windows": [5, 21]}}}}
    result = job.execute_in_process(instance=instance, partition_key=key, run_config=run_config, raise_on_error=True)
    assert check_results(result)["features_leakage_audit"] is True
    with duckdb.connect(warehouse, read_only=True) as con:
        columns = [r[0] for r in con.execute("describe features.features").fetchall()]
        lag10 = [c for c in columns if c.endswith("_lag10d")]
        assert lag10, columns  # the defaults' columns stay in the table ...
        filled = con.execute(f'select count("{lag10[0]}") from features.features where date = ?', [key]).fetchone()[0]
    assert filled == 0  # ... empty on the day rebuilt without them


def test_a_short_range_at_the_start_of_history_passes_with_no_matured_label(defs, instance, trading_days):
    """A UI backfill of the history's first days: no label has matured yet (a label needs the 21
    trading days after its date), so the target audit has nothing to check and says why, instead of
    failing the run with an error; the same empty table later in the history would fail."""
    keys = trading_days.get_partition_keys()
    run_job(defs, instance, "market_tables_job")
    result = run_job(defs, instance, "daily_job", key_range=(keys[0], keys[4]))
    assert result.success
    audits = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "targets_use_only_the_forward_window"
    ]
    assert {a.partition for a in audits} == set(keys[:5]) and all(a.passed for a in audits)
    assert "no label matures before" in audits[0].metadata["reason"].value
