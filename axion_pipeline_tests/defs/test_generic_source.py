"""The market, factor and feature stages on generic-layout folders: prices only, and prices with
index membership intervals (the leakage audit then rebuilds with the membership known at t)."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.simulator import simulate_market
from axion_pipeline.data.universe import is_member
from axion_pipeline_tests.defs.conftest import SMALL_MARKET, SMALL_WALK_FORWARD, check_results, run_job

# The history run stops at this trading day: every stage and check runs (each step's cost grows with
# the number of partitions), and the membership changes below fall inside it or after it.
LAST_KEY = 100
HISTORY_CHECKS = [
    "scores_within_unit_interval",
    "composite_weights_sum_to_one",
    "features_leakage_audit",
    "targets_use_only_the_forward_window",
    "features_are_finite",
]


def _rows(warehouse, sql, params=None) -> pd.DataFrame:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def _build(root, instance, data_dir):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.project import ProjectSettings

    settings = ProjectSettings(
        data_dir=str(data_dir), walk_forward=SMALL_WALK_FORWARD, warehouse=str(root / "warehouse.duckdb")
    )
    defs = build_definitions(settings)
    keys = DagsterProject.from_settings(settings).trading_days.get_partition_keys()
    run_job(defs, instance, "market_tables_job")
    result = run_job(defs, instance, "daily_job", key_range=(keys[0], keys[LAST_KEY]))
    return defs, keys, settings.warehouse, check_results(result)


def _instance(root):
    overrides = {
        "event_log_storage": {
            "module": "axion_pipeline.defs.storage",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(root / "event_log")},
        }
    }
    return dg.instance_for_test(overrides=overrides)


def _write_prices(folder, prices: pd.DataFrame) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    prices.to_csv(folder / "prices.csv", index=False, date_format="%Y-%m-%d")


# ------------------------------------------------------------------------------------ prices only
@pytest.fixture(scope="module")
def prices_only(tmp_path_factory):
    root = tmp_path_factory.mktemp("prices_only")
    prices = simulate_market(replace(SMALL_MARKET, n_tickers=20)).prices
    _write_prices(root / "data", prices)
    with _instance(root) as instance:
        defs, keys, warehouse, checks = _build(root, instance, root / "data")
        yield defs, keys, warehouse, checks, instance, prices


def test_a_folder_with_prices_only_builds_the_market_factor_and_feature_stages(prices_only):
    defs, keys, warehouse, checks, instance, prices = prices_only
    for name in HISTORY_CHECKS:
        assert checks[name], name
    # (composite_coverage_per_date warns: without a fundamental category nothing fills the composite
    # during the price factors' warm-up, the first days of the history)
    assert _rows(warehouse, "select count(*) n from market.fundamentals")["n"].item() == 0
    assert _rows(warehouse, "select count(*) n from market.universe")["n"].item() == 0
    assert set(_rows(warehouse, "select sector from market.sectors")["sector"]) == {"Unknown"}
    # the index is the equal-weighted universe, stated in the asset's metadata
    market = _rows(warehouse, "select date, sp500_close, vix from market.market_series order by date")
    close = prices.pivot(index="date", columns="ticker", values="close")
    expected = 100.0 * (1.0 + close.pct_change(fill_method=None).mean(axis=1).fillna(0.0)).cumprod()
    np.testing.assert_allclose(market["sp500_close"], expected.iloc[: LAST_KEY + 1].to_numpy(), rtol=1e-12)
    assert market["vix"].isna().all()
    series_meta = instance.get_latest_materialization_event(dg.AssetKey("market_series")).asset_materialization
    assert "NOT the S&P 500" in series_meta.metadata["sp500_close"].value
    # price factors are computed, fundamental ones are missing; no sector ranks without sectors
    last = pd.Timestamp(keys[LAST_KEY])
    scores = _rows(warehouse, "select * from factors.factor_scores where date = ?", [last])
    assert len(scores) == (prices["date"] == last).sum() and scores[["value", "quality", "growth"]].isna().all().all()
    assert scores[["momentum", "volatility", "technical", "composite"]].notna().all().all()
    columns = _rows(warehouse, "select * from features.features limit 1").columns
    assert not [c for c in columns if c.endswith("_sector_rank")] and "momentum_rank" in columns
    # the notes name every missing file
    notes = instance.get_latest_materialization_event(dg.AssetKey("rejected_rows")).asset_materialization
    text = notes.metadata["notes"].value
    for stem in ("fundamentals", "sectors", "market_series", "earnings_events", "universe"):
        assert f"{stem}: no {stem} file" in text, stem


# ------------------------------------------------------------------- with membership (no earnings)
@pytest.fixture(scope="module")
def with_members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    market = simulate_market(SMALL_MARKET)
    prices = market.prices
    days = pd.DatetimeIndex(sorted(prices["date"].unique()))
    tickers = sorted(prices["ticker"].unique())
    universe = pd.DataFrame({"ticker": tickers[1:], "start_date": days[0], "end_date": pd.NaT})
    universe.loc[universe["ticker"] == tickers[1], "start_date"] = days[60]  # joins
    universe.loc[universe["ticker"] == tickers[2], "end_date"] = days[40]  # leaves
    universe.loc[universe["ticker"] == tickers[3], "end_date"] = days[200]  # leaves after the run's span
    folder = root / "data"
    _write_prices(folder, prices)
    universe.to_csv(folder / "universe.csv", index=False, date_format="%Y-%m-%d")
    market.sectors.to_csv(folder / "sectors.csv", index=False)
    market.fundamentals.to_csv(folder / "fundamentals.csv", index=False, date_format="%Y-%m-%d")
    market.market_series.to_csv(folder / "market_series.csv", index=False, date_format="%Y-%m-%d")
    with _instance(root) as instance:
        defs, keys, warehouse, checks = _build(root, instance, folder)
        yield defs, keys, warehouse, checks, instance, universe, tickers


def test_only_members_enter_scores_features_and_targets(with_members):
    defs, keys, warehouse, checks, instance, universe, tickers = with_members
    for name in [*HISTORY_CHECKS, "composite_coverage_per_date"]:
        assert checks[name], name
    stored = _rows(warehouse, "select * from market.universe")
    assert len(stored) == len(universe)
    for table in ("factors.factor_scores", "features.features", "features.targets"):
        rows = _rows(warehouse, f"select date, ticker from {table}")
        assert len(rows) and is_member(rows["date"], rows["ticker"], universe).all(), table
        assert tickers[0] not in set(rows["ticker"]), table  # in no interval: never a member
    scores = _rows(warehouse, "select date, ticker from factors.factor_scores")
    joined = scores.loc[scores["ticker"] == tickers[1], "date"]
    assert joined.min() == pd.Timestamp(keys[60])
    assert scores.loc[scores["ticker"] == tickers[2], "date"].max() == pd.Timestamp(keys[40])
    # target quintiles are cut among the members of the date (at most 37 then): equal buckets
    day = _rows(warehouse, "select label from features.targets where date = ? and label is not null", [keys[50]])
    counts = day["label"].value_counts()
    assert 30 <= len(day) <= 37 and len(counts) == 5 and counts.max() - counts.min() <= 1


def test_leakage_audit_fails_when_later_membership_reaches_stored_features(with_members, monkeypatch):
    """Features built on the survivors of the membership file (today's constituents: the tickers
    with an open interval) depend on later membership: tickers[3] leaves after the run's span, so
    the stored rows lack it while the rebuild, with membership known at t, has it."""
    from axion_pipeline.defs.features import assets as feature_assets

    defs, keys, warehouse, checks, instance, universe, tickers = with_members
    honest = feature_assets.build_features

    def survivors(cutoff, *, raw, membership, **inputs):
        alive = membership.loc[membership["end_date"].isna(), "ticker"]
        raw = raw[raw.index.get_level_values("symbol").isin(alive)]
        return honest(cutoff, raw=raw, membership=membership, **inputs)

    monkeypatch.setattr(feature_assets, "build_features", survivors)
    job = defs.resolve_job_def("daily_job")
    tags = {"dagster/asset_partition_range_start": keys[80], "dagster/asset_partition_range_end": keys[LAST_KEY]}
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert check_results(result)["features_leakage_audit"] is False
    audit = next(
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "features_leakage_audit"
    )
    assert "<rows>" in audit.event_specific_data.metadata["leaking_columns"].value
