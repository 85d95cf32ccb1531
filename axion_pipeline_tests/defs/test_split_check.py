"""``prices_no_split_jumps`` on a prices-only folder: red on an unadjusted 2:1 split, green on a
-60% crash day (the generated market's kind of move)."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import pandas as pd
import pytest

from axion_pipeline_tests.defs.conftest import SMALL_MARKET, SMALL_WALK_FORWARD

EVENT = 40  # the event's trading day (index in the calendar); the run covers days 30..50


@pytest.fixture(scope="module")
def prices():
    from axion_pipeline.data.simulator import simulate_market

    return simulate_market(replace(SMALL_MARKET, n_tickers=10)).prices


def split(prices: pd.DataFrame, ticker: str, day) -> pd.DataFrame:
    """Prices of ``ticker`` from ``day`` on halved, volume doubled: an unadjusted 2:1 split."""
    out = prices.copy()
    after = (out["ticker"] == ticker) & (out["date"] >= day)
    out.loc[after, ["open", "high", "low", "close"]] /= 2.0
    out.loc[after, "volume"] *= 2.0
    return out


def crash(prices: pd.DataFrame, ticker: str, day) -> pd.DataFrame:
    """``ticker`` loses 60% on ``day`` on ten times its volume and stays there."""
    out = prices.copy()
    after = (out["ticker"] == ticker) & (out["date"] >= day)
    out.loc[after, ["open", "high", "low", "close"]] *= 0.4
    out.loc[(out["ticker"] == ticker) & (out["date"] == day), "volume"] *= 10.0
    return out


def run_split_check(tmp_path, instance, frame: pd.DataFrame):
    """Materialize ``prices`` over days 30..50 with its checks: the split check's evaluations (one per
    partition of the range run) by partition key, and the keys."""
    from axion_pipeline.defs.market.assets import build_daily_assets
    from axion_pipeline.defs.market.checks import build_checks
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.resources import build_resources
    from axion_pipeline.project import ProjectSettings

    folder = tmp_path / "data"
    folder.mkdir(parents=True)
    frame.to_csv(folder / "prices.csv", index=False, date_format="%Y-%m-%d")
    settings = ProjectSettings(
        data_dir=str(folder), walk_forward=SMALL_WALK_FORWARD, warehouse=str(tmp_path / "w.duckdb")
    )
    project = DagsterProject.from_settings(settings)
    prices_asset, _ = build_daily_assets(project)
    check = next(c for c in build_checks(project) if "prices_no_split_jumps" in {k.name for k in c.check_keys})
    keys = project.trading_days.get_partition_keys()
    result = dg.materialize(
        [prices_asset, check],
        resources=build_resources(settings),
        instance=instance,
        tags={"dagster/asset_partition_range_start": keys[30], "dagster/asset_partition_range_end": keys[50]},
    )
    evaluations = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "prices_no_split_jumps"
    }
    assert sorted(evaluations) == keys[30:51]
    return evaluations, keys


def test_a_split_is_flagged_and_a_crash_is_not(tmp_path, instance, prices):
    days = pd.DatetimeIndex(sorted(prices["date"].unique()))
    ticker = sorted(prices["ticker"].unique())[3]
    evaluations, keys = run_split_check(tmp_path / "split", instance, split(prices, ticker, days[EVENT]))
    assert keys[EVENT] == str(days[EVENT].date())
    # red on the split's day only; the range's findings on every day's evaluation
    assert [k for k, e in evaluations.items() if not e.passed] == [keys[EVENT]]
    evaluation = evaluations[keys[EVENT]]
    assert evaluation.metadata["flagged"].value == 1
    assert ticker in evaluation.metadata["examples"].value and "2:1" in evaluation.metadata["examples"].value

    evaluations, _ = run_split_check(tmp_path / "crash", instance, crash(prices, ticker, days[EVENT]))
    assert all(e.passed for e in evaluations.values())
    assert evaluations[keys[EVENT]].metadata["flagged"].value == 0
