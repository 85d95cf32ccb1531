"""Value, quality, growth and fundamental momentum formulas on a hand-built snapshot.

Closes are constant (A 20, B 50, C 10, D 5, E 8), so market cap = close x shares is known exactly.
A has every raw field; B has negative equity, a loss and no interest expense; C carries spec-style
precomputed ratios (pe_ratio, roe, ...) that must win over its raw fields; D has only a dividend;
E has no fundamentals at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors import GrowthFactors, MomentumFactors, QualityFactors, ValueFactors

NAN = np.nan
A = {
    "eps": 2.0,
    "shares_outstanding": 100.0,
    "net_income": 200.0,
    "free_cash_flow": 100.0,
    "total_equity": 1000.0,
    "ebitda": 400.0,
    "total_debt": 500.0,
    "cash": 100.0,
    "dividends_paid": 40.0,
    "forward_eps": 2.5,
    "revenue": 4000.0,
    "operating_cash_flow": 300.0,
    "total_assets": 4000.0,
    "operating_income": 300.0,
    "gross_profit": 1600.0,
    "interest_expense": 30.0,
    "rnd_expense": 400.0,
    "total_assets_1y": 3600.0,
    "revenue_1y": 3200.0,
    "eps_1y": 1.6,
    "free_cash_flow_1y": 80.0,
    "revenue_growth_1y": 0.1,
    "gross_profit_1y": 1280.0,
    "eps_prev": 1.9,
    "forward_eps_prev": 2.4,
    "revenue_growth_prev": 0.2,
}
B = {
    **A,
    "total_equity": -200.0,
    "eps": -1.0,
    "net_income": -100.0,
    "interest_expense": 0.0,
    "forward_eps": NAN,
    "forward_eps_prev": NAN,
    "eps_prev": -0.5,
    "eps_1y": 0.0,
}
C = {**A, "pe_ratio": 8.0, "roe": 0.3, "debt_to_equity": 2.0, "revenue_growth": 0.05}
D = {"shares_outstanding": 10.0, "dividends_paid": 5.0}


@pytest.fixture(scope="module")
def data():
    dates = pd.bdate_range("2024-01-01", periods=30)
    close = pd.DataFrame({"A": 20.0, "B": 50.0, "C": 10.0, "D": 5.0, "E": 8.0}, index=dates)
    fundamentals = pd.DataFrame([A, B, C, D], index=["A", "B", "C", "D"])
    return close, fundamentals


def raw(calc, data):
    close, fundamentals = data
    return calc.compute_raw(close, fundamentals)


def test_value_formulas(data):
    v = raw(ValueFactors(), data)
    a = v.loc["A"]
    assert a["earnings_yield"] == pytest.approx(2.0 / 20.0)
    assert a["fcf_yield"] == pytest.approx(100.0 / 2000.0)
    assert a["book_to_market"] == pytest.approx(1000.0 / 2000.0)
    assert a["ev_ebitda"] == pytest.approx(400.0 / (2000.0 + 500.0 - 100.0))
    assert a["dividend_yield"] == pytest.approx(40.0 / 2000.0)
    assert a["forward_pe"] == pytest.approx(2.5 / 20.0)
    assert a["sales_yield"] == pytest.approx(4000.0 / 2000.0)
    assert a["cash_flow_yield"] == pytest.approx(300.0 / 2000.0)
    assert v.loc["B", "earnings_yield"] == pytest.approx(-1.0 / 50.0)  # a loss-maker's yield is negative
    assert v.loc["B", "book_to_market"] == pytest.approx(-200.0 / 5000.0)
    assert v.loc["C", "earnings_yield"] == pytest.approx(1.0 / 8.0)  # precomputed pe_ratio wins over eps / close
    assert np.isnan(v.loc["B", "forward_pe"])
    assert v.loc["D", "dividend_yield"] == pytest.approx(5.0 / 50.0)
    assert v.loc["E"].isna().all()


def test_quality_formulas(data):
    q = raw(QualityFactors(), data)
    a = q.loc["A"]
    assert a["roe"] == pytest.approx(0.2)
    assert a["roa"] == pytest.approx(0.05)
    assert a["roic"] == pytest.approx(300.0 * 0.79 / (500.0 + 1000.0 - 100.0))
    assert a["gross_profit_assets"] == pytest.approx(0.4)
    assert a["accruals"] == pytest.approx((200.0 - 300.0) / 3800.0)
    assert a["debt_equity"] == pytest.approx(0.5)
    assert a["interest_coverage"] == pytest.approx(10.0)
    assert a["gross_margin"] == pytest.approx(0.4)
    assert a["operating_margin"] == pytest.approx(0.075)
    assert a["cash_flow_to_assets"] == pytest.approx(0.075)
    assert a["asset_growth"] == pytest.approx(4000.0 / 3600.0 - 1.0)
    b = q.loc["B"]
    assert np.isnan(b["roe"]) and np.isnan(b["debt_equity"]) and np.isnan(b["interest_coverage"])
    assert q.loc["C", "roe"] == pytest.approx(0.3) and q.loc["C", "debt_equity"] == pytest.approx(2.0)


def test_growth_formulas(data):
    g = raw(GrowthFactors(), data)
    a = g.loc["A"]
    assert a["revenue_growth"] == pytest.approx(0.25)
    assert a["eps_growth"] == pytest.approx(0.25)
    assert a["fcf_growth"] == pytest.approx(0.25)
    assert a["growth_acceleration"] == pytest.approx(0.25 - 0.1)
    assert a["rnd_intensity"] == pytest.approx(0.1)
    assert a["gross_profit_growth"] == pytest.approx(0.25)
    assert a["forward_eps_growth"] == pytest.approx(0.25)
    assert np.isnan(g.loc["B", "eps_growth"])  # growth from a zero base is undefined
    assert g.loc["C", "revenue_growth"] == pytest.approx(0.05)
    assert g.loc["C", "growth_acceleration"] == pytest.approx(0.05 - 0.1)


def test_fundamental_momentum_formulas(data):
    m = raw(MomentumFactors(), data)
    assert m.loc["A", "earnings_momentum"] == pytest.approx((2.5 - 2.4) / 20.0)
    assert m.loc["B", "earnings_momentum"] == pytest.approx((-1.0 - -0.5) / 50.0)  # TTM EPS when no forward EPS
    assert m.loc["A", "revenue_momentum"] == pytest.approx(0.25 - 0.2)


def test_directions_and_missing_categories(data):
    close, fundamentals = data
    q = QualityFactors().compute(close, fundamentals)
    assert q.loc["A", "debt_equity"] == 1.0 and q.loc["C", "debt_equity"] == 0.0  # low leverage is best
    assert q.loc["C", "roe"] == 1.0 and q.loc["A", "roe"] == 0.0  # high ROE is best
    # accruals: B (-400/3800) is lowest, so best; A and C tie (-100/3800) and share the rank
    assert q.loc["B", "accruals"] == 1.0 and q.loc["A", "accruals"] == q.loc["C", "accruals"] == 0.25
    v = ValueFactors().compute(close, fundamentals)
    assert v.loc["C", "earnings_yield"] == 1.0 and v.loc["B", "earnings_yield"] == 0.0  # P/E 8 beats a loss
    # D has a dividend only: value is scored on it alone; its quality and growth are NaN
    assert np.isfinite(v.loc["D", "value"])
    assert np.isnan(q.loc["D", "quality"]) and np.isnan(GrowthFactors().compute(close, fundamentals).loc["D", "growth"])
    # E has no fundamentals: every fundamental category is NaN, never 0
    assert np.isnan(v.loc["E", "value"]) and np.isnan(q.loc["E", "quality"])


def test_snapshot_row_not_yet_available_is_masked(data):
    close, fundamentals = data
    f = fundamentals.assign(available_date=pd.Timestamp("2024-01-01"))
    f.loc["A", "available_date"] = close.index[-1] + pd.Timedelta(days=1)
    v = ValueFactors().compute_raw(close, f)
    assert v.loc["A"].isna().all() and np.isfinite(v.loc["C", "earnings_yield"])
