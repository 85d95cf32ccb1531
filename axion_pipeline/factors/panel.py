"""Inputs of the factor formulas: one object for the single-date and the panel (all dates) paths.

``FactorInputs`` holds the close panel (dates x tickers, full history up to the last evaluated
date), optional volume, daily market returns for beta, point-in-time fundamental fields and the
``out_dates`` on which formulas are evaluated. Price formulas run rolling windows over the whole
history and keep the ``out_dates`` rows; fundamental fields are looked up directly on
``out_dates``. Because every price operation is causal (shifts into the past, trailing windows,
forward recursions), the value at date ``t`` is the same whether the history ends at ``t``
(single date) or later (panel): that is what makes the two paths agree exactly.

Look-ahead: ``build_inputs`` drops prices (and market series) after ``as_of``; fundamentals reach a
date only through ``available_date <= date``; a snapshot row whose ``available_date`` is after a
date is masked on that date. Index membership (``members``) masks names out of a date's
cross-section by their membership on that date alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from axion_pipeline.data.breadth import equal_weight_returns
from axion_pipeline.data.universe import has_membership, membership_panel
from axion_pipeline.factors.snapshot import asof_rows, augment_fundamentals, numeric_fields


class FieldSource:
    """Fundamental field panels (out_dates x tickers); ``get`` returns None for an absent field.

    Subclasses set ``_names`` (the numeric fields they hold) and implement ``_values``."""

    def __init__(self, dates: pd.DatetimeIndex, tickers: pd.Index):
        self.dates, self.tickers = dates, tickers
        self._names: list[str] = []

    def names(self) -> list[str]:
        return self._names

    def get(self, name: str) -> np.ndarray | None:
        return self._values(name) if name in self._names else None

    def _values(self, name: str) -> np.ndarray:
        raise NotImplementedError


class LongFieldSource(FieldSource):
    """Fields from canonical long fundamentals: per (date, ticker) the latest row available."""

    def __init__(self, fundamentals: pd.DataFrame, dates, tickers):
        super().__init__(dates, tickers)
        last = dates[-1] if len(dates) else pd.Timestamp.min
        known = fundamentals.loc[pd.to_datetime(fundamentals["available_date"]) <= last]
        self.rows = augment_fundamentals(known)
        self.idx = asof_rows(self.rows, dates, tickers)
        self._names = numeric_fields(self.rows)

    def _values(self, name):
        values = self.rows[name].to_numpy(dtype="float64")
        if len(values) == 0:
            return np.full(self.idx.shape, np.nan)
        return np.where(self.idx >= 0, values[np.maximum(self.idx, 0)], np.nan)


class SnapshotFieldSource(FieldSource):
    """Fields from a tickers x fields snapshot, the same on every date; masked on dates before a
    row's ``available_date`` when the snapshot has that column."""

    def __init__(self, snapshot: pd.DataFrame, dates, tickers):
        super().__init__(dates, tickers)
        snap = snapshot
        if "ticker" in snap.columns:
            snap = snap.set_index("ticker")
        if snap.index.has_duplicates:
            raise ValueError(
                "fundamentals snapshot has duplicated tickers; pass long fundamentals "
                "(with available_date) or one row per ticker"
            )
        snap = snap.rename(index=str).reindex(tickers)
        self.snap = snap
        self._names = numeric_fields(snap)
        self.mask = np.ones((len(dates), len(tickers)), dtype=bool)
        if "available_date" in snap.columns:
            avail = pd.to_datetime(snap["available_date"]).to_numpy()
            self.mask = ~(avail[None, :] > pd.DatetimeIndex(dates).to_numpy()[:, None])

    def _values(self, name):
        row = self.snap[name].to_numpy(dtype="float64")
        return np.where(self.mask, np.broadcast_to(row, self.mask.shape), np.nan)


def is_long_fundamentals(fundamentals: pd.DataFrame) -> bool:
    """Canonical long form (one row per filing) vs a tickers x fields snapshot."""
    return "available_date" in fundamentals.columns and "ticker" in fundamentals.columns


def field_source(fundamentals: pd.DataFrame | None, dates: pd.DatetimeIndex, tickers: pd.Index) -> FieldSource:
    if fundamentals is None or len(fundamentals.columns) == 0:
        return FieldSource(dates, tickers)
    if is_long_fundamentals(fundamentals):
        return LongFieldSource(fundamentals, dates, tickers)
    return SnapshotFieldSource(fundamentals, dates, tickers)


@dataclass
class FactorInputs:
    """Everything a formula may read (see module docstring). Panels are dates x tickers."""

    close: pd.DataFrame
    out_dates: pd.DatetimeIndex
    market_returns: pd.Series
    fields: FieldSource
    volume: pd.DataFrame | None = None
    members: np.ndarray | None = None  # dates x tickers of ``close``: index membership; None = everyone
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def tickers(self) -> pd.Index:
        return self.close.columns

    def memo(self, key, fn: Callable[[], object]):
        """Compute once per inputs object (intermediate panels shared by several formulas)."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    @property
    def out_pos(self) -> np.ndarray:
        return self.memo("out_pos", lambda: self.close.index.get_indexer(self.out_dates))

    def at_out(self, full: pd.DataFrame) -> pd.DataFrame:
        """Rows of a full-history panel at ``out_dates``."""
        return full.iloc[self.out_pos]

    @property
    def close_out(self) -> pd.DataFrame:
        return self.memo("close_out", lambda: self.at_out(self.close))

    @property
    def alive(self) -> np.ndarray:
        """out_dates x tickers: in the date's cross-section (a close that day and, with membership,
        a member that day). Raw values elsewhere are masked, so every rank is among these names."""

        def load():
            priced = self.close_out.notna().to_numpy()
            return priced if self.members is None else priced & self.members[self.out_pos]

        return self.memo("alive", load)

    @property
    def returns(self) -> pd.DataFrame:
        """Daily simple returns over the full history (NaN next to a missing close)."""
        return self.memo("returns", lambda: self.close.pct_change(fill_method=None))

    def field(self, name: str) -> pd.DataFrame:
        """Fundamental field on out_dates x tickers; all NaN when the field is absent."""

        def load():
            values = self.fields.get(name)
            if values is None:
                values = np.full((len(self.out_dates), len(self.tickers)), np.nan)
            return pd.DataFrame(values, index=self.out_dates, columns=self.tickers)

        return self.memo(("field", name), load)


def _wide(prices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Close (and volume when long) panels, dates ascending and tickers sorted as strings."""
    volume = None
    if {"date", "ticker", "close"} <= set(prices.columns):
        long = prices.assign(date=pd.to_datetime(prices["date"]), ticker=prices["ticker"].astype(str))
        if long.duplicated(["date", "ticker"]).any():
            raise ValueError("prices have duplicated (date, ticker) rows")
        close = long.pivot(index="date", columns="ticker", values="close")
        if "volume" in long.columns:
            volume = long.pivot(index="date", columns="ticker", values="volume")
    else:
        close = prices.copy()
        close.index = pd.DatetimeIndex(pd.to_datetime(close.index))
        close.columns = close.columns.astype(str)
    if close.index.tz is not None:
        close.index = close.index.tz_localize(None)
    if close.index.has_duplicates or close.columns.has_duplicates:
        raise ValueError("prices have duplicated dates or tickers")
    close = close.sort_index().sort_index(axis=1).astype("float64")
    close.index.name, close.columns.name = "date", "ticker"
    return close, volume


def _dated(series: pd.Series) -> pd.Series:
    s = pd.Series(series, dtype="float64").copy()
    s.index = pd.DatetimeIndex(pd.to_datetime(s.index))
    if s.index.tz is not None:
        s.index = s.index.tz_localize(None)
    return s.sort_index()


def build_inputs(
    prices: pd.DataFrame,
    fundamentals: pd.DataFrame | None = None,
    *,
    as_of=None,
    volume: pd.DataFrame | None = None,
    market_returns: pd.Series | None = None,
    sp500: pd.Series | None = None,
    out_dates="last",
    out_start=None,
    membership: pd.DataFrame | None = None,
) -> FactorInputs:
    """Normalise inputs and truncate them at ``as_of`` (default: the last price date).

    - ``prices``: dates x tickers of adjusted closes, or canonical long prices (close, volume).
    - ``fundamentals``: tickers x fields snapshot, or canonical long fundamentals.
    - market returns for beta: ``market_returns`` (daily simple returns) if given, else the
      returns of ``sp500``, else the equal-weighted mean return of the universe each day.
    - ``out_dates``: "last" (as_of only), "all" (every date), or explicit dates; ``out_start``
      drops out dates before it.
    - ``membership``: index membership intervals (``axion_pipeline.data.universe``); a name is in
      a date's cross-section only while a member, and the equal-weighted market return averages
      the members. Raw formulas still read the whole price history of every name.
    """
    close, vol_long = _wide(prices)
    if as_of is not None:
        close = close.loc[: pd.Timestamp(as_of)]
    if close.empty:
        raise ValueError(f"no prices on or before {as_of}")
    last = close.index[-1]
    volume = vol_long if volume is None else volume
    if volume is not None:
        volume, _ = _wide(volume)
        volume = volume.reindex(index=close.index, columns=close.columns)
    returns = close.pct_change(fill_method=None)
    members = membership_panel(close.index, close.columns, membership) if has_membership(membership) else None
    if market_returns is not None:
        mret = _dated(market_returns).loc[:last].reindex(close.index)
    elif sp500 is not None:
        mret = _dated(sp500).loc[:last].reindex(close.index).pct_change(fill_method=None)
    else:
        mret = equal_weight_returns(returns, members)
    if isinstance(out_dates, str):
        if out_dates not in ("last", "all"):
            raise ValueError(f"out_dates must be 'last', 'all' or dates, got {out_dates!r}")
        out = close.index[-1:] if out_dates == "last" else close.index
    else:
        out = close.index[close.index.isin(pd.DatetimeIndex(out_dates))]
    if out_start is not None:
        out = out[out >= pd.Timestamp(out_start)]
    inputs = FactorInputs(
        close=close,
        out_dates=pd.DatetimeIndex(out, name="date"),
        market_returns=mret,
        fields=field_source(fundamentals, out, close.columns),
        volume=volume,
        members=members,
    )
    inputs._cache["returns"] = returns
    return inputs
