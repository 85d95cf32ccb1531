"""``FeatureEngineer``: ranking features, forward-return targets and regime features.

Input is a (date, symbol) frame of numeric factor columns (higher = better is the convention of
the factor engine; ranks keep the column's own direction) and optionally a ``sector`` column;
other non-numeric columns (e.g. a ``regime`` label) are ignored.
Every feature for date ``t`` is built from rows dated on or before ``t`` only:

- ``<col>_rank``: percentile rank in the date's cross-section, in [0, 1];
- ``<col>_sector_rank``: the same within date x sector (needs sectors);
- ``<a>_x_<b>``: product of the two ranks, for ``interaction_columns`` present in the data;
- ``<col>_lag{N}d``: the raw value N dates of the data earlier, same symbol;
- ``<col>_mean_{N}d`` / ``<col>_std_{N}d``: trailing mean / sample std of the raw value over the
  last N dates including ``t`` (full window unless ``rolling_min_periods`` is set); no std for the
  ``step_columns`` (quarterly fundamentals: the std of a step function only says whether a filing
  fell in the window);
- ``month_of_year``, ``quarter``;
- ``<col>_rank`` of the ``rank_only_columns`` present (the factor engine's sub-factors): only
  the date's cross-sectional rank, no sector rank, lag or rolling statistic;
- macro columns, as of ``t`` (the last macro row dated on or before ``t``; its index must be
  the date each value became known);
- ``<col>_x_<state>``: regime interactions, (rank of ``col`` - 0.5) x the macro column
  ``state`` as of ``t``, for ``regime_interaction_columns`` x ``regime_state_columns`` present.
  Factor premia depend on the market regime; the product carries "this trait pays in this
  state" in one column. Both factors are known at ``t``.

Where look-ahead could enter: the date filter (``raw_data``/``macro_data`` rows after the target
date are dropped before anything is computed), the calendar used for lags (dates of the data up to
``t``), and the macro join (backward as-of only). ``create_features`` for one date and
``create_features_panel`` share one code path and are bit-identical (see ``feature_transforms``).

Feature selection (``fit_selection``) must be fit on training rows only; ``transform_selection``
then applies the stored choice unchanged to test and live data.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from itertools import combinations

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import percentile_rank_rows
from axion_pipeline.ml.config import FeatureConfig
from axion_pipeline.ml.feature_transforms import (
    Panel,
    asof_rows,
    lagged,
    rolling_mean_std,
    to_panel,
)
from axion_pipeline.ml.regime_features import regime_features
from axion_pipeline.ml.selection import FeatureSelection, apply_feature_selection, fit_feature_selection
from axion_pipeline.ml.targets import target_for_date, target_panel

DateLike = date | pd.Timestamp | str


def _timestamp(value: DateLike | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        raise ValueError(f"dates must be timezone-naive, got {ts}")
    return ts


def _prepare_raw(raw_data: pd.DataFrame, end: pd.Timestamp | None) -> pd.DataFrame:
    """Validate the (date, symbol) frame, normalise its date level, keep rows up to ``end``."""
    if not isinstance(raw_data, pd.DataFrame) or raw_data.index.nlevels != 2:
        raise ValueError("raw_data must be a DataFrame indexed by a (date, symbol) MultiIndex")
    dates = pd.DatetimeIndex(pd.to_datetime(raw_data.index.get_level_values(0)))
    if dates.tz is not None:
        raise ValueError("raw_data dates must be timezone-naive")
    names = [raw_data.index.names[0] or "date", raw_data.index.names[1] or "symbol"]
    index = pd.MultiIndex.from_arrays([dates.astype("datetime64[ns]"), raw_data.index.get_level_values(1)], names=names)
    frame = raw_data.copy(deep=False)  # the caller's frame keeps its index
    frame.index = index
    if index.has_duplicates:
        raise ValueError(f"raw_data has duplicate (date, symbol) rows, e.g. {index[index.duplicated()][0]}")
    if end is not None:
        frame = frame[index.get_level_values(0) <= end]
    return frame.sort_index()


def _dated_cross_section(raw_data: pd.DataFrame, t: pd.Timestamp | None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """One row per symbol -> a (date, symbol) frame on its date: ``t``, else ``attrs["as_of_date"]``
    (set by ``FactorEngineV2.compute_all_scores``); both must agree when both are known."""
    as_of = _timestamp(raw_data.attrs.get("as_of_date"))
    if t is None and as_of is None:
        raise ValueError(
            "raw_data is a single cross-section (one row per symbol) without a date: pass target_date= "
            "or a DataFrame indexed by a (date, symbol) MultiIndex"
        )
    if t is not None and as_of is not None and t != as_of:
        raise ValueError(f"target_date {t.date()} differs from the cross-section's as_of_date {as_of.date()}")
    date = t if t is not None else as_of
    symbols = raw_data.index
    index = pd.MultiIndex.from_arrays([pd.DatetimeIndex([date] * len(symbols)), symbols], names=["date", symbols.name])
    return raw_data.set_axis(index, axis=0), date


def _sector_keys(frame: pd.DataFrame, sectors: pd.Series | pd.DataFrame | dict | None) -> np.ndarray | None:
    """Sector label per row: from ``sectors`` (symbol -> sector) when given, else a ``sector`` column."""
    if sectors is None:
        return frame["sector"].to_numpy(dtype=object) if "sector" in frame.columns else None
    if isinstance(sectors, pd.DataFrame):
        key = "ticker" if "ticker" in sectors.columns else "symbol"
        sectors = sectors.set_index(key)["sector"]
    mapping = pd.Series(sectors)
    if mapping.index.has_duplicates:
        raise ValueError("sectors maps a symbol to more than one sector")
    return mapping.reindex(frame.index.get_level_values(1)).to_numpy(dtype=object)


def _prepare_macro(macro_data: pd.DataFrame, end: pd.Timestamp | None) -> pd.DataFrame:
    macro = macro_data.set_index("date") if "date" in macro_data.columns else macro_data
    macro = macro.set_axis(pd.DatetimeIndex(pd.to_datetime(macro.index)), axis=0).sort_index()
    if macro.index.tz is not None or macro.index.has_duplicates:
        raise ValueError("macro_data needs unique timezone-naive dates")
    if end is not None:
        macro = macro[macro.index <= end]
    return macro.select_dtypes("number").astype("float64")


def _regime_pairs(columns: list[str], cfg: FeatureConfig, macro_columns: list[str]) -> list[tuple[str, str]]:
    """(factor column, macro state column) pairs of the regime interactions present in the data."""
    if not cfg.include_regime_interactions:
        return []
    states = [m for m in cfg.regime_state_columns if m in macro_columns]
    return [(c, m) for c in cfg.regime_interaction_columns if c in columns for m in states]


def _varying(base, cfg: FeatureConfig) -> list[str]:
    """Base columns that get a rolling std: all but the step functions (``cfg.step_columns``)."""
    return [c for c in base if c not in set(cfg.step_columns)]


def _feature_names(
    base,
    sectors: bool,
    pairs,
    cfg: FeatureConfig,
    macro_columns: list[str],
    rank_only: list[str] = (),
    regime_pairs: list[tuple[str, str]] = (),
) -> list[str]:
    names = [f"{c}_rank" for c in base] + ([f"{c}_sector_rank" for c in base] if sectors else [])
    names += [f"{a}_x_{b}" for a, b in pairs]
    names += [f"{c}_lag{int(n)}d" for n in cfg.lag_periods for c in base]
    for w in cfg.rolling_windows:
        names += [f"{c}_mean_{int(w)}d" for c in base] + [f"{c}_std_{int(w)}d" for c in _varying(base, cfg)]
    names += ["month_of_year", "quarter"] if cfg.include_calendar else []
    names += [f"{c}_rank" for c in rank_only]
    tail = [f"{c}_x_{m}" for c, m in regime_pairs]
    clash = sorted(n for n, k in Counter(names + macro_columns + tail).items() if k > 1)
    if clash:
        raise ValueError(f"duplicate feature names (macro columns clash with features?): {clash}")
    return names + macro_columns + tail


def _feature_matrix(frame, base, rows, cfg, sector_keys, macro, rank_only=()) -> tuple[list[str], np.ndarray]:
    """Names and a ``features x rows`` float64 matrix for the selected ``rows`` of ``frame``.

    ``frame`` holds every date up to the last output date, so lags and rolling windows see the
    history before the first output date; the output rows are the dates from ``rows`` on.
    """
    if any(int(n) < 1 for n in [*cfg.lag_periods, *cfg.rolling_windows]):
        raise ValueError("lag_periods and rolling_windows must be positive")
    rank_only = list(rank_only)
    every = to_panel(frame, [*base, *rank_only])  # base columns first, then the rank-only ones
    if np.isinf(every.values).any():
        bad = [c for c, v in zip([*base, *rank_only], every.values) if np.isinf(v).any()]
        raise ValueError(f"raw_data has infinite values in {bad}; clean them upstream")
    panel = Panel(every.dates, every.symbols, every.values[: len(base)], every.date_pos, every.symbol_pos)
    col = {c: i for i, c in enumerate(base)}
    pairs = list(combinations([c for c in cfg.interaction_columns if c in col], 2)) if cfg.include_interactions else []
    macro_columns = [] if macro is None else list(macro.columns)
    regime_pairs = _regime_pairs([*base, *rank_only], cfg, macro_columns)
    names = _feature_names(base, sector_keys is not None, pairs, cfg, macro_columns, rank_only, regime_pairs)
    out_dates = frame.index.get_level_values(0)[rows]
    n_cols, n_symbols = len(base), len(panel.symbols)
    first = int(panel.date_pos[rows].min())  # output dates are the last dates of the panel
    n_out = panel.values.shape[1] - first
    at_date, at_symbol = panel.date_pos[rows] - first, panel.symbol_pos[rows]
    recent = panel.values[:, first:].reshape(n_cols * n_out, n_symbols)  # one cross-section per row

    # Written block by block, in the order of ``names``, into one features x rows buffer that the
    # DataFrame wraps without a copy.
    matrix = np.empty((len(names), len(rows)))
    cursor = 0

    def put(values: np.ndarray) -> None:  # values: features x rows
        nonlocal cursor
        matrix[cursor : cursor + len(values)] = values
        cursor += len(values)

    def cross_sections(cube: np.ndarray) -> np.ndarray:  # columns x (out-dates x symbols) -> rows
        return np.take(cube.reshape(-1, n_out * n_symbols), at_date * n_symbols + at_symbol, axis=1)

    put(cross_sections(percentile_rank_rows(recent)))
    if sector_keys is not None:
        codes = np.full(panel.values.shape[1:], -1, dtype=np.int32)
        codes[panel.date_pos, panel.symbol_pos] = pd.factorize(sector_keys)[0]
        groups = np.broadcast_to(codes[first:], (n_cols, n_out, n_symbols)).reshape(recent.shape)
        put(cross_sections(percentile_rank_rows(recent, groups)))
    if pairs:
        put(np.stack([matrix[col[a]] * matrix[col[b]] for a, b in pairs]))  # rows 0..n_cols: ranks
    for n in cfg.lag_periods:
        put(lagged(panel, int(n), rows))
    series = np.ascontiguousarray(panel.values.transpose(0, 2, 1))  # columns x symbols x dates
    varying = [col[c] for c in _varying(base, cfg)]  # the base columns that get a rolling std
    at_series = at_symbol * n_out + at_date
    for w in cfg.rolling_windows:
        mean, std = rolling_mean_std(series, int(w), cfg.rolling_min_periods, first)
        put(np.take(mean.reshape(n_cols, -1), at_series, axis=1))
        put(np.take(std.reshape(n_cols, -1)[varying], at_series, axis=1))
    if cfg.include_calendar:
        put(np.stack([out_dates.month, out_dates.quarter]))
    if rank_only:
        extra = every.values[len(base) :, first:].reshape(len(rank_only) * n_out, n_symbols)
        put(cross_sections(percentile_rank_rows(extra)))
    if macro is not None:
        padded = np.vstack([macro.to_numpy(), np.full((1, macro.shape[1]), np.nan)])  # row -1: none yet
        put(padded[asof_rows(macro.index, out_dates)].T)
    if regime_pairs:
        row = {name: i for i, name in enumerate(names)}
        put(np.stack([(matrix[row[f"{c}_rank"]] - 0.5) * matrix[row[m]] for c, m in regime_pairs]))
    return names, matrix


class FeatureEngineer:
    """Builds ML features and targets with strict point-in-time filtering (see module docstring)."""

    def __init__(self, config: FeatureConfig | None = None):
        self.config = config

    @property
    def _config(self) -> FeatureConfig:
        return self.config if self.config is not None else FeatureConfig()

    @property
    def feature_names(self) -> list[str]:
        """Columns returned by the last call that returned features (empty before any call)."""
        return list(getattr(self, "_feature_names", []))

    # ----------------------------------------------------------------------------- features
    def create_features(
        self,
        raw_data: pd.DataFrame,
        macro_data: pd.DataFrame | None = None,
        target_date: DateLike | None = None,
        sectors: pd.Series | pd.DataFrame | dict | None = None,
    ) -> pd.DataFrame:
        """Features for ``target_date`` only (all dates when None), from data dated up to it.

        Returns float64 columns indexed like ``raw_data``: (date, symbol), or symbol for a single
        cross-section (one row per symbol, e.g. ``FactorEngineV2.compute_all_scores``'s output,
        dated by ``target_date`` or its ``attrs["as_of_date"]``; with one date, lags and rolling
        statistics are NaN: there is no history). Sectors come from
        ``sectors`` (symbol -> sector, a Series, dict or ``ticker, sector`` frame) when given, else
        from a ``sector`` column; without either, no sector ranks. Only the history the lags and
        windows need is used. Every feature column is returned: ``max_features`` and
        ``collinearity_threshold`` select in ``fit_selection`` / ``transform_selection``, fitted on
        training rows only. Raises ``ValueError`` when ``raw_data`` has no row on ``target_date``.
        """
        t = _timestamp(target_date)
        if isinstance(raw_data, pd.DataFrame) and raw_data.index.nlevels == 1:
            dated, t = _dated_cross_section(raw_data, t)
            return self.create_features(dated, macro_data, t, sectors).droplevel(0)
        if t is None:
            return self.create_features_panel(raw_data, macro_data, sectors=sectors)
        frame = _prepare_raw(raw_data, t)
        dates = frame.index.get_level_values(0).unique()
        if len(dates) == 0 or dates[-1] != t:
            latest = dates[-1].date() if len(dates) else None
            raise ValueError(f"raw_data has no rows on {t.date()} (latest date on or before it: {latest})")
        cfg = self._config
        history = max([0, *cfg.lag_periods, *(w - 1 for w in cfg.rolling_windows)])
        frame = frame[frame.index.get_level_values(0) >= dates[max(0, len(dates) - 1 - history)]]
        return self._build(frame, macro_data, sectors, t, t)

    def create_features_panel(
        self,
        raw_data: pd.DataFrame,
        macro_data: pd.DataFrame | None = None,
        start: DateLike | None = None,
        end: DateLike | None = None,
        sectors: pd.Series | pd.DataFrame | dict | None = None,
    ) -> pd.DataFrame:
        """Features for every date in [start, end] at once; row for ``t`` equals ``create_features(t)``."""
        start_ts, end_ts = _timestamp(start), _timestamp(end)
        return self._build(_prepare_raw(raw_data, end_ts), macro_data, sectors, start_ts, end_ts)

    def _build(self, frame, macro_data, sectors, start, end) -> pd.DataFrame:
        cfg = self._config
        numeric = [c for c in frame.columns if c != "sector" and pd.api.types.is_numeric_dtype(frame[c])]
        rank_only = [c for c in numeric if c in set(cfg.rank_only_columns)]
        base = [c for c in numeric if c not in set(rank_only)]
        if not base:
            raise ValueError("raw_data has no numeric factor columns (besides rank-only ones)")
        row_dates = frame.index.get_level_values(0)
        rows = np.flatnonzero(row_dates >= start) if start is not None else np.arange(len(frame))
        if len(rows) == 0:
            raise ValueError(f"raw_data has no rows between {start} and {end}")
        sector_keys = _sector_keys(frame, sectors) if cfg.include_sector_ranks else None
        macro = _prepare_macro(macro_data, end) if macro_data is not None else None
        names, values = _feature_matrix(frame, base, rows, cfg, sector_keys, macro, rank_only)
        out = pd.DataFrame(values.T, index=frame.index[rows], columns=names, copy=False)
        self._feature_names = names
        return out

    # ---------------------------------------------------------------------------- selection
    def fit_selection(self, features_train: pd.DataFrame) -> FeatureEngineer:
        """Fit the collinearity filter and ``max_features`` cap on TRAINING rows only; returns self."""
        cfg = self._config
        self.selection_ = fit_feature_selection(
            features_train, cfg.max_features, cfg.collinearity_threshold, cfg.selection_max_rows
        )
        self.selected_features_ = list(self.selection_.selected)
        return self

    def transform_selection(self, features: pd.DataFrame) -> pd.DataFrame:
        """Keep the fitted selection's columns (never refits); raises if any is missing."""
        if not hasattr(self, "selection_"):
            raise RuntimeError("call fit_selection (on training rows) or selection_from_dict first")
        out = apply_feature_selection(features, self.selection_)
        self._feature_names = list(out.columns)
        return out

    def selection_to_dict(self) -> dict:
        if not hasattr(self, "selection_"):
            raise RuntimeError("no fitted selection to save")
        return self.selection_.to_dict()

    def selection_from_dict(self, data: dict) -> FeatureEngineer:
        self.selection_ = FeatureSelection.from_dict(data)
        self.selected_features_ = list(self.selection_.selected)
        return self

    # ------------------------------------------------------------------ targets and regimes
    def create_target(
        self,
        returns_data: pd.DataFrame,
        target_date: DateLike | None = None,
        forward_days: int = 21,
        num_quintiles: int = 5,
    ) -> pd.Series:
        """Forward-return quintile labels (1 worst .. num_quintiles best, NaN when unknown).

        With ``target_date``: a Series indexed by symbol for that date. Without: a Series indexed
        by (date, symbol) for every date. See ``axion_pipeline.ml.targets`` for the rules.
        """
        t = _timestamp(target_date)
        if t is None:
            return target_panel(returns_data, forward_days, num_quintiles)["label"]
        return target_for_date(returns_data, t, forward_days, num_quintiles)["label"]

    def create_target_panel(
        self, returns_data: pd.DataFrame, forward_days: int = 21, num_quintiles: int = 5
    ) -> pd.DataFrame:
        """(date, symbol) -> ``fwd_return``, ``label`` for every date and symbol of ``returns_data``."""
        return target_panel(returns_data, forward_days, num_quintiles)

    def create_regime_features(self, market_data: pd.DataFrame, target_date: DateLike | None = None) -> pd.DataFrame:
        """Market-level regime features (see ``axion_pipeline.ml.regime_features``)."""
        return regime_features(market_data, _timestamp(target_date))
