"""Point-in-time index membership: which (date, ticker) rows belong to the cross-section of a date.

Membership is a frame of intervals ``ticker, start_date, end_date`` (``UNIVERSE_COLUMNS``), both
ends inclusive, ``end_date`` missing while the ticker is still a member; a ticker may have several
intervals (it left and came back). A ticker is a member on date ``d`` when one of its intervals
holds ``d``. A ticker absent from a non-empty membership frame is never a member.

No membership information (``None`` or a frame without rows) means every ticker with a price is a
member on every date: the behaviour of a source without a membership file.

Everything here is interval arithmetic on a dates x tickers grid (``searchsorted`` of each
interval's ends into the dates, a +1/-1 difference array, a cumulative sum), so the cost is one
pass over the intervals plus one over the grid, never a Python loop over rows.

Look-ahead: membership on ``d`` depends only on intervals starting on or before ``d``, and only
on whether their end is before ``d``. ``truncate_membership(m, t)`` is the membership file as it
could have been known at the close of ``t`` (intervals starting after ``t`` dropped, ends after
``t`` open): it gives the same membership as ``m`` on every date up to ``t``, so a computation
for ``t`` that changes when ``m`` is replaced by its truncation used later membership.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import UNIVERSE_COLUMNS

NO_TICKER = ""  # placeholder ticker of a membership known to hold nobody (see ``truncate_membership``)


def has_membership(membership: pd.DataFrame | None) -> bool:
    """True when ``membership`` holds at least one interval (else everyone is a member)."""
    return membership is not None and len(membership) > 0


def _intervals(membership: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in UNIVERSE_COLUMNS if c not in membership.columns]
    if missing:
        raise ValueError(f"membership needs the columns {UNIVERSE_COLUMNS}; missing {missing}")
    start = pd.to_datetime(membership["start_date"]).to_numpy(dtype="datetime64[ns]")
    end = pd.to_datetime(membership["end_date"]).to_numpy(dtype="datetime64[ns]")
    if np.isnat(start).any():
        raise ValueError("membership has intervals without a start_date")
    return membership["ticker"].astype(str).to_numpy(dtype=object), start, end


def membership_panel(dates, tickers, membership: pd.DataFrame | None) -> np.ndarray:
    """Boolean ``len(dates) x len(tickers)`` array: is ``tickers[j]`` a member on ``dates[i]``.

    ``dates`` must be sorted ascending. All True without membership information.
    """
    dates = pd.DatetimeIndex(dates)
    tickers = pd.Index(tickers).astype(str)
    if not has_membership(membership):
        return np.ones((len(dates), len(tickers)), dtype=bool)
    if not dates.is_monotonic_increasing:
        raise ValueError("membership_panel needs dates sorted ascending")
    names, start, end = _intervals(membership)
    col = tickers.get_indexer(names)
    known = col >= 0
    col, start, end = col[known], start[known], end[known]
    day = dates.to_numpy(dtype="datetime64[ns]")
    first = np.searchsorted(day, start, side="left")  # first date on or after the start
    stop = np.where(np.isnat(end), len(day), np.searchsorted(day, end, side="right"))  # first date after the end
    diff = np.zeros((len(day) + 1, len(tickers)), dtype=np.int32)
    np.add.at(diff, (first, col), 1)
    np.add.at(diff, (stop, col), -1)
    return np.cumsum(diff[:-1], axis=0) > 0


def membership_frame(dates, tickers, membership: pd.DataFrame | None) -> pd.DataFrame:
    """``membership_panel`` as a dates x tickers DataFrame."""
    dates, tickers = pd.DatetimeIndex(dates), pd.Index(tickers).astype(str)
    return pd.DataFrame(membership_panel(dates, tickers, membership), index=dates, columns=tickers)


def is_member(dates, tickers, membership: pd.DataFrame | None) -> np.ndarray:
    """Boolean per row: is ``tickers[k]`` a member on ``dates[k]`` (two aligned sequences)."""
    dates = pd.DatetimeIndex(pd.to_datetime(dates))
    tickers = pd.Index(tickers).astype(str)
    if not has_membership(membership):
        return np.ones(len(dates), dtype=bool)
    day_codes, days = pd.factorize(dates, sort=True)
    ticker_codes, names = pd.factorize(tickers)
    return membership_panel(days, names, membership)[day_codes, ticker_codes]


def member_rows(
    frame: pd.DataFrame, membership: pd.DataFrame | None, date: str = "date", ticker: str = "ticker"
) -> pd.DataFrame:
    """Rows of ``frame`` whose (date, ticker) is a member; the frame itself when there is no
    membership information. ``date``/``ticker`` name columns or index levels."""
    if not has_membership(membership):
        return frame

    def values(name):
        return frame[name] if name in frame.columns else frame.index.get_level_values(name)

    return frame[is_member(values(date), values(ticker), membership)]


def truncate_membership(membership: pd.DataFrame | None, cutoff) -> pd.DataFrame | None:
    """Membership as known at the close of ``cutoff``: intervals starting after it dropped, ends
    after it made open. Equal to ``membership`` on every date up to ``cutoff``.

    When no interval has started by ``cutoff`` the result is not left empty (that would mean "no
    membership information: everyone is a member"): it holds one interval of the empty ticker,
    which no validated file or price row can have, so nobody is a member."""
    if not has_membership(membership) or cutoff is None:
        return membership
    cutoff = pd.Timestamp(cutoff)
    start = pd.to_datetime(membership["start_date"])
    out = membership.loc[start <= cutoff].copy()
    if out.empty:
        return pd.DataFrame({"ticker": [NO_TICKER], "start_date": [cutoff], "end_date": [cutoff]}).astype(
            {"ticker": object, "start_date": "datetime64[ns]", "end_date": "datetime64[ns]"}
        )
    end = pd.to_datetime(out["end_date"])
    out["end_date"] = end.where(end <= cutoff)
    return out


def members_per_date(prices: pd.DataFrame, membership: pd.DataFrame | None) -> pd.Series:
    """Number of priced member tickers on every price date (0 where none is a member; every priced
    ticker without membership information)."""
    days = pd.DatetimeIndex(sorted(prices["date"].unique()), name="date")
    rows = member_rows(prices[["date", "ticker"]], membership)
    return rows.groupby("date")["ticker"].nunique().reindex(days, fill_value=0)


def membership_notes(prices: pd.DataFrame, membership: pd.DataFrame, source_file: str) -> list[str]:
    """What a membership file does to a price history: tickers never a member, members per date."""
    if not has_membership(membership):
        return [f"universe: no membership intervals in {source_file}: every priced ticker is a member on every date."]
    priced = sorted(prices["ticker"].unique())
    listed = set(membership["ticker"].astype(str))
    never = [t for t in priced if t not in listed]
    per_date = members_per_date(prices, membership)
    all_priced = prices.groupby("date")["ticker"].nunique()
    notes = [
        f"universe: {len(membership):,} intervals of {len(listed):,} tickers from {source_file}; "
        f"a ticker enters a date's cross-sections only while a member.",
        f"universe: priced tickers per date {_spread(all_priced)}; members among them {_spread(per_date)}.",
    ]
    if never:
        notes.append(
            f"universe: {len(never)} priced tickers are in no interval and never a member: "
            f"{', '.join(never[:50])}{' ...' if len(never) > 50 else ''}."
        )
    return notes


def _spread(counts: pd.Series) -> str:
    if counts.empty:
        return "none"
    return f"min {int(counts.min())}, median {float(counts.median()):g}, max {int(counts.max())}"
