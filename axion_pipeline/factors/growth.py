"""Growth: year-over-year growth of TTM fundamentals, its acceleration, and R&D investment.

Growth compares the latest filing available at t with the filing one year earlier (see
``axion_pipeline.factors.snapshot``), so quarterly and annual sources give the same kind of
number. Quantities that can be negative (EPS, FCF) grow relative to |base|; revenue and gross
profit need a positive base. Precomputed columns (revenue_growth, eps_growth / earnings_growth,
...) are used where present. Look-ahead: both filings are available at t.
"""

from __future__ import annotations

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.ops import first_valid, growth_ratio, relative_change, safe_div


def _f(inp, name):
    return inp.field(name)


def revenue_growth(inp):
    return first_valid(_f(inp, "revenue_growth"), growth_ratio(_f(inp, "revenue"), _f(inp, "revenue_1y")))


def eps_growth(inp):
    return first_valid(
        _f(inp, "eps_growth"), _f(inp, "earnings_growth"), relative_change(_f(inp, "eps"), _f(inp, "eps_1y"))
    )


def fcf_growth(inp):
    fcf = first_valid(_f(inp, "free_cash_flow"), _f(inp, "operating_cash_flow") - _f(inp, "capital_expenditure"))
    return first_valid(_f(inp, "fcf_growth"), relative_change(fcf, _f(inp, "free_cash_flow_1y")))


def growth_acceleration(inp):
    return first_valid(_f(inp, "growth_acceleration"), revenue_growth(inp) - _f(inp, "revenue_growth_1y"))


def rnd_intensity(inp):
    return first_valid(
        _f(inp, "rnd_intensity"), safe_div(_f(inp, "rnd_expense"), _f(inp, "revenue"), positive_den=True)
    )


def gross_profit_growth(inp):
    return first_valid(
        _f(inp, "gross_profit_growth"), growth_ratio(_f(inp, "gross_profit"), _f(inp, "gross_profit_1y"))
    )


def forward_eps_growth(inp):
    return first_valid(_f(inp, "forward_eps_growth"), relative_change(_f(inp, "forward_eps"), _f(inp, "eps")))


class GrowthFactors(FactorCalculator):
    """Growth category: 7 sub-factors, all higher-is-better."""

    category = "growth"
    default_weight = 0.15

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor("revenue_growth", revenue_growth, True, "revenue / revenue_1y - 1 (revenue_1y > 0)"),
            SubFactor("eps_growth", eps_growth, True, "(eps - eps_1y) / |eps_1y|"),
            SubFactor("fcf_growth", fcf_growth, True, "(fcf - fcf_1y) / |fcf_1y|"),
            SubFactor(
                "growth_acceleration", growth_acceleration, True, "revenue_growth - revenue_growth one year earlier"
            ),
            SubFactor("rnd_intensity", rnd_intensity, True, "rnd_expense / revenue"),
            SubFactor("gross_profit_growth", gross_profit_growth, True, "gross_profit / gross_profit_1y - 1"),
            SubFactor("forward_eps_growth", forward_eps_growth, True, "(forward_eps - eps) / |eps|"),
        ]
