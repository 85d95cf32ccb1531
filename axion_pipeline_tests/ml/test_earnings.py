"""Earnings features (point in time) and the XGBoost beat/miss model on synthetic announcements."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.ml import EarningsModelConfig, EarningsPrediction, EarningsPredictionModel
from axion_pipeline.ml.earnings_features import FEATURE_COLUMNS, build_earnings_features


def synthetic_earnings(n_tickers: int = 40, n_quarters: int = 24, seed: int = 0):
    """Surprises follow s_t = 0.01 + 0.6 s_{t-1} + 0.06 e_t per ticker, so past surprises predict beats."""
    rng = np.random.default_rng(seed)
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    quarter_ends = pd.date_range("2012-03-31", periods=n_quarters, freq="QE")
    events, fundamentals = [], []
    for t in tickers:
        s, est, revenue = 0.0, 1.0 + rng.random(), 100.0
        for q in quarter_ends:
            s = 0.01 + 0.6 * s + 0.06 * rng.normal()
            est *= 1.0 + 0.02 * rng.normal()
            announce = q + pd.offsets.BDay(int(rng.integers(20, 35)))
            events.append(
                {
                    "ticker": t,
                    "announce_date": announce,
                    "fiscal_quarter_end": q,
                    "eps_estimate": est,
                    "eps_actual": est * (1.0 + s),
                    "surprise_pct": s,
                    "release_time": "pre" if rng.random() < 0.5 else "post",
                }
            )
            revenue *= 1.0 + 0.03 + 0.02 * rng.normal()
            fundamentals.append(
                {"ticker": t, "period_end": q, "available_date": q + pd.Timedelta(days=45), "revenue": revenue}
            )
    dates = pd.bdate_range(quarter_ends[0] - pd.Timedelta(days=120), quarter_ends[-1] + pd.Timedelta(days=60))
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.015, size=(len(dates), n_tickers)), axis=0))
    prices = pd.DataFrame(
        {"date": np.repeat(dates, n_tickers), "ticker": np.tile(tickers, len(dates)), "close": close.ravel()}
    )
    return pd.DataFrame(events), prices, pd.DataFrame(fundamentals)


@pytest.fixture(scope="module")
def data():
    events, prices, fundamentals = synthetic_earnings()
    X, y, s = build_earnings_features(events, prices, fundamentals)
    return events, prices, fundamentals, X, y, s


@pytest.fixture(scope="module")
def trained(data):
    *_, X, y, s = data
    model = EarningsPredictionModel(EarningsModelConfig(n_estimators=120, max_depth=3))
    metrics = model.train(X, y, surprise=s)
    return model, metrics


# -- features -----------------------------------------------------------------------------------
def test_feature_frame_shape_and_order(data):
    events, _, _, X, y, s = data
    assert list(X.columns) == FEATURE_COLUMNS
    assert X.index.names == ["ticker", "announce_date"] and len(X) == len(events)
    assert X.index.get_level_values("announce_date").is_monotonic_increasing
    assert y.index.equals(X.index) and s.index.equals(X.index)
    assert set(y.unique()) == {0.0, 1.0}
    assert X["momentum_63d"].notna().mean() > 0.95 and X["revenue_growth_yoy"].notna().mean() > 0.75


def test_features_hand_checked():
    dates = pd.bdate_range("2020-01-01", periods=120)
    prices = pd.DataFrame({"date": dates, "ticker": "A", "close": 100.0 * 1.01 ** np.arange(120)})
    announce = pd.to_datetime(["2020-01-20", "2020-02-20", "2020-03-20", "2020-04-20", "2020-05-20", "2020-05-21"])
    est = [1.0, 1.1, 1.2, 1.0, 1.25, 1.3]
    surprise = [0.1, -0.05, 0.2, 0.3, np.nan, 0.0]
    events = pd.DataFrame(
        {
            "ticker": "A",
            "announce_date": announce,
            "fiscal_quarter_end": announce - pd.Timedelta(days=30),
            "eps_estimate": est,
            "eps_actual": [e * (1 + s) for e, s in zip(est, surprise)],
            "surprise_pct": surprise,
            "release_time": ["pre", "post", "pre", "pre", None, "post"],
        }
    )
    periods = pd.to_datetime(["2019-03-31", "2019-06-30", "2019-09-30", "2019-12-31", "2020-03-31"])
    fundamentals = pd.DataFrame(
        {
            "ticker": "A",
            "period_end": periods,
            "available_date": periods + pd.Timedelta(days=45),
            "revenue": [100.0, 105.0, 110.0, 120.0, 130.0],
        }
    )
    fundamentals["available_date"] = fundamentals["available_date"].where(
        fundamentals.index < 4, pd.Timestamp("2020-05-20")
    )
    X, y, s = build_earnings_features(events, prices, fundamentals)
    row = X.loc[("A", pd.Timestamp("2020-05-20"))]
    assert row["surprise_last"] == pytest.approx(0.3)
    assert row["surprise_mean_2"] == pytest.approx(0.25)
    assert row["surprise_mean_4"] == pytest.approx(0.1375)
    assert row["beat_rate_4"] == pytest.approx(0.75)
    assert row["beat_streak"] == 2 and row["n_prior_events"] == 4
    assert row["estimate_revision"] == pytest.approx(0.25)  # 1.25 vs 1.0
    assert row["estimate_vs_prev_actual"] == pytest.approx(1.25 / 1.3 - 1.0)
    assert row["momentum_21d"] == pytest.approx(1.01**21 - 1.0)  # last close is the day before
    assert row["volatility_21d"] == pytest.approx(0.0, abs=1e-12)
    assert row["report_lag_days"] == 30 and np.isnan(row["release_pre"])
    # Q1 2020 becomes available on the announcement day itself, so it is not used: latest is Q4 2019.
    assert row["revenue_growth_qoq"] == pytest.approx(120.0 / 110.0 - 1.0)
    assert np.isnan(row["revenue_growth_yoy"])  # no period a year before Q4 2019 in the data
    nxt = X.loc[("A", pd.Timestamp("2020-05-21"))]
    assert nxt["revenue_growth_yoy"] == pytest.approx(0.30) and nxt["revenue_growth_qoq"] == pytest.approx(
        130 / 120 - 1
    )
    assert (
        nxt["beat_streak"] == 0 and nxt["surprise_last"] != nxt["surprise_last"]
    )  # unknown surprise breaks the streak
    first = X.loc[("A", pd.Timestamp("2020-01-20"))]
    assert first["n_prior_events"] == 0 and np.isnan(first["surprise_last"]) and np.isnan(first["momentum_21d"])
    assert np.isnan(y.loc[("A", pd.Timestamp("2020-05-20"))]) and y.loc[("A", pd.Timestamp("2020-05-21"))] == 0.0


BASE = synthetic_earnings(n_tickers=5, n_quarters=10, seed=1)
BASE_X = build_earnings_features(*BASE)[0]


@settings(max_examples=20, deadline=None)
@given(event=st.integers(0, len(BASE[0]) - 1), seed=st.integers(0, 2**31 - 1))
def test_nothing_on_or_after_the_announcement_changes_its_features(event, seed):
    events, prices, fundamentals = (f.copy() for f in BASE)
    rng = np.random.default_rng(seed)
    ticker, d = events.loc[event, "ticker"], events.loc[event, "announce_date"]
    later_px = prices["date"] >= d
    prices.loc[later_px, "close"] *= np.exp(rng.normal(0, 0.3, later_px.sum()))
    later_f = fundamentals["available_date"] >= d
    fundamentals.loc[later_f, "revenue"] *= rng.uniform(0.2, 5.0, later_f.sum())
    later_e = events["announce_date"] > d
    events.loc[later_e, ["eps_estimate", "eps_actual", "surprise_pct"]] = rng.normal(size=(later_e.sum(), 3))
    events.loc[event, ["eps_actual", "surprise_pct"]] = rng.normal(size=2)  # the outcome being predicted
    extra = events[later_e].head(2).assign(announce_date=lambda e: e["announce_date"] + pd.Timedelta(days=1))
    events = pd.concat([events, extra], ignore_index=True)
    X = build_earnings_features(events, prices, fundamentals)[0]
    pd.testing.assert_series_equal(X.loc[(ticker, d)], BASE_X.loc[(ticker, d)])


def test_conflicting_duplicate_events_are_refused():
    events, prices, _ = BASE
    dup = pd.concat([events, events.iloc[[3]].assign(eps_actual=9.9)], ignore_index=True)
    with pytest.raises(ValueError, match="share \\(ticker, announce_date\\)"):
        build_earnings_features(dup, prices)


# -- model --------------------------------------------------------------------------------------
def test_auc_well_above_chance(trained):
    model, metrics = trained
    assert metrics["auc"] > 0.6
    assert 0.0 <= metrics["brier_score"] < 0.25 and 0.5 < metrics["accuracy"] <= 1.0
    assert metrics["surprise_ic"] > 0.2
    assert metrics["n_train"] + metrics["n_holdout"] == 40 * 24
    assert model.get_feature_importance().index[0].startswith(("surprise", "beat", "estimate"))


def test_holdout_never_splits_a_date(data):
    *_, X, y, _ = data
    dup = X.iloc[:200]
    metrics = EarningsPredictionModel(EarningsModelConfig(n_estimators=20, holdout_fraction=0.3)).train(
        dup, y.iloc[:200]
    )
    dates = dup.index.get_level_values("announce_date")
    cut_date = np.sort(dates)[metrics["n_train"]]
    assert (dates[np.argsort(dates, kind="stable")][: metrics["n_train"]] < cut_date).all()


def test_predict_single_fields_and_input_forms(trained, data):
    model, _ = trained
    *_, X, _, _ = data
    row = X.iloc[-1]
    pred = model.predict_single("AAPL", row.to_dict())
    assert isinstance(pred, EarningsPrediction) and pred.symbol == "AAPL"
    batch = model.predict(X.iloc[[-1]]).iloc[0]
    assert pred.beat_probability == pytest.approx(batch["beat_probability"])
    assert pred.predicted_surprise == pytest.approx(batch["predicted_surprise"])
    assert pred.confidence == pytest.approx(abs(2 * pred.beat_probability - 1))
    assert pred.surprise_status == batch["surprise_status"] == "predicted"  # trained with surprises
    assert model.predict_single("AAPL", row) == pred == model.predict_single("AAPL", X.iloc[[-1]])
    with pytest.raises(ValueError, match="lacks the training features"):
        model.predict_single("AAPL", {"surprise_last": 0.1})


def test_save_load_identical(trained, data, tmp_path):
    model, _ = trained
    *_, X, _, _ = data
    model.save(tmp_path / "earnings")
    names = sorted(p.name for p in (tmp_path / "earnings").iterdir())
    assert names == ["classifier.json", "metadata.json", "regressor.json"]
    for name in names:
        json.loads((tmp_path / "earnings" / name).read_text())
    loaded = EarningsPredictionModel.load(tmp_path / "earnings")
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X))
    pd.testing.assert_series_equal(loaded.get_feature_importance(), model.get_feature_importance())


def test_spec_example_runs_as_written(data, tmp_path):
    *_, X, y, _ = data
    X_earnings, y_beat_miss = X, y
    earnings_features = X.iloc[-1].to_dict()
    # --- spec section 4, "Earnings prediction model", src. -> axion_pipeline. ---
    from axion_pipeline.ml import EarningsModelConfig, EarningsPredictionModel

    model = EarningsPredictionModel(config=EarningsModelConfig())
    metrics = model.train(X_earnings, y_beat_miss)
    prediction = model.predict_single("AAPL", earnings_features)
    # EarningsPrediction: symbol, beat_probability, predicted_surprise, confidence
    # --- end of spec example ---
    assert {"auc", "accuracy", "brier_score"} <= set(metrics)
    assert prediction.symbol == "AAPL" and 0.0 <= prediction.beat_probability <= 1.0
    assert np.isnan(prediction.predicted_surprise)  # trained without surprises: no size model
    # ... and the prediction says why, not a bare NaN (also after a save and load)
    assert prediction.surprise_status.startswith("no surprise model: trained without a surprise target")
    loaded = EarningsPredictionModel.load(model.save(tmp_path / "no_surprise"))
    assert loaded.predict_single("AAPL", earnings_features).surprise_status == prediction.surprise_status


def test_raw_estimators_are_the_fitted_xgboost_models(trained, data, tmp_path):
    import xgboost as xgb

    model, _ = trained
    *_, X, y, _ = data
    clf, reg = model.raw_classifier(), model.raw_regressor()
    assert isinstance(clf, xgb.XGBClassifier) and isinstance(reg, xgb.XGBRegressor)
    values = X[model.metadata.feature_names].to_numpy(dtype=float)
    pred = model.predict(X)
    np.testing.assert_array_equal(clf.predict_proba(values)[:, 1].astype(float), pred["beat_probability"].to_numpy())
    np.testing.assert_array_equal(reg.predict(values).astype(float), pred["predicted_surprise"].to_numpy())
    loaded = EarningsPredictionModel.load(model.save(tmp_path / "e"))
    np.testing.assert_array_equal(
        loaded.raw_classifier().predict_proba(values)[:, 1].astype(float), pred["beat_probability"].to_numpy()
    )
    with pytest.raises(RuntimeError, match="not fitted"):
        EarningsPredictionModel().raw_classifier()
    with pytest.raises(RuntimeError, match="not fitted"):
        EarningsPredictionModel().raw_regressor()
    no_size = EarningsPredictionModel(EarningsModelConfig(n_estimators=5, max_depth=2))
    no_size.train(X, y)
    assert no_size.raw_regressor() is None and isinstance(no_size.raw_classifier(), xgb.XGBClassifier)


def test_unparseable_xgboost_file_is_named(trained, tmp_path):
    """A manifest rewritten to vouch for a broken regressor: the error names that file."""
    from axion_pipeline.ml.base import METADATA_FILE, ModelLoadError, sha256_file

    directory = trained[0].save(tmp_path / "e")
    (directory / "regressor.json").write_text('{"learner": "not a model"}')
    meta = json.loads((directory / METADATA_FILE).read_text())
    meta["artifacts"] = {name: sha256_file(directory / name) for name in meta["artifacts"]}
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError) as exc:
        EarningsPredictionModel.load(directory)
    assert str(exc.value).startswith(f"{directory / 'regressor.json'}: XGBoost could not parse the model")
