"""Tests of the simulated market: contracts, stylized facts and the planted truth.

Most tests use a small market (80 tickers x 3 years); the regime-drift test uses a long, narrow
one (20 years, 30 tickers) and the calibration test the default configuration.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_COLUMNS,
    MARKET_SERIES_COLUMNS,
    PRICE_COLUMNS,
    REGIMES,
    REJECTED_COLUMNS,
    SECTOR_COLUMNS,
    TRUE_ALPHA_COLUMNS,
    TRUE_REGIME_COLUMNS,
)
from axion_pipeline.data.simulator import (
    PREMIA,
    REGIME_DRIFT,
    SECTORS,
    TRANSITION,
    TRUE_EXPOSURE_COLUMNS,
    SimulationConfig,
    forward_rank_ic,
    oracle_rank_ic,
    simulate_market,
    spell_lengths,
    stationary_distribution,
)
from axion_pipeline.data.simulator.regimes import simulate_regimes

SMALL = SimulationConfig(seed=11, n_tickers=80, start="2021-01-04", end="2023-12-29")
LONG = SimulationConfig(seed=5, n_tickers=30, start="2005-01-03", end="2024-12-31")


@pytest.fixture(scope="module")
def market():
    return simulate_market(SMALL)


@pytest.fixture(scope="module")
def long_market():
    return simulate_market(LONG)


@pytest.fixture(scope="module")
def default_market():
    return simulate_market()


@pytest.fixture(scope="module")
def close(market):
    return market.prices.pivot(index="date", columns="ticker", values="close")


@pytest.fixture(scope="module")
def daily_returns(close):
    return close.pct_change(fill_method=None).iloc[1:]


def _merged_regimes(data) -> pd.DataFrame:
    frame = data.market_series.merge(data.true_regimes, on="date")
    frame["index_return"] = frame["sp500_close"].pct_change()
    return frame


# --- determinism and contracts -------------------------------------------------------------


def test_same_config_gives_identical_frames_and_new_seed_new_data(market):
    again = simulate_market(SMALL)
    names = ("prices", "fundamentals", "sectors", "market_series", "earnings_events", "true_regimes", "true_alpha")
    for name in names:
        pd.testing.assert_frame_equal(getattr(market, name), getattr(again, name))
    other = simulate_market(SimulationConfig(seed=12, n_tickers=80, start="2021-01-04", end="2023-12-29"))
    assert not np.allclose(
        market.market_series["sp500_close"].to_numpy(), other.market_series["sp500_close"].to_numpy()
    )
    assert set(market.sectors["ticker"]) != set(other.sectors["ticker"])


def test_frames_follow_the_contracts(market):
    expected_columns = {
        "prices": PRICE_COLUMNS,
        "fundamentals": FUNDAMENTAL_COLUMNS,
        "sectors": SECTOR_COLUMNS,
        "market_series": MARKET_SERIES_COLUMNS,
        "earnings_events": EARNINGS_COLUMNS,
        "true_regimes": TRUE_REGIME_COLUMNS,
    }
    date_columns = {"date", "period_end", "available_date", "announce_date", "fiscal_quarter_end"}
    text_columns = {"ticker", "sector", "period_type", "release_time", "regime"}
    for name, columns in expected_columns.items():
        frame = getattr(market, name)
        assert list(frame.columns) == columns, name
        assert len(frame) > 0, name
        for column in columns:
            dtype = frame[column].dtype
            if column in date_columns:
                assert dtype == "datetime64[ns]", (name, column)
            elif column in text_columns:
                assert dtype is np.dtype(object) and frame[column].map(type).eq(str).all(), (name, column)
            else:
                assert dtype == "float64", (name, column)
    assert list(market.true_alpha.columns) == [*TRUE_ALPHA_COLUMNS, *TRUE_EXPOSURE_COLUMNS]
    assert market.source == "simulated"
    assert list(market.rejected_rows.columns) == REJECTED_COLUMNS and market.rejected_rows.empty
    assert market.read_counts == {name: len(getattr(market, name)) for name in market.read_counts}
    assert set(market.read_counts) == {"prices", "fundamentals", "sectors", "market_series", "earnings_events"}


def test_trading_days_are_weekdays_and_rows_unique(market):
    days = pd.bdate_range(SMALL.start, SMALL.end)
    assert market.trading_days.equals(days)
    assert market.market_series["date"].tolist() == list(days)
    assert market.true_regimes["date"].tolist() == list(days)
    assert not market.prices.duplicated(["date", "ticker"]).any()
    keys = ["date", "ticker"]
    pd.testing.assert_frame_equal(market.prices[keys], market.true_alpha[keys])


def test_config_rejects_unusable_values():
    with pytest.raises(ValueError):
        SimulationConfig(n_tickers=2)
    with pytest.raises(ValueError):
        SimulationConfig(start="2024-01-01", end="2024-02-01")
    with pytest.raises(ValueError):
        SimulationConfig(listing_fraction=0.9)


def test_tickers_readable_unique_with_gics_sectors(market, default_market):
    tickers = market.sectors["ticker"]
    assert tickers.is_unique and len(tickers) == SMALL.n_tickers
    assert tickers.str.fullmatch(r"[A-Z]{3,4}").all()
    assert set(market.prices["ticker"]) == set(tickers)
    assert set(default_market.sectors["sector"]) == set(SECTORS) and len(SECTORS) == 11
    counts = default_market.sectors["sector"].value_counts()
    assert counts.min() >= 10


# --- prices -----------------------------------------------------------------------------------


def test_ohlcv_is_consistent(market):
    p = market.prices
    assert p[["open", "high", "low", "close", "volume"]].notna().all().all()
    assert (p["low"] > 0).all() and (p["volume"] > 0).all()
    body_low = np.minimum(p["open"], p["close"])
    body_high = np.maximum(p["open"], p["close"])
    assert (p["low"] <= body_low).all() and (body_low <= body_high).all() and (body_high <= p["high"]).all()
    assert (p["high"] > p["low"]).mean() > 0.99


def test_returns_have_fat_tails_and_volatility_clustering(daily_returns):
    pooled = daily_returns.stack().to_numpy()
    assert stats.kurtosis(pooled, fisher=False) > 3.0
    per_stock = daily_returns.apply(lambda r: stats.kurtosis(r.dropna(), fisher=False))
    assert per_stock.median() > 3.0
    abs_ac = [daily_returns[c].abs().autocorr(lag) for c in daily_returns.columns for lag in (1, 2, 5)]
    raw_ac = [daily_returns[c].autocorr(1) for c in daily_returns.columns]
    assert np.nanmean(abs_ac) > 0.03
    assert abs(np.nanmean(raw_ac)) < 0.05


def test_market_beta_and_sector_comovement(market, daily_returns):
    corr = daily_returns.corr(min_periods=200).to_numpy()
    sector = market.sectors.set_index("ticker")["sector"].reindex(daily_returns.columns).to_numpy()
    upper = np.triu(np.ones_like(corr, dtype=bool), k=1) & np.isfinite(corr)
    same = upper & (sector[:, None] == sector[None, :])
    assert corr[upper].mean() > 0.05
    assert corr[same].mean() > corr[upper & ~same].mean() + 0.05


def test_listings_and_delistings_exist(market):
    first = market.prices.groupby("ticker")["date"].min()
    last = market.prices.groupby("ticker")["date"].max()
    start, end = market.trading_days[0], market.trading_days[-1]
    listed, delisted = (first > start).sum(), (last < end).sum()
    assert 1 <= listed <= 0.1 * SMALL.n_tickers
    assert 1 <= delisted <= 0.1 * SMALL.n_tickers
    position = pd.Series(np.arange(len(market.trading_days)), index=market.trading_days)
    per_ticker = market.prices.groupby("ticker")["date"].agg(["min", "max", "count"])
    spans = per_ticker["max"].map(position) - per_ticker["min"].map(position) + 1
    assert (spans == per_ticker["count"]).all()  # no gaps inside a ticker's life


# --- regimes ----------------------------------------------------------------------------------


def test_regime_chain_is_persistent_and_crisis_rare():
    states = simulate_regimes(np.random.default_rng(0), 100_000, TRANSITION, ensure_all=False)
    shares = np.bincount(states, minlength=4) / len(states)
    np.testing.assert_allclose(shares, stationary_distribution(TRANSITION), atol=0.03)
    assert shares[REGIMES.index("crisis")] < 0.08
    spells = spell_lengths(np.asarray(REGIMES, dtype=object)[states]).groupby("regime")["length"].mean()
    assert spells.min() >= 10
    assert spells["bull"] > 50
    assert spells["crisis"] < spells["bear"] < spells["bull"]


def test_true_regimes_cover_every_day_and_all_regimes(market):
    regimes = market.true_regimes["regime"]
    assert set(regimes) == set(REGIMES)
    assert spell_lengths(regimes.to_numpy())["length"].mean() > 10


def test_regimes_move_index_drift_and_volatility(long_market):
    frame = _merged_regimes(long_market).groupby("regime")["index_return"].agg(["mean", "std"])
    assert frame.loc["bull", "mean"] > 0 > frame.loc["bear", "mean"]
    assert frame.loc["bull", "mean"] > frame.loc["crisis", "mean"]
    assert frame.loc["crisis", "std"] > frame.loc["bear", "std"] > frame.loc["bull", "std"]


def test_market_series_react_to_regimes(market, long_market):
    for data in (market, long_market):
        means = _merged_regimes(data).groupby("regime").mean(numeric_only=True)
        assert means.loc["crisis", "vix"] > means.loc["bull", "vix"] + 10
        assert means.loc["crisis", "vix"] - means.loc["crisis", "vix_3m"] > 0  # backwardation in stress
        assert means.loc["bull", "vix_3m"] > means.loc["bull", "vix"]  # contango in calm
        assert means.loc["crisis", "hy_spread"] > means.loc["bull", "hy_spread"]
        assert means.loc["bear", "hy_spread"] > means.loc["bull", "hy_spread"]
        assert means.loc["crisis", "ig_spread"] > means.loc["bull", "ig_spread"]
        assert means.loc["crisis", "put_call_ratio"] > means.loc["bull", "put_call_ratio"]
    means = _merged_regimes(long_market).groupby("regime").mean(numeric_only=True)
    slope = means["yield_10y"] - means["yield_2y"]
    assert slope["bull"] > 0.5 and slope["bear"] < slope["bull"] - 0.5 and slope["crisis"] < slope["bull"] - 0.5


def test_market_series_levels_and_breadth(market):
    ms = market.market_series
    assert ms["sp500_close"].iloc[0] == pytest.approx(SMALL.index_start_level)
    numeric = ms.drop(columns=["date", "advance_decline", "pct_above_200sma"])
    assert numeric.notna().all().all() and (numeric > 0).all().all()
    assert ms["vix"].min() >= 9.0
    breadth = breadth_from_prices(market.prices)
    pd.testing.assert_frame_equal(
        ms[["date", "advance_decline", "pct_above_200sma"]].reset_index(drop=True), breadth, check_exact=True
    )


# --- planted alpha ----------------------------------------------------------------------------


def test_expected_return_is_the_planted_formula(market):
    alpha = market.true_alpha.merge(market.true_regimes, on="date")
    state = alpha["regime"].map({r: i for i, r in enumerate(REGIMES)}).to_numpy()
    exposures = alpha[["true_value", "true_quality", "true_momentum", "true_lowvol", "true_growth"]].to_numpy()
    drift = (TRANSITION @ REGIME_DRIFT)[state]
    premia = (TRANSITION @ PREMIA)[state]
    rebuilt = alpha["true_beta"].to_numpy() * drift + (exposures * premia).sum(axis=1)
    np.testing.assert_allclose(alpha["expected_return"].to_numpy(), rebuilt, rtol=1e-10, atol=1e-14)


def test_momentum_exposure_is_point_in_time(market, close):
    log_close = np.log(close)
    for t in (300, 450, 700):
        raw = log_close.iloc[t - 21] - log_close.iloc[t - 252]
        raw = raw[close.iloc[t - 252].notna() & close.iloc[t].notna()]
        z = ((raw - raw.mean()) / raw.std(ddof=0)).clip(-3, 3)
        day = market.true_alpha[market.true_alpha["date"] == close.index[t]].set_index("ticker")["true_momentum"]
        np.testing.assert_allclose(day.reindex(z.index).to_numpy(), z.to_numpy(), atol=1e-9)


def test_oracle_rank_ic_is_positive_and_moderate(market, close):
    ic = oracle_rank_ic(market, horizon=21)
    assert 0.03 < ic.mean() < 0.2
    scores = market.true_alpha.pivot(index="date", columns="ticker", values="expected_return")
    forward = close.shift(-21) / close - 1
    for date in ic.index[[0, 100, 400]]:
        both = pd.concat([scores.loc[date], forward.loc[date]], axis=1).dropna()
        assert ic[date] == pytest.approx(stats.spearmanr(both.iloc[:, 0], both.iloc[:, 1])[0], abs=1e-12)


def _factor_score_ic(data) -> float:
    """Rank IC of the planted factor part: exposures x expected premia given the day's regime."""
    alpha = data.true_alpha.merge(data.true_regimes, on="date")
    state = alpha["regime"].map({r: i for i, r in enumerate(REGIMES)}).to_numpy()
    exposures = alpha[["true_value", "true_quality", "true_momentum", "true_lowvol", "true_growth"]].to_numpy()
    alpha["score"] = (exposures * (TRANSITION @ PREMIA)[state]).sum(axis=1)
    close = data.prices.pivot(index="date", columns="ticker", values="close")
    return forward_rank_ic(alpha.pivot(index="date", columns="ticker", values="score"), close).mean()


def test_factor_premia_carry_the_signal(market, close):
    """Same shocks with the premia switched off: the factor part loses its predictive power."""
    no_alpha = simulate_market(dataclasses.replace(SMALL, alpha_scale=0.0))
    with_premia, without = _factor_score_ic(market), _factor_score_ic(no_alpha)
    assert with_premia > 0.03
    assert with_premia > without + 0.03
    shuffled = market.true_alpha.assign(
        expected_return=np.random.default_rng(0).permutation(market.true_alpha["expected_return"].to_numpy())
    ).pivot(index="date", columns="ticker", values="expected_return")
    assert abs(forward_rank_ic(shuffled, close).mean()) < 0.02


def test_default_config_oracle_ic_is_calibrated(default_market):
    assert 0.05 < oracle_rank_ic(default_market, horizon=21).mean() < 0.15
    regimes = default_market.true_regimes["regime"].value_counts(normalize=True)
    assert regimes["crisis"] < 0.08


# --- fundamentals -----------------------------------------------------------------------------


def test_fundamentals_are_point_in_time_and_consistent(market):
    f = market.fundamentals
    assert (f["period_type"] == "Q").all() and f["period_end"].dt.is_quarter_end.all()
    lag = (f["available_date"] - f["period_end"]).dt.days
    assert lag.between(25, 60).all() and lag.nunique() > 10
    assert not f.duplicated(["ticker", "period_end"]).any()
    last_price = market.prices.groupby("ticker")["date"].max()
    assert (f["available_date"] <= f["ticker"].map(last_price)).all()
    assert f[list(FUNDAMENTAL_COLUMNS[4:])].notna().all().all()
    positive = ["revenue", "total_assets", "total_equity", "shares_outstanding"]
    for col in [*positive, "interest_expense", "capital_expenditure"]:
        assert (f[col] > 0).all(), col
    assert (f["dividends_paid"] >= 0).all() and (f["rnd_expense"] >= 0).all()
    assert (f["gross_profit"] <= f["revenue"]).all()
    assert (f["operating_income"] <= f["gross_profit"]).all()
    assert (f["ebitda"] >= f["operating_income"]).all()
    assert (f["cash"] < f["total_assets"]).all()
    np.testing.assert_allclose(f["free_cash_flow"], f["operating_cash_flow"] - f["capital_expenditure"], rtol=1e-9)
    np.testing.assert_allclose(f["eps"], f["net_income"] / f["shares_outstanding"], rtol=1e-9)
    assert 0.0 < (f["net_income"] < 0).mean() < 0.2


def test_fundamentals_reflect_true_characteristics(market):
    f = market.fundamentals.copy()
    quarter_end = f["period_end"].to_numpy().astype("datetime64[D]")
    f["date"] = pd.to_datetime(np.busday_offset(quarter_end, 0, roll="backward"))  # last trading day
    f = f.merge(market.prices[["date", "ticker", "close"]], on=["date", "ticker"]).merge(
        market.true_alpha, on=["date", "ticker"]
    )
    cap = f["close"] * f["shares_outstanding"]
    f = f.assign(
        earnings_yield=f["net_income"] / cap,
        book_to_price=f["total_equity"] / cap,
        cash_flow_yield=f["operating_cash_flow"] / cap,
        roe=f["net_income"] / f["total_equity"],
        roa=f["net_income"] / f["total_assets"],
        debt_to_equity=f["total_debt"] / f["total_equity"],
        accruals=(f["net_income"] - f["operating_cash_flow"]) / f["total_assets"],
    ).sort_values(["ticker", "period_end"])
    f["revenue_growth"] = f.groupby("ticker")["revenue"].pct_change(4)

    def mean_rank_corr(x: str, y: str) -> float:
        per_period = f.groupby("period_end")[[x, y]].apply(lambda g: g[x].corr(g[y], method="spearman"))
        return per_period.mean()

    for metric in ("earnings_yield", "book_to_price", "cash_flow_yield"):
        assert mean_rank_corr("true_value", metric) > 0.15, metric
    for metric in ("roe", "roa"):
        assert mean_rank_corr("true_quality", metric) > 0.4, metric
    assert mean_rank_corr("true_quality", "debt_to_equity") < -0.4
    assert mean_rank_corr("true_quality", "accruals") < -0.4
    assert mean_rank_corr("true_growth", "revenue_growth") > 0.15


def test_low_vol_firms_have_lower_volatility(market, daily_returns):
    lowvol = market.true_alpha.groupby("ticker")["true_lowvol"].mean()
    realised = daily_returns.std().reindex(lowvol.index)
    assert lowvol.corr(realised, method="spearman") < -0.4


# --- earnings ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def events(market):
    e = market.earnings_events.sort_values(["ticker", "announce_date"]).reset_index(drop=True)
    e["previous"] = e.groupby("ticker")["surprise_pct"].shift()
    return e


def test_earnings_events_are_consistent_with_filings(market, events):
    assert not events.duplicated(["ticker", "fiscal_quarter_end"]).any()
    assert set(events["release_time"]) == {"pre", "post"}
    surprise = (events["eps_actual"] - events["eps_estimate"]) / events["eps_estimate"].abs()
    np.testing.assert_allclose(events["surprise_pct"], surprise, rtol=1e-9)
    filings = market.fundamentals.rename(columns={"period_end": "fiscal_quarter_end"})
    keys = ["ticker", "fiscal_quarter_end"]
    joined = events.merge(filings[[*keys, "available_date"]], on=keys)
    assert len(joined) > 0.95 * len(events)
    assert (joined["announce_date"] <= joined["available_date"]).all()
    assert (joined["announce_date"] > joined["fiscal_quarter_end"]).all()
    per_quarter = events.groupby("fiscal_quarter_end")["ticker"].nunique()
    assert per_quarter.median() >= 0.9 * SMALL.n_tickers


def test_beats_are_realistic_and_predictable(market, events):
    beat = events["surprise_pct"] > 0
    assert 0.55 < beat.mean() < 0.75
    known = events.dropna(subset=["previous"])
    assert known["previous"].corr(known["surprise_pct"]) > 0.15
    assert beat[known.index][known["previous"] > 0].mean() > beat[known.index][known["previous"] < 0].mean() + 0.1
    # Price momentum at the last close before the news also predicts the surprise.
    momentum = market.true_alpha[["date", "ticker", "true_momentum"]]
    cutoff = np.where(
        events["release_time"] == "post",
        events["announce_date"],
        events["announce_date"] - pd.offsets.BDay(1),
    )
    merged = events.assign(date=pd.to_datetime(cutoff)).merge(momentum, on=["date", "ticker"])
    merged = merged[merged["true_momentum"] != 0]
    assert merged["true_momentum"].corr(merged["surprise_pct"], method="spearman") > 0.05


def test_estimate_revisions_predict_surprises(market, events):
    f = market.fundamentals.sort_values(["ticker", "period_end"])
    f["revision"] = f.groupby("ticker")["forward_eps"].pct_change(fill_method=None)
    f["fiscal_quarter_end"] = f["period_end"] + pd.offsets.QuarterEnd(1)  # the quarter announced next
    merged = events.merge(f[["ticker", "fiscal_quarter_end", "revision"]], on=["ticker", "fiscal_quarter_end"])
    merged = merged.dropna(subset=["revision"])
    assert len(merged) > 0.5 * len(events)
    assert merged["revision"].corr(merged["surprise_pct"], method="spearman") > 0.1


def test_prices_react_to_surprises(events, close):
    returns = close.pct_change(fill_method=None)
    reaction_day = np.where(
        events["release_time"] == "post", events["announce_date"] + pd.offsets.BDay(1), events["announce_date"]
    )
    reaction = [
        returns.at[day, ticker] if day in returns.index else np.nan
        for day, ticker in zip(pd.to_datetime(reaction_day), events["ticker"])
    ]
    frame = events.assign(reaction=reaction).dropna(subset=["reaction"])
    assert frame["reaction"].corr(frame["surprise_pct"], method="spearman") > 0.2
