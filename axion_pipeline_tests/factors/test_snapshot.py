"""Point-in-time fundamentals: history fields per row, as-of lookup and the snapshot builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors import augment_fundamentals, build_fundamentals_snapshot
from axion_pipeline.factors.snapshot import asof_rows

LAG = pd.Timedelta(days=45)


def quarterly(ticker="X", n=9, start="2022-03-31"):
    """Quarter k: revenue 100 + 10k, eps 1 + 0.1k, forward eps 2 + 0.2k, shares 10."""
    pe = pd.date_range(start, periods=n, freq="QE")
    k = np.arange(n)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "period_end": pe,
            "available_date": pe + LAG,
            "period_type": "quarterly",
            "revenue": 100.0 + 10 * k,
            "eps": 1.0 + 0.1 * k,
            "forward_eps": 2.0 + 0.2 * k,
            "total_assets": 1000.0 + k,
            "shares_outstanding": 10.0,
            "total_debt": 50.0,
            "cash": 20.0,
        }
    )


def test_prior_year_and_previous_rows():
    aug = augment_fundamentals(quarterly()).set_index("period_end")
    last = aug.loc["2024-03-31"]  # k = 8
    assert last["revenue_1y"] == 140.0  # k = 4, four quarters back
    assert last["revenue_growth"] == pytest.approx(180.0 / 140.0 - 1)
    assert last["revenue_growth_1y"] == pytest.approx(140.0 / 100.0 - 1)
    assert last["revenue_growth_prev"] == pytest.approx(170.0 / 130.0 - 1)
    assert last["eps_prev"] == pytest.approx(1.7) and last["forward_eps_prev"] == pytest.approx(3.4)
    first_year = aug.loc["2022-12-31"]  # k = 3: no row a year earlier
    assert np.isnan(first_year["revenue_1y"]) and np.isnan(first_year["revenue_growth"])


def test_annual_rows_use_the_previous_year():
    pe = pd.to_datetime(["2019-12-31", "2020-12-31", "2021-12-31", "2023-12-31"])
    f = pd.DataFrame({"ticker": "Y", "period_end": pe, "available_date": pe + LAG, "revenue": [10.0, 12.0, 15.0, 20.0]})
    aug = augment_fundamentals(f).set_index("period_end")
    assert aug.loc["2021-12-31", "revenue_1y"] == 12.0
    assert np.isnan(aug.loc["2023-12-31", "revenue_1y"])  # 2022 is missing: two years back is too far


def test_history_fields_ignore_rows_published_later():
    base = quarterly()
    # a restatement of k = 4 (revenue 140) published long after k = 8 must not feed k = 8's growth
    late = base.iloc[[4]].assign(revenue=999.0, available_date=pd.Timestamp("2025-01-01"))
    aug = augment_fundamentals(pd.concat([base, late])).set_index(["period_end", "available_date"])
    assert aug.loc[(pd.Timestamp("2024-03-31"), pd.Timestamp("2024-05-15")), "revenue_1y"] == 140.0


def test_asof_rows_latest_available_and_ties():
    f = pd.concat([quarterly(), quarterly("Z", n=2)])
    extra = f.iloc[[1]].assign(period_end=pd.Timestamp("2022-07-15"), revenue=-1.0)  # same available_date, later period
    aug = augment_fundamentals(pd.concat([f, extra]))
    dates = pd.DatetimeIndex(["2022-05-14", "2022-05-15", "2022-08-13", "2022-08-14"])
    rows = asof_rows(aug, dates, ["X", "Z", "NONE"])
    assert rows[0, 0] == -1 and rows[:, 2].tolist() == [-1] * 4
    assert aug.iloc[rows[1, 0]]["period_end"] == pd.Timestamp("2022-03-31")
    assert aug.iloc[rows[2, 0]]["period_end"] == pd.Timestamp("2022-03-31")  # Q2 available from 08-14
    assert aug.iloc[rows[3, 0]]["period_end"] == pd.Timestamp("2022-07-15")  # tie on available_date: latest period
    assert aug.iloc[rows[3, 1]]["ticker"] == "Z"


def test_snapshot_fields():
    f = pd.concat([quarterly(), quarterly("W", n=9).assign(forward_eps=np.nan)])
    as_of = pd.Timestamp("2024-05-14")  # the 2024-03-31 filing becomes available on 2024-05-15
    close = pd.Series({"X": 40.0, "W": 20.0})
    snap = build_fundamentals_snapshot(f, as_of, close)
    x = snap.loc["X"]
    assert x["period_end"] == pd.Timestamp("2023-12-31") and x["revenue"] == 170.0
    assert x["market_cap"] == pytest.approx(400.0)
    assert x["enterprise_value"] == pytest.approx(400.0 + 50.0 - 20.0)
    assert x["eps_revision"] == pytest.approx(3.4 - 3.2)  # forward EPS change vs the previous quarter
    assert x["earnings_momentum"] == pytest.approx(0.2 / 40.0)
    assert x["revenue_momentum"] == pytest.approx((170.0 / 130.0 - 1) - (160.0 / 120.0 - 1))
    assert snap.loc["W", "eps_revision"] == pytest.approx(1.7 - 1.6)  # TTM EPS change without forward EPS
    # rows published after as_of are invisible; missing stays NaN
    later = build_fundamentals_snapshot(f, pd.Timestamp("2024-05-15"), close)
    assert later.loc["X", "revenue"] == 180.0
    no_close = build_fundamentals_snapshot(f, as_of, None)
    assert np.isnan(no_close.loc["X", "market_cap"]) and no_close.loc["X", "revenue"] == 170.0
    assert build_fundamentals_snapshot(f, "2022-01-01", close).empty
