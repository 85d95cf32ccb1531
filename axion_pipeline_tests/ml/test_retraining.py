"""The retraining rule on the generated market: fires after a planted regime shift, quiet on a stable stretch."""

from __future__ import annotations

import pandas as pd
import pytest

from axion_pipeline.data.simulator import SimulationConfig, simulate_market
from axion_pipeline.ml.drift import DegradationDetector
from axion_pipeline.ml.retraining import retraining_decision


@pytest.fixture(scope="module")
def market():
    """Stock-day features whose distribution the regime moves: 20-day return and volatility."""
    data = simulate_market(SimulationConfig(seed=3, n_tickers=200, start="2015-01-01", end="2022-12-30"))
    close = data.prices.pivot(index="date", columns="ticker", values="close")
    ret = close.pct_change(fill_method=None)
    feats = pd.concat(
        {"ret_20d": close.pct_change(20, fill_method=None).stack(), "vol_20d": ret.rolling(20).std().stack()}, axis=1
    ).dropna()
    regimes = data.true_regimes.set_index("date")["regime"]
    return feats, regimes


def _spell(regimes: pd.Series, regime: str, min_len: int, after=None) -> pd.DatetimeIndex:
    """The dates of the first spell of ``regime`` lasting at least ``min_len`` days (after ``after``)."""
    block = regimes.ne(regimes.shift()).cumsum()
    for _, days in regimes.groupby(block):
        if after is not None and days.index[0] <= after:
            continue
        if days.iloc[0] == regime and len(days) >= min_len:
            return pd.DatetimeIndex(days.index)
    pytest.skip(f"seed has no {regime} spell of {min_len} days")


def _days(feats: pd.DataFrame, dates) -> pd.DataFrame:
    return feats.loc[feats.index.get_level_values(0).isin(dates)]


def _drift_rows(reference: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """One drift report per day of ``current`` (that day's cross-section), as the drift_report asset."""
    detector, rows = DegradationDetector(), []
    for day, section in current.groupby(level=0):
        report = detector.check_feature_drift(reference, section)
        rows.append(report.to_frame().assign(date=day, overall_drift=report.overall_drift))
    return pd.concat(rows, ignore_index=True)


def _healthy(dates) -> pd.DataFrame:
    return pd.DataFrame({"date": dates, "needs_retraining": False, "status": "healthy", "rolling_ic_3m": 0.05})


def test_fires_after_a_planted_regime_shift(market):
    feats, regimes = market
    bull = _spell(regimes, "bull", 120)
    crisis = _spell(regimes, "crisis", 10, after=bull[-1])
    current = _days(feats, crisis)
    decision = retraining_decision(_healthy(crisis), _drift_rows(_days(feats, bull), current))
    assert decision.retrain and "feature drift" in decision.reason


def test_quiet_on_a_stable_stretch(market):
    feats, regimes = market
    bull = _spell(regimes, "bull", 160)
    reference, current = _days(feats, bull[:120]), _days(feats, bull[130:160])
    decision = retraining_decision(_healthy(bull[130:160]), _drift_rows(reference, current))
    assert not decision.retrain, decision.reason


def test_fires_on_model_health():
    health = _healthy(pd.bdate_range("2024-01-01", periods=5))
    health.loc[4, ["needs_retraining", "status", "rolling_ic_3m"]] = [True, "critical", -0.02]
    decision = retraining_decision(health, pd.DataFrame(columns=["date", "feature", "psi", "overall_drift"]))
    assert decision.retrain and "critical" in decision.reason


def test_dated_reference_fires_on_a_crisis_training_never_saw_but_not_on_one_it_did(market):
    """As the drift_report asset compares (a dated training sample, ``drift_rows``): a crisis after
    a bull-only training span moves the features beyond every training day, so the sensor fires;
    the 2021 crisis after a training span that held three earlier crises sits on levels and
    spreads training days had (``level_shift``), so it does not, where the pooled comparison
    alone calls it drift."""
    from axion_pipeline.ml.serving import drift_rows

    feats, regimes = market
    bull = _spell(regimes, "bull", 120)
    crisis = _spell(regimes, "crisis", 10, after=bull[-1])
    rows, _ = drift_rows(DegradationDetector(), _days(feats, bull).reset_index(), _days(feats, crisis).reset_index())
    assert retraining_decision(_healthy(crisis), rows).retrain

    seen = _spell(regimes, "crisis", 20, after=pd.Timestamp("2021-05-01"))
    training = feats.loc[feats.index.get_level_values(0) < seen[0] - pd.Timedelta(days=35)].reset_index()
    training = training.sample(20_000, random_state=0).sort_values(["date", "ticker"])  # as drift_reference
    assert (regimes.loc[regimes.index < training["date"].max()] == "crisis").sum() >= 60
    current = _days(feats, seen).reset_index()
    rows, _ = drift_rows(DegradationDetector(), training, current)
    decision = retraining_decision(_healthy(seen), rows)
    assert not decision.retrain and "no broad drift" in decision.reason
    assert (rows["status"] == "level_shift").sum() >= len(seen)  # most feature-days
    pooled = _drift_rows(training.set_index(["date", "ticker"]), current.set_index(["date", "ticker"]))
    assert retraining_decision(_healthy(seen), pooled).retrain
