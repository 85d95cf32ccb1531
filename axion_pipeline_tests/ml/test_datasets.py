"""Walk-forward windows on a trading calendar and the training sets cut from long tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml.config import WalkForwardConfig
from axion_pipeline.ml.datasets import (
    TrainWindow,
    count_dates,
    date_rows,
    factor_returns,
    overlapping_tests,
    plan_walk_forward,
    ranking_rows,
    regime_labels,
    require_finite,
    sample_dates,
    sample_rows,
    window_violations,
)

PROJECT = WalkForwardConfig(n_splits=5, train_size=504, test_size=63, gap=21, validation_size=63, expanding=False)


def calendar(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2013-02-08", periods=n)


def test_project_config_fits_the_real_calendar_length():
    cal = calendar(1259)  # the real data's trading days
    plan = plan_walk_forward(cal, PROJECT, horizon=21, warmup_days=300, live_days=63)
    assert plan.keys == [f"fold_{k}" for k in range(5)]
    last = plan.windows[-1]
    # folds end on the day before the live span; the live span is the calendar's last 63 days
    assert last.test_end == cal[-64] and plan.live_start == cal[-63]
    assert plan.windows[0].train_start >= cal[300]
    for w in plan.windows:
        assert count_dates(cal, w.train_start, w.train_end) == 504
        assert count_dates(cal, w.test_start, w.test_end) == 63
        assert count_dates(cal, w.train_end, w.test_start) - 2 == 21  # trading days strictly between
        assert count_dates(cal, w.fit_end, w.val_start) - 2 == 21
        assert count_dates(cal, w.val_start, w.train_end) == 63
        assert window_violations(cal, w, 21) == []
    assert overlapping_tests(list(plan.windows)) == []
    # consecutive test windows are adjacent
    for a, b in zip(plan.windows, plan.windows[1:]):
        assert count_dates(cal, a.test_end, b.test_start) == 2


def test_production_cutoff_precedes_the_live_span_by_the_gap():
    cal = calendar(1259)
    plan = plan_walk_forward(cal, PROJECT)
    cutoff = plan.production_cutoff
    assert cutoff == cal[1259 - 63 - 21 - 1]
    assert count_dates(cal, cutoff, plan.live_start) - 2 == 21
    prod = plan.production
    assert count_dates(cal, prod.train_start, prod.train_end) == 504
    assert (prod.test_start, prod.test_end) == (cal[-63], cal[-1])
    assert window_violations(cal, prod, 21) == []


@pytest.mark.parametrize("n", [300 + 63 + 839, 500])
def test_a_calendar_too_short_is_refused_with_what_is_needed(n):
    with pytest.raises(ValueError, match=r"need 840 \(train 504 \+ gap 21.*AXION_WF_TRAIN_DAYS"):
        plan_walk_forward(calendar(n), PROJECT)


def test_a_gap_shorter_than_the_label_horizon_is_refused():
    with pytest.raises(ValueError, match="shorter than the label horizon"):
        plan_walk_forward(calendar(1259), WalkForwardConfig(gap=5), horizon=21)


def test_window_violations_name_the_problem():
    cal = calendar(100)
    w = TrainWindow("fold_x", cal[0], cal[40], cal[50], cal[59], cal[70], cal[79])
    problems = window_violations(cal, w, gap=21, fitted=(cal[0], cal[62]), test_dates=[cal[80]])
    text = " | ".join(problems)
    assert "10 trading days between training end" in text
    assert "between the last fitted date and the validation slice" in text
    assert "outside the training window" in text
    # a model refitted with its validation slice ends at train_end: inside the training window
    refit = window_violations(cal, w, gap=21, fitted=(cal[0], cal[59]))
    assert not [p for p in refit if "outside the training window" in p]
    assert "scored dates outside the test window" in text
    overlapping = [w, TrainWindow("fold_y", cal[0], cal[5], None, cal[5], cal[75], cal[90])]
    assert len(overlapping_tests(overlapping)) == 1


def test_sample_dates_keeps_every_nth_counting_back_from_the_last():
    dates = pd.bdate_range("2024-01-01", periods=11)
    kept = sample_dates(np.repeat(dates.to_numpy(), 3), 5)
    assert list(kept) == [dates[0], dates[5], dates[10]]
    assert list(sample_dates(dates, 1)) == list(dates)


@pytest.fixture
def long_tables():
    dates = pd.bdate_range("2024-01-01", periods=4)
    keys = pd.MultiIndex.from_product([dates, ["A", "B", "C"]], names=["date", "ticker"]).to_frame(index=False)
    features = keys.assign(f1=np.arange(12.0), f2=np.arange(12.0) * -1, note="x")
    targets = keys.assign(
        label_date=keys["date"] + pd.Timedelta(days=30),
        fwd_return=np.linspace(-0.1, 0.1, 12),
        label=[1.0, 3.0, 5.0] * 3 + [np.nan] * 3,
    )
    return features, targets


def test_ranking_rows_join_labels_and_keep_only_labelled_dates(long_tables):
    features, targets = long_tables
    X, outcome = ranking_rows(features, targets, "2024-01-02", "2024-01-04")
    assert list(X.columns) == ["f1", "f2"]  # keys and text columns are not model inputs
    assert X.index.names == ["date", "ticker"]
    assert len(X) == 6  # 2024-01-02 and 01-03 labelled, 01-04 not
    assert outcome.loc[(pd.Timestamp("2024-01-02"), "B"), "label"] == 3.0
    X_all, out_all = ranking_rows(features, targets, "2024-01-02", "2024-01-04", labelled_only=False)
    assert len(X_all) == 9 and out_all["label"].isna().sum() == 3
    X_sampled, _ = ranking_rows(features, targets, "2024-01-01", "2024-01-04", every_n=2, labelled_only=False)
    assert sorted(X_sampled.index.get_level_values("date").unique()) == [
        pd.Timestamp("2024-01-02"),
        pd.Timestamp("2024-01-04"),
    ]


def test_ranking_rows_refuse_an_empty_window_and_infinite_inputs(long_tables):
    features, targets = long_tables
    with pytest.raises(ValueError, match="no labelled feature rows dated 2025-01-01"):
        ranking_rows(features, targets, "2025-01-01", "2025-02-01")
    features.loc[4, "f2"] = np.inf
    with pytest.raises(ValueError, match=r"1 infinite values in 1 columns, e.g. \['f2'\]"):
        ranking_rows(features, targets, "2024-01-01", "2024-01-04")


def test_require_finite_accepts_missing_values():
    require_finite(pd.DataFrame({"a": [1.0, np.nan]}), "x")


def test_regime_labels_prefer_the_planted_truth():
    dates = pd.bdate_range("2024-01-01", periods=3)
    truth = pd.DataFrame({"date": dates, "regime": ["bull", "bear", "bull"]})
    rule = pd.DataFrame({"date": dates, "regime": ["sideways", None, "bull"]})
    labels, source = regime_labels(truth, rule)
    assert source == "true_regimes" and list(labels) == ["bull", "bear", "bull"]
    labels, source = regime_labels(truth.iloc[0:0], rule)
    assert source == "market_regime" and list(labels) == ["sideways", "bull"]
    with pytest.raises(ValueError, match="no regime labels"):
        regime_labels(truth.iloc[0:0], rule.assign(regime=None))


def test_date_rows_index_by_date():
    frame = pd.DataFrame({"date": pd.bdate_range("2024-01-01", periods=5), "x": np.arange(5.0)})
    out = date_rows(frame, "2024-01-02", "2024-01-04", "t")
    assert list(out["x"]) == [1.0, 2.0, 3.0] and out.index.name == "date"
    with pytest.raises(ValueError, match="t has no rows dated 2030-01-01"):
        date_rows(frame, "2030-01-01", "2030-02-01", "t")


def test_factor_returns_are_top_minus_bottom_of_the_previous_days_scores():
    dates = pd.bdate_range("2024-01-01", periods=3)
    tickers = list("ABCDE")
    close = pd.DataFrame(
        [[10, 10, 10, 10, 10], [11, 10, 10, 10, 9], [11, 10, 10, 10, 9]], index=dates, columns=tickers, dtype=float
    )
    prices = close.stack().rename("close").rename_axis(["date", "ticker"]).reset_index()
    scores = pd.DataFrame({"date": np.repeat(dates, 5), "ticker": tickers * 3, "value": [5, 4, 3, 2, 1] * 3})
    out = factor_returns(scores, prices, ["value"])
    assert list(out.index) == list(dates[1:])  # the first date has no prior scores
    assert out.loc[dates[1], "value"] == pytest.approx(0.1 - (-0.1))  # A (top) +10%, E (bottom) -10%
    assert out.loc[dates[2], "value"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="lacks the categories"):
        factor_returns(scores, prices, ["momentum"])


def test_sample_rows_is_seeded_and_keeps_order():
    frame = pd.DataFrame({"x": np.arange(100)})
    a, b = sample_rows(frame, 10, seed=3), sample_rows(frame, 10, seed=3)
    assert a.equals(b) and len(a) == 10 and a["x"].is_monotonic_increasing
    assert len(sample_rows(frame, 1000)) == 100


def test_ranking_rows_sort_shuffled_tables_and_refuse_duplicate_keys(long_tables):
    features, targets = long_tables
    expected_X, expected_out = ranking_rows(features, targets, "2024-01-01", "2024-01-04")
    shuffled_f = features.sample(frac=1.0, random_state=3)
    shuffled_t = targets.sample(frac=1.0, random_state=4)
    X, outcome = ranking_rows(shuffled_f, shuffled_t, "2024-01-01", "2024-01-04")
    assert X.index.is_monotonic_increasing
    pd.testing.assert_frame_equal(X, expected_X)
    pd.testing.assert_frame_equal(outcome, expected_out)
    assert (
        outcome["fwd_return"].to_numpy() == targets.set_index(["date", "ticker"]).loc[X.index, "fwd_return"].to_numpy()
    ).all()
    with pytest.raises(ValueError, match="features dated .* duplicate"):
        ranking_rows(pd.concat([features, features.iloc[[0]]]), targets, "2024-01-01", "2024-01-04")
    with pytest.raises(ValueError, match="targets hold duplicate"):
        ranking_rows(features, pd.concat([targets, targets.iloc[[0]]]), "2024-01-01", "2024-01-04")


def test_ranking_dates_name_the_rows_a_window_uses_and_reading_only_them_changes_nothing():
    from axion_pipeline.ml.datasets import TrainWindow, ranking_dates

    dates = pd.bdate_range("2024-01-01", periods=30)
    keys = pd.MultiIndex.from_product([dates, ["A", "B"]], names=["date", "ticker"]).to_frame(index=False)
    features = keys.assign(f1=np.arange(60.0))
    targets = keys.assign(fwd_return=0.01, label=1.0)
    # fit 0..11, validation 14..17, test 22..27 (gaps between)
    window = TrainWindow("w", dates[0], dates[11], dates[14], dates[17], dates[22], dates[27])
    chosen = ranking_dates(features["date"], window, every_n=3)
    assert list(chosen) == [*dates[[2, 5, 8, 11]], *dates[14:18], *dates[22:28]]
    subset = features.loc[features["date"].isin(chosen)]
    expected = ranking_rows(features, targets, window.train_start, window.fit_end, every_n=3)
    got = ranking_rows(subset, targets, window.train_start, window.fit_end, every_n=3, dates=chosen)
    pd.testing.assert_frame_equal(got[0], expected[0])
    pd.testing.assert_frame_equal(got[1], expected[1])
    # without ``dates`` the pre-read subset would be sampled a second time
    resampled, _ = ranking_rows(subset, targets, window.train_start, window.fit_end, every_n=3)
    assert len(resampled) < len(expected[0])
    no_validation = TrainWindow("v", dates[0], dates[11], None, dates[11], dates[22], dates[27])
    assert list(ranking_dates(dates, no_validation, every_n=1)) == [*dates[:12], *dates[22:28]]


def test_ranking_rows_name_missing_target_columns(long_tables):
    features, targets = long_tables
    with pytest.raises(ValueError, match=r"targets lack the columns \['fwd_return'\]"):
        ranking_rows(features, targets.drop(columns="fwd_return"), "2024-01-01", "2024-01-04")
