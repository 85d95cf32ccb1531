"""Batch serving helpers: date-level drift exclusion, next-day earnings and their predictions (the
rows of the Dagster earnings tables), realized health by maturity."""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.ml.config import EarningsModelConfig
from axion_pipeline.ml.drift import DegradationDetector
from axion_pipeline.ml.serving import (
    EARNINGS_PREDICTION_COLUMNS,
    date_level_columns,
    drift_rows,
    earnings_prediction_rows,
    realized_health,
    regime_predictions,
    upcoming_earnings,
)


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


def test_date_level_columns_are_those_with_one_value_per_date_as_nunique_counts_them():
    """The sort-based test of float columns gives what ``nunique(dropna=False) <= 1`` per date gives:
    NaN is a value (constant when a date is all NaN, not when it mixes NaN and a number), -0.0
    equals 0.0, rows without a date are left out, and other dtypes go through ``nunique``."""
    rng = np.random.default_rng(0)
    dates = np.repeat(pd.bdate_range("2024-01-01", periods=6), 5)
    n = len(dates)
    per_date = np.repeat(rng.normal(size=6), 5)
    reference = pd.DataFrame(
        {
            "date": dates,
            "ticker": np.tile(list("abcde"), 6),
            "macro": per_date,
            "macro_nan_days": np.where(np.repeat([True, False] * 3, 5), np.nan, per_date),
            "mixed_nan": np.where(np.arange(n) == 7, np.nan, per_date),
            "signed_zero": np.where(np.arange(n) % 2 == 0, 0.0, -0.0),
            "cross_section": rng.normal(size=n),
            "sector": np.repeat(list("xyzxyz"), 5),
            "count": np.arange(n) // 5,
            "undated_differs": per_date,
        }
    )
    reference.loc[3, "date"] = pd.NaT
    reference.loc[3, "undated_differs"] = 99.0
    columns = [c for c in reference.columns if c not in ("date", "ticker")]
    by_nunique = reference.groupby("date")[columns].nunique(dropna=False).max()
    expected = [c for c in columns if by_nunique[c] <= 1]
    assert expected == ["macro", "macro_nan_days", "signed_zero", "sector", "count", "undated_differs"]
    assert date_level_columns(reference) == expected


def test_upcoming_earnings_are_announced_the_next_trading_day():
    cal = pd.bdate_range("2024-03-01", periods=6)
    events = pd.DataFrame(
        {"ticker": ["A", "B", "C"], "announce_date": [cal[1], cal[3], cal[5]], "eps_estimate": [1.0, 2.0, 3.0]}
    )
    out = upcoming_earnings(events, cal, cal[0], cal[3])
    assert list(zip(out["date"], out["ticker"])) == [(cal[0], "A"), (cal[2], "B")]


def test_earnings_tables_keep_surprise_status():
    """The inference table (``earnings_predictions``) and the fold table (``earnings_model``) keep
    the model's surprise_status, so a NaN predicted_surprise says why it is NaN."""
    from axion_pipeline.ml.datasets import TrainWindow, earnings_dataset
    from axion_pipeline.ml.earnings import EarningsPredictionModel
    from axion_pipeline.ml.training import empty_predictions, train_earnings
    from axion_pipeline_tests.ml.test_earnings import synthetic_earnings

    events, prices, fundamentals = synthetic_earnings(n_tickers=20, n_quarters=12)
    X, beat, surprise = earnings_dataset(events, prices, fundamentals)
    calendar = pd.DatetimeIndex(sorted(prices["date"].unique()))
    last = pd.Timestamp(events["announce_date"].max())
    upcoming = upcoming_earnings(events, calendar, calendar[calendar < last][-60], last)
    assert len(upcoming) > 5
    config = EarningsModelConfig(n_estimators=20, max_depth=2)
    beat_only, with_size = EarningsPredictionModel(config), EarningsPredictionModel(config)
    beat_only.train(X, beat)
    with_size.train(X, beat, surprise=surprise)

    rows = earnings_prediction_rows(beat_only, upcoming, prices, fundamentals)
    assert list(rows.columns) == EARNINGS_PREDICTION_COLUMNS and len(rows) == len(upcoming)
    assert rows["predicted_surprise"].isna().all()
    assert rows["surprise_status"].str.startswith("no surprise model: trained without a surprise target").all()
    sized = earnings_prediction_rows(with_size, upcoming, prices, fundamentals)
    assert (sized["surprise_status"] == "predicted").all() and sized["predicted_surprise"].notna().all()
    np.testing.assert_allclose(sized["confidence"], (2 * sized["beat_probability"] - 1).abs())
    none = earnings_prediction_rows(None, upcoming, prices, fundamentals)
    assert none.empty and list(none.columns) == EARNINGS_PREDICTION_COLUMNS

    dates = pd.DatetimeIndex(sorted(events["announce_date"].unique()))
    window = TrainWindow("fold_0", dates[0], dates[-80], None, dates[-80], dates[-60], dates[-1])
    fold = train_earnings(X, beat, None, window, config).predictions
    assert list(fold.columns) == list(empty_predictions("earnings_model").columns)
    assert fold["surprise_status"].str.startswith("no surprise model").all() and len(fold) > 0


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


def _health_inputs(days=200, tickers=25, horizon=5, seed=4):
    """Predictions and their matured targets (noisy, so the IC varies by day), label_date = date + h."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2024-01-01", periods=days)
    names = [f"T{i}" for i in range(tickers)]
    preds = pd.DataFrame([(d, t, rng.random()) for d in dates for t in names], columns=["date", "ticker", "score"])
    targets = preds.assign(
        fwd_return=preds["score"] + rng.normal(0, 0.5, len(preds)),
        label_date=preds["date"].map(dict(zip(dates[:-horizon], dates[horizon:]))),
    ).dropna(subset=["label_date"])[["date", "ticker", "label_date", "fwd_return"]]
    return dates, preds, targets


def test_realized_health_of_a_day_is_the_same_in_a_range_run_and_a_one_day_run():
    """The status of day T reads the label dates of the last 63 trading days up to T: a one-day run
    that loads them (the asset's lookback) stores what a range run over many days stored, and with
    one day fewer loaded it would not (the window is really read)."""
    from axion_pipeline.ml.config import MonitoringConfig

    config = MonitoringConfig()
    window = config.rolling_window_days
    dates, preds, targets = _health_inputs()
    run = dates[100:]
    ranged = realized_health(preds, targets, run, config).set_index("date")
    day = run[-1]
    loaded = targets.loc[targets["label_date"] >= dates[len(dates) - window]]
    one_day = realized_health(preds, loaded, [day], config).set_index("date")
    pd.testing.assert_frame_equal(one_day, ranged.loc[[day]], check_exact=False, rtol=1e-12)
    assert ranged.loc[day, "n_matured_dates"] == window and ranged.loc[day, "status"] != "unknown"
    short = realized_health(preds, targets.loc[targets["label_date"] > loaded["label_date"].min()], [day], config)
    assert short["n_matured_dates"].iloc[0] == window - 1 and short["status"].iloc[0] == "unknown"


def test_regime_duration_is_capped_so_a_one_day_run_counts_what_a_range_run_counted():
    """``duration_days`` counts consecutive days of one regime up to the cap: a range run over a long
    regime and a one-day run that loads cap - 1 days before its day store the same count."""
    dates = pd.bdate_range("2020-01-01", periods=600)
    features = pd.DataFrame({"date": dates, "x": 0.0})
    rules = pd.Series(["bull"] * 50 + ["bear"] * 550, index=dates)
    cap = 252
    ranged = regime_predictions(None, features, rules, max_duration=cap).set_index("date")["duration_days"]
    assert ranged.iloc[49] == 50 and ranged.iloc[50] == 1 and ranged.iloc[50 + cap - 1] == cap
    assert ranged.max() == cap and ranged.iloc[-1] == cap
    day = dates[-1]
    loaded = features.loc[features["date"] >= dates[-cap]]
    one_day = regime_predictions(None, loaded, rules, start=day, max_duration=cap)
    assert list(one_day["date"]) == [day] and one_day["duration_days"].iloc[0] == ranged.loc[day]
    shorter = regime_predictions(None, features.loc[features["date"] >= dates[-cap + 1]], rules, start=day)
    assert shorter["duration_days"].iloc[0] == cap - 1
