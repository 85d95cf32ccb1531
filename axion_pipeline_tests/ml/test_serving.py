"""Batch serving helpers: date-level drift exclusion, next-day earnings, realized health by maturity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.ml.drift import DegradationDetector
from axion_pipeline.ml.serving import date_level_columns, drift_rows, realized_health, upcoming_earnings


def _panel(days=3, tickers=2000, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=days)
    idx = pd.MultiIndex.from_product([dates, [f"T{i}" for i in range(tickers)]], names=["date", "ticker"])
    frame = pd.DataFrame({"x": rng.normal(size=len(idx))}, index=idx).reset_index()
    frame["vix"] = frame["date"].map({d: 10.0 + i for i, d in enumerate(dates)})
    return frame


def test_date_level_columns_are_not_scored_per_day():
    reference, current = _panel(seed=0), _panel(seed=1)
    assert date_level_columns(reference) == ["vix"]
    rows, last = drift_rows(DegradationDetector(), reference, current)
    assert set(rows["feature"]) == {"x"} and last["date_level"] == ["vix"]
    assert (rows["psi"] < 0.25).all()  # same distribution: no drift
    shifted = current.assign(x=current["x"] + 3.0)
    rows, last = drift_rows(DegradationDetector(), reference, shifted)
    assert (rows["status"] == "drift").all() and last["overall_drift"]


def test_upcoming_earnings_are_announced_the_next_trading_day():
    cal = pd.bdate_range("2024-03-01", periods=6)
    events = pd.DataFrame(
        {"ticker": ["A", "B", "C"], "announce_date": [cal[1], cal[3], cal[5]], "eps_estimate": [1.0, 2.0, 3.0]}
    )
    out = upcoming_earnings(events, cal, cal[0], cal[3])
    assert list(zip(out["date"], out["ticker"])) == [(cal[0], "A"), (cal[2], "B")]


def test_realized_health_uses_labels_only_once_matured():
    dates = pd.bdate_range("2024-01-01", periods=30)
    tickers = [f"T{i}" for i in range(20)]
    rng = np.random.default_rng(3)
    preds = pd.DataFrame([(d, t, rng.random()) for d in dates for t in tickers], columns=["date", "ticker", "score"])
    targets = preds.rename(columns={"score": "fwd_return"}).assign(
        label_date=lambda f: f["date"].map(dict(zip(dates[:-5], dates[5:])))
    )  # 5-day horizon
    targets = targets.dropna(subset=["label_date"])
    out = realized_health(preds, targets, dates)
    # the first 5 days have no matured label; afterwards IC is perfect (fwd_return == score)
    assert out["ic"].iloc[:5].isna().all()
    assert np.allclose(out["ic"].iloc[5:], 1.0)
    assert (out.loc[5:, "prediction_date"].to_numpy() == dates[:-5].to_numpy()).all()
