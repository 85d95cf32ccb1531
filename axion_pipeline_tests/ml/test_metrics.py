import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.ml import metrics as M


def test_per_date_ic_hand_computed():
    dates = ["d1"] * 4 + ["d2"] * 4
    scores = [1, 2, 3, 4, 1, 2, 3, 4]
    outcomes = [10, 20, 30, 40, 4, 3, 2, 1]
    ic = M.per_date_ic(scores, outcomes, dates)
    assert ic.to_dict() == pytest.approx({"d1": 1.0, "d2": -1.0})


def test_per_date_ic_matches_scipy_with_ties_and_nan():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, 30).astype(float)  # many ties
    o = rng.normal(size=30)
    o[[2, 7]] = np.nan
    d = np.repeat(["a", "b", "c"], 10)
    ic = M.per_date_ic(s, o, d)
    for name in "abc":
        mask = (d == name) & ~np.isnan(o)
        assert ic[name] == pytest.approx(stats.spearmanr(s[mask], o[mask]).statistic)


def test_per_date_ic_omits_undefined_dates():
    # d2: constant score; d3: fewer than min_obs valid rows
    ic = M.per_date_ic([1, 2, 3, 5, 5, 5, 1, 2], [1, 2, 3, 1, 2, 3, 1, np.nan], ["d1"] * 3 + ["d2"] * 3 + ["d3"] * 2)
    assert list(ic.index) == ["d1"]


def test_ic_summary_hand_computed():
    ic = pd.Series([0.1, 0.2, 0.3, -0.1])
    out = M.ic_summary(ic)
    assert out["ic_mean"] == pytest.approx(0.125)
    assert out["ic_std"] == pytest.approx(np.std([0.1, 0.2, 0.3, -0.1], ddof=1))
    assert out["icir"] == pytest.approx(0.125 / out["ic_std"])
    assert out["hit_rate"] == 0.75
    assert out["ic_pvalue"] == pytest.approx(stats.ttest_1samp(ic, 0.0).pvalue)
    assert np.isnan(M.ic_summary(pd.Series([0.1]))["ic_pvalue"])


def test_newey_west_widens_the_error_of_autocorrelated_ics():
    rng = np.random.default_rng(0)
    overlapping = pd.Series(rng.normal(size=400)).rolling(20).mean().dropna() + 0.02
    plain = M.ic_summary(overlapping)
    nw = M.ic_summary(overlapping, newey_west_lags=19)
    assert abs(nw["ic_tstat"]) < abs(plain["ic_tstat"]) / 2
    assert nw["ic_pvalue"] > plain["ic_pvalue"]


def test_quantile_spread_hand_computed():
    spread = M.quantile_spread(np.arange(1, 11), np.arange(1, 11) * 1.0, ["d"] * 10, num_quantiles=5)
    assert spread["d"] == pytest.approx(9.5 - 1.5)


def test_classification_metrics_are_precisions():
    truth = [1, 1, 5, 5, 3, 5]
    pred = [1, 5, 5, 5, 3, 1]
    out = M.classification_metrics(truth, pred, 5)
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["top_quintile_accuracy"] == pytest.approx(2 / 3)  # predicted 5 three times, right twice
    assert out["bottom_quintile_accuracy"] == pytest.approx(1 / 2)
    assert out["n_predicted_top"] == 3 and out["n_predicted_bottom"] == 2


def test_a_class_never_predicted_has_precision_zero_with_its_count():
    out = M.classification_metrics([1, 2, 5, 5], [2, 2, 3, 3], 5)  # never predicts 1 or 5
    assert out["top_quintile_accuracy"] == 0.0 and out["n_predicted_top"] == 0
    assert out["bottom_quintile_accuracy"] == 0.0 and out["n_predicted_bottom"] == 0
    assert np.isnan(M.classification_metrics([], [], 5)["top_quintile_accuracy"])  # no rows: unknown


def test_percentile_rank_by_date():
    out = M.percentile_rank_by_date([3.0, 1.0, 2.0, 7.0, np.nan], ["a", "a", "a", "b", "b"])
    assert out[:4].tolist() == [1.0, 0.0, 0.5, 0.5]
    assert np.isnan(out[4])


def test_align_to_index_by_label_and_position():
    index = pd.MultiIndex.from_tuples([("2020-01-01", "A"), ("2020-01-01", "B")], names=["date", "symbol"])
    shuffled = pd.Series([2.0, 1.0], index=index[::-1])
    assert M.align_to_index(shuffled, index, "y").tolist() == [1.0, 2.0]
    assert M.align_to_index([5, 6], index, "y").tolist() == [5.0, 6.0]
    with pytest.raises(ValueError, match="3 values for 2 rows"):
        M.align_to_index([1, 2, 3], index, "y")


def test_date_labels():
    idx = pd.MultiIndex.from_product([pd.to_datetime(["2020-01-01"]), ["A"]], names=["date", "symbol"])
    assert M.date_labels(idx) is not None
    assert M.date_labels(pd.RangeIndex(3)) is None


def test_quantile_spread_skips_a_date_without_ranking():
    """A date whose scores are all equal has no top and bottom bucket (row order is no ranking)."""
    scores = np.r_[np.arange(1.0, 11.0), np.full(10, 0.5)]
    outcomes = np.r_[np.arange(1.0, 11.0), np.arange(10.0, 0.0, -1.0)]
    spread = M.quantile_spread(scores, outcomes, ["d1"] * 10 + ["d2"] * 10, num_quantiles=5)
    assert list(spread.index) == ["d1"] and spread["d1"] == pytest.approx(8.0)


def test_single_cross_section_pvalue_is_nan_without_warning_when_a_side_is_constant():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(M.single_cross_section_pvalue([0.5] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]))
        assert np.isnan(M.single_cross_section_pvalue([1.0, 2.0, 3.0, 4.0, 5.0], [2.0] * 5))
    assert M.single_cross_section_pvalue([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 5.0, 4.0]) < 0.2


def test_blend_with_signal_averages_percentiles_within_each_date():
    dates = np.array(["a", "a", "a", "b", "b", "b"])
    model = np.array([0.1, 0.5, 0.9, 3.0, 2.0, 1.0])
    signal = np.array([1.0, 0.0, np.nan, 10.0, 20.0, 30.0])
    out = M.blend_with_signal(model, signal, dates, 0.5)
    # date a: model percentiles 0, 0.5, 1; signal percentiles 1, 0 and missing (model's alone)
    # date b: model 1, 0.5, 0; signal 0, 0.5, 1
    np.testing.assert_allclose(out, [0.5, 0.25, 1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(M.blend_with_signal(model, signal, dates, 0.25)[:2], [0.25, 0.375])
    # no signal or weight 0: the raw model score, untouched
    np.testing.assert_array_equal(M.blend_with_signal(model, None, dates, 0.5), model)
    np.testing.assert_array_equal(M.blend_with_signal(model, signal, dates, 0.0), model)
