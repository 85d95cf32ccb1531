"""Model evaluation on a small synthetic market: the rows are exactly the model's, the baselines
and characteristics are the price history's, the paired verdicts and exposures find what was
planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.factors.residual_reversal import residual_reversal
from axion_pipeline.ml import model_evaluation as ME
from axion_pipeline.ml.base import InsufficientDataError
from axion_pipeline.ml.baselines import baseline_scores
from axion_pipeline.ml.config import ModelEvaluationConfig

H = 5
N_DAYS, N_TICKERS = 330, 30
DAYS = pd.bdate_range("2020-01-01", periods=N_DAYS)
TICKERS = [f"T{i:02d}" for i in range(N_TICKERS)]


@pytest.fixture(scope="module")
def market():
    """Prices for 330 days; the model scored two folds (days 270..299 and 300..324) with a
    noisy copy of the 5-day forward return; ``value`` is that return itself (a better signal),
    the other categories are noise, ``composite`` is the size proxy (log dollar volume)."""
    rng = np.random.default_rng(2)
    close = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, (N_DAYS, N_TICKERS)), axis=0))
    volume = rng.integers(10_000, 90_000, (N_DAYS, N_TICKERS)).astype(float) * np.linspace(1, 5, N_TICKERS)
    prices = pd.DataFrame(
        {
            "date": np.repeat(DAYS, N_TICKERS),
            "ticker": np.tile(TICKERS, N_DAYS),
            "close": close.ravel(),
            "volume": volume.ravel(),
        }
    )
    fwd = np.full(close.shape, np.nan)
    fwd[:-H] = close[H:] / close[:-H] - 1
    rows = pd.DataFrame(
        {"date": np.repeat(DAYS, N_TICKERS), "ticker": np.tile(TICKERS, N_DAYS), "fwd_return": fwd.ravel()}
    )
    rows = rows[rows["date"] >= DAYS[270]].reset_index(drop=True)
    rows["fold"] = np.where(rows["date"] < DAYS[300], "fold_0", "fold_1")
    known = rows["fwd_return"].fillna(0.0).to_numpy()
    predictions = rows.assign(score=known + 0.04 * rng.normal(size=len(rows)))
    predictions["model_score"] = predictions["score"] + 0.04 * rng.normal(size=len(rows))
    size = baseline_scores(prices).set_index(["date", "ticker"])["log_dollar_volume_63d"]
    factors = rows[["date", "ticker"]].copy()
    factors["composite"] = size.reindex(pd.MultiIndex.from_frame(factors)).to_numpy()
    for name in CATEGORIES:
        factors[name] = rng.normal(size=len(rows))
    factors["value"] = known
    reference = predictions[["fold", "date", "ticker"]].assign(score=rng.normal(size=len(rows)))
    sectors = pd.DataFrame({"ticker": TICKERS, "sector": np.tile(["Tech", "Energy", "Health"], N_TICKERS // 3)})
    return predictions, factors, prices, reference, sectors


@pytest.fixture(scope="module")
def frame(market):
    predictions, factors, prices, reference, sectors = market
    return ME.evaluation_frame(predictions, factors, prices, reference, sectors)


def test_frame_holds_exactly_the_model_rows_with_every_signal(market, frame):
    predictions = market[0]
    assert len(frame) == len(predictions)
    pd.testing.assert_frame_equal(
        frame[["fold", "date", "ticker"]],
        predictions.sort_values(["date", "ticker"])[["fold", "date", "ticker"]].reset_index(drop=True),
    )
    assert list(ME.signal_kinds()) == [c for c in frame.columns if c in ME.signal_kinds()]
    # 12-1 momentum of T03 on the first test day, from the whole price history (252 days back)
    prices = market[2]
    close = prices.loc[prices["ticker"] == "T03"].set_index("date")["close"]
    row = frame.loc[(frame["ticker"] == "T03") & (frame["date"] == DAYS[270])].iloc[0]
    t = 270
    assert row["momentum_12_1"] == pytest.approx(close.iloc[t - 21] / close.iloc[t - 252] - 1)
    assert row["reversal_1m"] == pytest.approx(-(close.iloc[t] / close.iloc[t - 21] - 1))
    assert row["realized_vol_60d"] == pytest.approx(-row["low_vol_60d"]) and row["realized_vol_60d"] > 0
    assert frame[["momentum_12_1", "alpha158_reference", "composite", "beta_252d"]].notna().all().all()
    assert set(frame["sector"]) == {"Tech", "Energy", "Health"}
    # the ML score's parts: the model's own score and residual reversal on every ticker's closes
    np.testing.assert_array_equal(frame["model_alone"], predictions.sort_values(["date", "ticker"])["model_score"])
    wide = prices.pivot(index="date", columns="ticker", values="close")
    expected = residual_reversal(wide, [DAYS[300]]).iloc[0]
    on_day = frame.loc[frame["date"] == DAYS[300]].set_index("ticker")["residual_reversal"]
    pd.testing.assert_series_equal(on_day, expected.reindex(on_day.index), check_names=False)


def test_reference_rows_join_on_their_fold(market):
    predictions, factors, prices, reference, _ = market
    shifted = reference.assign(fold=np.where(reference["fold"] == "fold_0", "fold_1", "fold_0"))
    frame = ME.evaluation_frame(predictions, factors, prices, shifted)
    assert frame["alpha158_reference"].isna().all()
    assert "alpha158_reference" not in ME.evaluation_frame(predictions, factors, prices, reference.iloc[:0])


@pytest.fixture(scope="module")
def evaluation(frame):
    return ME.evaluate_model(frame, H, ModelEvaluationConfig(n_bootstrap=200))


def test_evaluation_rows_and_costs(evaluation):
    table = evaluation.evaluation
    signals = list(ME.signal_kinds())
    assert list(table["signal"].unique()) == signals
    assert set(table["fold"]) == {"fold_0", "fold_1", "all"} and len(table) == 3 * len(signals)
    overall = evaluation.overall().set_index("signal")
    assert overall.loc["ml_score", "kind"] == "model" and overall.loc["momentum_12_1", "kind"] == "baseline"
    assert overall.loc["value", "ic_mean"] > overall.loc["ml_score", "ic_mean"] > 0.5
    # net = gross - 10 bps x turnover, per period, so on the means as well
    gross, net, turnover = overall.loc["ml_score", ["ls_return_mean", "ls_return_net_mean", "turnover"]]
    assert net == pytest.approx(gross - 0.001 * turnover)


def test_paired_verdicts_flag_the_signal_the_model_loses_to(evaluation):
    paired = evaluation.paired.set_index("baseline")
    assert list(paired.index) == list(ME.signal_kinds())[1:]
    assert paired.loc["value", "verdict"] == "loses" and paired.loc["value", "diff_tstat_nw"] <= -2
    assert evaluation.verdicts("loses") == ["value"]
    assert {"quality", "growth", "momentum_12_1", "alpha158_reference"} <= set(evaluation.verdicts("beats"))
    assert evaluation.best_baseline() in ME.BASELINES


@pytest.mark.parametrize(
    ("tstat", "expected"),
    [(-2.0, "loses"), (-1.99, "no significant difference"), (2.0, "beats"), (np.nan, "undetermined")],
)
def test_verdict_thresholds(tstat, expected):
    assert ME.verdict(tstat, 2.0) == expected


def test_exposures_find_the_planted_size_bet(evaluation):
    exposures = evaluation.exposures.set_index(["signal", "fold"])
    assert list(exposures.columns) == ["n_dates", "beta", "volatility", "momentum", "size", "sector_r2"]
    assert set(exposures.index.get_level_values("signal")) == {"ml_score", "composite"}
    assert exposures.loc[("composite", "all"), "size"] == pytest.approx(1.0)  # the composite is the size proxy
    assert abs(exposures.loc[("ml_score", "all"), "size"]) < 0.3
    assert 0 <= exposures.loc[("ml_score", "all"), "sector_r2"] < 0.5


def test_no_realised_outcome_is_insufficient_data(frame):
    with pytest.raises(InsufficientDataError, match="forward return"):
        ME.evaluate_model(frame.assign(fwd_return=np.nan), H)
