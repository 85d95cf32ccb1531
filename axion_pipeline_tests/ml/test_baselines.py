"""Baseline scores: closed-form values on a hand-built 3-ticker market, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axion_pipeline.ml.baselines import BASELINE_SCORES, CHARACTERISTICS, baseline_scores

N_DAYS = 300
DAYS = pd.bdate_range("2020-01-01", periods=N_DAYS)
C_START, C_GAP = 20, 240  # C lists on day 20 and does not trade on day 240


def _closes() -> dict[str, np.ndarray]:
    k = np.arange(N_DAYS)
    a = 100.0 * 1.01**k  # +1% every day
    b = 50.0 * 1.02 ** np.ceil(k / 2) * 0.99 ** np.floor(k / 2)  # +2% on odd days, -1% on even days
    c = 20.0 + 0.1 * k  # linear
    return {"A": a, "B": b, "C": c}


@pytest.fixture
def prices() -> pd.DataFrame:
    closes = _closes()
    rows = []
    for t, c in closes.items():
        for k, day in enumerate(DAYS):
            if t == "C" and (k < C_START or k == C_GAP):
                continue
            rows.append({"date": day, "ticker": t, "open": c[k], "high": c[k], "low": c[k], "close": c[k]})
            rows[-1]["volume"] = 1000.0 if t != "C" else float(10 + k)
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # input order must not matter


def _at(out: pd.DataFrame, k: int, ticker: str) -> pd.Series:
    return out.set_index(["date", "ticker"]).loc[(DAYS[k], ticker)]


def test_hand_computed_values(prices):
    out = baseline_scores(prices)
    assert list(out.columns) == ["date", "ticker", *BASELINE_SCORES, *CHARACTERISTICS]
    assert len(out) == len(prices) and out["date"].is_monotonic_increasing
    a = _at(out, 260, "A")
    assert a["momentum_12_1"] == pytest.approx(1.01**231 - 1)
    assert a["reversal_1m"] == pytest.approx(-(1.01**21 - 1))
    assert a["low_vol_60d"] == pytest.approx(0.0, abs=1e-12)
    # mean of 1000 x 100 x 1.01^j over j = 198..260
    mean_dv = 1000 * 100 * 1.01**198 * (1.01**63 - 1) / 0.01 / 63
    assert a["log_dollar_volume_63d"] == pytest.approx(np.log(mean_dv))
    assert a["small_size"] == pytest.approx(-np.log(mean_dv))

    # B at day 261 (odd): close = 50 * 1.02^ceil(k/2) * 0.99^floor(k/2)
    close_b = lambda k: 50 * 1.02 ** np.ceil(k / 2) * 0.99 ** np.floor(k / 2)
    b = _at(out, 261, "B")
    assert b["momentum_12_1"] == pytest.approx(close_b(240) / close_b(9) - 1)
    assert b["reversal_1m"] == pytest.approx(-(close_b(261) / close_b(240) - 1))
    # 60 returns, 30 of +2% and 30 of -1%: deviations +-1.5% from the mean 0.5%
    assert b["low_vol_60d"] == pytest.approx(-0.015 * np.sqrt(60 / 59))

    # C skips day 240: 21 of its own trading days before day 250 is day 228, not 229
    c = _at(out, 250, "C")
    assert c["reversal_1m"] == pytest.approx(-((20 + 25.0) / (20 + 22.8) - 1))
    # C has 230 trading days by day 250 (20 unlisted, one gap): no 12-1 momentum yet
    assert np.isnan(c["momentum_12_1"])
    assert np.isnan(_at(out, 271, "C")["momentum_12_1"]) and not np.isnan(_at(out, 273, "C")["momentum_12_1"])
    # day 273 is its 253rd trading day: close of day 252 (21 own days back, the gap in between) over day 20
    assert _at(out, 273, "C")["momentum_12_1"] == pytest.approx((20 + 25.2) / (20 + 2.0) - 1)


def test_minimum_history(prices):
    out = baseline_scores(prices)
    a = out[out["ticker"] == "A"].reset_index(drop=True)
    assert a["momentum_12_1"].first_valid_index() == 252
    assert a["reversal_1m"].first_valid_index() == 21
    assert a["low_vol_60d"].first_valid_index() == 40  # 40 returns need 41 closes
    assert a["log_dollar_volume_63d"].first_valid_index() == 56  # 57 of 63 days
    assert a["beta_252d"].first_valid_index() == 227  # 227 returns and market returns


def test_beta_against_given_and_equal_weighted_market(prices):
    k = np.arange(N_DAYS)
    market = pd.Series(0.01 * np.sin(k / 3.0), index=DAYS)
    # D's returns are exactly 0.001 + 1.5 m: beta 1.5, and its low-vol is -1.5 std(m)
    growth = np.concatenate([[1.0], np.cumprod(1.0 + 0.001 + 1.5 * market.to_numpy()[1:])])
    d = pd.DataFrame({"date": DAYS, "ticker": "D", "close": 10.0 * growth, "volume": 1.0})
    frame = pd.concat([prices, d], ignore_index=True)
    out = baseline_scores(frame, market_returns=market).set_index(["date", "ticker"])
    assert out.loc[(DAYS[280], "D"), "beta_252d"] == pytest.approx(1.5, rel=1e-9)
    assert out.loc[(DAYS[280], "D"), "low_vol_60d"] == pytest.approx(-1.5 * market.iloc[221:281].std(), rel=1e-9)
    assert out.loc[(DAYS[280], "A"), "beta_252d"] == pytest.approx(0.0, abs=1e-9)  # constant return

    # Equal-weighted market: the mean of the names' daily returns on each date; reference slope by polyfit.
    closes = frame.pivot(index="date", columns="ticker", values="close")
    rets = closes / closes.shift(1) - 1  # C's gap: its next-day return spans two days, as in its own days
    rets["C"] = closes["C"].dropna().pct_change().reindex(closes.index)
    ew = rets.mean(axis=1)
    default = baseline_scores(frame).set_index(["date", "ticker"])
    window = slice(DAYS[280 - 251], DAYS[280])
    slope = np.polyfit(ew.loc[window], rets["D"].loc[window], 1)[0]
    assert default.loc[(DAYS[280], "D"), "beta_252d"] == pytest.approx(slope, rel=1e-9)


def test_rows_without_a_close_are_nan_and_contract_is_checked(prices):
    broken = prices.copy()
    broken.loc[broken.index[0], "close"] = np.nan
    out = baseline_scores(broken)
    row = broken.iloc[0]
    values = out.set_index(["date", "ticker"]).loc[(row["date"], row["ticker"])]
    assert values.isna().all()
    with pytest.raises(ValueError, match="duplicate"):
        baseline_scores(pd.concat([prices, prices.head(1)]))
    with pytest.raises(ValueError, match="lack columns"):
        baseline_scores(prices.drop(columns="volume"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(5, N_DAYS - 5), seed=st.integers(0, 2**16), drop=st.booleans())
def test_changing_prices_after_t_never_changes_values_at_t(prices, cut, seed, drop):
    rng = np.random.default_rng(seed)
    t = DAYS[cut]
    later = prices["date"] > t
    changed = prices.copy()
    changed.loc[later, "close"] *= np.exp(rng.normal(0, 0.2, later.sum()))
    changed.loc[later, "volume"] *= rng.uniform(0.1, 10, later.sum())
    if drop:  # a ticker may also vanish or skip days later on
        changed = changed[~(later & (rng.random(len(changed)) < 0.3))]
    before = baseline_scores(prices)
    after = baseline_scores(changed)
    pd.testing.assert_frame_equal(
        before[before["date"] <= t].reset_index(drop=True), after[after["date"] <= t].reset_index(drop=True)
    )
