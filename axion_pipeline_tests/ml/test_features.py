"""FeatureEngineer.create_features: hand-checked values, panel == single date, point in time."""

from __future__ import annotations

import re
import warnings
from datetime import date

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.ml import FeatureConfig, FeatureEngineer
from axion_pipeline.ml.feature_transforms import rolling_mean_std
from axion_pipeline_tests.spec_examples import BLOCKS

SMALL = FeatureConfig(lag_periods=[1, 2], rolling_windows=[2, 3])
DATES = pd.to_datetime(["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02", "2024-04-01"])


@pytest.fixture
def tiny() -> pd.DataFrame:
    """3 symbols x 5 dates; B's value missing on 02-01, C has no row on 02-02; A, B tech, C fin."""
    value = {"A": [1, 3, 2, 4, 5], "B": [3, 3, np.nan, 1, 2], "C": [2, 1, 5, 4, 7]}
    idx = pd.MultiIndex.from_product([DATES, ["A", "B", "C"]], names=["date", "symbol"])
    raw = pd.DataFrame(
        {
            "value": [float(value[s][i]) for i in range(5) for s in "ABC"],
            "momentum": np.arange(15.0)[::-1],
        },
        index=idx,
    ).drop(index=(DATES[3], "C"))
    raw["sector"] = raw.index.get_level_values("symbol").map({"A": "tech", "B": "tech", "C": "fin"})
    return raw


def random_raw_panel(n_dates=40, n_symbols=12, seed=0, columns=("value", "momentum", "quality")) -> pd.DataFrame:
    """Random (date, symbol) panel with missing rows, missing values, ties and sectors."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2023-01-02", periods=n_dates)
    idx = pd.MultiIndex.from_product([dates, [f"S{i:02d}" for i in range(n_symbols)]], names=["date", "symbol"])
    raw = pd.DataFrame(rng.normal(size=(len(idx), len(columns))).round(1), index=idx, columns=list(columns))
    raw = raw.mask(rng.random(raw.shape) < 0.05)
    raw = raw[rng.random(len(raw)) > 0.1]
    raw["sector"] = [f"sec{int(s[1:]) % 3}" for s in raw.index.get_level_values("symbol")]
    return raw


def random_macro(dates: pd.DatetimeIndex, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.date_range(dates[0] - pd.Timedelta(days=3), dates[-1] + pd.Timedelta(days=5), freq="2D")
    return pd.DataFrame({"vix": rng.normal(20, 3, len(days)), "yield_10y": rng.normal(4, 0.2, len(days))}, index=days)


def feature(frame: pd.DataFrame, name: str) -> dict:
    return {(str(d.date()), s): v for (d, s), v in frame[name].items()}


def test_hand_checked_ranks_sector_ranks_and_interactions(tiny):
    f = FeatureEngineer(SMALL).create_features_panel(tiny)
    rank = feature(f, "value_rank")
    # 01-30: A=1 < C=2 < B=3; 01-31: C=1 < A=B=3 (tie: average rank); 02-01: B missing -> NaN.
    assert [rank[("2024-01-30", s)] for s in "ABC"] == [0.0, 1.0, 0.5]
    assert [rank[("2024-01-31", s)] for s in "ABC"] == [0.75, 0.75, 0.0]
    assert rank[("2024-02-01", "A")] == 0.0 and rank[("2024-02-01", "C")] == 1.0
    assert np.isnan(rank[("2024-02-01", "B")])
    sector = feature(f, "value_sector_rank")
    # A, B form the tech sector; C is alone in fin (a lone value ranks 0.5).
    assert [sector[("2024-01-30", s)] for s in "ABC"] == [0.0, 1.0, 0.5]
    assert [sector[("2024-02-02", s)] for s in "AB"] == [1.0, 0.0]
    assert sector[("2024-02-01", "A")] == 0.5  # B's value is missing, A is alone
    inter = feature(f, "value_x_momentum")
    assert inter[("2024-01-31", "B")] == 0.75 * 0.5


def test_hand_checked_lags_use_the_dates_of_the_data(tiny):
    f = FeatureEngineer(SMALL).create_features_panel(tiny)
    lag1, lag2 = feature(f, "value_lag1d"), feature(f, "value_lag2d")
    assert lag1[("2024-01-31", "A")] == 1.0 and lag2[("2024-02-01", "C")] == 2.0
    # 04-01 follows 02-02 in the data: one date earlier is 02-02 whatever the gap in days.
    assert lag1[("2024-04-01", "A")] == 4.0
    assert np.isnan(lag1[("2024-04-01", "C")])  # C has no row on 02-02
    assert lag2[("2024-04-01", "C")] == 5.0
    assert np.isnan(lag1[("2024-01-30", "A")]) and np.isnan(lag2[("2024-01-31", "B")])


def test_hand_checked_rolling_stats(tiny):
    f = FeatureEngineer(SMALL).create_features_panel(tiny)
    mean2, std2 = feature(f, "value_mean_2d"), feature(f, "value_std_2d")
    mean3, std3 = feature(f, "value_mean_3d"), feature(f, "value_std_3d")
    assert mean2[("2024-01-31", "A")] == 2.0 and std2[("2024-01-31", "A")] == pytest.approx(np.sqrt(2))
    assert std2[("2024-01-31", "B")] == 0.0
    assert mean3[("2024-02-02", "A")] == 3.0 and std3[("2024-02-02", "A")] == pytest.approx(1.0)
    assert mean3[("2024-04-01", "A")] == pytest.approx(11 / 3)
    # The full window is required: B's missing value, C's missing row and short history give NaN.
    assert np.isnan(mean2[("2024-02-02", "B")]) and np.isnan(mean2[("2024-04-01", "C")])
    assert np.isnan(mean3[("2024-01-31", "A")])
    partial = FeatureEngineer(FeatureConfig(lag_periods=[1], rolling_windows=[3], rolling_min_periods=2))
    g = partial.create_features_panel(tiny)
    assert feature(g, "value_mean_3d")[("2024-02-02", "B")] == 2.0  # (3 + 1) / 2, the NaN skipped
    assert feature(g, "value_mean_3d")[("2024-01-31", "A")] == 2.0


def test_calendar_macro_asof_and_feature_names(tiny):
    macro = pd.DataFrame(
        {"vix": [11.0, 12.0, 13.0, 99.0]},
        index=pd.to_datetime(["2024-01-29", "2024-01-31", "2024-03-15", "2024-04-02"]),
    )
    eng = FeatureEngineer(SMALL)
    f = eng.create_features_panel(tiny, macro_data=macro)
    vix = feature(f, "vix")
    assert vix[("2024-01-30", "A")] == 11.0 and vix[("2024-02-02", "B")] == 12.0
    assert vix[("2024-04-01", "C")] == 13.0  # 99 is dated after 04-01: never used
    assert feature(f, "month_of_year")[("2024-04-01", "A")] == 4 and feature(f, "quarter")[("2024-04-01", "A")] == 2
    assert eng.feature_names == list(f.columns)
    families = [r"_rank$", r"_sector_rank$", r"_x_", r"_lag\d+d$", r"_mean_\d+d$", r"_std_\d+d$"]
    assert all(any(re.search(p, c) for c in f.columns) for p in families)
    late = feature(eng.create_features_panel(tiny, macro_data=macro.iloc[1:]), "vix")
    assert np.isnan(late[("2024-01-30", "A")]) and late[("2024-01-31", "A")] == 12.0  # nothing known yet


def test_sectors_argument_matches_sector_column(tiny):
    eng = FeatureEngineer(SMALL)
    with_column = eng.create_features_panel(tiny)
    mapping = pd.Series({"A": "tech", "B": "tech", "C": "fin"})
    as_series = eng.create_features_panel(tiny.drop(columns="sector"), sectors=mapping)
    as_frame = eng.create_features_panel(
        tiny.drop(columns="sector"), sectors=pd.DataFrame({"ticker": mapping.index, "sector": mapping.values})
    )
    pd.testing.assert_frame_equal(as_series, with_column)
    pd.testing.assert_frame_equal(as_frame, with_column)
    no_sectors = eng.create_features_panel(tiny.drop(columns="sector"))
    assert not any(c.endswith("_sector_rank") for c in no_sectors.columns)


def test_single_date_filters_by_target_date_and_equals_panel():
    raw = random_raw_panel()
    macro = random_macro(raw.index.get_level_values("date"))
    eng = FeatureEngineer(SMALL)
    panel = eng.create_features_panel(raw, macro)
    for t in raw.index.get_level_values("date").unique():
        single = eng.create_features(raw, macro, target_date=t)
        assert set(single.index.get_level_values("date")) == {t}
        pd.testing.assert_frame_equal(single, panel.loc[[t]], check_exact=True)
    t = raw.index.get_level_values("date").unique()[20]
    part = eng.create_features_panel(raw, macro, start=t, end=t + pd.Timedelta(days=6))
    pd.testing.assert_frame_equal(part, panel.loc[t : t + pd.Timedelta(days=6)], check_exact=True)
    assert eng.create_features(raw, macro, target_date=None).equals(panel)


def test_default_config_panel_equals_single_date():
    raw = random_raw_panel(n_dates=90, n_symbols=8, seed=3, columns=FeatureConfig().interaction_columns)
    eng = FeatureEngineer()
    panel = eng.create_features_panel(raw)
    # 6 columns x (rank, sector rank, 3 lags, 3 means) + 4 x 3 stds (not quality, growth) + 15 pairs + calendar
    assert len(eng.feature_names) == 6 * (2 + 3 + 3) + 4 * 3 + 15 + 2
    for t in raw.index.get_level_values("date").unique()[[0, 20, 62, 63, 89]]:
        pd.testing.assert_frame_equal(eng.create_features(raw, target_date=t), panel.loc[[t]], check_exact=True)


def test_invalid_inputs_raise(tiny):
    eng = FeatureEngineer(SMALL)
    with pytest.raises(ValueError, match="no rows on 2024-02-03"):
        eng.create_features(tiny, target_date=date(2024, 2, 3))
    with pytest.raises(ValueError, match="duplicate"):
        eng.create_features_panel(pd.concat([tiny, tiny.iloc[:1]]))
    with pytest.raises(ValueError, match="infinite"):
        eng.create_features_panel(tiny.assign(value=np.inf))
    with pytest.raises(ValueError, match="MultiIndex"):
        eng.create_features_panel(tiny.reset_index())
    with pytest.raises(ValueError, match="clash"):
        eng.create_features_panel(tiny, macro_data=pd.DataFrame({"quarter": [1.0]}, index=DATES[:1]))


@pytest.mark.parametrize("window,min_periods,first", [(1, None, 0), (3, None, 0), (4, 2, 0), (5, None, 7), (3, 1, 4)])
def test_rolling_mean_std_matches_a_direct_computation(window, min_periods, first):
    rng = np.random.default_rng(window)
    x = rng.normal(size=(130, 25))  # 130 series (more than one block), 25 steps
    x[rng.random(x.shape) < 0.1] = np.nan
    mean, std = rolling_mean_std(x, window, min_periods, first)
    padded = np.concatenate([np.full((130, window - 1), np.nan), x], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, first:]
    count = np.sum(~np.isnan(windows), axis=2)
    with warnings.catch_warnings():  # all-NaN windows: "Mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        want_mean = np.where(count >= (min_periods or window), np.nanmean(windows, axis=2), np.nan)
        want_std = np.where(count >= max(2, min_periods or window), np.nanstd(windows, axis=2, ddof=1), np.nan)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(std, want_std, rtol=1e-12, atol=1e-14)
    pandas = pd.DataFrame(x.T).rolling(window, min_periods=min_periods or window)
    np.testing.assert_allclose(std, pandas.std().to_numpy().T[:, first:], rtol=1e-8, atol=1e-10)


@st.composite
def panel_and_change(draw):
    """A small raw panel (values with ties and NaN), a date t, and a copy changed after t."""
    n_dates, n_symbols = draw(st.integers(3, 8)), draw(st.integers(2, 4))
    cells = st.sampled_from([np.nan, -1.5, 0.0, 1.0, 2.0, 3.25])
    values = draw(hnp.arrays(np.float64, (n_dates * n_symbols, 2), elements=cells))
    present = np.array(draw(st.lists(st.booleans(), min_size=n_dates * n_symbols, max_size=n_dates * n_symbols)))
    dates = pd.bdate_range("2024-03-01", periods=n_dates)
    idx = pd.MultiIndex.from_product([dates, list("ABCD"[:n_symbols])], names=["date", "symbol"])
    raw = pd.DataFrame(values, index=idx, columns=["value", "momentum"])
    raw["sector"] = ["x" if s in "AB" else "y" for s in idx.get_level_values("symbol")]
    present[0] = True
    raw = raw[present]
    t = draw(st.sampled_from(sorted(set(raw.index.get_level_values("date")))))
    after = raw.index.get_level_values("date") > t
    changed = raw.copy()
    changed.loc[after, ["value", "momentum"]] = draw(hnp.arrays(np.float64, (int(after.sum()), 2), elements=cells))
    changed.loc[after, "sector"] = "z"
    extra_date = dates[-1] + pd.offsets.BDay(draw(st.integers(1, 3)))
    extra = pd.DataFrame(
        {"value": [9.0], "momentum": [-9.0], "sector": ["x"]},
        index=pd.MultiIndex.from_tuples([(extra_date, draw(st.sampled_from("AE")))], names=["date", "symbol"]),
    )
    changed = pd.concat([changed, extra])
    if draw(st.booleans()):  # also delete some later rows
        changed = changed.drop(changed.index[changed.index.get_level_values("date") > t][::2])
    return raw, changed, t, draw(st.sampled_from([None, 1, 2]))


@settings(max_examples=60, deadline=None)
@given(panel_and_change())
def test_changing_inputs_after_t_never_changes_features_for_t(case):
    raw, changed, t, min_periods = case
    eng = FeatureEngineer(FeatureConfig(lag_periods=[1, 2], rolling_windows=[2, 3], rolling_min_periods=min_periods))
    macro = pd.DataFrame({"vix": [10.0, 11.0, 12.0]}, index=[t - pd.Timedelta(days=2), t, t + pd.Timedelta(days=1)])
    later_macro = macro.assign(vix=[10.0, 11.0, 55.0])
    reference = eng.create_features(raw, macro, target_date=t)
    pd.testing.assert_frame_equal(eng.create_features(changed, later_macro, target_date=t), reference, check_exact=True)
    panel = eng.create_features_panel(changed, later_macro)
    pd.testing.assert_frame_equal(panel.loc[[t]], reference, check_exact=True)


# The spec's section 3 (``spec_examples``).
SPEC_EXAMPLE = BLOCKS["SECTION_3"]


def test_spec_section_3_example_runs_as_written():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2025-06-02", "2026-02-27")
    symbols = [f"T{i:02d}" for i in range(25)]
    factors = ["value", "momentum", "quality", "growth", "volatility", "technical"]
    idx = pd.MultiIndex.from_product([dates, symbols], names=["date", "symbol"])
    stock_data_df = pd.DataFrame(rng.random((len(idx), len(factors))), index=idx, columns=factors)
    stock_data_df["sector"] = [f"s{int(s[1:]) % 4}" for s in idx.get_level_values("symbol")]
    macro_df = pd.DataFrame({"fed_funds": rng.normal(4, 0.1, len(dates))}, index=dates)
    daily_returns_df = pd.DataFrame(rng.normal(0, 0.01, (len(dates), 25)), index=dates, columns=symbols)
    market_data_df = pd.DataFrame(
        {
            "sp500_close": 5000 * np.cumprod(1 + rng.normal(0, 0.01, len(dates))),
            "vix": 15 + rng.random(len(dates)),
            "vix_3m": 17.0,
            "yield_10y": 4.2,
            "yield_2y": 3.9,
            "hy_spread": 3.1,
            "ig_spread": 1.0,
            "advance_decline": rng.uniform(-1, 1, len(dates)),
            "pct_above_200sma": 0.6,
            "put_call_ratio": np.nan,
        },
        index=dates,
    )
    ns = {
        "stock_data_df": stock_data_df,
        "macro_df": macro_df,
        "daily_returns_df": daily_returns_df,
        "market_data_df": market_data_df,
    }
    exec(SPEC_EXAMPLE, ns)
    features, target, regime = ns["features"], ns["target"], ns["regime_features"]
    t = pd.Timestamp("2026-01-15")
    assert set(features.index.get_level_values("date")) == {t} and len(features) == 25
    assert ns["feature_names"] == list(features.columns) and "fed_funds" in features.columns
    assert {"value_lag21d", "momentum_std_63d", "value_x_momentum", "growth_sector_rank"} <= set(features.columns)
    assert features.notna().all().all()
    assert sorted(target.value_counts().to_dict().items()) == [(1.0, 5), (2.0, 5), (3.0, 5), (4.0, 5), (5.0, 5)]
    assert list(regime.index) == [t] and regime["put_call_ratio"].isna().all()
    later = stock_data_df.index.get_level_values("date") > t
    shuffled = stock_data_df.copy()
    shuffled.loc[later, factors] = rng.random((int(later.sum()), len(factors)))
    again = ns["engineer"].create_features(shuffled, macro_df, target_date=date(2026, 1, 15))
    pd.testing.assert_frame_equal(again, features, check_exact=True)


def test_rank_only_columns_and_regime_interactions():
    """Sub-factors get only a date rank; regime interactions are (rank - 0.5) x the date's state;
    both are identical on the panel and the single-date path (point in time)."""
    raw = random_raw_panel(n_dates=30, n_symbols=9, seed=7, columns=("value", "momentum", "beta"))
    dates = raw.index.get_level_values("date").unique()
    rng = np.random.default_rng(2)
    macro = pd.DataFrame(
        {"sp500_return_60d": rng.normal(0, 0.05, len(dates)), "vix": rng.normal(20, 3, len(dates))}, index=dates
    )
    cfg = FeatureConfig(
        lag_periods=[1],
        rolling_windows=[2],
        rank_only_columns=["beta"],
        regime_interaction_columns=["value", "beta"],
        regime_state_columns=["sp500_return_60d", "absent"],
    )
    eng = FeatureEngineer(cfg)
    panel = eng.create_features_panel(raw, macro)
    names = list(panel.columns)
    assert "beta_rank" in names and not any(
        n.startswith("beta_") and n != "beta_rank" and "_x_" not in n for n in names
    )
    assert names[-2:] == ["value_x_sp500_return_60d", "beta_x_sp500_return_60d"]
    state = macro["sp500_return_60d"].reindex(panel.index.get_level_values("date")).to_numpy()
    np.testing.assert_allclose(panel["beta_x_sp500_return_60d"], (panel["beta_rank"] - 0.5) * state)
    ranks = raw["beta"].groupby(level="date").rank(method="average")
    count = raw["beta"].groupby(level="date").transform("count")
    np.testing.assert_allclose(panel["beta_rank"], ((ranks - 1) / (count - 1)).reindex(panel.index))
    for t in dates[[0, 10, 29]]:
        pd.testing.assert_frame_equal(eng.create_features(raw, macro, target_date=t), panel.loc[[t]], check_exact=True)
    off = FeatureEngineer(
        FeatureConfig(lag_periods=[1], rolling_windows=[2], rank_only_columns=[], include_regime_interactions=False)
    ).create_features_panel(raw, macro)
    assert "beta_lag1d" in off.columns and not any(c.endswith("_x_sp500_return_60d") for c in off.columns)


def test_step_columns_get_a_rolling_mean_but_no_rolling_std():
    """Quality and growth (quarterly fundamentals, flat between filings) get no ``_std_``: the std
    of a step function only says whether a filing fell in the window. Every other column is
    unchanged, and the single-date path agrees."""
    raw = random_raw_panel(columns=("value", "quality", "growth"))
    cfg = FeatureConfig(lag_periods=[1], rolling_windows=[2, 5])
    assert cfg.step_columns == ["quality", "growth"]  # the default
    stepless = FeatureEngineer(cfg).create_features_panel(raw)
    every = FeatureEngineer(
        FeatureConfig(lag_periods=[1], rolling_windows=[2, 5], step_columns=[])
    ).create_features_panel(raw)
    dropped = [f"{c}_std_{w}d" for w in (2, 5) for c in ("quality", "growth")]
    assert set(every.columns) - set(stepless.columns) == set(dropped)
    assert {"quality_mean_5d", "growth_mean_2d", "value_std_2d", "value_std_5d"} <= set(stepless.columns)
    pd.testing.assert_frame_equal(stepless, every[[c for c in every.columns if c not in dropped]])
    t = stepless.index.get_level_values("date")[-1]
    single = FeatureEngineer(cfg).create_features(raw, target_date=t)
    pd.testing.assert_frame_equal(single, stepless.loc[[t]], check_exact=True)
