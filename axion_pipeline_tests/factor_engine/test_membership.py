"""Index membership in the factor engine: a name enters a date's cross-sections only while a member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.breadth import equal_weight_index
from axion_pipeline.factor_engine import FactorEngineV2, RegimeDetector
from axion_pipeline.factor_engine.panel import compute_factor_panel
from axion_pipeline_tests.factors.synthetic import synthetic_market

CATS = ["value", "momentum", "quality", "growth", "volatility", "technical", "composite"]


@pytest.fixture(scope="module")
def market():
    return synthetic_market(n_tickers=10, n_days=330, seed=4)


def everyone(tickers, start="1990-01-01") -> pd.DataFrame:
    return pd.DataFrame({"ticker": list(tickers), "start_date": pd.Timestamp(start), "end_date": pd.NaT})


def panel(market, membership=None, prices=None, **kw):
    prices = market["prices"] if prices is None else prices
    return compute_factor_panel(
        prices, market["fundamentals"], market["sp500"], sectors=market["sectors"], membership=membership, **kw
    )


@pytest.fixture(scope="module")
def unrestricted(market):
    return panel(market)


def test_open_membership_of_everyone_changes_nothing(market, unrestricted):
    tickers = market["close"].columns
    pd.testing.assert_frame_equal(panel(market, everyone(tickers)), unrestricted)
    empty = everyone([])  # no intervals: no membership information, everyone is in
    pd.testing.assert_frame_equal(panel(market, empty), unrestricted)


def test_a_name_never_a_member_is_as_if_it_had_no_prices(market):
    """Every rank, the sector-relative blend, the overlay's long-short returns and the composite are
    computed among members only: excluding T03 equals deleting its prices."""
    tickers = [t for t in market["close"].columns if t != "T03"]
    restricted = panel(market, everyone(tickers))
    dropped = panel(market, prices=market["prices"][market["prices"]["ticker"] != "T03"])
    assert "T03" not in set(restricted["ticker"])
    pd.testing.assert_frame_equal(restricted, dropped, check_exact=False, rtol=1e-12, atol=1e-12)


def test_a_name_joining_later_keeps_its_price_history_for_raw_factors(market, unrestricted):
    dates = market["dates"]
    joined = dates[280]
    m = pd.concat([everyone([t for t in market["close"].columns if t != "T05"]), everyone(["T05"], joined)])
    scores = panel(market, m)
    t05 = scores[scores["ticker"] == "T05"]
    assert t05["date"].min() == joined and len(t05) == len(dates) - 280
    # its 12-1 month momentum on the day it joins uses a year of closes from before it joined
    before = unrestricted.set_index(["date", "ticker"])
    assert np.isfinite(t05.iloc[0]["ret_12m_1m"])
    assert t05.iloc[0]["ret_12m_1m"] == before.loc[(joined, "T05"), "ret_12m_1m"]
    # before it joins the other names are ranked without it: (average rank - 1) / (n - 1) among the n
    # scored members (halves where the sector blend ties two names)
    day = scores[scores["date"] == dates[200]]
    assert len(day) == 9 and day["composite"].min() == 0.0 and day["composite"].max() == 1.0
    for c in CATS:
        values = day[c].dropna().to_numpy()
        steps = values * 2 * (len(values) - 1)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-9, err_msg=c)
    assert day["composite"].notna().sum() == 9


def test_single_date_engine_agrees_with_the_panel_under_membership(market):
    dates = market["dates"]
    m = pd.DataFrame(
        {
            "ticker": ["AAPL", "T01", "T02", "T04", "T06", "T07", "T08", "T02"],
            "start_date": [dates[0]] * 6 + [dates[0], dates[310]],
            "end_date": [pd.NaT] * 5 + [dates[300], dates[250], pd.NaT],
        }
    )
    scores = panel(market, m).set_index(["date", "ticker"])
    for t in (dates[260], dates[305], dates[-1]):
        engine = FactorEngineV2()
        one = engine.compute_all_scores(
            market["close"],
            market["fundamentals"],
            market["sp500"],
            as_of_date=t,
            sectors=market["sectors"],
            volume=market["volume"],
            membership=m,
        )
        expected = scores.xs(t, level="date")[CATS]
        assert sorted(one.index) == sorted(expected.index)
        pd.testing.assert_frame_equal(one[CATS].sort_index().astype(float), expected.sort_index(), atol=1e-12)
    with pytest.raises(KeyError, match="not a member"):
        FactorEngineV2().get_factor_breakdown("T03", market["close"], market["fundamentals"], membership=m)


def test_regime_fallback_uses_the_equal_weighted_index_of_the_members(market):
    close = market["close"]
    members = ["AAPL", "T01", "T02", "T03"]
    engine = FactorEngineV2()
    engine.compute_all_scores(close, market["fundamentals"], membership=everyone(members))
    returns = close.pct_change(fill_method=None)
    index = 100.0 * (1.0 + returns[members].mean(axis=1).fillna(0.0)).cumprod()
    assert engine.last_regime == RegimeDetector().detect(index)
    mask = np.zeros(close.shape, dtype=bool)
    mask[:, :4] = True
    pd.testing.assert_series_equal(equal_weight_index(returns, mask), index, check_names=False)
