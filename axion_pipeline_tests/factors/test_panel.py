"""compute_factor_panel: structure, equality with the single-date engine, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axion_pipeline.factor_engine import FactorEngineV2
from axion_pipeline.factor_engine.panel import compute_factor_panel
from axion_pipeline.factors import build_fundamentals_snapshot, create_default_registry
from axion_pipeline_tests.factors.synthetic import synthetic_market

CATS = ["value", "momentum", "quality", "growth", "volatility", "technical"]
SUBS = [n for names in create_default_registry().list_factors().values() for n in names]


@pytest.fixture(scope="module")
def market():
    return synthetic_market(n_tickers=10, n_days=330, seed=11)


@pytest.fixture(scope="module")
def panel(market):
    return compute_factor_panel(
        market["prices"],
        market["fundamentals"],
        market["sp500"],
        start=market["dates"][200],
        end=market["dates"][-1],
        sectors=market["sectors"],
    )


def test_panel_structure(market, panel):
    weight_cols = [f"weight_{c}" for c in CATS]
    assert list(panel.columns) == ["date", "ticker", *SUBS, *CATS, "composite", "regime", *weight_cols]
    assert panel["date"].min() == market["dates"][200] and panel["date"].max() == market["dates"][-1]
    assert not panel.duplicated(["date", "ticker"]).any()
    alive = market["close"].loc[market["dates"][200] :].notna().sum().sum()
    assert len(panel) == alive  # one row per name with a close, every date
    np.testing.assert_allclose(panel[weight_cols].sum(axis=1), 1.0, atol=1e-12)
    scores = panel[[*CATS, "composite"]].to_numpy()
    assert np.nanmin(scores) >= 0.0 and np.nanmax(scores) <= 1.0
    assert set(panel["regime"]) <= {"bull", "bear", "sideways", "crisis"}
    per_date = panel.groupby("date")
    assert (per_date["composite"].min() == 0.0).all() and (per_date["composite"].max() == 1.0).all()
    assert (per_date["regime"].nunique() == 1).all()


@pytest.mark.parametrize("offset", [200, 265, 329])
def test_panel_equals_single_date_engine(market, panel, offset):
    t = market["dates"][offset]
    engine = FactorEngineV2()
    single = engine.compute_all_scores(
        market["close"],
        market["fundamentals"],
        market["sp500"],
        as_of_date=t,
        volume=market["volume"],
        sectors=market["sectors"],
    )
    row = panel[panel["date"] == t].set_index("ticker")
    np.testing.assert_allclose(
        row[CATS + ["composite"]].to_numpy(dtype=float),
        single[CATS + ["composite"]].to_numpy(dtype=float),
        atol=1e-12,
        rtol=0,
    )
    assert (row["regime"] == single["regime"]).all()
    assert row[[f"weight_{c}" for c in CATS]].iloc[0].to_numpy() == pytest.approx(
        [engine.last_weights[c] for c in CATS], abs=1e-12
    )
    raw = engine.last_panel.raw
    for name in SUBS:
        np.testing.assert_allclose(
            row[name].to_numpy(), raw[name].loc[t].reindex(row.index).to_numpy(), atol=1e-12, rtol=0, err_msg=name
        )


def test_panel_without_overlay_equals_engine_on_a_snapshot(market):
    start = market["dates"][280]
    p = compute_factor_panel(
        market["prices"],
        market["fundamentals"],
        market["sp500"],
        start=start,
        sectors=market["sectors"],
        use_momentum_overlay=False,
    )
    engine = FactorEngineV2(use_momentum_overlay=False)
    for t in (start, market["dates"][-1]):
        close = market["close"].loc[:t]
        snap = build_fundamentals_snapshot(market["fundamentals"], t, close.iloc[-1])
        single = engine.compute_all_scores(
            close, snap, market["sp500"], volume=market["volume"], sectors=market["sectors"]
        )
        row = p[p["date"] == t].set_index("ticker")
        np.testing.assert_allclose(
            row[CATS + ["composite"]].to_numpy(dtype=float),
            single[CATS + ["composite"]].to_numpy(dtype=float),
            atol=1e-12,
            rtol=0,
        )


def test_panel_static_weights_option(market):
    p = compute_factor_panel(
        market["prices"],
        market["fundamentals"],
        None,
        start=market["dates"][-3],
        use_adaptive_weights=False,
        use_sector_relative=False,
    )
    w = create_default_registry().get_default_weights()
    assert p[[f"weight_{c}" for c in CATS]].iloc[0].to_numpy() == pytest.approx([w[c] for c in CATS])
    assert p["date"].nunique() == 3


def test_empty_window_is_an_error(market):
    with pytest.raises(ValueError, match="no trading dates"):
        compute_factor_panel(market["prices"], market["fundamentals"], start="2030-01-01")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=150, max_value=320), seed=st.integers(0, 10_000))
def test_point_in_time_panel(market, cut, seed):
    """Rows dated <= t are the same whether the data ends at t or carries (changed) data after t,
    including restated fundamentals published after t."""
    t = market["dates"][cut]
    start = market["dates"][cut - 5]
    rng = np.random.default_rng(seed)
    prices = market["prices"].copy()
    later = prices["date"] > t
    prices.loc[later, "close"] *= rng.uniform(0.5, 2.0, later.sum())
    prices.loc[later, "volume"] *= 3.0
    fund = market["fundamentals"]
    restated = fund.assign(available_date=t + pd.Timedelta(days=1), revenue=fund["revenue"] * 3.0, eps=-1.0)
    full = compute_factor_panel(
        prices, pd.concat([fund, restated]), market["sp500"], start=start, sectors=market["sectors"]
    )
    cut_off = compute_factor_panel(
        market["prices"][market["prices"]["date"] <= t],
        fund,
        market["sp500"].loc[:t],
        start=start,
        sectors=market["sectors"],
    )
    pd.testing.assert_frame_equal(
        full[full["date"] <= t].reset_index(drop=True), cut_off, check_exact=False, atol=1e-12, rtol=0
    )


def test_empty_fundamentals_leave_fundamental_categories_missing(market):
    from axion_pipeline.data.contracts import FUNDAMENTAL_COLUMNS, empty_frame

    p = compute_factor_panel(
        market["prices"], empty_frame(FUNDAMENTAL_COLUMNS), market["sp500"], start=market["dates"][-2]
    )
    assert p[["value", "quality", "growth"]].isna().all().all()
    assert p[["momentum", "volatility", "technical", "composite"]].notna().all().all()


def test_history_days_needed_is_all_the_history_a_days_scores_read():
    """Scores of the last day from exactly ``history_days_needed()`` earlier days equal those from the
    whole history (the RSI's exponential average aside, at the 1e-8 level), so a one-day run stores
    what a backfill stored; one day fewer and the overlay's oldest category return changes the weights."""
    from axion_pipeline.factor_engine.panel import history_days_needed

    m = synthetic_market(n_tickers=20, n_days=700, seed=3)
    dates, day = m["dates"], m["dates"][-1]

    def scores(days_before):
        first = dates[len(dates) - 1 - days_before] if days_before is not None else dates[0]
        prices = m["prices"][m["prices"]["date"] >= first]
        return compute_factor_panel(prices, m["fundamentals"], m["sp500"].loc[first:], start=day, sectors=m["sectors"])

    needed = history_days_needed()
    assert needed == 252 + 63
    full, enough, short = scores(None), scores(needed), scores(needed - 1)
    pd.testing.assert_frame_equal(enough, full, check_exact=False, rtol=1e-6, atol=1e-9)
    weights = [f"weight_{c}" for c in CATS]
    assert np.abs(short[weights].to_numpy() - full[weights].to_numpy()).max() > 1e-4
