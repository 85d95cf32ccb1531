import math

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import DegradationDetector, DriftReport, MonitoringConfig
from axion_pipeline.ml.drift import psi

EPS = 1e-4


def test_two_bin_psi_by_hand():
    # bins=2: edge = median of [1, 2, 3, 4] = 2.5 -> (-inf, 2.5], (2.5, inf); reference 1/2, 1/2
    # current [1, 1, 1, 4] -> 3/4, 1/4; the missing bin is empty on both sides (eps vs eps -> 0)
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert expected == pytest.approx(0.2746530722)
    assert psi([1, 2, 3, 4], [1, 1, 1, 4], n_bins=2) == pytest.approx(expected, abs=1e-12)


def test_three_bin_psi_with_missing_values_by_hand():
    # bins=3 on 1..6: edges at the 1/3 and 2/3 quantiles (2.667, 4.333) -> {1,2}, {3,4}, {5,6}: 1/3 each
    # current [1, 3, 3, 5, NaN, NaN]: 1/6, 2/6, 1/6 and 2/6 missing (reference: 0 -> eps)
    expected = 2 * (1 / 6 - 1 / 3) * math.log((1 / 6) / (1 / 3)) + (2 / 6 - EPS) * math.log((2 / 6) / EPS)
    value = psi([1, 2, 3, 4, 5, 6], [1, 3, 3, 5, np.nan, np.nan], n_bins=3, epsilon=EPS)
    assert value == pytest.approx(expected, abs=1e-12)


def test_values_outside_the_reference_range_fall_in_the_open_outer_bins():
    # edge 2.5; -100 joins the lower bin, +100 the upper one: same shares -> PSI 0
    assert psi([1, 2, 3, 4], [-100, 0, 100, 200], n_bins=2) == pytest.approx(0.0)


def test_constant_reference_column():
    assert psi([5.0] * 8, [5.0] * 4) == 0.0
    # equal / not-equal: reference (1, eps), current (1/2, 1/2)
    expected = (0.5 - 1.0) * math.log(0.5) + (0.5 - EPS) * math.log(0.5 / EPS)
    assert psi([5.0] * 8, [5.0, 5.0, 7.0, 9.0]) == pytest.approx(expected, abs=1e-12)


def test_all_missing_reference_column():
    assert psi([np.nan] * 4, [np.nan] * 2) == 0.0
    # reference: (any value eps, missing 1); current: (1, eps)
    expected = 2 * (1.0 - EPS) * math.log(1.0 / EPS)
    assert psi([np.nan] * 4, [1.0, 2.0]) == pytest.approx(expected, abs=1e-12)


def test_categorical_bins():
    ref = ["a", "a", "b", "b"]
    cur = ["a", "a", "a", "c"]  # b: 1/2 -> eps, a: 1/2 -> 3/4, unseen: eps -> 1/4
    expected = (0.75 - 0.5) * math.log(1.5) + (EPS - 0.5) * math.log(EPS / 0.5) + (0.25 - EPS) * math.log(0.25 / EPS)
    assert psi(ref, cur) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "value, status",
    [(0.0, "ok"), (0.0999, "ok"), (0.10, "warning"), (0.2499, "warning"), (0.25, "drift"), (3.0, "drift")],
)
def test_threshold_classification(value, status):
    assert DegradationDetector().classify(value) == status


def test_report_with_missing_column_and_new_column():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000), "gone": rng.normal(size=2000)})
    cur = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(loc=2.0, size=1000), "extra": 1.0})
    report = DegradationDetector().check_feature_drift(reference_data=ref, current_data=cur)
    assert isinstance(report, DriftReport)
    assert report.missing_features == ["gone"] and report.feature_status["gone"] == "missing"
    assert "gone" not in report.psi_scores and report.new_features == ["extra"]
    assert report.psi_scores["a"] < 0.05 and report.feature_status["a"] == "ok"
    assert report.drifted_features == ["b"] and report.psi_scores["b"] > 1.0
    assert report.drift_share == 0.5 and report.overall_drift
    frame = report.to_frame()
    assert frame["feature"].tolist() == ["gone", "b", "a"] and frame["status"].tolist() == ["missing", "drift", "ok"]


def test_overall_drift_needs_share_above_threshold():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame(rng.normal(size=(1000, 5)), columns=list("abcde"))
    cur = pd.DataFrame(rng.normal(size=(1000, 5)), columns=list("abcde"))
    cur["a"] += 3.0  # 1 of 5 drifted: share 0.2, not above 0.2
    detector = DegradationDetector(MonitoringConfig(drift_share_threshold=0.2))
    assert not detector.check_feature_drift(ref, cur).overall_drift
    cur["b"] += 3.0  # 2 of 5: 0.4
    report = detector.check_feature_drift(ref, cur)
    assert report.overall_drift and sorted(report.drifted_features) == ["a", "b"]


def test_rise_in_missing_values_is_a_coverage_change_and_a_small_one_still_counts_in_the_psi():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(size=1000)})
    cur = pd.DataFrame({"x": np.where(rng.random(1000) < 0.3, np.nan, rng.normal(size=1000))})
    report = DegradationDetector().check_feature_drift(ref, cur)
    assert report.feature_status["x"] == "coverage_change" and not report.overall_drift
    # Below the coverage threshold (5% missing) the missing bin stays part of the PSI.
    cur = pd.DataFrame({"x": np.where(rng.random(1000) < 0.05, np.nan, rng.normal(size=1000))})
    report = DegradationDetector().check_feature_drift(ref, cur)
    assert report.feature_status["x"] in ("warning", "drift")
    assert report.psi_scores["x"] > psi(ref["x"], cur["x"].dropna())


def test_empty_current_data_reports_every_feature_missing():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    report = DegradationDetector().check_feature_drift(ref, ref.iloc[:0])
    assert report.missing_features == ["x"] and not report.overall_drift


def test_empty_reference_is_refused():
    with pytest.raises(ValueError, match="reference_data has no rows"):
        DegradationDetector().check_feature_drift(pd.DataFrame({"x": []}), pd.DataFrame({"x": [1.0]}))


def test_a_coverage_change_is_reported_apart_and_never_makes_overall_drift():
    from axion_pipeline.ml.drift import DegradationDetector

    rng = np.random.default_rng(0)
    n = 2000
    reference = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    reference.loc[: n // 2, "b"] = np.nan  # a source that covered half of the training window
    current = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)})  # now fully covered
    report = DegradationDetector().check_feature_drift(reference, current)
    assert report.feature_status == {"a": "ok", "b": "coverage_change"}
    assert report.coverage_changes == ["b"] and report.drifted_features == []
    assert not report.overall_drift and report.drift_share == 0.0
    assert report.psi_scores["b"] < 0.1  # the values present are distributed alike
    shifted = current.assign(a=current["a"] + 3.0)
    report = DegradationDetector().check_feature_drift(reference, shifted)
    assert report.drifted_features == ["a"] and report.overall_drift  # 1 of 1 compared feature


# ------------------------------------------------------------------- point masses, small samples
def test_a_point_mass_gets_its_own_bin_by_hand():
    # n_bins=4: 0 holds half the reference (>= 1/4): its own bin; the rest {1, 2, 3, 4} gets
    # round(4 x 0.5) = 2 quantile bins, edge 2.5 -> bins {0}, {1, 2}, {3, 4}, shares 1/2, 1/4, 1/4
    reference = [0, 0, 0, 0, 1, 2, 3, 4]
    assert psi(reference, [0, 0, 1, 4], n_bins=4) == pytest.approx(0.0)
    # current [0, 1, 1, 1]: 1/4, 3/4, 0 (-> eps)
    expected = (
        (0.25 - 0.5) * math.log(0.25 / 0.5)
        + (0.75 - 0.25) * math.log(0.75 / 0.25)
        + (EPS - 0.25) * math.log(EPS / 0.25)
    )
    assert psi(reference, [0, 1, 1, 1], n_bins=4) == pytest.approx(expected, abs=1e-12)


def test_min_per_bin_caps_the_bins_by_the_current_sample_size():
    # 40 current values, at least 20 a bin -> 2 bins (edge: the reference median 50.5): 3/4 and 1/4
    reference = np.arange(1.0, 101.0)
    current = np.r_[np.full(30, 10.0), np.full(10, 90.0)]
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(reference, current, min_per_bin=20) == pytest.approx(expected, abs=1e-12)
    assert psi(reference, current) > 1.0  # 10 bins: 8 of them empty


def with_mass(rng, n: int, share: float, at: float = 0.0, shift: float = 0.0) -> np.ndarray:
    """``share`` of the values exactly ``at``, the rest N(shift, 1) (the mass sits mid-distribution)."""
    x = rng.normal(loc=shift, size=n)
    x[rng.random(n) < share] = at
    return x


def test_an_unchanged_point_mass_feature_does_not_drift_and_a_shift_does():
    """A feature that is exactly 0 on 40% of rows, unchanged, on days of 40 and 300 rows: no drift
    on any of 20 days; the same feature with its mass moved to 80%, or its spread part shifted by
    one standard deviation, drifts on every day."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": with_mass(rng, 20_000, 0.4)})
    detector = DegradationDetector()
    for n in (40, 300):
        same = [detector.check_feature_drift(reference, pd.DataFrame({"x": with_mass(rng, n, 0.4)})) for _ in range(20)]
        assert all(r.feature_status["x"] != "drift" for r in same), n
        assert np.median([r.psi_scores["x"] for r in same]) < 0.05
        more_mass = [
            detector.check_feature_drift(reference, pd.DataFrame({"x": with_mass(rng, n, 0.8)})) for _ in range(20)
        ]
        assert all(r.feature_status["x"] == "drift" for r in more_mass), n
    shifted = [
        detector.check_feature_drift(reference, pd.DataFrame({"x": with_mass(rng, 300, 0.4, shift=1.0)}))
        for _ in range(20)
    ]
    assert all(r.feature_status["x"] == "drift" for r in shifted)


def test_float_noise_on_a_point_mass_is_not_drift():
    """Zeros computed as 1e-17 by another code path (a rolling std of a flat window) stay in the
    mass's bin: with a quantile edge at exactly 0 they crossed it and looked like a full shift."""
    rng = np.random.default_rng(4)
    reference = with_mass(rng, 20_000, 0.4)
    current = with_mass(rng, 300, 0.4)
    noisy = np.where(current == 0.0, 1e-17, current)
    assert psi(reference, noisy) == pytest.approx(psi(reference, current), abs=1e-12)
    assert psi(reference, noisy) < 0.1


# ------------------------------------------------------------------------------------ level shifts
def _dated_panel(rng, levels: np.ndarray, n: int = 300, spreads: np.ndarray | None = None) -> pd.DataFrame:
    """One row per (date, stock): x = the date's level + its spread x N(0, 1), y = N(0, 1)."""
    date = np.repeat(np.arange(len(levels)), n)
    spreads = np.ones(len(levels)) if spreads is None else spreads
    x = levels[date] + spreads[date] * rng.normal(size=date.size)
    return pd.DataFrame({"date": date, "x": x, "y": rng.normal(size=date.size)})


def test_a_day_on_a_level_training_days_had_is_a_level_shift_not_drift():
    """x's level wanders from -3 to 3 and its spread from 0.5 to 2 over 60 training days (a year's
    return in bull and bear markets; a factor times the VIX): a day at level 2.5 is far from the
    pooled reference (PSI >= 0.25) but training had days like it, so it is a level shift and no
    overall drift. A level beyond every training day, a spread beyond them, a new shape, and the
    same day judged without dates are all drift."""
    from axion_pipeline.ml.drift import date_levels

    rng = np.random.default_rng(5)
    spreads = np.tile([0.5, 1.0, 2.0], 20)
    reference = _dated_panel(rng, np.linspace(-3.0, 3.0, 60), n=50, spreads=spreads)
    levels = date_levels(reference[["x", "y"]], reference["date"])
    low, high = levels.of("x").median_range
    assert low == pytest.approx(-3.0, abs=0.5) and high == pytest.approx(3.0, abs=0.5)
    assert levels.of("x").spread_range[1] == pytest.approx(2.0 * 1.349, rel=0.3)  # IQR of N(0, 2)
    detector = DegradationDetector()

    def day(level: float, spread: float = 1.0) -> pd.DataFrame:
        return pd.DataFrame({"x": level + spread * rng.normal(size=300), "y": rng.normal(size=300)})

    seen = detector.check_feature_drift(reference[["x", "y"]], day(2.5), levels=levels)
    assert seen.psi_scores["x"] >= 0.25
    assert seen.feature_status == {"x": "level_shift", "y": "ok"}
    assert seen.level_shifts == ["x"] and seen.drifted_features == [] and not seen.overall_drift
    beyond = detector.check_feature_drift(reference[["x", "y"]], day(6.0), levels=levels)
    assert beyond.feature_status["x"] == "drift" and beyond.overall_drift
    assert detector.check_feature_drift(reference[["x", "y"]], day(2.5, 1.5), levels=levels).level_shifts == ["x"]
    wider = detector.check_feature_drift(reference[["x", "y"]], day(2.5, spread=4.0), levels=levels)
    assert wider.feature_status["x"] == "drift"
    skewed = pd.DataFrame({"x": 1.0 - np.log(2.0) + rng.exponential(size=300), "y": rng.normal(size=300)})
    assert detector.check_feature_drift(reference[["x", "y"]], skewed, levels=levels).feature_status["x"] == "drift"
    undated = detector.check_feature_drift(reference[["x", "y"]], day(2.5))
    assert undated.feature_status["x"] == "drift"


def test_drift_rows_tell_level_shifts_from_drift_per_day():
    """``drift_rows`` with a dated reference: live days on training levels are level shifts on
    every day; the same days moved beyond every training level drift on every day."""
    from axion_pipeline.ml.serving import drift_rows

    rng = np.random.default_rng(6)
    reference = _dated_panel(rng, np.linspace(-3.0, 3.0, 60), n=50)
    live = _dated_panel(rng, np.full(5, 2.5)).assign(date=lambda f: f["date"] + 100)
    rows, last = drift_rows(DegradationDetector(), reference, live)
    x = rows.loc[rows["feature"] == "x"]
    assert len(x) == 5 and (x["status"] == "level_shift").all() and not rows["overall_drift"].any()
    assert last["level_shifts"] == ["x"] and last["drifted_features"] == []
    rows, _ = drift_rows(DegradationDetector(), reference, live.assign(x=live["x"] + 5.0))
    assert (rows.loc[rows["feature"] == "x", "status"] == "drift").all() and rows["overall_drift"].all()


def _all_at_once(reference: pd.DataFrame, dates, min_rows: int = 10):
    """``DateLevels``' figures as computed for every column in one pass (the code before they were
    computed per feature on first use)."""
    numeric = reference.select_dtypes("number").astype("float64")
    keys = pd.Series(np.asarray(dates), index=numeric.index)
    grouped = numeric.groupby(keys)
    q1, median, q3 = (grouped.quantile(q) for q in (0.25, 0.5, 0.75))
    spread = q3 - q1
    usable = (grouped.count() >= min_rows) & (spread > 0)
    median, spread = median.where(usable), spread.where(usable)
    row_median = median.reindex(keys.to_numpy()).set_axis(numeric.index)
    row_spread = spread.reindex(keys.to_numpy()).set_axis(numeric.index)
    return (
        {c: (float(median[c].min()), float(median[c].max())) for c in numeric.columns},
        {c: (float(spread[c].min()), float(spread[c].max())) for c in numeric.columns},
        (numeric - row_median) / row_spread,
    )


def test_date_levels_per_feature_on_first_use_equal_the_all_at_once_figures_to_the_bit():
    """A feature's levels computed alone, when a day's PSI first reaches drift, are those of the
    one pass over every column; the levels of features never asked for are never computed."""
    from axion_pipeline.ml.drift import date_levels

    rng = np.random.default_rng(3)
    reference = _dated_panel(rng, np.linspace(-3.0, 3.0, 40), n=30, spreads=np.tile([0.5, 2.0], 20))
    reference["z"] = np.where(rng.random(len(reference)) < 0.2, np.nan, rng.integers(0, 5, len(reference)))
    reference["k"] = rng.integers(0, 3, len(reference))  # an integer column, cast to float as before
    columns = ["x", "y", "z", "k"]
    levels = date_levels(reference[columns], reference["date"])
    median_range, spread_range, within = _all_at_once(reference[columns], reference["date"])
    assert levels.of("y")[0] == median_range["y"] and not set(levels._done) - {"y"}
    assert {c: levels.of(c).median_range for c in columns} == median_range
    assert {c: levels.of(c).spread_range for c in columns} == spread_range
    each = pd.DataFrame({c: levels.of(c).within for c in columns}, index=reference.index)
    pd.testing.assert_frame_equal(each, within, check_exact=True)
