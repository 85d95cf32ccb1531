"""Point-in-time views of fundamentals: what was known on a given date.

A fundamentals row (``FUNDAMENTAL_COLUMNS``) may be used for date ``t`` only when
``available_date <= t``. This is the one place where look-ahead could enter the fundamentals path:
every factor reads fundamentals through these functions, never by ``period_end``.

- :func:`fundamentals_as_of`: per ticker, the latest row available on ``as_of``: the most recent
  ``period_end`` among available rows and, for that period, the version with the latest
  ``available_date`` (a restatement replaces the original once published; a late restatement of
  an older period does not displace a newer period).
- :func:`fundamentals_on_dates`: the same for many dates at once (one ``merge_asof``), identical
  to calling :func:`fundamentals_as_of` per date; a (date, ticker) pair with nothing available yet
  is absent, not filled.
- :func:`previous_fundamentals_as_of`: for growth rates, the row about ``lag_days`` before the
  current one (by ``period_end``), among rows available on ``as_of``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

ORDER = ["period_end", "available_date"]


def _available(fundamentals: pd.DataFrame, as_of) -> pd.DataFrame:
    as_of = pd.Timestamp(as_of)
    return fundamentals.loc[fundamentals["available_date"] <= as_of]


def fundamentals_as_of(fundamentals: pd.DataFrame, as_of) -> pd.DataFrame:
    """Latest row per ticker with ``available_date <= as_of``, indexed by ticker (sorted)."""
    avail = _available(fundamentals, as_of).sort_values(["ticker", *ORDER], kind="stable")
    latest = avail.drop_duplicates("ticker", keep="last")
    return latest.set_index("ticker").sort_index()


def fundamentals_on_dates(
    fundamentals: pd.DataFrame, dates: Iterable, tickers: Iterable[str] | None = None
) -> pd.DataFrame:
    """Long frame ``date, ticker, <fundamentals columns>``: the as-of row of each ticker on each date.

    ``tickers`` restricts the output (default: every ticker of ``fundamentals``). Rows are sorted by
    (date, ticker); pairs with no available row are left out, exactly as ``fundamentals_as_of``.
    """
    days = pd.DatetimeIndex(pd.to_datetime(list(dates))).unique().sort_values().astype("datetime64[ns]")
    names = sorted(set(fundamentals["ticker"]) if tickers is None else set(tickers))
    right = _current_from(fundamentals[fundamentals["ticker"].isin(names)])
    columns = ["ticker", *[c for c in fundamentals.columns if c != "ticker"]]
    right = right.sort_values(["ticker", "available_date"], kind="stable")[columns].reset_index(drop=True)
    day_values = days.to_numpy()
    starts = np.flatnonzero(np.r_[True, right["ticker"].to_numpy()[1:] != right["ticker"].to_numpy()[:-1]])
    bounds = np.r_[starts, len(right)]
    avail = right["available_date"].to_numpy()
    day_idx, row_idx = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        pos = np.searchsorted(avail[lo:hi], day_values, side="right") - 1
        has = pos >= 0
        day_idx.append(np.flatnonzero(has))
        row_idx.append(lo + pos[has])
    day_idx = np.concatenate(day_idx) if day_idx else np.array([], dtype=int)
    row_idx = np.concatenate(row_idx) if row_idx else np.array([], dtype=int)
    order = np.lexsort((row_idx, day_idx))  # rows of one ticker are contiguous, so row order = ticker order
    out = right.take(row_idx[order]).reset_index(drop=True)
    out.insert(0, "date", day_values[day_idx[order]])
    return out


def _current_from(fundamentals: pd.DataFrame) -> pd.DataFrame:
    """Rows that become a ticker's as-of row on their ``available_date`` (one per ticker and date)."""
    f = fundamentals.sort_values(["ticker", "available_date", "period_end"], kind="stable")
    best_before = f.groupby("ticker")["period_end"].cummax().groupby(f["ticker"]).shift(1)
    f = f[best_before.isna() | (f["period_end"] >= best_before)]
    f = f.drop_duplicates(["ticker", "available_date"], keep="last")
    return f.sort_values("available_date", kind="stable")


def previous_fundamentals_as_of(
    fundamentals: pd.DataFrame, as_of, lag_days: int = 365, tolerance_days: int = 45
) -> pd.DataFrame:
    """Per ticker, the year-ago counterpart of the current as-of row, indexed by ticker.

    Among rows available on ``as_of``, the one whose ``period_end`` is closest to the current row's
    ``period_end - lag_days`` (within ``tolerance_days``; later ``available_date`` wins a tie, i.e.
    the latest known version of that period). Tickers without such a row are absent. Use it for
    growth rates: ``current / previous - 1`` then compares two figures both known on ``as_of``.
    """
    avail = _available(fundamentals, as_of)
    current = fundamentals_as_of(fundamentals, as_of).reset_index()[["ticker", "period_end"]]
    cand = avail.merge(current.rename(columns={"period_end": "current_period_end"}), on="ticker")
    target = cand["current_period_end"] - pd.Timedelta(days=lag_days)
    cand = cand.assign(_gap=(cand["period_end"] - target).abs())
    cand = cand[cand["_gap"] <= pd.Timedelta(days=tolerance_days)]
    cand = cand.sort_values(["ticker", "_gap", "available_date"], ascending=[True, True, False], kind="stable")
    out = cand.drop_duplicates("ticker", keep="first").drop(columns=["_gap", "current_period_end"])
    return out.set_index("ticker").sort_index()
