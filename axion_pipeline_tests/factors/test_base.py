"""Cross-sectional operations of FactorCalculator: percentile rank, winsorize, z-score, combination."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors import (
    FactorCalculator,
    ValueFactors,
    combine_subfactors,
    percentile_rank,
    winsorize,
    zscore,
)
from axion_pipeline.factors.ops import first_valid, growth_ratio, inverse, relative_change, safe_div, weighted_mean

NAN = np.nan


def test_factor_calculator_is_abstract():
    with pytest.raises(TypeError):
        FactorCalculator()
    calc = ValueFactors()
    for name in ("compute", "percentile_rank", "winsorize", "zscore", "combine_subfactors"):
        assert callable(getattr(calc, name))


@pytest.mark.parametrize(
    "values, higher, expected",
    [
        ([3.0, 1.0, 2.0, NAN], True, [1.0, 0.0, 0.5, NAN]),  # high ROE is good
        ([3.0, 1.0, 2.0, NAN], False, [0.0, 1.0, 0.5, NAN]),  # low P/E is good
        ([1.0, 1.0, 2.0], True, [0.25, 0.25, 1.0]),  # ties share the average rank
        ([5.0, NAN, NAN], True, [0.5, NAN, NAN]),  # a single name sits at the median
        ([1.0, 2.0, 3.0, 4.0, 5.0], False, [1.0, 0.75, 0.5, 0.25, 0.0]),
    ],
)
def test_percentile_rank_series(values, higher, expected):
    out = percentile_rank(pd.Series(values, index=list("abcde")[: len(values)]), higher_is_better=higher)
    np.testing.assert_allclose(out.to_numpy(), expected)


def test_percentile_rank_frame_ranks_each_date_separately():
    df = pd.DataFrame([[1.0, 2.0, 3.0], [30.0, 20.0, NAN], [np.inf, 1.0, 2.0]], columns=list("abc"))
    out = percentile_rank(df)
    np.testing.assert_allclose(out.to_numpy(), [[0.0, 0.5, 1.0], [1.0, 0.0, NAN], [NAN, 0.0, 1.0]])
    # a row ranked alone gives the same numbers as inside the panel
    np.testing.assert_array_equal(percentile_rank(df.iloc[[1]]).to_numpy(), out.iloc[[1]].to_numpy())


def test_winsorize_clips_each_cross_section_to_its_quantiles():
    s = pd.Series(np.arange(101.0))
    w = winsorize(s, 0.05, 0.95)
    assert w.min() == 5.0 and w.max() == 95.0 and w.iloc[50] == 50.0
    df = pd.DataFrame([np.arange(101.0), np.arange(101.0) * 10])
    wd = winsorize(df, 0.05, 0.95)
    assert wd.iloc[0].max() == 95.0 and wd.iloc[1].max() == 950.0 and wd.iloc[1].min() == 50.0
    with pytest.raises(ValueError):
        winsorize(s, 0.9, 0.1)


def test_zscore_per_cross_section():
    z = zscore(pd.Series([1.0, 2.0, 3.0, NAN]))
    np.testing.assert_allclose(z.to_numpy(), [-1.0, 0.0, 1.0, NAN])
    flat = zscore(pd.DataFrame([[2.0, 2.0, NAN], [1.0, 3.0, 5.0]]))
    np.testing.assert_allclose(flat.to_numpy(), [[0.0, 0.0, NAN], [-1.0, 0.0, 1.0]])


def test_combine_subfactors_skips_missing_never_zero_fills():
    scores = pd.DataFrame({"a": [1.0, 0.0, NAN, 0.5], "b": [NAN, 0.5, NAN, 0.5]}, index=list("wxyz"))
    # means: w=1.0 (b skipped), x=0.25, y=NaN (all missing), z=0.5 -> ranks among w, x, z
    out = combine_subfactors(scores)
    np.testing.assert_allclose(out.to_numpy(), [1.0, 0.0, NAN, 0.5])
    # weights: x = (0*3 + 0.5*1)/4 = 0.125 < z = 0.5 < w = 1.0
    out_w = ValueFactors().combine_subfactors(scores, weights={"a": 3.0, "b": 1.0})
    np.testing.assert_allclose(out_w.to_numpy(), [1.0, 0.0, NAN, 0.5])
    # a zero-filled 'b' for w would give w = 0.5, tied with z: that is not what happens
    assert out["w"] > out["z"]


def test_elementwise_helpers():
    num = pd.Series([1.0, 1.0, 1.0, 1.0, NAN])
    den = pd.Series([2.0, 0.0, -4.0, NAN, 1.0])
    np.testing.assert_allclose(safe_div(num, den).to_numpy(), [0.5, NAN, -0.25, NAN, NAN])
    np.testing.assert_allclose(safe_div(num, den, positive_den=True).to_numpy(), [0.5, NAN, NAN, NAN, NAN])
    np.testing.assert_allclose(inverse(pd.Series([4.0, 0.0, -2.0])).to_numpy(), [0.25, NAN, -0.5])
    np.testing.assert_allclose(
        first_valid(pd.Series([NAN, 1.0, NAN]), pd.Series([2.0, 3.0, NAN]), pd.Series([9.0, 9.0, 4.0])).to_numpy(),
        [2.0, 1.0, 4.0],
    )
    np.testing.assert_allclose(growth_ratio(pd.Series([110.0, 5.0]), pd.Series([100.0, -5.0])).to_numpy(), [0.1, NAN])
    np.testing.assert_allclose(relative_change(pd.Series([1.0, -1.0]), pd.Series([-2.0, 0.0])).to_numpy(), [1.5, NAN])


def test_weighted_mean_takes_a_weight_per_date():
    a = pd.DataFrame([[1.0, NAN], [3.0, 4.0]])
    b = pd.DataFrame([[2.0, 2.0], [NAN, NAN]])
    out = weighted_mean({"a": a, "b": b}, {"a": np.array([1.0, 3.0]), "b": 0.5})
    np.testing.assert_array_equal(out.to_numpy(), [[(1.0 + 1.0) / 1.5, 2.0], [3.0, 4.0]])
    per_date = weighted_mean({"a": a, "b": b}, {"a": np.array([2.0, 2.0]), "b": np.array([1.0, 1.0])})
    pd.testing.assert_frame_equal(per_date, weighted_mean({"a": a, "b": b}, {"a": 2.0, "b": 1.0}), check_exact=True)
