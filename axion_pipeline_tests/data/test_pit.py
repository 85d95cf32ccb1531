"""Point-in-time fundamentals: nothing is visible before its available_date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.data.pit import fundamentals_as_of, fundamentals_on_dates, previous_fundamentals_as_of
from axion_pipeline.data.real_fundamentals import read_real_fundamentals

BASE = pd.Timestamp("2020-01-01")


def frame(rows) -> pd.DataFrame:
    """rows: (ticker, period_end, available_date, eps)."""
    out = pd.DataFrame(rows, columns=["ticker", "period_end", "available_date", "eps"])
    out["period_end"] = pd.to_datetime(out["period_end"])
    out["available_date"] = pd.to_datetime(out["available_date"])
    out.insert(3, "period_type", "Q")
    return out


HAND = frame(
    [
        ("A", "2020-03-31", "2020-05-10", 1.0),
        ("A", "2020-06-30", "2020-08-09", 2.0),
        ("A", "2020-06-30", "2020-09-15", 2.5),  # restatement of Q2
        ("A", "2019-06-30", "2020-08-20", 9.0),  # late restatement of an old quarter
        ("B", "2020-06-30", "2020-07-30", 5.0),
    ]
)


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        ("2020-05-09", {}),  # nothing available yet
        ("2020-05-10", {"A": 1.0}),  # visible on its available_date
        ("2020-08-08", {"A": 1.0, "B": 5.0}),
        ("2020-08-09", {"A": 2.0, "B": 5.0}),
        ("2020-08-25", {"A": 2.0, "B": 5.0}),  # the old quarter's restatement does not displace Q2
        ("2020-09-15", {"A": 2.5, "B": 5.0}),  # the restated Q2 replaces the original from its date
    ],
)
def test_hand_example(as_of, expected):
    got = fundamentals_as_of(HAND, as_of)
    assert got["eps"].to_dict() == expected
    assert (got["available_date"] <= pd.Timestamp(as_of)).all()


def test_on_dates_matches_as_of_and_omits_unavailable_pairs():
    days = pd.date_range("2020-05-01", "2020-09-30")
    long = fundamentals_on_dates(HAND, days)
    assert list(long.columns) == ["date", "ticker", "period_end", "available_date", "period_type", "eps"]
    for day in days:
        expected = fundamentals_as_of(HAND, day)
        got = long[long["date"] == day].drop(columns="date").set_index("ticker")
        pd.testing.assert_frame_equal(got, expected, check_index_type=False)
    only_b = fundamentals_on_dates(HAND, days, tickers=["B", "Z"])
    assert set(only_b["ticker"]) == {"B"} and only_b["date"].min() == pd.Timestamp("2020-07-30")


def test_previous_year_row():
    f = frame(
        [
            ("A", "2019-03-31", "2019-05-01", 1.0),
            ("A", "2019-06-30", "2019-08-01", 1.5),
            ("A", "2020-03-31", "2020-05-01", 2.0),
            ("A", "2020-06-30", "2020-08-01", 3.0),
            ("B", "2020-06-30", "2020-08-01", 4.0),
        ]
    )
    prev = previous_fundamentals_as_of(f, "2020-08-15")
    assert prev["eps"].to_dict() == {"A": 1.5}  # B has no year-ago row
    assert previous_fundamentals_as_of(f, "2020-06-01")["eps"].to_dict() == {"A": 1.0}
    late = pd.concat([f, frame([("A", "2019-06-30", "2020-09-01", 1.7)])], ignore_index=True)
    assert previous_fundamentals_as_of(late, "2020-08-15")["eps"].to_dict() == {"A": 1.5}  # restated later
    assert previous_fundamentals_as_of(late, "2020-09-01")["eps"].to_dict() == {"A": 1.7}


ROWS = st.lists(
    st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 60), st.integers(0, 40), st.integers(-100, 100)),
    min_size=0,
    max_size=30,
)


def random_frame(rows) -> pd.DataFrame:
    return frame(
        [
            (t, BASE + pd.Timedelta(days=10 * q), BASE + pd.Timedelta(days=10 * q + lag), float(v))
            for t, q, lag, v in rows
        ]
    )


def brute_force(f: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, float]:
    best: dict[str, tuple] = {}
    for i, r in enumerate(f.itertuples(index=False)):
        if r.available_date <= as_of:
            key = (r.period_end, r.available_date, i)
            if r.ticker not in best or key > best[r.ticker][0]:
                best[r.ticker] = (key, r.eps)
    return {t: v for t, (_, v) in best.items()}


@settings(max_examples=80, deadline=None)
@given(ROWS, st.integers(-5, 700))
def test_as_of_equals_brute_force(rows, offset):
    f = random_frame(rows)
    as_of = BASE + pd.Timedelta(days=offset)
    got = fundamentals_as_of(f, as_of)
    assert got["eps"].to_dict() == brute_force(f, as_of)
    assert (got["available_date"] <= as_of).all()


@settings(max_examples=40, deadline=None)
@given(ROWS, st.lists(st.integers(-5, 700), min_size=1, max_size=8))
def test_on_dates_equals_as_of_per_date(rows, offsets):
    f = random_frame(rows)
    days = sorted({BASE + pd.Timedelta(days=o) for o in offsets})
    long = fundamentals_on_dates(f, days)
    for day in days:
        got = long[long["date"] == day].set_index("ticker")["eps"].to_dict()
        assert got == brute_force(f, day)


@settings(max_examples=40, deadline=None)
@given(ROWS, st.integers(0, 700), st.floats(-1e6, 1e6, allow_nan=False))
def test_changing_later_data_never_changes_the_past(rows, offset, new_value):
    f = random_frame(rows)
    as_of = BASE + pd.Timedelta(days=offset)
    changed = f.copy()
    later = changed["available_date"] > as_of
    changed.loc[later, "eps"] = new_value
    changed.loc[later, "period_end"] = as_of + pd.Timedelta(days=1)  # even a "newer" period
    pd.testing.assert_frame_equal(fundamentals_as_of(changed, as_of), fundamentals_as_of(f, as_of))
    pd.testing.assert_frame_equal(previous_fundamentals_as_of(changed, as_of), previous_fundamentals_as_of(f, as_of))


@pytest.mark.realdata
def test_real_fundamentals_reporting_lag(shared_data_dir):
    fund, _, _, _ = read_real_fundamentals(shared_data_dir, reporting_lag_days=90)
    # AAPL's first row, FY2013, ends 2013-09-28: invisible until 2013-12-27, visible from that day.
    assert "AAPL" not in fundamentals_as_of(fund, "2013-12-26").index
    assert fundamentals_as_of(fund, "2013-12-27").loc["AAPL", "period_end"] == pd.Timestamp("2013-09-28")
    days = pd.bdate_range("2013-01-01", "2018-02-07")
    long = fundamentals_on_dates(fund, days, tickers=["AAPL", "MSFT"])
    assert (long["available_date"] <= long["date"]).all()
    assert np.array_equal(long.loc[long["date"] == "2013-12-27", "ticker"], ["AAPL", "MSFT"])
