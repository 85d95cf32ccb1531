"""Conversions between the warehouse's long tables and the ML library's panel inputs.

The warehouse stores one row per (date, ticker); ``FeatureEngineer`` works on (date, symbol)
MultiIndex frames and returns panels (dates x symbols). These helpers are the only place that
bridges the two, so the Dagster assets, the leakage audit and the benchmarks build inputs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.ml.config import FORWARD_DAYS, SCORE_BLEND_SIGNAL, SUB_FACTOR_RANK_COLUMNS, RankingModelConfig

# Factor columns fed to feature engineering: the six category scores, the composite and two
# well-known sub-factors whose dynamics (reversal, trend) the categories average away.
FEATURE_BASE_COLUMNS = [
    "value",
    "momentum",
    "quality",
    "growth",
    "volatility",
    "technical",
    "short_term_reversal",
    "ret_12m_1m",
]
# Sub-factors that enter the features as cross-sectional ranks only (``FeatureConfig.rank_only_columns``).
RANK_ONLY_COLUMNS = list(SUB_FACTOR_RANK_COLUMNS)
# every factor column feature engineering reads (what a features run loads of factor_scores)
FEATURE_INPUT_COLUMNS = [*FEATURE_BASE_COLUMNS, *RANK_ONLY_COLUMNS]
NUM_QUINTILES = RankingModelConfig.num_quintiles


def raw_factor_frame(factor_scores: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """(date, symbol) MultiIndex frame of the chosen factor columns from long factor scores
    (default: ``FEATURE_BASE_COLUMNS`` and the rank-only sub-factors ``RANK_ONLY_COLUMNS``)."""
    columns = [c for c in (columns or FEATURE_INPUT_COLUMNS) if c in factor_scores.columns]
    frame = factor_scores[["date", "ticker", *columns]].rename(columns={"ticker": "symbol"})
    frame["date"] = pd.to_datetime(frame["date"])
    return frame.set_index(["date", "symbol"]).sort_index().astype("float64")


def macro_frame(regime_features: pd.DataFrame) -> pd.DataFrame:
    """Regime features indexed by date (the date each value became known)."""
    out = regime_features.copy()
    out["date"] = pd.to_datetime(out["date"])
    return out.set_index("date").sort_index()


def to_long(features: pd.DataFrame, inplace: bool = False) -> pd.DataFrame:
    """(date, symbol) feature frame -> long frame with ``date`` and ``ticker`` columns first.

    ``inplace=True`` turns ``features`` itself into the long frame instead of copying it: the
    whole history's features are close to a gigabyte on the real data, and a copy doubles the
    peak memory of a backfill."""
    if not inplace:
        out = features.reset_index().rename(columns={"symbol": "ticker"})
        out["date"] = pd.to_datetime(out["date"])
        out["ticker"] = out["ticker"].astype(str)
        return out
    dates = pd.to_datetime(features.index.get_level_values("date"))
    tickers = features.index.get_level_values("symbol").astype(str)
    features.index = pd.RangeIndex(len(features))
    features.insert(0, "ticker", tickers)
    features.insert(0, "date", dates)
    return features


def from_long(features_long: pd.DataFrame) -> pd.DataFrame:
    """Long features (date, ticker, ...) -> (date, symbol) MultiIndex frame."""
    frame = features_long.rename(columns={"ticker": "symbol"})
    frame = frame.assign(date=pd.to_datetime(frame["date"]))
    return frame.set_index(["date", "symbol"]).sort_index()


def returns_panel(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily close-to-close returns, dates x tickers; NaN where either close is missing (no filling)."""
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    close.index = pd.DatetimeIndex(close.index)
    return close.pct_change(fill_method=None)


def matured_targets(
    prices: pd.DataFrame,
    label_start,
    label_end,
    forward_days: int = FORWARD_DAYS,
    num_quintiles: int = NUM_QUINTILES,
    membership: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Targets whose forward window closes (``label_date``) in [label_start, label_end).

    ``label_date`` is the trading day ``forward_days`` after ``date``: the target of ``date`` is
    known only at that close, which is why the targets table is partitioned by it. ``prices`` must
    reach back ``forward_days`` trading days before ``label_start``. Columns: date, label_date,
    ticker, fwd_return, label (1 worst .. num_quintiles best; NaN when a return in the window is
    missing). With index ``membership`` intervals only the members of ``date`` have a row, and the
    quintiles rank them alone (``axion_pipeline.ml.targets``).
    """
    from axion_pipeline.data.universe import member_rows
    from axion_pipeline.ml.targets import target_panel

    returns = returns_panel(prices)
    panel = target_panel(returns, forward_days, num_quintiles, membership)
    dates = returns.index
    label_dates = pd.Series(pd.NaT, index=dates, dtype="datetime64[ns]")
    label_dates.iloc[: max(len(dates) - forward_days, 0)] = dates[forward_days:]
    out = panel.rename_axis(["date", "ticker"]).reset_index()
    out["label_date"] = label_dates.reindex(out["date"]).to_numpy()
    start, end = pd.Timestamp(label_start), pd.Timestamp(label_end)
    out = out.loc[(out["label_date"] >= start) & (out["label_date"] < end)]
    # a ticker with no close on t (or not a member on t) has no target at t: keep priced members
    priced = prices[["date", "ticker"]].assign(date=lambda f: pd.to_datetime(f["date"]))
    out = out.merge(member_rows(priced, membership), on=["date", "ticker"], how="inner")
    out["ticker"] = out["ticker"].astype(str)
    return (
        out[["date", "label_date", "ticker", "fwd_return", "label"]]
        .sort_values(["date", "ticker"])
        .reset_index(drop=True)
    )


def float_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if c not in ("date", "ticker", "label_date") and np.issubdtype(frame[c].dtype, np.number)
    ]


def feature_panel(
    raw: pd.DataFrame,
    *,
    macro: pd.DataFrame | None,
    sectors: pd.Series | None,
    config=None,
    start=None,
    end=None,
    membership: pd.DataFrame | None = None,
    prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``FeatureEngineer.create_features_panel`` over the (date, symbol) factor rows of index
    members only (every row without membership information): cross-sectional ranks are among the
    members of a date, and a lag or rolling window sees a ticker's rows while it was a member.
    Membership of a date is known on that date, so the rows of t need no later membership.

    With long ``prices`` (every ticker's closes, from ``residual_reversal.HISTORY_DAYS`` trading days before
    the first output date), the panel gains ``SCORE_BLEND_SIGNAL``: residual reversal
    (``axion_pipeline.factors.residual_reversal``) as a percentile among the date's rows. It is
    not a model input (``split_blend_signal``): the ranking score is averaged with it."""
    from axion_pipeline.data.universe import member_rows
    from axion_pipeline.ml.features import FeatureEngineer

    rows = member_rows(raw, membership, ticker="symbol")
    panel = FeatureEngineer(config).create_features_panel(rows, macro_data=macro, start=start, end=end, sectors=sectors)
    if prices is not None:
        panel[SCORE_BLEND_SIGNAL] = blend_signal_values(returns_panel(prices), panel.index)
    return panel


def blend_signal_values(returns: pd.DataFrame, index: pd.MultiIndex) -> np.ndarray:
    """Residual reversal at each (date, symbol) of ``index``, as a percentile among the index's
    rows of the same date (NaN where the name lacks the history). ``returns``: daily returns, dates
    x tickers (``returns_panel``); the factor model is fitted on every ticker there (members or
    not: a non-member's closes are public too)."""
    from axion_pipeline.factors.residual_reversal import residual_reversal_of_returns
    from axion_pipeline.ml.metrics import percentile_rank_by_date

    dates = pd.DatetimeIndex(index.get_level_values(0))
    returns = returns.sort_index()
    returns.index = pd.DatetimeIndex(returns.index)
    returns.columns = returns.columns.astype(str)
    signal = residual_reversal_of_returns(returns, dates.unique().intersection(returns.index))
    rows = signal.index.get_indexer(dates)
    cols = signal.columns.get_indexer(index.get_level_values(-1).astype(str))
    values = np.full(len(index), np.nan)
    found = (rows >= 0) & (cols >= 0)
    values[found] = signal.to_numpy()[rows[found], cols[found]]
    return percentile_rank_by_date(values, dates)


def split_blend_signal(X: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series | None]:
    """(the model's candidate columns, the blend signal or None): the signal column never enters
    feature selection or a model fit."""
    if SCORE_BLEND_SIGNAL not in X.columns:
        return X, None
    return X.drop(columns=[SCORE_BLEND_SIGNAL]), X[SCORE_BLEND_SIGNAL]


@dataclass
class RankingInputs:
    """What the ranking model and its evaluation read, built in memory from a ``MarketData``:
    factor ``scores`` (the ``factor_scores`` table), long ``features``, matured ``targets`` and the
    trading ``calendar``."""

    scores: pd.DataFrame
    features: pd.DataFrame
    targets: pd.DataFrame
    calendar: pd.DatetimeIndex


def build_ranking_inputs(data, feature_config=None) -> RankingInputs:
    """The ranking model's inputs computed as the Dagster assets compute them (factor scores over
    the whole history, regime features, ``FeatureEngineer`` panel, matured 21-day targets, all
    among the index members of ``data.universe`` when it holds intervals). For tests, benchmarks
    and notebooks that measure the model without a warehouse; every feature at t uses data up to
    t (the same library calls as the assets)."""
    from axion_pipeline.data.frames import sector_map
    from axion_pipeline.factor_engine.panel import compute_factor_panel
    from axion_pipeline.ml.regime_features import regime_features

    sectors = sector_map(data.sectors)
    membership = data.universe
    series = data.market_series.assign(date=pd.to_datetime(data.market_series["date"])).set_index("date").sort_index()
    scores = compute_factor_panel(
        data.prices, data.fundamentals, series["sp500_close"], sectors=sectors, membership=membership
    )
    macro = regime_features(series)
    prices = data.prices.assign(date=pd.to_datetime(data.prices["date"]))
    panel = feature_panel(
        raw_factor_frame(scores),
        macro=macro,
        sectors=sectors,
        config=feature_config,
        membership=membership,
        prices=prices,
    )
    targets = matured_targets(
        prices, prices["date"].min(), prices["date"].max() + pd.Timedelta(days=1), membership=membership
    )
    calendar = pd.DatetimeIndex(sorted(prices["date"].unique()))
    return RankingInputs(scores, to_long(panel, inplace=True), targets, calendar)


def ranking_inputs(data, feature_config=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """``build_ranking_inputs`` without the factor scores: (features, targets, calendar)."""
    inputs = build_ranking_inputs(data, feature_config)
    return inputs.features, inputs.targets, inputs.calendar
