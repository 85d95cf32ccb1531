"""Reporting calendar and earnings surprises.

Each firm reports once per quarter: the filing (``available_date`` of the fundamentals) comes
25-60 days after the quarter end, the earnings announcement on or a few days before it, before the
open ("pre", the price reacts that day) or after the close ("post", it reacts the next day).

The surprise ``s = (actual - estimate) / |estimate|`` is planted as
``s = BIAS + RHO s_prev + C_MOM momentum_z + C_GROWTH growth_z + C_REVISION revision_z + NOISE e``:
analysts low-ball (about two thirds of reports beat) and under-react to their past misses, to
price momentum, to the firm's growth trend and to their own recent revisions of consensus EPS,
all known before the announcement (momentum and growth at the last close before the news,
revisions between the two previous filings). Only the unpredictable part ``e`` moves the price
(``JUMP * e`` on the reaction day), so the planted expected returns stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import EARNINGS_COLUMNS

BIAS = 0.016
RHO = 0.20
C_MOM = 0.012
C_GROWTH = 0.010
C_REVISION = 0.010
NOISE = 0.05
JUMP = 0.035
MAX_SURPRISE = 0.8
TTM_QUARTERS = 4  # quarters before the grid's first quarter end are simulated to fill the first TTM


@dataclass
class ReportingSchedule:
    """Per (quarter, ticker) reporting dates; arrays of shape (quarters, tickers)."""

    period_end: pd.DatetimeIndex  # quarter ends, one per row
    available_date: np.ndarray  # datetime64[ns]
    announce_date: np.ndarray  # datetime64[ns]
    release_time: np.ndarray  # "pre" / "post"
    cutoff_idx: np.ndarray  # last grid day whose close precedes the news
    reaction_idx: np.ndarray  # grid day whose return carries the news
    reported: np.ndarray  # the firm files this quarter (alive, and filed by the end of the data)
    noise: np.ndarray  # unit-variance shock of the surprise


def _t_unit(rng: np.random.Generator, df: float, size) -> np.ndarray:
    return rng.standard_t(df, size) * np.sqrt((df - 2.0) / df)


def build_schedule(
    rng: np.random.Generator,
    days: pd.DatetimeIndex,
    list_idx: np.ndarray,
    delist_idx: np.ndarray,
) -> ReportingSchedule:
    """Draw filing lags, announcement dates and surprise shocks for every quarter end of the grid.

    The quarter list starts ``TTM_QUARTERS - 1`` quarters before the grid so that trailing
    twelve-month sums exist from the first filing on; those early quarters use the first close.
    """
    n = len(list_idx)
    first = days[0] - pd.offsets.QuarterEnd(1) * (TTM_QUARTERS - 1)
    period_end = pd.date_range(first, days[-1], freq="QE")
    n_q = len(period_end)
    pe = period_end.values[:, None]
    lag = rng.integers(25, 59, size=(n_q, n)).astype("timedelta64[D]")
    available = np.busday_offset((pe + lag).astype("datetime64[D]"), 0, roll="forward")
    lead = rng.integers(0, 7, size=(n_q, n)).astype("timedelta64[D]")
    earliest = (pe + np.timedelta64(18, "D")).astype("datetime64[D]")
    announce = np.busday_offset(np.maximum(available - lead, earliest), 0, roll="forward")
    announce = np.minimum(announce, available)
    release = np.where(rng.random((n_q, n)) < 0.55, "post", "pre").astype(object)

    grid = days.values.astype("datetime64[D]")
    day_idx = np.searchsorted(grid, announce)
    post = release == "post"
    cutoff = np.where(post, day_idx, day_idx - 1)
    reaction = np.where(post, day_idx + 1, day_idx)
    last_date = grid[delist_idx][None, :]
    first_date = grid[list_idx][None, :]
    listed_later = (list_idx > 0)[None, :]
    reported = (available <= last_date) & (~listed_later | (pe.astype("datetime64[D]") >= first_date))
    return ReportingSchedule(
        period_end=period_end,
        available_date=available.astype("datetime64[ns]"),
        announce_date=announce.astype("datetime64[ns]"),
        release_time=release,
        cutoff_idx=cutoff,
        reaction_idx=reaction,
        reported=reported,
        noise=_t_unit(rng, 4.0, (n_q, n)),
    )


def announcement_jumps(schedule: ReportingSchedule, alive: np.ndarray) -> np.ndarray:
    """(days, tickers) returns added on reaction days: ``JUMP * e`` of the unpredictable surprise."""
    jumps = np.zeros(alive.shape)
    q, i = np.nonzero(schedule.reported)
    t = schedule.reaction_idx[q, i]
    keep = (t > 0) & (t < alive.shape[0])
    q, i, t = q[keep], i[keep], t[keep]
    keep = alive[t, i] & alive[t - 1, i]
    jumps[t[keep], i[keep]] = JUMP * schedule.noise[q[keep], i[keep]]
    return jumps


def revision_z(forward_eps: np.ndarray, reported: np.ndarray) -> np.ndarray:
    """Standardised change of consensus EPS between the two filings before each quarter's news.

    Row q uses the filings of quarters q-2 and q-1, both public before quarter q is announced.
    """
    n_q, n = forward_eps.shape
    out = np.zeros((n_q, n))
    for q in range(TTM_QUARTERS + 1, n_q):
        before, after = forward_eps[q - 2], forward_eps[q - 1]
        ok = reported[q - 2] & reported[q - 1] & (np.abs(before) > 0)
        if ok.sum() < 3:
            continue
        change = (after[ok] - before[ok]) / np.abs(before[ok])
        ranks = change.argsort().argsort() / (ok.sum() - 1.0) - 0.5  # robust to outliers
        out[q, ok] = ranks / ranks.std()
    return out


def surprises(
    schedule: ReportingSchedule, momentum_z: np.ndarray, growth_z: np.ndarray, forward_eps: np.ndarray
) -> np.ndarray:
    """Planted surprise per (quarter, ticker), from information public before each event's news."""
    n_q, n = schedule.reported.shape
    cutoff = np.clip(schedule.cutoff_idx, 0, momentum_z.shape[0] - 1)
    cols = np.broadcast_to(np.arange(n), (n_q, n))
    mom, gro = momentum_z[cutoff, cols], growth_z[cutoff, cols]
    rev = revision_z(forward_eps, schedule.reported)
    out = np.full((n_q, n), np.nan)
    prev = np.full(n, BIAS / (1.0 - RHO))
    for q in range(n_q):
        predictable = BIAS + RHO * prev + C_MOM * mom[q] + C_GROWTH * gro[q] + C_REVISION * rev[q]
        s = predictable + NOISE * schedule.noise[q]
        s = np.clip(s, -MAX_SURPRISE, MAX_SURPRISE)
        rep = schedule.reported[q]
        out[q, rep] = s[rep]
        prev = np.where(rep, s, prev)
    return out


def earnings_frame(
    schedule: ReportingSchedule,
    tickers: np.ndarray,
    surprise: np.ndarray,
    quarterly_eps: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> pd.DataFrame:
    """Canonical earnings events announced in [start, end]; the estimate is backed out of the actual.

    ``estimate = actual / (1 + s)`` for a profit and ``actual / (1 - s)`` for a loss, so that
    ``(actual - estimate) / |estimate| = s`` in both cases.
    """
    announce = schedule.announce_date
    mask = schedule.reported & (announce >= np.datetime64(start)) & (announce <= np.datetime64(end))
    mask &= np.isfinite(quarterly_eps) & np.isfinite(surprise)
    q, i = np.nonzero(mask)
    actual, s = quarterly_eps[q, i], surprise[q, i]
    estimate = np.where(actual >= 0, actual / (1.0 + s), actual / (1.0 - s))
    frame = pd.DataFrame(
        {
            "ticker": tickers[i].astype(object),
            "announce_date": pd.to_datetime(announce[q, i]),
            "fiscal_quarter_end": pd.to_datetime(schedule.period_end.values[q]),
            "eps_estimate": estimate,
            "eps_actual": actual,
            "surprise_pct": (actual - estimate) / np.abs(estimate),
            "release_time": schedule.release_time[q, i],
        }
    )
    frame = frame.sort_values(["announce_date", "ticker"], kind="mergesort").reset_index(drop=True)
    return frame[EARNINGS_COLUMNS]
