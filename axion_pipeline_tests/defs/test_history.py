"""Factor and feature assets on the small generated market: tables, checks, the leakage audit."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from axion_pipeline.defs.partitions import trading_days
from axion_pipeline_tests.defs.conftest import check_results, run_job


@pytest.fixture
def history(defs, instance, warehouse):
    keys = trading_days.get_partition_keys()
    run_job(defs, instance, "market_tables_job")
    result = run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
    return keys, check_results(result)


def _one(warehouse, sql, params=None):
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchone()


def test_history_tables_and_checks(history, defs, instance, warehouse):
    keys, checks = history
    for name in ["scores_within_unit_interval", "composite_weights_sum_to_one", "features_leakage_audit",
                 "targets_use_only_the_forward_window", "features_are_finite", "composite_coverage_per_date"]:
        assert checks[name], name
    days, tickers = _one(warehouse, "select count(distinct date), count(distinct ticker) from factors.factor_scores")
    assert days == len(keys) and tickers == 40
    lo, hi = _one(warehouse, "select min(composite), max(composite) from factors.factor_scores")
    assert 0.0 <= lo < 0.1 and 0.9 < hi <= 1.0
    assert _one(warehouse, "select count(distinct date) from factors.market_regime")[0] == len(keys)
    # targets mature 21 trading days later: none for the last 21 dates, each label_date = date + 21 rows
    cal = pd.DatetimeIndex(keys)
    last_date, = _one(warehouse, "select max(date) from features.targets")
    assert pd.Timestamp(last_date) == cal[-22]
    sample = _one(warehouse, "select date, label_date from features.targets where date = ? limit 1", [cal[100]])
    assert pd.Timestamp(sample[1]) == cal[121]
    n_features = len(_one(warehouse, "select * from features.features limit 1")) - 2
    assert n_features > 50

    # one new day after the backfill (the daily schedule's case): every check passes with its lookback
    single = check_results(run_job(defs, instance, "daily_job", partition_key=keys[-1]))
    assert all(single.values()), single

    result = run_job(defs, instance, "factor_analysis_job")
    assert result.success
    ic = _one(warehouse, "select ic_mean from factors.factor_tear_sheet where factor = 'composite' and horizon = 21")[0]
    assert ic == ic  # a number, not NaN


def test_leakage_audit_fails_on_a_leaking_feature(history, defs, instance, monkeypatch):
    """Features built with tomorrow's value of a score must fail the blocking audit."""
    from axion_pipeline.defs.features import assets as feature_assets

    honest = feature_assets.build_features

    def leaking(cutoff, *, raw, macro, sectors, config, start=None):
        out = honest(cutoff, raw=raw, macro=macro, sectors=sectors, config=config, start=start)
        tomorrow = raw["momentum"].groupby(level="symbol").shift(-1)
        return out.assign(momentum_tomorrow=tomorrow.reindex(out.index))

    monkeypatch.setattr(feature_assets, "build_features", leaking)
    key = trading_days.get_partition_keys()[300]
    job = defs.resolve_job_def("daily_job")
    result = job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
    assert check_results(result)["features_leakage_audit"] is False
