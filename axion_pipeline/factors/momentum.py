"""Momentum: price trends and revisions of fundamentals.

Price returns use closes on exact trading-day lags (21 ~ 1 month, 63 ~ 3, 126 ~ 6, 252 ~ 12);
the 12-1 and 6-1 variants skip the last month, whose short-term reversal would blur the trend.
A ticker without the lagged close gets NaN. Earnings and revenue momentum compare the latest
available filing with the previous one (previous quarter, or previous year for annual sources).

Look-ahead: every price term is a close at t or before; the filings are the ones available at t
(see ``axion_pipeline.factors.snapshot``).
"""

from __future__ import annotations

from axion_pipeline.factors.base import FactorCalculator, SubFactor
from axion_pipeline.factors.growth import revenue_growth
from axion_pipeline.factors.ops import first_valid
from axion_pipeline.factors.rolling import min_obs
from axion_pipeline.factors.snapshot import earnings_momentum as eps_revision_per_price
from axion_pipeline.factors.snapshot import eps_revision

MONTH, QUARTER, HALF_YEAR, YEAR = 21, 63, 126, 252


def _ret(inp, recent: int, past: int):
    """close_{t-recent} / close_{t-past} - 1."""
    c = inp.close
    return inp.at_out(c.shift(recent) / c.shift(past) - 1.0)


def ret_12m_1m(inp):
    return _ret(inp, MONTH, YEAR)


def ret_6m_1m(inp):
    return _ret(inp, MONTH, HALF_YEAR)


def ret_3m(inp):
    return _ret(inp, 0, QUARTER)


def short_term_reversal(inp):
    return _ret(inp, 0, MONTH)


def high_52w_proximity(inp):
    c = inp.close
    return inp.at_out(c / c.rolling(YEAR, min_periods=min_obs(YEAR)).max())


def earnings_momentum(inp):
    revision = first_valid(
        inp.field("eps_revision"),
        eps_revision(inp.field("forward_eps"), inp.field("forward_eps_prev"), inp.field("eps"), inp.field("eps_prev")),
    )
    return first_valid(inp.field("earnings_momentum"), eps_revision_per_price(revision, inp.close_out))


def revenue_momentum(inp):
    return first_valid(inp.field("revenue_momentum"), revenue_growth(inp) - inp.field("revenue_growth_prev"))


class MomentumFactors(FactorCalculator):
    """Momentum category: 7 sub-factors (short-term reversal is lower-is-better)."""

    category = "momentum"
    default_weight = 0.20

    def sub_factors(self) -> list[SubFactor]:
        return [
            SubFactor("ret_12m_1m", ret_12m_1m, True, "close[t-21] / close[t-252] - 1"),
            SubFactor("ret_6m_1m", ret_6m_1m, True, "close[t-21] / close[t-126] - 1"),
            SubFactor("ret_3m", ret_3m, True, "close[t] / close[t-63] - 1"),
            SubFactor(
                "high_52w_proximity",
                high_52w_proximity,
                True,
                "close[t] / max(close[t-251..t]) (in (0, 1], 1 = at the 52-week high)",
            ),
            SubFactor(
                "earnings_momentum",
                earnings_momentum,
                True,
                "(forward_eps - forward_eps_prev) / close[t]; TTM eps change when forward EPS is missing",
            ),
            SubFactor(
                "revenue_momentum",
                revenue_momentum,
                True,
                "revenue_growth - revenue_growth of the previous available filing",
            ),
            SubFactor(
                "short_term_reversal",
                short_term_reversal,
                False,
                "close[t] / close[t-21] - 1, lower is better (1-month reversal)",
            ),
        ]
