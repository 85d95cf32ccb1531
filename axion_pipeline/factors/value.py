"""Value: what a share costs relative to what the company earns, owns and pays out.

Every ratio is a yield (fundamental / price), higher = cheaper = better. Multiples where low is
good (P/E, EV/EBITDA, P/B, P/S) are scored through their inverse, so that loss-makers (negative
earnings) rank last instead of looking cheapest; among profitable firms ranking the yield
high-to-low is the same as ranking the multiple low-to-high.

Market cap = close_t x shares_outstanding, so the yields move with the price every day while the
fundamental stays the one available at t. A spec-style precomputed column (pe_ratio, pb_ratio,
ps_ratio, ev_ebitda, forward_pe, fcf_yield, dividend_yield, ...) is used where present and not
missing; the raw-field formula fills the rest. Look-ahead: fundamentals enter through
``FactorInputs.field`` (available_date <= t only); the price is the close of t.
"""

from __future__ import annotations

import pandas as pd

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.ops import first_valid, inverse, safe_div
from axion_pipeline.factors.panel import FactorInputs
from axion_pipeline.factors.snapshot import enterprise_value, market_cap


def mcap(inp: FactorInputs) -> pd.DataFrame:
    """close_t x shares_outstanding; a precomputed ``market_cap`` column where shares are missing."""
    return inp.memo(
        "market_cap",
        lambda: first_valid(market_cap(inp.close_out, inp.field("shares_outstanding")), inp.field("market_cap")),
    )


def ev(inp: FactorInputs) -> pd.DataFrame:
    """market cap + total_debt - cash; a precomputed ``enterprise_value`` where that is missing."""
    return inp.memo(
        "enterprise_value",
        lambda: first_valid(
            enterprise_value(mcap(inp), inp.field("total_debt"), inp.field("cash")), inp.field("enterprise_value")
        ),
    )


def free_cash_flow(inp: FactorInputs) -> pd.DataFrame:
    return first_valid(inp.field("free_cash_flow"), inp.field("operating_cash_flow") - inp.field("capital_expenditure"))


def earnings_yield(inp):
    return first_valid(
        inp.field("earnings_yield"),
        inverse(inp.field("pe_ratio")),
        safe_div(inp.field("eps"), inp.close_out, positive_den=True),
        safe_div(inp.field("net_income"), mcap(inp), positive_den=True),
    )


def fcf_yield(inp):
    return first_valid(inp.field("fcf_yield"), safe_div(free_cash_flow(inp), mcap(inp), positive_den=True))


def book_to_market(inp):
    return first_valid(
        inp.field("book_to_market"),
        inverse(inp.field("pb_ratio")),
        safe_div(inp.field("total_equity"), mcap(inp), positive_den=True),
    )


def ebitda_to_ev(inp):
    return first_valid(inverse(inp.field("ev_ebitda")), safe_div(inp.field("ebitda"), ev(inp), positive_den=True))


def dividend_yield(inp):
    return first_valid(
        inp.field("dividend_yield"),
        safe_div(inp.field("dividends_paid"), mcap(inp), positive_den=True),
        safe_div(inp.field("dividends_per_share"), inp.close_out, positive_den=True),
    )


def forward_earnings_yield(inp):
    return first_valid(
        inverse(inp.field("forward_pe")), safe_div(inp.field("forward_eps"), inp.close_out, positive_den=True)
    )


def sales_yield(inp):
    return first_valid(
        inp.field("sales_yield"),
        inverse(inp.field("ps_ratio")),
        safe_div(inp.field("revenue"), mcap(inp), positive_den=True),
    )


def cash_flow_yield(inp):
    return first_valid(
        inp.field("cash_flow_yield"), safe_div(inp.field("operating_cash_flow"), mcap(inp), positive_den=True)
    )


class ValueFactors(FactorCalculator):
    """Value category: 8 yields, all higher-is-better."""

    category = "value"
    default_weight = 0.20

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor(
                "earnings_yield",
                earnings_yield,
                True,
                "eps / close (else net_income / market_cap); 1 / pe_ratio when given",
            ),
            SubFactor("fcf_yield", fcf_yield, True, "free_cash_flow / market_cap, fcf = ocf - capex when missing"),
            SubFactor("book_to_market", book_to_market, True, "total_equity / market_cap; 1 / pb_ratio when given"),
            SubFactor(
                "ev_ebitda",
                ebitda_to_ev,
                True,
                "scored as ebitda / EV (inverse of EV/EBITDA), EV = market_cap + total_debt - cash",
            ),
            SubFactor("dividend_yield", dividend_yield, True, "dividends_paid / market_cap"),
            SubFactor(
                "forward_pe",
                forward_earnings_yield,
                True,
                "scored as forward_eps / close (inverse of forward P/E); 1 / forward_pe when given",
            ),
            SubFactor("sales_yield", sales_yield, True, "revenue / market_cap; 1 / ps_ratio when given"),
            SubFactor("cash_flow_yield", cash_flow_yield, True, "operating_cash_flow / market_cap"),
        ]
