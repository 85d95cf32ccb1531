"""FactorRegistry and the spec's section 2 example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors import FactorRegistry, ValueFactors
from axion_pipeline.factors.registry import create_default_registry
from axion_pipeline_tests.factors.synthetic import synthetic_market
from axion_pipeline_tests.spec_examples import BLOCKS

# The spec's section 2 (``spec_examples``).
SPEC_SECTION_2 = BLOCKS["SECTION_2"]

SPEC_NAMES = {
    "value": ["earnings_yield", "fcf_yield", "book_to_market", "ev_ebitda", "dividend_yield", "forward_pe"],
    "momentum": ["ret_12m_1m", "ret_6m_1m", "ret_3m", "high_52w_proximity", "earnings_momentum", "revenue_momentum"],
    "quality": ["roe", "roa", "roic", "gross_profit_assets", "accruals", "debt_equity", "interest_coverage"],
    "growth": ["revenue_growth", "eps_growth", "fcf_growth", "growth_acceleration", "rnd_intensity"],
    "volatility": ["realized_vol", "idiosyncratic_vol", "beta", "downside_beta", "max_drawdown"],
    "technical": ["rsi", "macd", "volume_trend", "price_vs_sma", "bollinger_bands"],
}


@pytest.fixture(scope="module")
def market():
    return synthetic_market(n_tickers=8, n_days=300, seed=3)


def test_default_registry_has_every_spec_factor_and_40_plus():
    registry = create_default_registry()
    listed = registry.list_factors()
    assert list(listed) == ["value", "momentum", "quality", "growth", "volatility", "technical"]
    for category, names in SPEC_NAMES.items():
        assert set(names) <= set(listed[category]), category
    assert registry.total_factor_count() == sum(len(v) for v in listed.values()) >= 40
    all_names = [n for names in listed.values() for n in names]
    assert len(all_names) == len(set(all_names))
    formulas = registry.factor_formulas()
    assert all(formulas[c][n] for c in listed for n in listed[c])


def test_default_weights_sum_to_one():
    w = create_default_registry().get_default_weights()
    assert set(w) == {"value", "momentum", "quality", "growth", "volatility", "technical"}
    assert sum(w.values()) == pytest.approx(1.0) and min(w.values()) > 0


def test_register_validates():
    registry = FactorRegistry().register(ValueFactors())
    assert registry.categories == ["value"]
    with pytest.raises(TypeError):
        registry.register(object())

    class Clash(ValueFactors):
        category = "other"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Clash())
    with pytest.raises(KeyError):
        registry.get("nope")


def test_spec_section_2_runs_as_written(market):
    ns = {"prices_df": market["close"], "fundamentals_df": market["fundamentals"]}
    exec(SPEC_SECTION_2, ns)
    assert ns["total"] >= 40
    value_scores, all_scores = ns["value_scores"], ns["all_scores"]
    assert list(value_scores.columns) == [*SPEC_NAMES["value"], "sales_yield", "cash_flow_yield", "value"]
    assert set(all_scores) == set(ns["all_factors"])
    alive = market["close"].iloc[-1].dropna().index
    for category, frame in all_scores.items():
        assert list(frame.index) == sorted(alive)
        values = frame.to_numpy(dtype=float)
        assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 1.0
        assert frame[category].notna().any()
    pd.testing.assert_frame_equal(all_scores["value"], value_scores)
    no_fund = market["tickers"][-1]
    assert np.isnan(all_scores["value"].loc[no_fund, "value"])
    assert np.isfinite(all_scores["momentum"].loc[no_fund, "momentum"])


# The documented convention: these sub-factors score best when LOW; every other one when high.
LOWER_IS_BETTER = {
    "short_term_reversal",
    "accruals",
    "debt_equity",
    "asset_growth",
    "realized_vol",
    "idiosyncratic_vol",
    "beta",
    "downside_beta",
    "downside_vol",
    "amihud_illiquidity",
    "rsi",
    "bollinger_bands",
}


@pytest.fixture(scope="module")
def raw_and_scores(market):
    registry = create_default_registry()
    kw = {"volume": market["volume"], "sp500": market["sp500"]}
    raw = pd.concat([calc.compute_raw(market["close"], market["fundamentals"], **kw) for _, calc in registry], axis=1)
    scores = pd.concat(registry.compute_all(market["close"], market["fundamentals"], **kw).values(), axis=1)
    return raw, scores


@pytest.mark.parametrize("name", [n for names in create_default_registry().list_factors().values() for n in names])
def test_direction_of_every_sub_factor(raw_and_scores, name):
    raw, scores = raw_and_scores
    calc = next(c for _, c in create_default_registry() if name in c.factor_names)
    sub = next(f for f in calc.sub_factors() if f.name == name)
    assert sub.higher_is_better == (name not in LOWER_IS_BETTER)
    r = raw[name].dropna()
    assert r.nunique() >= 3, "the synthetic market must spread this factor"
    best, worst = (r.idxmax(), r.idxmin()) if sub.higher_is_better else (r.idxmin(), r.idxmax())
    assert scores.loc[best, name] == 1.0 and scores.loc[worst, name] == 0.0
    assert scores[name].isna().equals(raw[name].isna())
