"""Momentum, volatility and technical formulas against independent hand computations.

Four tickers over 300 business days: UP grows 0.1% a day, DOWN falls 0.1% a day, RND is a seeded
random walk, LATE starts trading on day 200 (100 closes), so long windows must be NaN for it.
Expected values are computed here with plain numpy loops, not with the library's code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors import MomentumFactors, TechnicalFactors, VolatilityFactors

N = 300
T = N - 1  # the as-of row


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2023-01-02", periods=N)
    t = np.arange(N)
    m = rng.normal(0.0003, 0.01, N)
    rnd = 80.0 * np.cumprod(1.0 + 1.3 * m + rng.normal(0, 0.012, N))
    late = 30.0 * np.cumprod(1.0 + rng.normal(0, 0.02, N))
    late[:200] = np.nan
    close = pd.DataFrame({"UP": 100.0 * 1.001**t, "DOWN": 100.0 * 0.999**t, "RND": rnd, "LATE": late}, index=dates)
    volume = pd.DataFrame(rng.lognormal(12, 0.5, (N, 4)), index=dates, columns=close.columns)
    volume[close.isna()] = np.nan
    kw = {"volume": volume, "market_returns": pd.Series(m, index=dates)}
    raw = pd.concat(
        [calc.compute_raw(close, None, **kw) for calc in (MomentumFactors(), VolatilityFactors(), TechnicalFactors())],
        axis=1,
    )
    return {"close": close, "volume": volume, "m": m, "raw": raw, "kw": kw}


def _ret(c):
    return c[1:] / c[:-1] - 1.0


def _ema(x, alpha):
    y = np.empty_like(x)
    y[0] = x[0]
    for i in range(1, len(x)):
        y[i] = alpha * x[i] + (1 - alpha) * y[i - 1]
    return y


def test_momentum_returns_by_hand(market):
    raw = market["raw"]
    assert raw.loc["UP", "ret_12m_1m"] == pytest.approx(1.001**231 - 1, rel=1e-12)
    assert raw.loc["UP", "ret_6m_1m"] == pytest.approx(1.001**105 - 1, rel=1e-12)
    assert raw.loc["UP", "ret_3m"] == pytest.approx(1.001**63 - 1, rel=1e-12)
    assert raw.loc["DOWN", "short_term_reversal"] == pytest.approx(0.999**21 - 1, rel=1e-12)
    assert raw.loc["UP", "high_52w_proximity"] == pytest.approx(1.0)
    assert raw.loc["DOWN", "high_52w_proximity"] == pytest.approx(0.999**251, rel=1e-12)
    c = market["close"]["RND"].to_numpy()
    assert raw.loc["RND", "ret_12m_1m"] == pytest.approx(c[T - 21] / c[T - 252] - 1, rel=1e-12)
    assert raw.loc["RND", "high_52w_proximity"] == pytest.approx(c[T] / c[T - 251 :].max(), rel=1e-12)
    # fundamentals-based momentum is missing without fundamentals, never 0
    assert raw[["earnings_momentum", "revenue_momentum"]].isna().all().all()


def test_short_history_gives_nan_not_zero(market):
    late = market["raw"].loc["LATE"]
    for name in (
        "ret_12m_1m",
        "ret_6m_1m",
        "high_52w_proximity",
        "beta",
        "downside_beta",
        "max_drawdown",
        "price_vs_sma",
        "sma_cross",
    ):
        assert np.isnan(late[name]), name
    c = market["close"]["LATE"].to_numpy()
    assert late["ret_3m"] == pytest.approx(c[T] / c[T - 63] - 1, rel=1e-12)
    for name in ("realized_vol", "idiosyncratic_vol", "rsi", "macd", "bollinger_bands", "amihud_illiquidity"):
        assert np.isfinite(late[name]), name


def test_volatility_by_hand(market):
    raw = market["raw"].loc["RND"]
    c = market["close"]["RND"].to_numpy()
    r = _ret(c)  # r[i] is the return of day i + 1
    m = market["m"][1:]
    assert raw["realized_vol"] == pytest.approx(np.std(r[-63:], ddof=1) * np.sqrt(252), rel=1e-10)
    assert raw["downside_vol"] == pytest.approx(np.sqrt(np.mean(np.minimum(r[-63:], 0) ** 2) * 252), rel=1e-10)
    b, a = np.polyfit(m[-252:], r[-252:], 1)
    assert raw["beta"] == pytest.approx(b, rel=1e-9)
    b63, a63 = np.polyfit(m[-63:], r[-63:], 1)
    resid = r[-63:] - (a63 + b63 * m[-63:])
    assert raw["idiosyncratic_vol"] == pytest.approx(np.sqrt(resid @ resid / 61 * 252), rel=1e-9)
    down = m[-252:] < 0
    bd = np.polyfit(m[-252:][down], r[-252:][down], 1)[0]
    assert raw["downside_beta"] == pytest.approx(bd, rel=1e-9)
    window = c[-252:]
    worst = min(window[i] / window[: i + 1].max() - 1 for i in range(252))
    assert raw["max_drawdown"] == pytest.approx(worst, rel=1e-12)
    v = market["volume"]["RND"].to_numpy()
    illiq = np.abs(r[-21:]) / (c[-21:] * v[-21:])
    assert raw["amihud_illiquidity"] == pytest.approx(illiq.mean() * 1e6, rel=1e-10)
    # a steady 0.1%/day fall: drawdown over the window is 0.999^251 - 1, volatility ~ 0
    assert market["raw"].loc["DOWN", "max_drawdown"] == pytest.approx(0.999**251 - 1, rel=1e-10)
    assert market["raw"].loc["UP", "realized_vol"] == pytest.approx(0.0, abs=1e-12)


def test_technical_by_hand(market):
    raw = market["raw"]
    assert raw.loc["UP", "rsi"] == pytest.approx(100.0)
    assert raw.loc["DOWN", "rsi"] == pytest.approx(0.0)
    c = market["close"]["RND"].to_numpy()
    d = np.diff(c)
    ag, al = _ema(np.maximum(d, 0), 1 / 14), _ema(np.maximum(-d, 0), 1 / 14)
    assert raw.loc["RND", "rsi"] == pytest.approx(100 * ag[-1] / (ag[-1] + al[-1]), rel=1e-10)
    line = _ema(c, 2 / 13) - _ema(c, 2 / 27)
    signal = _ema(line[25:], 2 / 10)
    assert raw.loc["RND", "macd"] == pytest.approx((line[-1] - signal[-1]) / c[-1], rel=1e-9)
    last20 = c[-20:]
    mid, sd = last20.mean(), last20.std(ddof=0)
    assert raw.loc["RND", "bollinger_bands"] == pytest.approx((c[-1] - (mid - 2 * sd)) / (4 * sd), rel=1e-10)
    assert raw.loc["RND", "price_vs_sma"] == pytest.approx(c[-1] / c[-200:].mean() - 1, rel=1e-10)
    assert raw.loc["RND", "sma_cross"] == pytest.approx(c[-50:].mean() / c[-200:].mean() - 1, rel=1e-10)
    v = market["volume"]["RND"].to_numpy()
    assert raw.loc["RND", "volume_trend"] == pytest.approx(v[-20:].mean() / v[-63:].mean() - 1, rel=1e-10)


def test_scores_follow_direction(market):
    close, kw = market["close"], market["kw"]
    mom = MomentumFactors().compute(close, None, **kw)
    vol = VolatilityFactors().compute(close, None, **kw)
    tech = TechnicalFactors().compute(close, None, **kw)
    raw = market["raw"]
    assert mom.loc["UP", "ret_12m_1m"] == 1.0 and mom.loc["DOWN", "ret_12m_1m"] < 1.0
    worst = raw["ret_12m_1m"].idxmin()
    assert mom.loc[worst, "ret_12m_1m"] == 0.0
    assert mom.loc["DOWN", "short_term_reversal"] == 1.0  # last month's loser is favoured
    # the two steady series (volatility ~ 0) score above the two noisy ones: low volatility is best
    assert vol.loc[["UP", "DOWN"], "realized_vol"].min() > vol.loc[["RND", "LATE"], "realized_vol"].max()
    assert tech.loc["DOWN", "rsi"] == 1.0 and tech.loc["UP", "rsi"] == 0.0  # oversold scores best
    assert np.isnan(mom.loc["LATE", "ret_12m_1m"]) and np.isfinite(mom.loc["LATE", "momentum"])
    for frame in (mom, vol, tech):
        values = frame.to_numpy()
        assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0


def test_volume_factors_missing_without_volume(market):
    raw = VolatilityFactors().compute_raw(market["close"], None)
    assert raw["amihud_illiquidity"].isna().all()
    assert TechnicalFactors().compute_raw(market["close"], None)["volume_trend"].isna().all()


def test_prices_after_as_of_are_ignored(market):
    close, kw = market["close"], market["kw"]
    as_of = close.index[250]
    shocked = close.copy()
    shocked.iloc[251:] *= 3.0
    for calc in (MomentumFactors(), VolatilityFactors(), TechnicalFactors()):
        a = calc.compute_raw(close, None, as_of_date=as_of, **kw)
        b = calc.compute_raw(shocked, None, as_of_date=as_of, **kw)
        pd.testing.assert_frame_equal(a, b)
