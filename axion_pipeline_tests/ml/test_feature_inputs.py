"""Long/wide conversions of the feature table."""

import numpy as np
import pandas as pd

from axion_pipeline.ml.feature_inputs import from_long, to_long


def _wide() -> pd.DataFrame:
    idx = pd.MultiIndex.from_product(
        [pd.to_datetime(["2020-01-02", "2020-01-03"]), ["A", "B", "C"]], names=["date", "symbol"]
    )
    return pd.DataFrame(np.arange(12.0).reshape(6, 2), index=idx, columns=["x_rank", "y_lag5d"])


def test_in_place_long_frame_equals_the_copy_and_shares_the_values():
    wide = _wide()
    values = wide["x_rank"].to_numpy()
    copied = to_long(wide.copy())
    in_place = to_long(wide, inplace=True)
    pd.testing.assert_frame_equal(copied, in_place)
    assert in_place is wide and np.shares_memory(in_place["x_rank"].to_numpy(), values)
    assert list(in_place.columns[:2]) == ["date", "ticker"]


def test_long_round_trips_to_wide():
    pd.testing.assert_frame_equal(from_long(to_long(_wide())), _wide())


def test_ranking_inputs_hold_member_rows_only():
    """Features and targets exist only for (date, ticker) pairs of members, and a date's quintiles
    are cut among its members."""
    from dataclasses import replace

    from axion_pipeline.data.simulator import simulate_market
    from axion_pipeline.data.simulator.config import SimulationConfig
    from axion_pipeline.data.universe import is_member
    from axion_pipeline.ml.feature_inputs import ranking_inputs

    data = simulate_market(SimulationConfig(seed=3, n_tickers=12, start="2022-01-03", end="2022-12-30"))
    days = data.trading_days
    tickers = sorted(data.prices["ticker"].unique())
    joiner, leaver = tickers[0], tickers[1]
    universe = pd.DataFrame({"ticker": tickers, "start_date": days[0], "end_date": pd.NaT})
    universe.loc[0, "start_date"] = days[150]
    universe.loc[1, "end_date"] = days[100]
    features, targets, _ = ranking_inputs(replace(data, universe=universe))
    for frame in (features, targets):
        assert is_member(frame["date"], frame["ticker"], universe).all()
    assert features.loc[features["ticker"] == joiner, "date"].min() == days[150]
    assert features.loc[features["ticker"] == leaver, "date"].max() == days[100]
    # a target of a member is ranked among the members: quintile counts of one date
    day = targets[(targets["date"] == days[120]) & targets["label"].notna()]
    assert len(day) == 10 and day["label"].value_counts().sort_index().tolist() == [2, 2, 2, 2, 2]
