"""Quarterly accounts driven by each firm's latent traits and anchored to its market value.

Per quarter (vectorised over firms), with traits and prices read at the quarter end:
- revenue grows ``1.2% + REVENUE_GROWTH_PER_SD x growth`` a quarter, takes in part (THETA) of the
  firm's relative price move as business news, and error-corrects (KAPPA) toward the level at which
  the earnings yield is ``5% x exp(0.40 value - GROWTH_MULTIPLE x growth)``: value firms earn a lot
  relative to their price, growth firms grow revenue fast and trade at a premium;
- net margin ``9% + 3.5% x quality`` with persistent noise that is larger for low-quality firms
  (some post losses); book equity accumulates retained earnings and drifts toward
  ``mcap x 0.35 exp(0.35 value - 0.30 quality)``: quality firms have high ROE and ROA, low
  debt / equity and low (negative) accruals ``(NI - OCF) / assets``;
- the other lines follow from accounting identities (operating income <= gross profit <= revenue,
  EBITDA = EBIT + D&A, FCF = OCF - capex, EPS = net income / shares).
Flow fields are trailing-twelve-month sums of the quarters; a row becomes known at its
``available_date`` (the filing, 25-60 days after the quarter end).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import FUNDAMENTAL_COLUMNS

from .config import GROWTH_MULTIPLE, REVENUE_GROWTH_PER_SD, SECTORS
from .earnings import TTM_QUARTERS, ReportingSchedule

KAPPA = 0.12
THETA = 0.3
EY_VALUE = 0.40
REVENUE_NOISE = 0.03
EQUITY_KAPPA = 0.15
TAX_RATE = 0.21
FLOWS = (
    "revenue",
    "gross_profit",
    "operating_income",
    "ebitda",
    "net_income",
    "interest_expense",
    "rnd_expense",
    "operating_cash_flow",
    "capital_expenditure",
    "free_cash_flow",
    "dividends_paid",
)
STOCKS = ("total_assets", "total_equity", "total_debt", "cash", "shares_outstanding")
_EXTRA = ("eps_quarter", "growth_expected", "margin_expected")


def _sector_array(sector_idx: np.ndarray, attribute: str) -> np.ndarray:
    return np.array([getattr(p, attribute) for p in SECTORS.values()])[sector_idx]


def _firm_constants(rng: np.random.Generator, sector_idx: np.ndarray) -> dict[str, np.ndarray]:
    n = len(sector_idx)
    return {
        "gross_margin": np.clip(_sector_array(sector_idx, "gross_margin") + 0.05 * rng.standard_normal(n), 0.12, 0.85),
        "leverage": np.log(0.5) + _sector_array(sector_idx, "leverage") + 0.25 * rng.standard_normal(n),
        "capex": _sector_array(sector_idx, "capex_ratio") * np.exp(0.2 * rng.standard_normal(n)),
        "payout": 0.35 + 0.1 * rng.standard_normal(n),
        "other_liabilities": _sector_array(sector_idx, "other_liabilities"),
        "rnd_share": _sector_array(sector_idx, "rnd_share"),
    }


def _statement_lines(
    rng: np.random.Generator,
    firm: dict[str, np.ndarray],
    revenue: np.ndarray,
    net_income: np.ndarray,
    dividends: np.ndarray,
    equity: np.ndarray,
    quality: np.ndarray,
    growth: np.ndarray,
    shares: np.ndarray,
) -> dict[str, np.ndarray]:
    """All fields of one quarter from revenue, net income, dividends and equity."""
    n = len(revenue)
    debt = equity * np.exp(firm["leverage"] - 0.45 * quality)
    assets = (equity + debt) / (1.0 - firm["other_liabilities"])
    cash_share = np.clip(0.07 + 0.02 * quality + 0.03 * growth + 0.02 * rng.standard_normal(n), 0.01, 0.4)
    interest = debt * np.clip(0.045 - 0.008 * quality, 0.02, 0.10) / 4.0
    pretax = np.where(net_income > 0, net_income / (1.0 - TAX_RATE), net_income)
    operating_income = pretax + interest
    gross_margin = firm["gross_margin"] * np.exp(0.06 * quality)
    gross_profit = np.minimum(np.maximum(gross_margin * revenue, operating_income + 0.03 * revenue), revenue)
    depreciation = revenue * (0.6 * firm["capex"] + 0.01)
    capex = revenue * firm["capex"] * np.exp(0.3 * growth + 0.1 * rng.standard_normal(n))
    accrual_ratio = -0.04 - 0.025 * quality + 0.015 * rng.standard_normal(n)
    ocf = net_income - accrual_ratio * assets / 4.0
    return {
        "revenue": revenue,
        "gross_profit": gross_profit,
        "operating_income": operating_income,
        "ebitda": operating_income + depreciation,
        "net_income": net_income,
        "interest_expense": interest,
        "rnd_expense": np.maximum(gross_profit - operating_income, 0.0) * firm["rnd_share"],
        "operating_cash_flow": ocf,
        "capital_expenditure": capex,
        "free_cash_flow": ocf - capex,
        "dividends_paid": dividends,
        "total_assets": assets,
        "total_equity": equity,
        "total_debt": debt,
        "cash": assets * cash_share,
        "shares_outstanding": shares,
        "eps_quarter": net_income / shares,
    }


def simulate_accounts(
    rng: np.random.Generator,
    schedule: ReportingSchedule,
    days: pd.DatetimeIndex,
    close: np.ndarray,
    shares: np.ndarray,
    traits: np.ndarray,
    sector_idx: np.ndarray,
) -> dict[str, np.ndarray]:
    """Quarterly flows and quarter-end stocks, arrays of shape (quarters, tickers).

    Look-ahead: each quarter reads prices and traits at or before its quarter end only.
    """
    n_q, n = len(schedule.period_end), len(sector_idx)
    day_of_q = np.clip(np.searchsorted(days.values, schedule.period_end.values, side="right") - 1, 0, None)
    firm = _firm_constants(rng, sector_idx)
    out = {k: np.zeros((n_q, n)) for k in (*FLOWS, *STOCKS, *_EXTRA)}
    log_rev = equity = None
    margin_dev, margin_add = np.zeros(n), np.zeros(n)
    log_close_prev = np.log(close[day_of_q[0]])
    for q in range(n_q):
        t = day_of_q[q]
        value, quality, growth = traits[t, :, 0], traits[t, :, 1], traits[t, :, 3]
        move = np.log(close[t]) - log_close_prev
        log_close_prev = np.log(close[t])
        mcap = close[t] * shares[t]
        expected_margin = np.clip(0.09 + 0.035 * quality, 0.02, 0.35)
        earnings_yield = 0.05 * np.exp(EY_VALUE * value - GROWTH_MULTIPLE * growth)
        target = np.log(mcap * earnings_yield / expected_margin / 4.0)
        growth_rate = 0.012 + REVENUE_GROWTH_PER_SD * growth
        if log_rev is None:
            log_rev = target
        else:
            news = THETA * (move - np.median(move)) + REVENUE_NOISE * rng.standard_normal(n)
            log_rev = log_rev + growth_rate + news + KAPPA * (target - log_rev)
        revenue = np.exp(log_rev)
        margin_dev = 0.5 * margin_dev + 0.12 * np.exp(-0.3 * quality) * rng.standard_normal(n)
        margin_add = 0.5 * margin_add + 0.025 * np.exp(-0.5 * quality) * rng.standard_normal(n)
        net_income = revenue * (expected_margin * (1.0 + margin_dev) + margin_add)

        payout = np.clip(firm["payout"] + 0.12 * quality - 0.15 * growth, 0.0, 0.9)
        dividends = np.maximum(net_income, 0.0) * payout
        equity_target = mcap * 0.35 * np.exp(0.35 * value - 0.30 * quality - 0.10 * growth)
        if equity is None:
            equity = equity_target
        else:
            equity = equity + net_income - dividends + EQUITY_KAPPA * (equity_target - equity)
        equity = np.maximum(equity, 0.05 * equity_target)

        lines = _statement_lines(rng, firm, revenue, net_income, dividends, equity, quality, growth, shares[t])
        lines["growth_expected"], lines["margin_expected"] = growth_rate, expected_margin
        for name, values in lines.items():
            out[name][q] = values
    out.update(_trailing_and_consensus(rng, out))
    return out


def _trailing_and_consensus(rng: np.random.Generator, accounts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TTM sums of the flows (``ttm_<flow>``) and consensus next-twelve-month EPS (``forward_eps``).

    The consensus extrapolates the expected revenue growth and has the margin revert half way to
    normal, with analyst noise; it is known at the filing. The first TTM_QUARTERS - 1 rows are
    incomplete sums and are never emitted.
    """
    n_q, n = accounts["revenue"].shape
    out = {}
    for name in FLOWS:
        cumulative = np.cumsum(accounts[name], axis=0)
        out[f"ttm_{name}"] = cumulative - np.vstack([np.zeros((TTM_QUARTERS, n)), cumulative[:-TTM_QUARTERS]])
    margin = out["ttm_net_income"] / out["ttm_revenue"]
    forward_margin = 0.5 * (margin + accounts["margin_expected"])
    forward_income = out["ttm_revenue"] * np.exp(4 * accounts["growth_expected"]) * forward_margin
    noise = 1.0 + 0.03 * rng.standard_normal((n_q, n))
    out["forward_eps"] = forward_income / accounts["shares_outstanding"] * noise
    return out


def fundamentals_frame(
    accounts: dict[str, np.ndarray], schedule: ReportingSchedule, tickers: np.ndarray
) -> pd.DataFrame:
    """Canonical quarterly rows (TTM flows) for every filed quarter with four quarters of history."""
    emit = schedule.reported.copy()
    emit[: TTM_QUARTERS - 1] = False
    q, i = np.nonzero(emit)
    frame = pd.DataFrame(
        {
            "ticker": tickers[i].astype(object),
            "period_end": pd.to_datetime(schedule.period_end.values[q]),
            "available_date": pd.to_datetime(schedule.available_date[q, i]),
            "period_type": "Q",
        }
    )
    for name in FLOWS:
        frame[name] = accounts[f"ttm_{name}"][q, i]
    for name in (*STOCKS, "forward_eps"):
        frame[name] = accounts[name][q, i]
    frame["eps"] = frame["net_income"] / frame["shares_outstanding"]
    frame = frame.sort_values(["period_end", "ticker"], kind="mergesort").reset_index(drop=True)
    return frame[FUNDAMENTAL_COLUMNS]
