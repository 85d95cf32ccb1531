"""Quality: profitability, earnings quality, balance-sheet strength and conservative investment.

Ratios of TTM flows to the latest balance sheet available at t. Ratios on equity are NaN when
equity <= 0 (undefined, not "infinitely good"); interest coverage is NaN without positive interest
expense (debt-free firms are then scored on the other sub-factors, debt_equity rewards them).
Precomputed spec-style columns of the same name (roe, roa, roic, debt_to_equity, ...) are used
where present. Look-ahead: only fields available at t (``FactorInputs.field``).
"""

from __future__ import annotations

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.ops import first_valid, growth_ratio, safe_div

TAX_RATE = 0.21  # NOPAT = operating income x (1 - tax rate), US statutory rate since 2018


def _f(inp, name):
    return inp.field(name)


def roe(inp):
    return first_valid(_f(inp, "roe"), safe_div(_f(inp, "net_income"), _f(inp, "total_equity"), positive_den=True))


def roa(inp):
    return first_valid(_f(inp, "roa"), safe_div(_f(inp, "net_income"), _f(inp, "total_assets"), positive_den=True))


def roic(inp):
    invested = _f(inp, "total_debt") + _f(inp, "total_equity") - _f(inp, "cash")
    return first_valid(
        _f(inp, "roic"), safe_div(_f(inp, "operating_income") * (1.0 - TAX_RATE), invested, positive_den=True)
    )


def gross_profit_assets(inp):
    return first_valid(
        _f(inp, "gross_profit_assets"), safe_div(_f(inp, "gross_profit"), _f(inp, "total_assets"), positive_den=True)
    )


def accruals(inp):
    avg_assets = first_valid((_f(inp, "total_assets") + _f(inp, "total_assets_1y")) / 2.0, _f(inp, "total_assets"))
    return first_valid(
        _f(inp, "accruals"),
        safe_div(_f(inp, "net_income") - _f(inp, "operating_cash_flow"), avg_assets, positive_den=True),
    )


def debt_equity(inp):
    return first_valid(
        _f(inp, "debt_equity"),
        _f(inp, "debt_to_equity"),
        safe_div(_f(inp, "total_debt"), _f(inp, "total_equity"), positive_den=True),
    )


def interest_coverage(inp):
    return first_valid(
        _f(inp, "interest_coverage"),
        safe_div(_f(inp, "operating_income"), _f(inp, "interest_expense"), positive_den=True),
    )


def gross_margin(inp):
    return first_valid(
        _f(inp, "gross_margin"), safe_div(_f(inp, "gross_profit"), _f(inp, "revenue"), positive_den=True)
    )


def operating_margin(inp):
    return first_valid(
        _f(inp, "operating_margin"), safe_div(_f(inp, "operating_income"), _f(inp, "revenue"), positive_den=True)
    )


def cash_flow_to_assets(inp):
    return first_valid(
        _f(inp, "cash_flow_to_assets"),
        safe_div(_f(inp, "operating_cash_flow"), _f(inp, "total_assets"), positive_den=True),
    )


def asset_growth(inp):
    return first_valid(_f(inp, "asset_growth"), growth_ratio(_f(inp, "total_assets"), _f(inp, "total_assets_1y")))


class QualityFactors(FactorCalculator):
    """Quality category: 11 sub-factors (accruals, leverage and asset growth lower-is-better)."""

    category = "quality"
    default_weight = 0.20

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor("roe", roe, True, "net_income / total_equity (equity > 0)"),
            SubFactor("roa", roa, True, "net_income / total_assets"),
            SubFactor(
                "roic",
                roic,
                True,
                "operating_income x (1 - 0.21) / (total_debt + total_equity - cash), invested capital > 0",
            ),
            SubFactor("gross_profit_assets", gross_profit_assets, True, "gross_profit / total_assets (Novy-Marx)"),
            SubFactor(
                "accruals",
                accruals,
                False,
                "(net_income - operating_cash_flow) / mean(total_assets, total_assets_1y), lower is better",
            ),
            SubFactor("debt_equity", debt_equity, False, "total_debt / total_equity (equity > 0), lower is better"),
            SubFactor("interest_coverage", interest_coverage, True, "operating_income / interest_expense (> 0)"),
            SubFactor("gross_margin", gross_margin, True, "gross_profit / revenue"),
            SubFactor("operating_margin", operating_margin, True, "operating_income / revenue"),
            SubFactor("cash_flow_to_assets", cash_flow_to_assets, True, "operating_cash_flow / total_assets"),
            SubFactor(
                "asset_growth",
                asset_growth,
                False,
                "total_assets / total_assets_1y - 1, lower is better (conservative investment)",
            ),
        ]
