"""Tear sheet: hand-computed fixtures, then equality with alphalens-reloaded on a shared example."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.analytics.tearsheet import (
    TearSheet,
    compute_tear_sheet,
    forward_returns,
    quantize,
)

DAYS = pd.bdate_range("2024-01-01", periods=4)


@pytest.fixture
def hand() -> tuple[pd.DataFrame, pd.DataFrame]:
    """3 tickers x 4 days. Forward 1-day returns (A, B, C): d0 (.10, -.05, 0), d1 (0, .10, -.10),
    d2 (-.10, 0, .10); d3 has none. Factor ranks (A, B, C): d0 (3, 1, 2), d1 (3, 1, 2), d2 (1, 2, 3)."""
    close = pd.DataFrame(
        {"A": [100, 110, 110, 99], "B": [100, 95, 104.5, 104.5], "C": [100, 100, 90, 99]},
        index=DAYS,
        dtype=float,
    )
    prices = close.stack().rename("close").rename_axis(["date", "ticker"]).reset_index()
    factor = pd.DataFrame({"A": [3, 3, 1, 1], "B": [1, 1, 2, 2], "C": [2, 2, 3, 3]}, index=DAYS, dtype=float)
    factors = factor.stack().rename("f").rename_axis(["date", "ticker"]).reset_index()
    return factors, prices


def test_hand_computed_ic(hand):
    factors, prices = hand
    ts = compute_tear_sheet(factors, prices, horizons=(1,))
    # d0: ranks equal -> 1; d1: return ranks (2, 3, 1), sum d^2 = 6 -> 1 - 6*6/(3*8) = -0.5; d2: 1.
    np.testing.assert_allclose(ts.ic["ic"], [1.0, -0.5, 1.0], atol=1e-12)
    assert list(ts.ic["date"]) == list(DAYS[:3])  # the last day has no forward return
    row = ts.ic_summary.iloc[0]
    assert row["n_dates"] == 3
    assert row["ic_mean"] == pytest.approx(0.5)
    assert row["ic_std"] == pytest.approx(np.sqrt(0.75))  # deviations (.5, -1, .5), ddof 1
    assert row["t_stat"] == pytest.approx(1.0)  # 0.5 / (sqrt(.75) / sqrt(3))
    assert row["p_value"] == pytest.approx(1 - 1 / np.sqrt(3))  # Student t, 2 dof, two-sided
    # one-day returns do not overlap: the Newey-West statistics (0 lags) are the i.i.d. ones
    assert (row["t_stat_iid"], row["p_value_iid"]) == pytest.approx((row["t_stat"], row["p_value"]))
    assert row["icir"] == pytest.approx(0.5 / np.sqrt(0.75))
    assert row["hit_rate"] == pytest.approx(2 / 3)


def test_hand_computed_quantiles_spread_turnover_autocorrelation(hand):
    factors, prices = hand
    ts = compute_tear_sheet(factors, prices, horizons=(1,), quantiles=5)
    q = ts.quantile_returns.set_index("quantile")
    # three names fall in quantiles 1, 3 and 5 (qcut edges at 0, .4, .8, 1.2, 1.6, 2 rank positions)
    assert q.loc[[2, 4], "n_dates"].tolist() == [0, 0]
    assert q.loc[5, "mean_return"] == pytest.approx((0.10 + 0.0 + 0.10) / 3)
    day_means = [0.05 / 3, 0.0, 0.0]
    assert q.loc[5, "mean_demeaned_return"] == pytest.approx((0.10 - day_means[0] + 0 + 0.10) / 3)
    assert q.loc[1, "mean_return"] == pytest.approx((-0.05 + 0.10 - 0.10) / 3)
    spread = ts.spread.iloc[0]
    assert spread["top_minus_bottom"] == pytest.approx((0.15 - 0.10 + 0.20) / 3)
    # Q5 holds A, A, C: turnover 0 then 1; Q1 holds B, B, A; Q3 holds C, C, B.
    turn = ts.turnover.set_index("quantile")
    assert turn.loc[[1, 3, 5], "turnover"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert turn.loc[[2, 4], "turnover"].isna().all()
    # rank autocorrelation: d1 vs d0 = 1, d2 (1, 2, 3) vs d1 (3, 1, 2) = -0.5
    assert ts.rank_autocorrelation["rank_autocorrelation"].iloc[0] == pytest.approx(0.25)


def _nw_tstat_by_hand(x: np.ndarray, lags: int) -> float:
    """mean / sqrt(long-run variance / n), Bartlett weights 1 - j / (lags + 1), 1/n autocovariances;
    without lags the i.i.d. t-statistic (std with ddof 1), as ``ic_summary``."""
    if lags == 0:
        return float(stats.ttest_1samp(x, 0.0).statistic)
    n, e = len(x), x - x.mean()
    gamma = [e[j:] @ e[: n - j] / n for j in range(lags + 1)]
    variance = gamma[0] + 2 * sum((1 - j / (lags + 1)) * gamma[j] for j in range(1, lags + 1))
    return float(x.mean() / np.sqrt(variance / n))


def test_t_stats_of_overlapping_returns_are_newey_west(shared_example):
    """At h > 1 the IC and spread t-statistics use h - 1 Newey-West lags; the i.i.d. ones stay as
    ``t_stat_iid``. Overlapping 21-day returns make consecutive ICs alike: the i.i.d. t is larger."""
    long, close = shared_example
    ts = compute_tear_sheet(long, close, horizons=(1, 5, 21), max_loss=0.5)
    for h in (5, 21):
        ic = ts.ic[ts.ic.horizon == h]["ic"].dropna().to_numpy()
        row = ts.ic_summary.set_index("horizon").loc[h]
        t = _nw_tstat_by_hand(ic, h - 1)
        assert row["t_stat"] == pytest.approx(t, rel=1e-9)
        assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), len(ic) - 1), rel=1e-9)
        assert row["t_stat_iid"] == pytest.approx(stats.ttest_1samp(ic, 0.0).statistic, rel=1e-9)
        assert row["t_stat"] != pytest.approx(row["t_stat_iid"], rel=1e-3)
    at_21 = ts.ic_summary.set_index("horizon").loc[21]
    assert abs(at_21["t_stat_iid"]) > abs(at_21["t_stat"])


def test_quantize_examples():
    labels = quantize(np.array([np.arange(1.0, 11.0), [1, 1, 1, 1, 1, 1, 2, 3, 4, 5]]), 5)
    assert labels[0].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert np.isnan(labels[1]).all()  # edges 1, 1, ... not unique: the whole date drops


@pytest.mark.parametrize("seed", range(5))
def test_quantize_matches_pandas_qcut(seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 12, size=(60, 25)).astype(float)  # many ties and values on the edges
    values[rng.random(values.shape) < 0.15] = np.nan
    values[3] = np.nan
    mine = quantize(values, 5)
    for row, got in zip(values, mine):
        x = pd.Series(row).dropna()
        try:
            expected = (pd.qcut(x, 5, labels=False) + 1).reindex(range(len(row)))
        except ValueError:
            expected = pd.Series(np.nan, index=range(len(row)))
        np.testing.assert_array_equal(got, expected.to_numpy(dtype=float))


def test_forward_returns_labels_end_nan_and_gaps():
    close = pd.DataFrame(
        {"A": [10.0, 11.0, np.nan, 12.1, 13.0], "B": [20.0, 22.0, 24.2, np.nan, np.nan]},
        index=pd.bdate_range("2024-01-01", periods=5),
    )
    fwd = forward_returns(close, horizons=(1, 2)).set_index(["date", "ticker"])
    a, b = fwd.xs("A", level="ticker"), fwd.xs("B", level="ticker")
    assert a["fwd_1d"].iloc[1] == pytest.approx(0.0)  # interior gap carries the last close
    assert a["fwd_2d"].iloc[1] == pytest.approx(12.1 / 11 - 1)
    assert a["fwd_1d"].iloc[-1:].isna().all() and a["fwd_2d"].iloc[-2:].isna().all()  # kept, NaN
    assert len(a) == 5
    assert len(b) == 3 and b["fwd_1d"].iloc[-1:].isna().all()  # no invented returns after the end


def test_forward_returns_use_only_t_to_t_plus_h():
    rng = np.random.default_rng(0)
    close = pd.DataFrame(100 + rng.random((30, 4)), index=pd.bdate_range("2024-01-01", periods=30))
    base = forward_returns(close, horizons=(5,)).set_index(["date", "ticker"])["fwd_5d"]
    changed = close.copy()
    changed.iloc[20:] *= 1.5
    after = forward_returns(changed, horizons=(5,)).set_index(["date", "ticker"])["fwd_5d"]
    cutoff = close.index[20 - 5]  # labels at t <= 14 end at or before day 19
    pd.testing.assert_series_equal(
        base[base.index.get_level_values("date") < cutoff], after[after.index.get_level_values("date") < cutoff]
    )


def test_max_loss_refuses_and_coverage_reports(hand):
    factors, prices = hand
    sparse = factors.copy()
    sparse.loc[sparse.index[:6], "f"] = np.nan
    with pytest.raises(ValueError, match="max_loss"):
        compute_tear_sheet(sparse, prices, horizons=(1,))
    ts = compute_tear_sheet(sparse, prices, horizons=(1,), max_loss=1.0)
    cov = ts.coverage.iloc[0]
    assert cov["n_rows"] == 12 and cov["n_used"] == 3
    assert cov["loss_factor"] == pytest.approx(0.5) and cov["loss_forward"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="empty"):
        compute_tear_sheet(factors.iloc[:0], prices)
    with pytest.raises(ValueError, match="duplicate"):
        compute_tear_sheet(pd.concat([factors, factors.iloc[:1]]), prices)


def test_frames_and_markdown(hand):
    factors, prices = hand
    factors["g"] = -factors["f"]
    ts = compute_tear_sheet(factors, prices, horizons=(1, 2), max_loss=0.5)  # 2 of 4 days have labels
    frames = ts.to_frames()
    assert set(frames) == {
        "ic",
        "ic_summary",
        "quantile_returns",
        "spread",
        "turnover",
        "rank_autocorrelation",
        "coverage",
    }
    for frame in frames.values():
        assert isinstance(frame.index, pd.RangeIndex) and not isinstance(frame.columns, pd.MultiIndex)
    assert set(frames["ic_summary"]["factor"]) == {"f", "g"}
    assert frames["ic"].query("horizon == 1 and factor == 'g'")["ic"].tolist() == pytest.approx([-1, 0.5])
    text = ts.summary_markdown()
    assert text.startswith("| factor |") and text.count("\n") == 1 + 4  # header, rule, 2 x 2 rows


# ---------------------------------------------------------------- equality with alphalens-reloaded

HORIZONS = (1, 5, 21)


@pytest.fixture(scope="module")
def shared_example() -> tuple[pd.DataFrame, pd.DataFrame]:
    """~50 tickers x 120 days: returns load on yesterday's signal; NaN factors, an all-NaN date,
    tied dates (one with non-unique edges), a late-listed ticker and interior price gaps."""
    rng = np.random.default_rng(3)
    n_days, n_tickers = 120, 50
    dates = pd.bdate_range("2021-01-04", periods=n_days)
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    signal = rng.normal(size=(n_days, n_tickers))
    rets = 0.01 * rng.normal(size=(n_days, n_tickers))
    rets[1:] += 0.004 * signal[:-1]
    close = pd.DataFrame(100 * np.exp(np.cumsum(rets, axis=0)), index=dates, columns=tickers)
    close.iloc[:15, 3] = np.nan
    close.iloc[40, 7] = np.nan
    close.iloc[60:62, 9] = np.nan
    factor = pd.DataFrame(signal + 0.5 * rng.normal(size=signal.shape), index=dates, columns=tickers)
    factor[rng.random(factor.shape) < 0.05] = np.nan
    factor.iloc[30] = np.nan
    factor.iloc[50] = np.round(factor.iloc[50])  # ties, edges still unique
    factor.iloc[70, :25] = 0.0  # half the names tied: non-unique edges, date dropped
    long = factor.stack(future_stack=True).rename("alpha").rename_axis(["date", "ticker"]).reset_index()
    return long, close


@pytest.fixture(scope="module")
def alphalens_run(shared_example):
    al = pytest.importorskip("alphalens", reason="alphalens-reloaded (dev dependency) not installed")
    long, close = shared_example
    series = long.set_index(["date", "ticker"])["alpha"].rename_axis(["date", "asset"])
    with contextlib.redirect_stdout(io.StringIO()):
        clean = al.utils.get_clean_factor_and_forward_returns(
            series, close, quantiles=5, periods=HORIZONS, filter_zscore=None, max_loss=0.5
        )
    ours = compute_tear_sheet(long, close, horizons=HORIZONS, quantiles=5, max_loss=0.5)
    return al, clean, ours


def test_alphalens_sample_and_quantiles(alphalens_run):
    _, clean, ours = alphalens_run
    assert ours.coverage["n_used"].iloc[0] == len(clean)
    assert ours.coverage["loss_binning"].iloc[0] > 0  # the tied date is really dropped
    theirs = clean["factor_quantile"].unstack()
    mine = quantize(clean["factor"].unstack(), 5)
    np.testing.assert_array_equal(mine.to_numpy(), theirs.to_numpy(dtype=float))


def test_alphalens_information_coefficient(alphalens_run):
    al, clean, ours = alphalens_run
    ic = al.performance.factor_information_coefficient(clean)
    for h, col in zip(HORIZONS, ic.columns):
        ref = ic[col].dropna()
        mine = ours.ic[ours.ic.horizon == h].set_index("date")["ic"].dropna()
        assert list(mine.index) == list(ref.index)
        np.testing.assert_allclose(mine.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-9)
        summ = ours.ic_summary.set_index("horizon").loc[h]
        test = stats.ttest_1samp(ref, 0.0)
        np.testing.assert_allclose(
            [summ.ic_mean, summ.ic_std, summ.t_stat_iid, summ.p_value_iid],
            [ref.mean(), ref.std(), test.statistic, test.pvalue],
            rtol=1e-9,
            atol=1e-12,
        )


@pytest.mark.parametrize("demeaned", [False, True])
def test_alphalens_mean_return_by_quantile(alphalens_run, demeaned):
    al, clean, ours = alphalens_run
    mean, std_err = al.performance.mean_return_by_quantile(clean, demeaned=demeaned)
    column = "mean_demeaned_return" if demeaned else "mean_return"
    for h, col in zip(HORIZONS, mean.columns):
        mine = ours.quantile_returns[ours.quantile_returns.horizon == h].set_index("quantile")
        np.testing.assert_allclose(mine[column].to_numpy(), mean[col].to_numpy(), rtol=0, atol=1e-9)
        if demeaned:
            np.testing.assert_allclose(mine["std_error"].to_numpy(), std_err[col].to_numpy(), rtol=0, atol=1e-9)


def test_alphalens_spread(alphalens_run):
    al, clean, ours = alphalens_run
    by_date, _ = al.performance.mean_return_by_quantile(clean, by_date=True, demeaned=True)
    half_spread, _ = al.performance.compute_mean_returns_spread(by_date, 5, 1)
    for h, col in zip(HORIZONS, by_date.columns):
        ref = 2 * half_spread[col].dropna()  # alphalens reports (top - bottom) / 2
        mine = ours.spread.set_index("horizon").loc[h]
        assert mine["n_dates"] == len(ref)
        assert mine["top_minus_bottom"] == pytest.approx(ref.mean(), abs=1e-9)
        assert mine["std"] == pytest.approx(ref.std(), abs=1e-9)
        assert mine["t_stat_iid"] == pytest.approx(stats.ttest_1samp(ref, 0.0).statistic, rel=1e-9)
        assert mine["t_stat"] == pytest.approx(_nw_tstat_by_hand(ref.to_numpy(), h - 1), rel=1e-9)


def test_alphalens_turnover_and_rank_autocorrelation(alphalens_run):
    al, clean, ours = alphalens_run
    turn = ours.turnover.set_index("quantile")
    for q in range(1, 6):
        ref = al.performance.quantile_turnover(clean["factor_quantile"], q).dropna()
        assert turn.loc[q, "n_dates"] == len(ref)
        assert turn.loc[q, "turnover"] == pytest.approx(ref.mean(), abs=1e-9)
    ref = al.performance.factor_rank_autocorrelation(clean).dropna()
    auto = ours.rank_autocorrelation.iloc[0]
    assert auto["n_dates"] == len(ref)
    assert auto["rank_autocorrelation"] == pytest.approx(ref.mean(), abs=1e-9)


def _real_prices_path() -> Path:
    root = os.environ.get("AXION_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data"
    return Path(root) / "prices" / "all_stocks_5yr.csv.gz"


@pytest.mark.realdata
@pytest.mark.slow
def test_alphalens_on_real_prices():
    if not _real_prices_path().exists():
        pytest.skip(f"real price file absent: {_real_prices_path()}")
    al = pytest.importorskip("alphalens", reason="alphalens-reloaded (dev dependency) not installed")
    raw = pd.read_csv(_real_prices_path(), parse_dates=["date"]).rename(columns={"Name": "ticker"})
    raw = raw[raw["ticker"].isin(sorted(raw["ticker"].unique())[:80]) & (raw["date"] < "2015-03-01")]
    close = raw.pivot(index="date", columns="ticker", values="close")
    reversal = -(close / close.shift(21) - 1)
    long = reversal.stack().rename("reversal").rename_axis(["date", "ticker"]).reset_index()
    ours = compute_tear_sheet(long, raw[["date", "ticker", "close"]], horizons=HORIZONS)
    series = long.set_index(["date", "ticker"])["reversal"].rename_axis(["date", "asset"])
    with contextlib.redirect_stdout(io.StringIO()):
        clean = al.utils.get_clean_factor_and_forward_returns(series, close, periods=HORIZONS, filter_zscore=None)
    ic = al.performance.factor_information_coefficient(clean)
    mine = ours.ic.pivot(index="date", columns="horizon", values="ic")
    np.testing.assert_allclose(mine.to_numpy(), ic.reindex(mine.index).to_numpy(), rtol=0, atol=1e-9)
    turn = al.performance.quantile_turnover(clean["factor_quantile"], 5).mean()
    assert ours.turnover.set_index("quantile").loc[5, "turnover"] == pytest.approx(turn, abs=1e-9)


def test_tear_sheet_is_a_dataclass_of_frames(hand):
    factors, prices = hand
    ts = compute_tear_sheet(factors, prices.pivot(index="date", columns="ticker", values="close"), horizons=(1,))
    assert isinstance(ts, TearSheet) and ts.horizons == (1,) and ts.quantiles == 5
