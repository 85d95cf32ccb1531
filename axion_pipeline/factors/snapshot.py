"""Point-in-time fundamentals: history fields per filing row, the as-of row per (date, ticker),
and the one-date snapshot ``build_fundamentals_snapshot``.

Every canonical fundamentals row (see ``axion_pipeline.data.contracts``) is augmented with fields
from two earlier rows of the same ticker:

- the prior-year row: period_end nearest to ``period_end - 365 days`` (within 45 days), among
  rows already available at this row's ``available_date`` -> ``<field>_1y``;
- the previous row in availability order (the previous quarter for a quarterly source, the
  previous year for an annual one) -> ``<field>_prev``.

``revenue_growth = revenue / revenue_1y - 1`` is computed per row so that its prior-year and
previous values (``revenue_growth_1y``, ``revenue_growth_prev``) exist for growth acceleration and
revenue momentum. A date ``t`` then uses the latest row with ``available_date <= t`` (ties: the
latest period_end). Look-ahead: a row's history fields only use rows available no later than the
row itself, so a row published after ``t`` can change nothing at ``t``. Missing data stays NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.factors.ops import first_valid, growth_ratio, safe_div

PRIOR_YEAR_DAYS = 365
PRIOR_YEAR_TOLERANCE_DAYS = 45
PRIOR_YEAR_FIELDS = ["revenue", "eps", "free_cash_flow", "gross_profit", "total_assets", "revenue_growth"]
PREVIOUS_FIELDS = ["eps", "forward_eps", "revenue_growth"]
META_COLUMNS = ["ticker", "period_end", "available_date", "period_type", "sector"]


# ---------------------------------------------------------------- derived fields (Series or panels)
def market_cap(close, shares):
    """close x shares_outstanding (split-adjusted both), NaN unless shares > 0."""
    return close * shares.where(shares > 0)


def enterprise_value(mcap, total_debt, cash):
    """market cap + total debt - cash."""
    return mcap + total_debt - cash


def eps_revision(forward_eps, forward_eps_prev, eps, eps_prev):
    """Change in forward EPS vs the previous available row; the change in TTM EPS where either
    forward value is missing."""
    return first_valid(forward_eps - forward_eps_prev, eps - eps_prev)


def earnings_momentum(revision, close):
    """EPS revision per dollar of price (scaling by price, not by the old EPS, keeps it defined
    for EPS near zero)."""
    return safe_div(revision, close, positive_den=True)


# ---------------------------------------------------------------- per-row augmentation
def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name].astype("float64") if name in df.columns else pd.Series(np.nan, index=df.index)


def _prior_year_rows(df: pd.DataFrame) -> np.ndarray:
    """Row position of each row's prior-year row, -1 when none qualifies."""
    out = np.full(len(df), -1, dtype=np.int64)
    if "period_end" not in df.columns or df.empty:
        return out
    keys = df[["ticker", "period_end", "available_date"]].assign(row=np.arange(len(df)))
    pairs = keys.merge(keys, on="ticker", suffixes=("", "_c"))
    target = pairs["period_end"] - pd.Timedelta(days=PRIOR_YEAR_DAYS)
    diff = (pairs["period_end_c"] - target).abs()
    ok = (
        (pairs["available_date_c"] <= pairs["available_date"])
        & (pairs["period_end_c"] < pairs["period_end"])
        & (diff <= pd.Timedelta(days=PRIOR_YEAR_TOLERANCE_DAYS))
    )
    pairs = pairs.loc[ok].assign(diff=diff[ok])
    # nearest period first; among versions of one period, the latest one known at the row's date
    pairs = pairs.sort_values(["row", "diff", "available_date_c", "row_c"], ascending=[True, True, False, False])
    best = pairs.drop_duplicates("row")
    out[best["row"].to_numpy()] = best["row_c"].to_numpy()
    return out


def _take(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.where(rows >= 0, values[np.maximum(rows, 0)], np.nan) if len(values) else values


def augment_fundamentals(fundamentals: pd.DataFrame) -> pd.DataFrame:
    """Canonical long fundamentals sorted by (ticker, available_date, period_end) with the
    ``_1y`` / ``_prev`` history fields and ``revenue_growth`` (see module docstring).

    ``free_cash_flow`` falls back to operating_cash_flow - capital_expenditure where missing.
    """
    missing = {"ticker", "available_date"} - set(fundamentals.columns)
    if missing:
        raise ValueError(f"long fundamentals lack columns {sorted(missing)}")
    df = fundamentals.copy()
    df["ticker"] = df["ticker"].astype(str)
    for c in ("available_date", "period_end"):
        if c in df.columns:
            df[c] = pd.to_datetime(df[c])
    if df["available_date"].isna().any():
        raise ValueError("fundamentals rows without available_date cannot be used point in time")
    order = ["ticker", "available_date"] + (["period_end"] if "period_end" in df.columns else [])
    df = df.sort_values(order, kind="mergesort").reset_index(drop=True)
    df["free_cash_flow"] = first_valid(
        _col(df, "free_cash_flow"), _col(df, "operating_cash_flow") - _col(df, "capital_expenditure")
    )
    py = _prior_year_rows(df)
    tick = df["ticker"].to_numpy()
    same_ticker = np.r_[False, tick[1:] == tick[:-1]] if len(df) else np.zeros(0, dtype=bool)
    prev = np.where(same_ticker, np.arange(len(df)) - 1, -1)
    revenue = _col(df, "revenue")
    df["revenue_growth"] = first_valid(
        _col(df, "revenue_growth"),
        growth_ratio(revenue, pd.Series(_take(revenue.to_numpy(), py), index=df.index)),
    )
    for f in PRIOR_YEAR_FIELDS:  # history columns already present (e.g. a snapshot) are kept
        df[f"{f}_1y"] = first_valid(_col(df, f"{f}_1y"), pd.Series(_take(_col(df, f).to_numpy(), py), index=df.index))
    for f in PREVIOUS_FIELDS:
        df[f"{f}_prev"] = first_valid(
            _col(df, f"{f}_prev"), pd.Series(_take(_col(df, f).to_numpy(), prev), index=df.index)
        )
    return df


def numeric_fields(frame: pd.DataFrame) -> list[str]:
    """Columns usable as fundamental fields: numeric and not identifiers or dates."""
    return [
        c
        for c in frame.columns
        if c not in META_COLUMNS
        and pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
    ]


def asof_rows(augmented: pd.DataFrame, dates: pd.DatetimeIndex, tickers) -> np.ndarray:
    """Row position (in ``augmented``) of the latest row with available_date <= date, for every
    (date, ticker); shape (len(dates), len(tickers)), -1 where none. One ``merge_asof``."""
    tickers = pd.Index(tickers).astype(str)
    n_d, n_t = len(dates), len(tickers)
    if augmented.empty or n_d == 0 or n_t == 0:
        return np.full((n_d, n_t), -1, dtype=np.int64)
    left = pd.DataFrame(
        {
            "date": np.repeat(pd.DatetimeIndex(dates).to_numpy(), n_t),
            "ticker": np.tile(tickers.to_numpy(dtype=object), n_d),
            "pos": np.arange(n_d * n_t),
        }
    ).sort_values("date", kind="mergesort")
    right = pd.DataFrame(
        {
            "available_date": augmented["available_date"].to_numpy(),
            "ticker": augmented["ticker"].to_numpy(dtype=object),
            "row": np.arange(len(augmented)),
        }
    ).sort_values("available_date", kind="mergesort")
    merged = pd.merge_asof(
        left,
        right,
        left_on="date",
        right_on="available_date",
        by="ticker",
        direction="backward",
        allow_exact_matches=True,
    )
    out = np.full(n_d * n_t, -1, dtype=np.int64)
    out[merged["pos"].to_numpy()] = merged["row"].fillna(-1).to_numpy(dtype=np.int64)
    return out.reshape(n_d, n_t)


def build_fundamentals_snapshot(
    fundamentals_long: pd.DataFrame, as_of, close_at_asof: pd.Series | None = None
) -> pd.DataFrame:
    """Fundamentals known at ``as_of`` as tickers x fields (the shape ``FactorEngineV2`` takes).

    Uses only rows with ``available_date <= as_of``: the latest row per ticker with its
    ``_1y``/``_prev`` history fields, plus ``market_cap`` = close x shares,
    ``enterprise_value`` = market cap + debt - cash, ``eps_revision``, ``earnings_momentum`` =
    eps_revision / close, and ``revenue_momentum`` = revenue_growth - revenue_growth_prev.
    ``close_at_asof`` is the close per ticker on ``as_of`` (market fields are NaN without it).
    """
    as_of = pd.Timestamp(as_of)
    known = fundamentals_long.loc[pd.to_datetime(fundamentals_long["available_date"]) <= as_of]
    aug = augment_fundamentals(known)
    tickers = pd.Index(sorted(aug["ticker"].unique()), name="ticker")
    rows = asof_rows(aug, pd.DatetimeIndex([as_of]), tickers)[0]
    snap = aug.iloc[rows].set_index("ticker")
    snap.index.name = "ticker"
    close = (
        pd.Series(np.nan, index=tickers)
        if close_at_asof is None
        else pd.Series(close_at_asof, dtype="float64").rename(index=str).reindex(tickers)
    )
    cols = {}
    cols["market_cap"] = market_cap(close, _col(snap, "shares_outstanding"))
    cols["enterprise_value"] = enterprise_value(cols["market_cap"], _col(snap, "total_debt"), _col(snap, "cash"))
    cols["eps_revision"] = eps_revision(
        _col(snap, "forward_eps"), _col(snap, "forward_eps_prev"), _col(snap, "eps"), _col(snap, "eps_prev")
    )
    cols["earnings_momentum"] = earnings_momentum(cols["eps_revision"], close)
    cols["revenue_momentum"] = _col(snap, "revenue_growth") - _col(snap, "revenue_growth_prev")
    for k, v in cols.items():
        snap[k] = v
    return snap
