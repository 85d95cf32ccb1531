"""Leakage audit: passes on honest features and targets, fails on deliberately leaking ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.universe import member_rows
from axion_pipeline.ml import FeatureConfig, FeatureEngineer
from axion_pipeline.ml.leakage import (
    audit_feature_leakage,
    audit_target_window,
    make_truncating_builder,
    sample_audit_dates,
    truncate_after,
)
from axion_pipeline.ml.targets import target_panel
from axion_pipeline_tests.ml.test_features import random_macro, random_raw_panel

ENGINEER = FeatureEngineer(FeatureConfig(lag_periods=[1, 3], rolling_windows=[2, 5]))


def honest(t, raw, macro):
    if t is None:
        return ENGINEER.create_features_panel(raw, macro)
    return ENGINEER.create_features(raw, macro, target_date=t)


def with_next_value(t, raw, macro):
    """Leaks: tomorrow's value of the factor as a feature."""
    features = honest(t, raw, macro)
    nxt = raw["value"].groupby(level="symbol").shift(-1)
    return features.assign(next_value=nxt.reindex(features.index))


def with_full_sample_zscore(t, raw, macro):
    """Leaks: standardised with the mean and std of the whole history it is given."""
    features = honest(t, raw, macro)
    z = (raw["value"] - raw["value"].mean()) / raw["value"].std()
    return features.assign(value_z=z.reindex(features.index))


@pytest.fixture(scope="module")
def inputs():
    raw = random_raw_panel(n_dates=30, n_symbols=10, seed=11)
    return raw, random_macro(raw.index.get_level_values("date"))


def audit(build, inputs, n=6):
    raw, macro = inputs
    stored = build(None, raw, macro)
    dates = sample_audit_dates(raw.index.get_level_values("date"), n=n, skip_last=1)
    return audit_feature_leakage(make_truncating_builder(build, raw=raw, macro=macro), stored, dates)


def test_feature_audit_passes_on_honest_features(inputs):
    report = audit(honest, inputs)
    assert report.passed and report.mismatches == [] and len(report.checked_dates) == 6
    assert report.n_values_compared > 6 * 8 * 30
    assert report.to_dict()["passed"] is True


@pytest.mark.parametrize("leaky,column", [(with_next_value, "next_value"), (with_full_sample_zscore, "value_z")])
def test_feature_audit_fails_on_a_leaking_feature(inputs, leaky, column):
    report = audit(leaky, inputs)
    assert not report.passed
    assert report.leaking_columns == [column]
    assert {d for d, _ in report.mismatches} == set(report.checked_dates)


def test_feature_audit_reports_missing_rows_and_columns(inputs):
    raw, macro = inputs
    stored = honest(None, raw, macro)
    t = raw.index.get_level_values("date")[-5]
    builder = make_truncating_builder(honest, raw=raw, macro=macro)
    report = audit_feature_leakage(builder, stored.drop(index=stored.loc[[t]].index[0]).drop(columns="vix"), [t])
    assert set(report.mismatches) == {(t, "<rows>"), (t, "vix")}
    gone = audit_feature_leakage(builder, stored.drop(index=stored.loc[[t]].index), [t])
    assert gone.mismatches == [(t, "<missing>")] and not gone.passed
    with pytest.raises(ValueError, match="no sample dates"):
        audit_feature_leakage(builder, stored, [])


def test_truncation_and_date_sampling():
    dates = pd.bdate_range("2024-01-01", periods=11)
    frame = pd.DataFrame({"date": dates, "x": range(11)})
    assert len(truncate_after(frame, dates[3])) == 4
    assert len(truncate_after(frame.set_index("date"), dates[3])) == 4
    assert truncate_after(frame, None) is frame
    assert sample_audit_dates(dates, n=3) == [dates[0], dates[5], dates[10]]
    assert sample_audit_dates(dates, n=3, skip_last=2) == [dates[0], dates[4], dates[8]]
    assert sample_audit_dates(list(dates[:2]) * 3, n=5) == [dates[0], dates[1]]


@pytest.fixture(scope="module")
def returns():
    rng = np.random.default_rng(3)
    data = rng.normal(0, 0.02, size=(60, 8))
    data[rng.random(data.shape) < 0.05] = np.nan
    return pd.DataFrame(data, index=pd.bdate_range("2024-02-01", periods=60), columns=[f"R{i}" for i in range(8)])


def test_target_audit_passes_on_honest_targets(returns):
    dates = sample_audit_dates(returns.index, n=10)  # includes the last dates: window not elapsed
    targets = target_panel(returns, forward_days=5, num_quintiles=5)
    report = audit_target_window(returns, targets, 5, dates)
    assert report.passed and report.n_values_compared == 10 * 8 * 2 * 2
    assert audit_target_window(returns, targets["label"], 5, dates).passed
    with pytest.raises(ValueError, match="nothing to audit"):
        audit_target_window(returns, targets.rename(columns=str.upper), 5, dates)


def test_target_audit_fails_when_the_window_includes_the_return_of_t(returns):
    dates = sample_audit_dates(returns.index, n=10, skip_last=6)
    leaky = target_panel(returns.shift(1), forward_days=5, num_quintiles=5)  # window [t, t+h) instead of (t, t+h]
    report = audit_target_window(returns, leaky, 5, dates)
    assert not report.passed
    assert {"fwd_return", "fwd_return:perturbed", "label", "label:perturbed"} >= set(report.leaking_columns)
    assert "fwd_return" in report.leaking_columns
    long_window = target_panel(returns, forward_days=6, num_quintiles=5)
    assert not audit_target_window(returns, long_window, 5, dates).passed


# ----------------------------------------------------------------------------- index membership
def membership_of(raw) -> pd.DataFrame:
    """Every symbol a member from the first date, except: S01 joins on the 12th date, S02 leaves
    after the 20th and comes back on the 25th, S03 leaves after the 8th."""
    dates = raw.index.get_level_values("date").unique().sort_values()
    symbols = sorted(raw.index.get_level_values("symbol").unique())
    rows = [(s, dates[0], pd.NaT) for s in symbols if s not in ("S01", "S02", "S03")]
    rows += [("S01", dates[11], pd.NaT), ("S02", dates[0], dates[19]), ("S02", dates[24], pd.NaT)]
    rows += [("S03", dates[0], dates[7])]
    return pd.DataFrame(rows, columns=["ticker", "start_date", "end_date"])


def with_members(t, raw, macro, membership):
    """Honest: the factor rows of t's members, membership known at t."""
    return honest(t, member_rows(raw, membership, ticker="symbol"), macro)


def survivors(t, raw, macro, membership):
    """Leaks: keeps on every date the symbols with an open interval, today's constituents
    (survivorship), so a later exit changes earlier cross-sections."""
    alive = membership.loc[membership["end_date"].isna(), "ticker"]
    return honest(t, raw[raw.index.get_level_values("symbol").isin(alive)], macro)


def test_truncating_membership_keeps_everything_known_at_the_cut():
    m = membership_of(random_raw_panel(n_dates=30, n_symbols=6))
    dates = pd.bdate_range("2023-01-02", periods=30)
    cut = truncate_after(m, dates[21])  # S02 left after the 20th date: that end is known; its return is not
    assert len(cut) == len(m) - 1 and not (cut["start_date"] > dates[21]).any()
    assert cut.loc[cut["ticker"] == "S02", "end_date"].tolist() == [dates[19]]


def test_feature_audit_with_membership_passes_honest_and_fails_survivorship(inputs):
    raw, macro = inputs
    membership = membership_of(raw)
    dates = sample_audit_dates(raw.index.get_level_values("date"), n=6, skip_last=1)

    def audit_with(build):
        stored = build(None, raw, macro, membership)
        return audit_feature_leakage(
            make_truncating_builder(build, raw=raw, macro=macro, membership=membership), stored, dates
        )

    honest_report = audit_with(with_members)
    assert honest_report.passed
    stored = with_members(None, raw, macro, membership)
    assert "S01" not in set(stored.loc[dates[0]].index) and "S01" in set(stored.loc[dates[-1]].index)
    leaky = audit_with(survivors)
    assert not leaky.passed and (dates[0], "<rows>") in leaky.mismatches  # S03 is missing from early dates


def test_target_audit_ranks_the_members_of_t(returns):
    membership = pd.DataFrame(
        {"ticker": [f"R{i}" for i in range(8)], "start_date": returns.index[0], "end_date": pd.NaT}
    )
    membership.loc[2, "start_date"] = returns.index[30]  # R2 joins on the 31st day
    dates = sample_audit_dates(returns.index, n=10, skip_last=6)
    targets = target_panel(returns, forward_days=5, num_quintiles=5, membership=membership)
    assert audit_target_window(returns, targets, 5, dates, membership=membership).passed
    # labels ranked among every symbol disagree with the members' ranking before R2 joins
    everyone = target_panel(returns, forward_days=5, num_quintiles=5)
    report = audit_target_window(returns, everyone, 5, dates, membership=membership)
    assert not report.passed and {d for d, _ in report.mismatches} <= {d for d in dates if d < returns.index[30]}
