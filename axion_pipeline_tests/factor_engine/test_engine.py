"""FactorEngineV2: the spec's examples, score conventions, weights, regimes, sector blend,
missing data, and the point-in-time property."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axion_pipeline.factor_engine import AdaptiveWeightManager, FactorEngineV2, MarketRegime, RegimeDetector
from axion_pipeline.factor_engine.panel import composite_score
from axion_pipeline.factors import build_fundamentals_snapshot, percentile_rank
from axion_pipeline.factors.registry import create_default_registry
from axion_pipeline_tests.factors.synthetic import synthetic_market
from axion_pipeline_tests.spec_examples import BLOCKS

CATS = ["value", "momentum", "quality", "growth", "volatility", "technical"]

# The spec's section 1 (``spec_examples``); ``date`` comes from the surrounding namespace, as in the spec.
SPEC_SECTION_1 = BLOCKS["SECTION_1"]

# Step 1 of the spec's "Integration with factor engine" example.
SPEC_INTEGRATION_STEP_1 = """
engine = FactorEngineV2()
scores = engine.compute_all_scores(prices, fundamentals)
"""


@pytest.fixture(scope="module")
def market():
    return synthetic_market(n_tickers=12, n_days=420, seed=0)


def spec_style(market, as_of) -> pd.DataFrame:
    """tickers x precomputed ratios, as the spec describes fundamentals_df."""
    close = market["close"].loc[:as_of].iloc[-1]
    s = build_fundamentals_snapshot(market["fundamentals"], as_of, close)
    return pd.DataFrame(
        {
            "pe_ratio": close.reindex(s.index) / s["eps"],
            "pb_ratio": s["market_cap"] / s["total_equity"],
            "roe": s["net_income"] / s["total_equity"],
            "revenue_growth": s["revenue_growth"],
            "debt_to_equity": s["total_debt"] / s["total_equity"],
            "dividend_yield": s["dividends_paid"] / s["market_cap"],
            "sector": market["sectors"].reindex(s.index),
        }
    )


def test_spec_section_1_runs_as_written(market):
    as_of = pd.Timestamp("2026-02-06")  # 2026-02-07 is a Saturday
    ns = {
        "prices_df": market["close"],
        "fundamentals_df": spec_style(market, as_of),
        "sp500_series": market["sp500"],
        "date": date,
    }
    exec(SPEC_SECTION_1, ns)
    scores, engine = ns["scores"], ns["engine"]
    assert list(scores.columns) == [*CATS, "composite", "regime"]
    assert engine.last_as_of == as_of
    assert isinstance(ns["regime"], MarketRegime) and (scores["regime"] == ns["regime"].value).all()
    assert sum(ns["weights"].values()) == pytest.approx(1.0) and set(ns["weights"]) == set(CATS)
    b = ns["breakdown"]
    assert set(b["category_scores"]) == set(CATS) and b["regime"] in {r.value for r in MarketRegime}
    # the breakdown, called without the S&P 500, reports the regime and scores of the same date
    assert b["regime"] == ns["regime"].value and b["regime_source"] == "sp500_prices"
    assert b["category_scores"] == pytest.approx(scores.loc["AAPL", CATS].astype(float).to_dict(), nan_ok=True)
    assert sum(len(v) for v in b["sub_factors"].values()) == create_default_registry().total_factor_count()
    assert list(ns["v1_scores"].columns) == ["value", "momentum", "quality", "growth"]
    # the precomputed pe_ratio drives earnings_yield: scores follow 1 / pe
    pe = ns["fundamentals_df"]["pe_ratio"]
    ey_scores = engine.compute_v1_compatible_scores(market["close"], pe.to_frame())["value"]
    pd.testing.assert_series_equal(ey_scores.dropna(), percentile_rank(1.0 / pe).dropna(), check_names=False)


def test_integration_step_1_and_score_conventions(market):
    ns = {"FactorEngineV2": FactorEngineV2, "prices": market["close"], "fundamentals": market["fundamentals"]}
    exec(SPEC_INTEGRATION_STEP_1, ns)
    scores = ns["scores"]
    values = scores[[*CATS, "composite"]].to_numpy(dtype=float)
    assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0
    assert scores["composite"].min() == 0.0 and scores["composite"].max() == 1.0
    assert scores["composite"].notna().all()
    assert list(scores.index) == sorted(market["tickers"])


def test_ticker_without_fundamentals_is_scored_on_prices(market):
    scores = FactorEngineV2().compute_all_scores(
        market["close"], market["fundamentals"], market["sp500"], volume=market["volume"]
    )
    bare = market["tickers"][-1]
    assert scores.loc[bare, ["value", "quality", "growth"]].isna().all()
    assert scores.loc[bare, ["momentum", "volatility", "technical", "composite"]].notna().all()
    others = scores.drop(index=bare)
    assert others[[*CATS, "composite"]].notna().all().all()


def test_static_weights_and_composite_by_hand(market):
    engine = FactorEngineV2(use_adaptive_weights=False, use_sector_relative=False)
    scores = engine.compute_all_scores(market["close"], market["fundamentals"], market["sp500"])
    w = create_default_registry().get_default_weights()
    assert engine.last_weights == pytest.approx(w)
    cats = scores[CATS]
    weights = pd.Series(w)[CATS]
    mean = (cats.fillna(0.0) * weights).sum(axis=1) / (cats.notna() * weights).sum(axis=1)
    np.testing.assert_allclose(scores["composite"], percentile_rank(mean), atol=1e-12)


def test_adaptive_weights_come_from_the_manager(market):
    engine = FactorEngineV2(use_momentum_overlay=False)
    engine.compute_all_scores(market["close"], market["fundamentals"], market["sp500"])
    expected = AdaptiveWeightManager(use_momentum_overlay=False).get_weights(engine.last_regime)
    assert engine.last_weights == pytest.approx(expected, abs=1e-12)
    assert engine.last_regime == RegimeDetector().detect(market["sp500"])


def test_regime_without_sp500_uses_the_equal_weighted_universe(market):
    close = market["close"]
    engine = FactorEngineV2()
    engine.compute_all_scores(close, market["fundamentals"])
    index = 100.0 * (1.0 + close.pct_change(fill_method=None).mean(axis=1).fillna(0.0)).cumprod()
    assert engine.last_regime == RegimeDetector().detect(index)


def test_one_regime_per_date_with_or_without_sp500_in_the_call(market):
    """The spec's section 1 passes the S&P 500 to compute_all_scores but not to
    get_factor_breakdown: both must use the same series, so the same date has one regime and one
    set of scores. Steadily falling and rising indexes make the possible series disagree."""
    close, fund = market["close"], market["fundamentals"]
    steps = np.arange(len(close))
    falling = pd.Series(3000.0 * np.exp(-0.001 * steps), index=close.index)
    rising = pd.Series(3000.0 * np.exp(0.001 * steps), index=close.index)
    by_index = RegimeDetector().detect(falling)
    assert by_index == MarketRegime.BEAR and RegimeDetector().detect(rising) == MarketRegime.BULL
    by_universe = FactorEngineV2().get_factor_breakdown("AAPL", close, fund)
    assert by_universe["regime_source"] == "equal_weight_universe"
    assert by_universe["regime"] != by_index.value  # otherwise this test could not fail

    engine = FactorEngineV2()
    scores = engine.compute_all_scores(close, fund, sp500_prices=falling)
    b = engine.get_factor_breakdown("AAPL", close, fund)
    assert scores.attrs["regime_source"] == b["regime_source"] == engine.last_regime_source == "sp500_prices"
    assert (scores["regime"] == by_index.value).all() and b["regime"] == by_index.value
    # beta is measured on the same index: every score agrees too
    assert b["category_scores"] == pytest.approx(scores.loc["AAPL", CATS].astype(float).to_dict())
    assert b["composite"] == pytest.approx(scores.loc["AAPL", "composite"])
    # an engine built with the series behaves the same from its first call
    built = FactorEngineV2(sp500_prices=falling).get_factor_breakdown("AAPL", close, fund)
    assert built["regime"] == by_index.value and built["composite"] == pytest.approx(b["composite"])
    # a later call given another series uses (and keeps) that one
    again = engine.compute_all_scores(close, fund, sp500_prices=rising)
    assert (again["regime"] == "bull").all()
    assert engine.get_factor_breakdown("AAPL", close, fund)["regime"] == "bull"


def test_sector_relative_blend_by_hand(market):
    kw = {"sp500_prices": market["sp500"], "sectors": market["sectors"]}
    plain = FactorEngineV2(use_sector_relative=False, use_momentum_overlay=False).compute_all_scores(
        market["close"], market["fundamentals"], **kw
    )
    blended = FactorEngineV2(use_sector_relative=True, use_momentum_overlay=False).compute_all_scores(
        market["close"], market["fundamentals"], **kw
    )
    sectors = market["sectors"]
    for c in CATS:
        g = plain[c]
        within = g.copy() * np.nan
        for _, names in g.groupby(sectors.reindex(g.index)).groups.items():
            sub = g.loc[names]
            if sub.notna().sum() >= 3:
                within.loc[names] = percentile_rank(sub)  # rank of the combined score = rank of g
        within = within.fillna(g)
        np.testing.assert_allclose(blended[c], percentile_rank(0.5 * g + 0.5 * within), atol=1e-12, err_msg=c)
    # sector-relative differs from plain somewhere, and without sectors it is a no-op
    assert not np.allclose(blended["value"].fillna(-1), plain["value"].fillna(-1))
    no_sectors = FactorEngineV2(use_momentum_overlay=False).compute_all_scores(
        market["close"], market["fundamentals"], market["sp500"]
    )
    pd.testing.assert_frame_equal(no_sectors, plain)


def test_breakdown_matches_scores(market):
    engine = FactorEngineV2()
    kw = {"sp500_prices": market["sp500"], "volume": market["volume"]}
    scores = engine.compute_all_scores(market["close"], market["fundamentals"], **kw)
    b = engine.get_factor_breakdown("T03", market["close"], market["fundamentals"], **kw)
    assert b["category_scores"] == pytest.approx(scores.loc["T03", CATS].astype(float).to_dict())
    assert b["composite"] == pytest.approx(scores.loc["T03", "composite"])
    assert b["sub_factors"]["value"]["earnings_yield"]["raw"] == pytest.approx(
        engine.last_panel.raw["earnings_yield"]["T03"].iloc[-1]
    )
    subs = [v["score"] for cat in b["sub_factors"].values() for v in cat.values()]
    assert all(0.0 <= s <= 1.0 for s in subs if not np.isnan(s))
    assert b["weights"] == pytest.approx(engine.last_weights)
    with pytest.raises(KeyError):
        engine.get_factor_breakdown("NOPE", market["close"], market["fundamentals"], **kw)


def test_long_inputs_are_accepted(market):
    engine = FactorEngineV2(use_momentum_overlay=False)
    wide = engine.compute_all_scores(market["close"], market["fundamentals"], market["sp500"], volume=market["volume"])
    long = engine.compute_all_scores(market["prices"], market["fundamentals"], market["sp500"])
    pd.testing.assert_frame_equal(wide, long)


@pytest.fixture(scope="module")
def pit_market():
    return synthetic_market(n_tickers=8, n_days=300, seed=5)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=120, max_value=290), shock=st.floats(0.3, 3.0), seed=st.integers(0, 10_000))
def test_point_in_time_engine(pit_market, cut, shock, seed):
    """Changing prices, the S&P 500, volume or fundamentals after t never changes scores at t."""
    m = pit_market
    t = m["dates"][cut]
    rng = np.random.default_rng(seed)
    close, sp500, volume = m["close"].copy(), m["sp500"].copy(), m["volume"].copy()
    after = close.index > t
    close.loc[after] *= rng.uniform(0.3, 3.0, (after.sum(), close.shape[1]))
    sp500.loc[after] *= shock
    volume.loc[after] *= 2.0
    fund = m["fundamentals"]
    future = fund.sample(5, random_state=seed).assign(
        available_date=t + pd.Timedelta(days=1), revenue=lambda f: f["revenue"] * shock, eps=-3.0
    )
    future.loc[future.index[0], "period_end"] = t - pd.Timedelta(days=300)
    engine = FactorEngineV2()
    base = engine.compute_all_scores(
        m["close"], fund, m["sp500"], as_of_date=t, volume=m["volume"], sectors=m["sectors"]
    )
    base_weights = engine.last_weights
    moved = engine.compute_all_scores(
        close, pd.concat([fund, future]), sp500, as_of_date=t, volume=volume, sectors=m["sectors"]
    )
    pd.testing.assert_frame_equal(base, moved, check_exact=False, atol=1e-12, rtol=0)
    assert engine.last_weights == pytest.approx(base_weights, abs=1e-12)


def test_composite_is_nan_when_no_category_has_a_weight():
    cats = {"esg": pd.DataFrame([[0.2, 0.8]]), "value": pd.DataFrame([[1.0, 0.0]])}
    none = composite_score(cats, pd.DataFrame({"momentum": [1.0]}))
    assert none.isna().all().all() and none.shape == (1, 2)
    only_value = composite_score(cats, pd.DataFrame({"value": [1.0]}))
    np.testing.assert_array_equal(only_value.to_numpy(), [[1.0, 0.0]])
