"""Cross-sectional ranks and rank ICs: the one implementation against scipy, pandas and the
formulas it replaced.

The ``_old_*`` functions below are the three percentile ranks (factors.base, ml.feature_transforms,
ml.metrics) and the three per-date rank ICs (ml.metrics, analytics.tearsheet,
data.simulator.diagnostics) the library had before ``axion_pipeline.analytics.cross_section``,
copied verbatim; the new code must give the same bits on inputs with ties, NaN, +-inf, all-NaN
dates, constant dates and single-row dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata

from axion_pipeline.analytics.cross_section import (
    average_ranks,
    group_columns,
    percentile_rank_rows,
    rank_correlation_rows,
    rank_ic_rows,
)
from axion_pipeline.analytics.tearsheet import compute_tear_sheet
from axion_pipeline.data.simulator import forward_rank_ic
from axion_pipeline.factors import percentile_rank
from axion_pipeline.ml.metrics import per_date_ic, percentile_rank_by_date

NAN = np.nan


# --------------------------------------------------------------------------- the replaced formulas
def _old_rank_rows(values, ascending=True):  # factors.base.rank_rows
    a = np.asarray(values, dtype="float64")
    valid = np.isfinite(a)
    key = np.where(valid, a if ascending else -a, np.inf)
    n_cols = key.shape[1]
    ranks = np.full(key.shape, np.nan)
    if n_cols == 0:
        return ranks
    order = np.argsort(key, axis=1)
    ks = np.take_along_axis(key, order, axis=1)
    avg = np.broadcast_to(np.arange(1, n_cols + 1, dtype="float64"), key.shape).copy()
    tied = np.zeros(key.shape, dtype=bool)
    tied[:, 1:] = (ks[:, 1:] == ks[:, :-1]) & np.isfinite(ks[:, 1:])
    rows = np.flatnonzero(tied.any(axis=1))
    if len(rows):
        sub_pos = avg[rows]
        starts = ~tied[rows]
        ends = np.ones(starts.shape, dtype=bool)
        ends[:, :-1] = starts[:, 1:]
        first = np.maximum.accumulate(np.where(starts, sub_pos, 0.0), axis=1)
        last = np.minimum.accumulate(np.where(ends, sub_pos, n_cols + 1.0)[:, ::-1], axis=1)[:, ::-1]
        avg[rows] = (first + last) / 2.0
    np.put_along_axis(ranks, order, avg, axis=1)
    ranks[~valid] = np.nan
    return ranks


def _old_factor_percentile_rank(values: pd.DataFrame, higher_is_better=True):  # factors.base.percentile_rank
    a = values.to_numpy(dtype="float64")
    ranks = _old_rank_rows(a, ascending=higher_is_better)
    valid = np.isfinite(a)
    n = valid.sum(axis=1, keepdims=True).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (ranks - 1.0) / np.where(n > 1, n - 1.0, np.nan)
    pct = np.where((n == 1) & valid, 0.5, pct)
    return pd.DataFrame(pct, index=values.index, columns=values.columns)


def _old_percentile_rank_rows(x, groups=None):  # ml.feature_transforms.percentile_rank_rows
    if groups is None:
        rank = pd.DataFrame(x).rank(axis=1, method="average").to_numpy()
        count = np.sum(~np.isnan(x), axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(count > 1, (rank - 1.0) / (count - 1.0), 0.5)
        pct[np.isnan(x)] = np.nan
        return pct
    n_rows, n_cols = x.shape
    valid = ~np.isnan(x) & (groups >= 0)
    g = np.where(valid, groups, np.iinfo(np.int32).max).astype(np.int32)
    order = np.argsort(x, axis=1, kind="stable")
    order = np.take_along_axis(order, np.argsort(np.take_along_axis(g, order, 1), axis=1, kind="stable"), 1)
    xs, gs = np.take_along_axis(x, order, 1).ravel(), np.take_along_axis(g, order, 1).ravel()
    pos = np.arange(xs.size)
    new_group = np.ones(xs.size, dtype=bool)
    new_group[1:] = (gs[1:] != gs[:-1]) | (pos[1:] % n_cols == 0)
    new_run = new_group.copy()
    new_run[1:] |= xs[1:] != xs[:-1]
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    group_id = np.cumsum(new_group) - 1
    size = np.bincount(group_id)[group_id]
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], xs.size) - 1
    run_id = np.cumsum(new_run) - 1
    rank0 = (run_start + run_end)[run_id] / 2.0 - group_start
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(size > 1, rank0 / (size - 1), 0.5)
    out = np.empty(x.shape)
    np.put_along_axis(out, order, pct.reshape(x.shape), 1)
    out[~valid] = np.nan
    return out


def _old_percentile_rank_by_date(values, dates=None):  # ml.metrics.percentile_rank_by_date
    v = pd.Series(np.asarray(values, dtype=float))
    if dates is None:
        groups = pd.Series(np.zeros(len(v), dtype=int))
    else:
        groups = pd.Series(np.asarray(dates))
    rank = v.groupby(groups.values).rank(method="average")
    n = v.notna().groupby(groups.values).transform("sum")
    out = (rank - 1.0) / (n - 1.0)
    out[(n == 1) & v.notna()] = 0.5
    return out.to_numpy(dtype=float)


def _old_per_date_ic(scores, outcomes, dates=None, min_obs=3):  # ml.metrics.per_date_ic
    s = np.asarray(scores, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    d = np.full(len(s), "all", dtype=object) if dates is None else np.asarray(dates)
    frame = pd.DataFrame({"date": d, "s": s, "o": o}).dropna()
    if frame.empty:
        return pd.Series(dtype=float, name="ic")
    grouped = frame.groupby("date", sort=True)
    frame["rs"] = grouped["s"].rank()
    frame["ro"] = grouped["o"].rank()
    frame["rs"] -= frame.groupby("date")["rs"].transform("mean")
    frame["ro"] -= frame.groupby("date")["ro"].transform("mean")
    sums = pd.DataFrame(
        {
            "n": frame.groupby("date").size(),
            "cov": (frame["rs"] * frame["ro"]).groupby(frame["date"]).sum(),
            "vs": (frame["rs"] ** 2).groupby(frame["date"]).sum(),
            "vo": (frame["ro"] ** 2).groupby(frame["date"]).sum(),
        }
    )
    valid = (sums["n"] >= min_obs) & (sums["vs"] > 0) & (sums["vo"] > 0)
    sums = sums[valid]
    ic = sums["cov"] / np.sqrt(sums["vs"] * sums["vo"])
    ic.index.name = "date"
    return ic.rename("ic")


def _old_forward_rank_ic(scores, close, horizon=21, min_names=10):  # data.simulator.diagnostics
    close = close.sort_index()
    forward = close.shift(-horizon) / close - 1.0
    scores = scores.reindex(index=forward.index, columns=forward.columns)
    valid = scores.notna() & forward.notna()
    a = scores.where(valid).rank(axis=1)
    b = forward.where(valid).rank(axis=1)
    a = a.sub(a.mean(axis=1), axis=0)
    b = b.sub(b.mean(axis=1), axis=0)
    denom = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    ic = (a * b).sum(axis=1) / denom.where(denom > 0)
    return ic[valid.sum(axis=1) >= min_names].dropna()


def _old_tearsheet_rank_rows(arr, mask):  # analytics.tearsheet._rank_rows
    mask = mask & np.isfinite(arr)
    keyed = np.where(mask, arr, np.inf)
    order = np.argsort(keyed, axis=1)
    srt = np.take_along_axis(keyed, order, axis=1)
    width = arr.shape[1]
    pos = np.arange(1, width + 1, dtype="float64")
    new = np.ones(srt.shape, dtype=bool)
    new[:, 1:] = srt[:, 1:] != srt[:, :-1]
    end = np.ones(srt.shape, dtype=bool)
    end[:, :-1] = new[:, 1:]
    start = np.maximum.accumulate(np.where(new, pos, 0.0), axis=1)
    stop = np.minimum.accumulate(np.where(end, pos, width + 1.0)[:, ::-1], axis=1)[:, ::-1]
    ranks = (start + stop) / 2
    ranks[pos[None, :] > mask.sum(axis=1)[:, None]] = np.nan
    out = np.empty_like(ranks)
    np.put_along_axis(out, order, ranks, axis=1)
    return out


def _old_tearsheet_rank_ic(rx, ry, mask):  # analytics.tearsheet._rank_ic
    n = mask.sum(axis=1).astype("float64")
    x, y = np.where(mask, rx, 0.0), np.where(mask, ry, 0.0)
    sx, sy = x.sum(axis=1), y.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = n * (x * y).sum(axis=1) - sx * sy
        den = np.sqrt((n * (x * x).sum(axis=1) - sx * sx) * (n * (y * y).sum(axis=1) - sy * sy))
        ic = num / den
    ic[(den == 0) | (n < 2)] = np.nan
    return ic


# --------------------------------------------------------------------------- realistic inputs
def panel(seed: int, n_dates: int = 60, n_names: int = 40, inf: bool = True) -> np.ndarray:
    """dates x names: rounded values (ties), 10% NaN, an all-NaN date, a one-name date, two-name
    dates, a constant date and (optionally) +-inf cells."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_dates, n_names)).round(1)
    x[rng.random(x.shape) < 0.1] = NAN
    x[3] = NAN
    x[4] = [0.3] + [NAN] * (n_names - 1)
    x[5] = [0.1, 0.2] + [NAN] * (n_names - 2)
    x[6] = 1.5
    if inf:
        x[7, :3] = [np.inf, -np.inf, np.inf]
        x[8, 0] = -np.inf
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("higher", [True, False])
def test_factor_percentile_rank_is_bit_identical_to_the_old_formula(seed, higher):
    frame = pd.DataFrame(panel(seed), index=pd.bdate_range("2024-01-01", periods=60))
    got = percentile_rank(frame, higher)
    pd.testing.assert_frame_equal(got, _old_factor_percentile_rank(frame, higher), check_exact=True)
    assert got.iloc[3].isna().all() and got.iloc[4, 0] == 0.5 and set(got.iloc[5, :2]) == {0.0, 1.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feature_percentile_rank_rows_is_bit_identical_to_the_old_formula(seed):
    x = panel(seed)
    groups = np.random.default_rng(seed).integers(-1, 5, size=x.shape)  # -1: no sector
    groups[9] = 2  # one group holds the whole date
    np.testing.assert_array_equal(percentile_rank_rows(x), _old_percentile_rank_rows(x))
    np.testing.assert_array_equal(percentile_rank_rows(x, groups), _old_percentile_rank_rows(x, groups))


@pytest.mark.parametrize("seed", [0, 1])
def test_percentile_rank_by_date_is_bit_identical_to_the_old_formula(seed):
    x = panel(seed)
    dates = np.repeat(pd.bdate_range("2024-01-01", periods=x.shape[0]).to_numpy(), x.shape[1])
    dates[:7] = np.datetime64("NaT")  # rows without a date
    values = x.ravel()
    rng = np.random.default_rng(seed)
    keep = rng.random(len(values)) < 0.8
    keep[4 * 40] = True  # the one-name date stays
    for v, d in ((values, dates), (values[keep], dates[keep]), (values[keep][::-1], dates[keep][::-1])):
        np.testing.assert_array_equal(percentile_rank_by_date(v, d), _old_percentile_rank_by_date(v, d))
        np.testing.assert_array_equal(percentile_rank_by_date(v), _old_percentile_rank_by_date(v))
    labels = np.array(["b", "a", None, "b", "a", "c"], dtype=object)
    v = np.array([1.0, 2.0, 3.0, np.inf, NAN, 7.0])
    np.testing.assert_array_equal(percentile_rank_by_date(v, labels), _old_percentile_rank_by_date(v, labels))
    np.testing.assert_array_equal(percentile_rank_by_date(v, labels), [0.0, 0.5, NAN, 1.0, NAN, 0.5])


# --------------------------------------------------------------------------- against scipy and pandas
@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from([NAN, -np.inf, -1.0, 0.0, -0.0, 0.5, 1.0, 2.0, 7.0, np.inf]), min_size=5, max_size=5),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_average_ranks_match_scipy(rows, finite_only):
    a = np.array(rows)
    valid = np.isfinite(a) if finite_only else ~np.isnan(a)
    for ascending in (True, False):
        got = average_ranks(a, valid, ascending=ascending)
        for i, row in enumerate(a):
            ok = valid[i]
            want = rankdata(row[ok] if ascending else -row[ok], method="average")
            np.testing.assert_array_equal(got[i, ok], want)
            assert np.isnan(got[i, ~ok]).all()


def test_percentile_rank_rows_matches_pandas_groupby():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, size=(30, 17)).astype(float)  # many ties
    x[rng.random(x.shape) < 0.15] = np.nan
    groups = rng.integers(-1, 3, size=x.shape)  # -1: no group
    long = pd.DataFrame({"x": x.ravel(), "row": np.repeat(np.arange(30), 17), "g": groups.ravel()})
    long.loc[long.g < 0, "g"] = np.nan
    for keys, got in ((["row"], percentile_rank_rows(x)), (["row", "g"], percentile_rank_rows(x, groups))):
        grouped = long.groupby(keys)["x"]
        want = ((grouped.rank() - 1) / (grouped.transform("count") - 1)).where(grouped.transform("count") > 1, 0.5)
        want = want.where(long.x.notna() & long[keys].notna().all(axis=1))
        np.testing.assert_array_equal(got.ravel(), want.to_numpy())


def test_hand_checked_percentile_ranks():
    x = np.array([[3.0, 1.0, 1.0, NAN, np.inf], [NAN, 2.0, NAN, NAN, NAN]])
    np.testing.assert_array_equal(percentile_rank_rows(x), [[2 / 3, 1 / 6, 1 / 6, NAN, 1.0], [NAN, 0.5, NAN, NAN, NAN]])
    np.testing.assert_array_equal(
        percentile_rank_rows(x, inf_as_missing=True, higher_is_better=False),
        [[0.0, 0.75, 0.75, NAN, NAN], [NAN, 0.5, NAN, NAN, NAN]],
    )
    groups = np.array([[0, 0, 1, 1, -1], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(
        percentile_rank_rows(x, groups), [[1.0, 0.0, 0.5, NAN, NAN], [NAN, 0.5, NAN, NAN, NAN]]
    )


def test_empty_and_bad_shapes():
    assert percentile_rank_rows(np.empty((0, 3))).shape == (0, 3)
    assert percentile_rank_rows(np.empty((2, 0))).shape == (2, 0)
    with pytest.raises(ValueError, match="2-D"):
        percentile_rank_rows(np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        percentile_rank_rows(np.ones((2, 3)), np.zeros((3, 2), dtype=int))


# --------------------------------------------------------------------------- rank IC
def outcomes(seed: int, shape) -> np.ndarray:
    """Outcomes correlated with ``panel(seed)``, with their own ties, NaN and +-inf."""
    rng = np.random.default_rng(seed + 100)
    y = np.nan_to_num(panel(seed, inf=False), nan=0.0) * 0.3 + rng.normal(size=shape).round(1)
    y[rng.random(shape) < 0.05] = NAN
    y[10] = 2.0  # constant outcome on a date
    y[11, :4] = [np.inf, -np.inf, 1.0, NAN]
    return y


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_obs", [1, 3, 30])
def test_per_date_ic_is_bit_identical_to_the_old_formula(seed, min_obs):
    x = panel(seed)
    y = outcomes(seed, x.shape)
    dates = np.repeat(pd.bdate_range("2024-01-01", periods=x.shape[0]).to_numpy(), x.shape[1])
    keep = np.random.default_rng(seed).random(x.size) < 0.9
    for s, o, d in ((x.ravel(), y.ravel(), dates), (x.ravel()[keep][::-1], y.ravel()[keep][::-1], dates[keep][::-1])):
        got = per_date_ic(s, o, d, min_obs)
        pd.testing.assert_series_equal(got, _old_per_date_ic(s, o, d, min_obs), check_exact=True)
        pd.testing.assert_series_equal(
            per_date_ic(s, o, None, min_obs), _old_per_date_ic(s, o, None, min_obs), check_exact=True
        )
    assert pd.Timestamp(dates[3 * 40]) not in got.index  # all-NaN date
    labels = np.array(["b", "a", "b", None, "b", "a", "a"], dtype=object)
    s, o = np.array([1.0, 2.0, 3.0, 4.0, 2.0, 1.0, 3.0]), np.array([3.0, 1.0, 2.0, 1.0, 1.0, 2.0, 2.0])
    pd.testing.assert_series_equal(per_date_ic(s, o, labels, 2), _old_per_date_ic(s, o, labels, 2), check_exact=True)
    assert per_date_ic([NAN], [1.0]).empty and _old_per_date_ic([NAN], [1.0]).empty


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_names", [2, 10])
def test_forward_rank_ic_is_bit_identical_to_the_old_formula(seed, min_names):
    x = panel(seed)
    dates = pd.bdate_range("2024-01-01", periods=x.shape[0], name="date")
    tickers = pd.Index([f"T{i:02d}" for i in range(x.shape[1])], name="ticker")
    rng = np.random.default_rng(seed)
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.01, x.shape), axis=0)).round(1), index=dates, columns=tickers
    )
    close.iloc[20:25, :5] = NAN
    close.iloc[30, 0] = 0.0  # a forward return of +inf
    scores = pd.DataFrame(x, index=dates, columns=tickers).iloc[:, ::-1]  # other column order
    for horizon in (1, 5):
        got = forward_rank_ic(scores, close, horizon, min_names)
        pd.testing.assert_series_equal(got, _old_forward_rank_ic(scores, close, horizon, min_names), check_exact=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tear_sheet_ic_is_bit_identical_to_the_old_formula(seed):
    x = panel(seed, inf=False)
    y = outcomes(seed, x.shape)
    used = np.isfinite(x) & np.isfinite(y)
    new = rank_correlation_rows(average_ranks(x, used), average_ranks(y, used), used, one_pass=True)
    old = _old_tearsheet_rank_ic(_old_tearsheet_rank_rows(x, used), _old_tearsheet_rank_rows(y, used), used)
    np.testing.assert_array_equal(new, old)
    np.testing.assert_array_equal(average_ranks(x, used), _old_tearsheet_rank_rows(x, used))


def test_tear_sheet_ic_equals_per_date_ic_to_rounding():
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2024-01-01", periods=80, name="date")
    tickers = pd.Index([f"T{i:02d}" for i in range(30)], name="ticker")
    close = pd.DataFrame(100 * np.exp(np.cumsum(rng.normal(0, 0.01, (80, 30)), axis=0)), index=dates, columns=tickers)
    factors = pd.DataFrame(
        {"date": np.repeat(dates, 30), "ticker": np.tile(tickers, 80), "f": rng.normal(size=2400).round(1)}
    )
    ic = compute_tear_sheet(factors, close, horizons=(1,)).ic
    forward = (close.shift(-1) / close - 1).stack().rename("fwd").reset_index()
    long = factors.merge(forward, on=["date", "ticker"])
    want = per_date_ic(long["f"], long["fwd"], long["date"])
    np.testing.assert_allclose(ic["ic"].to_numpy(), want.reindex(ic["date"]).to_numpy(), rtol=0, atol=1e-15)


def test_hand_checked_rank_ic():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, NAN], [5.0, 5.0, 5.0, 1.0], [1.0, NAN, NAN, NAN]])
    y = np.array([[10.0, 20.0, 30.0, 40.0], [3.0, 2.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    for one_pass in (False, True):
        ic, n = rank_ic_rows(x, y, one_pass=one_pass)
        np.testing.assert_array_equal(n, [4, 3, 4, 1])
        np.testing.assert_allclose(ic[:2], [1.0, -1.0])
        np.testing.assert_allclose(ic[2], -3 / np.sqrt(15))  # ranks (3, 3, 3, 1) against (1, 2, 3, 4)
        assert np.isnan(ic[3])
    ic, _ = rank_ic_rows(x, y, valid=np.array([[True, True, True, False]] * 4))
    np.testing.assert_allclose(ic[:2], [1.0, -1.0])
    assert np.isnan(rank_ic_rows(np.ones((1, 3)), np.arange(3.0)[None])[0][0])  # constant side


def test_group_columns_lays_long_rows_out_by_group():
    codes = np.array([2, 0, 2, 2, 0])
    columns, width = group_columns(codes, 4)
    np.testing.assert_array_equal(columns, [0, 0, 1, 2, 1])
    assert width == 3
    columns, width = group_columns(np.array([], dtype=int), 0)
    assert len(columns) == 0 and width == 0
