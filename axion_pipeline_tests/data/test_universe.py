"""Membership intervals: validation rules and the point-in-time membership helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.data.contracts import UNIVERSE_COLUMNS
from axion_pipeline.data.universe import (
    is_member,
    member_rows,
    members_per_date,
    membership_frame,
    membership_panel,
    truncate_membership,
)
from axion_pipeline.data.validation import validate_universe

TODAY = pd.Timestamp("2024-06-28")


def raw(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=UNIVERSE_COLUMNS).astype(object)


def intervals(*rows) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=UNIVERSE_COLUMNS)
    return out.assign(start_date=pd.to_datetime(out["start_date"]), end_date=pd.to_datetime(out["end_date"]))


# ------------------------------------------------------------------------------- validation
def test_each_bad_interval_is_quarantined_with_its_reason():
    frame = raw(
        [
            ("AAA", "2020-01-02", ""),  # 2 ok, open
            ("", "2020-01-02", ""),  # 3 empty ticker
            ("BBB", "02/01/2020", ""),  # 4 not ISO
            ("BBB", "2020-01-02", "2019-12-31"),  # 5 end before start
            ("CCC", "2020-01-02", "soon"),  # 6 unparseable end
            ("DDD", "2025-01-02", ""),  # 7 starts after today
            ("EEE", "2020-01-02", "2020-06-30"),  # 8 ok
            ("EEE", "2020-07-01", "2021-01-29"),  # 9 ok: adjacent, not overlapping
            ("EEE", "2021-01-29", ""),  # 10 overlaps row 9 on its last day
            ("FFF", "2020-01-02", "2030-01-02"),  # 11 ok: a future end changes nothing up to today
        ]
    )
    clean, rejected = validate_universe(frame, "universe.csv", max_reject_share=1.0, today=TODAY)
    assert rejected[["row_number", "column", "reason"]].values.tolist() == [
        [3, "ticker", "empty ticker"],
        [4, "start_date", "unparseable start_date"],
        [5, "end_date", "end_date before start_date"],
        [6, "end_date", "unparseable end_date"],
        [7, "start_date", "start_date in the future"],
        [10, "start_date", "overlapping interval"],
    ]
    assert rejected["value"].iloc[-1] == "EEE from 2021-01-29 (the interval at row 9 runs to 2021-01-29)"
    assert list(clean.columns) == UNIVERSE_COLUMNS and len(clean) + len(rejected) == len(frame)
    assert clean["ticker"].tolist() == ["AAA", "EEE", "EEE", "FFF"]
    assert pd.isna(clean["end_date"].iloc[0]) and clean["end_date"].dtype == "datetime64[ns]"


def test_overlaps_keep_the_first_interval_of_a_chain_and_name_the_interval_they_hit():
    frame = raw(
        [
            ("AAA", "2015-01-02", "2016-12-30"),  # 2 kept
            ("AAA", "2010-01-04", ""),  # 3 kept: earliest start, open
            ("AAA", "2012-01-03", "2013-01-02"),  # 4 inside the open interval of row 3
            ("BBB", "2010-01-04", "2010-12-31"),  # 5 kept
            ("BBB", "2010-01-04", "2010-12-31"),  # 6 exact copy
        ]
    )
    clean, rejected = validate_universe(frame, "universe.csv", max_reject_share=1.0, today=TODAY)
    assert rejected["row_number"].tolist() == [2, 4, 6]
    assert set(rejected["reason"]) == {"overlapping interval"}
    assert rejected["value"].tolist() == [
        "AAA from 2015-01-02 (the interval at row 3 runs to open)",
        "AAA from 2012-01-03 (the interval at row 3 runs to open)",
        "BBB from 2010-01-04 (the interval at row 5 runs to 2010-12-31)",
    ]
    assert clean.values.tolist() == [
        ["AAA", pd.Timestamp("2010-01-04"), pd.NaT],
        ["BBB", pd.Timestamp("2010-01-04"), pd.Timestamp("2010-12-31")],
    ]


def test_end_date_column_is_optional():
    clean, rejected = validate_universe(
        pd.DataFrame({"ticker": ["A"], "start_date": ["2020-01-02"]}), "u.csv", today=TODAY
    )
    assert rejected.empty and clean["end_date"].isna().all()


# ------------------------------------------------------------------------------- membership
DAYS = pd.bdate_range("2020-01-01", periods=10)  # Wed 1 Jan .. Tue 14 Jan 2020


def test_membership_panel_by_hand():
    m = intervals(
        ("A", "2020-01-03", "2020-01-07"),  # Fri .. Tue
        ("A", "2020-01-10", None),  # back on Fri 10 Jan, still a member
        ("B", "2019-06-03", "2020-01-01"),  # last day is the first date
        ("C", "2020-01-04", "2020-01-05"),  # a weekend: no trading day inside
        ("Z", "2020-01-01", None),  # no prices: ignored
    )
    panel = membership_frame(DAYS, ["A", "B", "C", "D"], m)
    assert panel["A"].tolist() == [False, False, True, True, True, False, False, True, True, True]
    assert panel["B"].tolist() == [True] + [False] * 9
    assert not panel["C"].any() and not panel["D"].any()  # D is in no interval: never a member
    assert membership_panel(DAYS, ["A", "B"], None).all()
    assert membership_panel(DAYS, ["A", "B"], intervals()).all()  # no intervals: everyone


def test_row_helpers_agree_with_the_panel():
    m = intervals(("A", "2020-01-03", "2020-01-07"), ("B", "2020-01-08", None))
    long = pd.DataFrame({"date": np.repeat(DAYS, 3), "ticker": ["A", "B", "C"] * len(DAYS), "x": 1.0})
    mask = is_member(long["date"], long["ticker"], m)
    panel = membership_frame(DAYS, ["A", "B", "C"], m)
    assert mask.tolist() == [bool(panel.at[d, t]) for d, t in zip(long["date"], long["ticker"])]
    kept = member_rows(long, m)
    assert len(kept) == int(mask.sum()) and set(kept["ticker"]) == {"A", "B"}
    indexed = long.rename(columns={"ticker": "symbol"}).set_index(["date", "symbol"])
    assert len(member_rows(indexed, m, ticker="symbol")) == len(kept)
    assert member_rows(long, None) is long
    counts = members_per_date(long, m)
    assert counts.tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 1, 1] and len(counts) == len(DAYS)


def test_truncation_drops_later_starts_and_opens_later_ends():
    m = intervals(("A", "2020-01-03", "2020-01-07"), ("B", "2020-01-06", "2020-01-13"), ("C", "2020-01-09", None))
    cut = truncate_membership(m, "2020-01-08")
    assert cut["ticker"].tolist() == ["A", "B"]
    assert cut["end_date"].iloc[0] == pd.Timestamp("2020-01-07") and pd.isna(cut["end_date"].iloc[1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from("ABC"), st.integers(0, 25), st.one_of(st.none(), st.integers(0, 25))),
        max_size=8,
    ),
    st.integers(0, 25),
)
def test_truncated_membership_equals_the_full_one_up_to_the_cut(rows, cut):
    days = pd.bdate_range("2020-01-01", periods=26)
    m = intervals(*[(t, days[s], None if e is None else days[max(s, e)]) for t, s, e in rows]) if rows else intervals()
    full = membership_panel(days, ["A", "B", "C"], m)
    known = membership_panel(days, ["A", "B", "C"], truncate_membership(m, days[cut]))
    assert (full[: cut + 1] == known[: cut + 1]).all()


def test_truncation_before_any_start_still_means_nobody():
    m = intervals(("A", "2020-01-08", None))
    cut = truncate_membership(m, "2020-01-03")
    assert len(cut) == 1 and not membership_panel(DAYS[:3], ["A", "B"], cut).any()
    assert truncate_membership(intervals(), "2020-01-03").empty  # no information stays no information
