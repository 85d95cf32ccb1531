"""Rule-based regime detection: hand-checked synthetic series, point in time, real ^GSPC."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.factor_engine.regime import (
    MarketRegime,
    RegimeDetector,
    RegimeThresholds,
    regime_agreement,
)

GSPC = Path(__file__).resolve().parents[3] / "shared" / "data" / "market" / "GSPC.csv.gz"


def series_from_returns(returns, start: float = 100.0) -> pd.Series:
    """Closes starting at ``start`` followed by one close per daily return."""
    closes = start * np.cumprod(np.concatenate([[1.0], 1.0 + np.asarray(returns, dtype=float)]))
    return pd.Series(closes, index=pd.bdate_range("2001-01-01", periods=len(closes)), name="close")


def uptrend(n: int, drift: float = 0.0008, seed: int = 0) -> np.ndarray:
    return drift + np.random.default_rng(seed).normal(0.0, 0.002, n)


def regimes_of(s: pd.Series, det: RegimeDetector | None = None) -> pd.Series:
    return (det or RegimeDetector()).detect_series(s)["regime"]


def test_indicators_hand_checked_on_linear_ramp():
    s = pd.Series(100.0 + np.arange(300.0), index=pd.bdate_range("2001-01-01", periods=300))
    row = RegimeDetector().detect_series(s).iloc[-1]
    last = 399.0
    assert row["sma_200"] == pytest.approx(last - 99.5, rel=1e-12)  # mean of 200..399
    assert row["sma_50"] == pytest.approx(last - 24.5, rel=1e-12)
    assert row["drawdown"] == 0.0
    rets = np.diff(s.to_numpy()[-21:]) / s.to_numpy()[-21:-1]
    assert row["realized_vol_20d"] == pytest.approx(rets.std(ddof=1) * np.sqrt(252), rel=1e-9)
    # close / sma_200 = 399 / 299.5 > 1.01 and sma_50 / sma_200 = 374.5 / 299.5 > 1.005, no drawdown
    assert row["regime"] == "bull"


def test_steady_uptrend_is_bull():
    s = series_from_returns(uptrend(400))
    out = RegimeDetector().detect_series(s)
    tail = out.iloc[-150:]
    assert (tail["regime"] == "bull").all()
    assert RegimeDetector().detect(s) is MarketRegime.BULL


def test_crash_with_extreme_vol_is_crisis():
    crash = np.tile([0.03, -0.05], 15)  # mean -1%/day, daily std 4% -> ~64% annualised
    s = series_from_returns(np.concatenate([uptrend(300), crash]))
    info = RegimeDetector().inputs_as_of(s)
    assert info["realized_vol_20d"] > 0.40 and info["drawdown"] <= -0.20
    assert info["regime"] == "crisis"


def test_extreme_vol_alone_is_crisis():
    whipsaw = np.tile([0.04, -0.037], 12)  # ~0% drift, daily std ~3.9% -> ~61% annualised
    s = series_from_returns(np.concatenate([uptrend(300), whipsaw]))
    info = RegimeDetector().inputs_as_of(s)
    assert info["realized_vol_20d"] > 0.40 and info["drawdown"] > -0.10
    assert info["regime"] == "crisis"
    assert RegimeDetector(RegimeThresholds(crisis_vol=0.70)).detect(s) is not MarketRegime.CRISIS


def test_deep_drawdown_with_high_vol_is_crisis_and_depends_on_that_threshold():
    decline = np.tile([0.012, -0.032], 12)  # daily std ~2.2% -> ~36% annualised, ~23% off the high
    s = series_from_returns(np.concatenate([uptrend(300), decline]))
    info = RegimeDetector().inputs_as_of(s)
    assert 0.30 < info["realized_vol_20d"] <= 0.40
    assert -0.25 < info["drawdown"] <= -0.20
    assert info["regime"] == "crisis"
    calmer = RegimeDetector(RegimeThresholds(crisis_drawdown_vol=0.45))
    assert calmer.detect(s) is MarketRegime.BEAR  # below the 200-day with drawdown beyond -10%


def test_slow_decline_is_bear():
    decline = -0.001 + np.random.default_rng(1).normal(0.0, 0.004, 250)
    s = series_from_returns(np.concatenate([uptrend(300), decline]))
    out = RegimeDetector().detect_series(s).iloc[-60:]
    assert (out["sma_50"] < out["sma_200"]).all()
    assert (out["realized_vol_20d"] < 0.30).all()
    assert (out["regime"] == "bear").all()


def test_correction_below_200_day_is_bear_before_the_death_cross():
    drop = np.full(10, -0.013)  # constant returns: ~12% off the high with zero realised vol
    s = series_from_returns(np.concatenate([uptrend(300, seed=2), drop]))
    info = RegimeDetector().inputs_as_of(s)
    assert info["sma_50"] > info["sma_200"]
    assert info["close"] < info["sma_200"] * 0.99
    assert info["drawdown"] <= -0.10
    assert info["regime"] == "bear"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_flat_noise_is_sideways(seed):
    noise = np.random.default_rng(seed).normal(0.0, 0.005, 500)
    s = pd.Series(100.0 * (1.0 + noise), index=pd.bdate_range("2001-01-01", periods=500))
    assert (regimes_of(s) == "sideways").all()


def test_correction_above_200_day_is_sideways_not_bull():
    drop = np.full(10, -0.013)  # ~12% off the high, still far above the 200-day average
    s = series_from_returns(np.concatenate([uptrend(300, drift=0.002), drop]))
    info = RegimeDetector().inputs_as_of(s)
    assert info["close"] > info["sma_200"] * 1.01 and info["sma_50"] > info["sma_200"] * 1.005
    assert -0.20 < info["drawdown"] <= -0.10 and info["realized_vol_20d"] < 0.30
    assert info["regime"] == "sideways"
    assert RegimeDetector(RegimeThresholds(bull_max_drawdown=-0.15)).detect(s) is MarketRegime.BULL


def test_close_within_the_trend_band_is_sideways():
    s = series_from_returns(uptrend(300))
    prev = s.iloc[-199:].sum()
    # last close c with c = 1.005 * sma_200 = 1.005 * (prev + c) / 200: inside the 1% band
    c = 1.005 * prev / (200 - 1.005)
    s = pd.concat([s, pd.Series([c], index=[s.index[-1] + pd.offsets.BDay()])])
    info = RegimeDetector().inputs_as_of(s)
    assert info["close"] / info["sma_200"] == pytest.approx(1.005, rel=1e-12)
    assert info["sma_50"] > info["sma_200"] * 1.005 and info["drawdown"] > -0.10
    assert info["regime"] == "sideways"
    assert RegimeDetector(RegimeThresholds(trend_band=0.0)).detect(s) is MarketRegime.BULL


def test_short_history_is_sideways():
    s = series_from_returns(uptrend(300))
    det = RegimeDetector()
    assert det.detect(s.iloc[:199]) is MarketRegime.SIDEWAYS
    info = det.inputs_as_of(s.iloc[:199])
    assert info["sufficient_history"] is False and np.isnan(info["sma_200"])
    assert det.detect(s.iloc[:10]) is MarketRegime.SIDEWAYS
    assert det.detect(s, as_of=s.index[0] - pd.Timedelta(days=3)) is MarketRegime.SIDEWAYS
    assert det.inputs_as_of(s, as_of=s.index[0] - pd.Timedelta(days=3))["as_of"] is None
    assert det.detect(s.iloc[:200]) is MarketRegime.BULL  # 200 closes are enough
    assert (regimes_of(s).iloc[:199] == "sideways").all()


def composite_series() -> pd.Series:
    """Uptrend, crash, slow recovery, flat noise: every regime occurs."""
    rng = np.random.default_rng(5)
    parts = [
        uptrend(300, seed=5),
        np.tile([0.03, -0.05], 15),
        -0.001 + rng.normal(0.0, 0.004, 150),
        0.001 + rng.normal(0.0, 0.006, 250),
        rng.normal(0.0, 0.01, 150),
    ]
    return series_from_returns(np.concatenate(parts))


def test_detect_equals_detect_series_on_every_date():
    s = composite_series()
    det = RegimeDetector()
    series = det.detect_series(s)
    assert set(series["regime"]) == {"bull", "bear", "sideways", "crisis"}
    per_date = [det.detect(s, as_of=d).value for d in s.index]
    assert per_date == series["regime"].tolist()
    for d in s.index[::37]:
        info = det.inputs_as_of(s, as_of=d)
        row = series.loc[d]
        for col in ["sma_200", "sma_50", "drawdown", "realized_vol_20d"]:
            assert info[col] == row[col] or (np.isnan(info[col]) and np.isnan(row[col]))


def test_as_of_on_a_non_trading_day_uses_the_previous_close():
    s = composite_series()
    friday = s.index[s.index.dayofweek == 4][30]
    det = RegimeDetector()
    assert det.inputs_as_of(s, as_of=friday + pd.Timedelta(days=1))["as_of"] == friday
    assert det.detect(s, as_of=(friday + pd.Timedelta(days=1)).date()) == det.detect(s, as_of=friday)


@settings(max_examples=40, deadline=None)
@given(
    cut=st.integers(min_value=0, max_value=499),
    shock=st.floats(min_value=-0.5, max_value=2.0),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_data_after_as_of_never_changes_the_verdict(cut, shock, seed):
    s = series_from_returns(np.random.default_rng(seed).normal(0.0003, 0.015, 499))
    changed = s.copy()
    changed.iloc[cut + 1 :] *= 1.0 + shock
    det = RegimeDetector()
    as_of = s.index[cut]
    assert det.detect(s, as_of=as_of) == det.detect(changed, as_of=as_of)
    pd.testing.assert_frame_equal(det.detect_series(s).loc[:as_of], det.detect_series(changed).loc[:as_of])


def test_unsorted_input_with_gaps_is_handled_and_bad_input_refused():
    s = composite_series()
    shuffled = s.sample(frac=1.0, random_state=0)
    shuffled.iloc[5] = np.nan
    det = RegimeDetector()
    expected = det.detect_series(s.drop(shuffled.index[5]))
    pd.testing.assert_frame_equal(det.detect_series(shuffled), expected)
    with pytest.raises(ValueError, match="positive"):
        det.detect(s.where(s.index != s.index[10], -1.0))
    with pytest.raises(ValueError, match="duplicated"):
        det.detect(pd.concat([s, s.iloc[:1]]))
    with pytest.raises(ValueError, match="bear_drawdown"):
        RegimeThresholds(bear_drawdown=0.1)


@pytest.mark.realdata
def test_real_gspc_october_2008_and_2013():
    if not GSPC.exists():
        pytest.skip(f"real S&P 500 series not found at {GSPC}")
    raw = pd.read_csv(GSPC, usecols=["Date", "Close"], parse_dates=["Date"])
    sp500 = raw.set_index("Date")["Close"]
    out = RegimeDetector().detect_series(sp500)
    oct08 = out.loc["2008-10", "regime"]
    y2013 = out.loc["2013", "regime"]
    share_bull_2013 = float((y2013 == "bull").mean())
    print(f"\nOct 2008: {oct08.value_counts().to_dict()}; 2013 share bull: {share_bull_2013:.3f}")
    assert len(oct08) == 23
    assert oct08.isin(["crisis", "bear"]).all()
    assert share_bull_2013 > 0.70
    window = sp500.loc["2005":"2010"]
    det = RegimeDetector()
    sub = det.detect_series(window)["regime"]
    assert [det.detect(window, as_of=d).value for d in window.index[::5]] == sub.iloc[::5].tolist()


def test_regime_agreement_hand_computed():
    idx = pd.bdate_range("2020-01-01", periods=6)
    truth = pd.Series(["bull", "bull", "bear", "crisis", "sideways", "bear"], index=idx)
    detected = pd.Series(
        [MarketRegime.BULL, MarketRegime.BEAR, MarketRegime.BEAR, MarketRegime.CRISIS, MarketRegime.BULL, None],
        index=idx,
    )
    out = regime_agreement(detected, truth)
    assert out["n_days"] == 5
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["recall"] == {"bull": 0.5, "bear": 1.0, "sideways": 0.0, "crisis": 1.0}
    cm = out["confusion_matrix"]
    assert cm["bull"] == {"bull": 1, "bear": 1, "sideways": 0, "crisis": 0}
    assert cm["sideways"]["bull"] == 1 and cm["bear"]["bear"] == 1 and cm["crisis"]["crisis"] == 1
    assert sum(sum(row.values()) for row in cm.values()) == 5


def test_regime_agreement_on_missing_regimes_and_bad_labels():
    idx = pd.bdate_range("2020-01-01", periods=3)
    out = regime_agreement(pd.Series(["bull"] * 3, index=idx), pd.Series(["bull"] * 3, index=idx))
    assert out["accuracy"] == 1.0 and np.isnan(out["recall"]["crisis"])
    with pytest.raises(ValueError, match="unknown"):
        regime_agreement(pd.Series(["boom"] * 3, index=idx), pd.Series(["bull"] * 3, index=idx))
    with pytest.raises(ValueError, match="no dates"):
        regime_agreement(pd.Series(["bull"], index=idx[:1]), pd.Series(["bull"], index=idx[1:2]))
