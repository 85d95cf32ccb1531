"""Walk-forward windows on a trading calendar and the training sets cut from the warehouse's tables.

The warehouse stores long frames (one row per (date, ticker), or per date, or per earnings event);
the models want feature matrices, labels and date windows. This module is the one place where
the two meet, so the Dagster assets, the tests and any notebook cut the same rows.

Windows (``plan_walk_forward``). On a calendar of n trading days:

- the first ``warmup_days`` are dropped (factor scores need a year of history first);
- the last ``live_days`` form the *live span*: never in a fold, scored by the production models.
  A fold's last test date must have a matured label, so at least ``horizon`` days are kept out
  even when ``live_days`` is smaller;
- ``make_folds`` (``WalkForwardConfig``) cuts the remaining dates into ``n_splits`` folds ending
  right before the live span: ``train_size`` training dates, ``gap + embargo`` dropped dates,
  ``test_size`` test dates; with ``validation_size`` the last dates of each training window are
  the early-stopping set, another ``gap`` after the last fitted date;
- the production window ends at the *production cutoff*, ``gap + embargo`` trading days before
  the live span starts (the last date whose label matured before the first live day), and has
  the folds' shape (``train_size`` dates, the same validation slice).

Where look-ahead could enter: a label at t is the return from t to t + horizon, so ``gap`` must be
at least ``horizon`` (``check_purge``); rows are selected by date only, so a date's cross-section
is never split; anything fitted from data (feature selection) is fitted by the caller on the rows
returned for the fitted dates only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml.base import InsufficientDataError
from axion_pipeline.ml.config import WalkForwardConfig
from axion_pipeline.ml.walk_forward import Fold, check_purge, make_folds

KEYS = ["date", "ticker"]
NON_FEATURE_COLUMNS = {"date", "ticker", "label_date", "fold"}


@dataclass(frozen=True)
class TrainWindow:
    """The dates one model may learn from and the dates it is scored on (all inclusive).

    Fitted rows are ``train_start .. fit_end``; early stopping uses ``val_start .. train_end``
    (None: no validation slice, ``fit_end == train_end``); the model is scored on
    ``test_start .. test_end``.
    """

    key: str
    train_start: pd.Timestamp
    fit_end: pd.Timestamp
    val_start: pd.Timestamp | None
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    @property
    def has_validation(self) -> bool:
        return self.val_start is not None

    def to_dict(self) -> dict[str, Any]:
        """The key and every date as ISO text (None for a missing validation slice)."""
        out: dict[str, Any] = {"key": self.key}
        for name, value in self.__dict__.items():
            if name != "key":
                out[name] = None if value is None else str(pd.Timestamp(value).date())
        return out


@dataclass(frozen=True)
class FoldPlan:
    """Every window of one walk-forward configuration on one calendar (see the module docstring)."""

    calendar: pd.DatetimeIndex
    config: WalkForwardConfig
    horizon: int
    warmup_days: int
    live_days: int
    folds: tuple[Fold, ...]
    windows: tuple[TrainWindow, ...]
    production: TrainWindow

    @property
    def keys(self) -> list[str]:
        return [w.key for w in self.windows]

    @property
    def live_start(self) -> pd.Timestamp:
        return self.production.test_start

    @property
    def production_cutoff(self) -> pd.Timestamp:
        return self.production.train_end

    def window(self, key: str) -> TrainWindow:
        for w in (*self.windows, self.production):
            if w.key == key:
                return w
        raise KeyError(f"no walk-forward window {key!r}; known: {[*self.keys, self.production.key]}")

    def fold(self, key: str) -> Fold:
        return self.folds[self.keys.index(key)]

    def frame(self) -> pd.DataFrame:
        """One row per fold plus the production window: dates of every window and their lengths."""
        rows = []
        for w in (*self.windows, self.production):
            row = {"window": w.key, **{k: v for k, v in w.__dict__.items() if k != "key"}}
            for name, (a, b) in {
                "train": (w.train_start, w.train_end),
                "fit": (w.train_start, w.fit_end),
                "test": (w.test_start, w.test_end),
            }.items():
                row[f"n_{name}_dates"] = count_dates(self.calendar, a, b)
            row["n_gap_dates"] = count_dates(self.calendar, w.train_end, w.test_start) - 2
            rows.append(row)
        frame = pd.DataFrame(rows)
        frame["gap"], frame["embargo"] = self.config.gap, self.config.embargo
        return frame


def count_dates(calendar: pd.DatetimeIndex, start: Any, end: Any) -> int:
    """Trading days of ``calendar`` in [start, end]."""
    return int(((calendar >= pd.Timestamp(start)) & (calendar <= pd.Timestamp(end))).sum())


def plan_walk_forward(
    calendar: Any, config: WalkForwardConfig, horizon: int = 21, warmup_days: int = 300, live_days: int = 63
) -> FoldPlan:
    """Fold windows, the live span and the production window on ``calendar`` (module docstring)."""
    check_purge(config, horizon)
    cal = _calendar(calendar)
    n = len(cal)
    held_out = max(live_days, horizon)
    fold_dates = cal[warmup_days : n - held_out] if n > warmup_days + held_out else cal[:0]
    needed = config.train_size + config.gap + config.embargo + config.n_splits * config.test_size
    if len(fold_dates) < needed:
        raise ValueError(
            f"the calendar has {n} trading days ({cal[0].date() if n else None} .. "
            f"{cal[-1].date() if n else None}): after {warmup_days} warm-up days and a {held_out}-day live span "
            f"{len(fold_dates)} remain for walk-forward folds, which need {needed} (train {config.train_size} + gap "
            f"{config.gap} + embargo {config.embargo} + {config.n_splits} x test {config.test_size}); use a longer "
            "history or a smaller walk-forward configuration "
            "(AXION_WF_TRAIN_DAYS / AXION_WF_TEST_DAYS / AXION_WF_FOLDS)"
        )
    folds = tuple(make_folds(fold_dates, config))
    windows = tuple(_fold_window(f"fold_{f.fold}", f, fold_dates) for f in folds)
    production = production_window(cal, config, horizon, warmup_days, live_days)
    return FoldPlan(cal, config, horizon, warmup_days, held_out, folds, windows, production)


def _calendar(calendar: Any) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(calendar))).unique().sort_values()


def _fold_window(key: str, fold: Fold, dates: pd.DatetimeIndex) -> TrainWindow:
    fit_end = dates[fold.fit_end_pos] if fold.fit_end_pos is not None else fold.train_end
    return TrainWindow(key, fold.train_start, fit_end, fold.val_start, fold.train_end, fold.test_start, fold.test_end)


def production_window(
    calendar: Any, config: WalkForwardConfig, horizon: int = 21, warmup_days: int = 300, live_days: int = 63
) -> TrainWindow:
    """The window of the production models on ``calendar``: it ends ``gap + embargo`` trading days
    before the live span (the last ``max(live_days, horizon)`` days), so every label it fits on
    matured before the first live day, and has the folds' shape (expanding from the warm-up, or
    ``train_size`` days; the same validation slice). Needs no room for folds."""
    check_purge(config, horizon)
    cal = _calendar(calendar)
    n = len(cal)
    live_start = n - max(live_days, horizon)
    end = live_start - config.gap - config.embargo - 1
    start = warmup_days if config.expanding else max(warmup_days, end - config.train_size + 1)
    fit_end, val_start = end, None
    if config.validation_size:
        val_start = end - config.validation_size + 1
        fit_end = val_start - config.gap - 1
    if start >= n or end < 0 or fit_end < start:
        raise ValueError(
            f"{n} trading days leave no production window: after {warmup_days} warm-up days, a "
            f"{max(live_days, horizon)}-day live span, a {config.gap}-day gap and a "
            f"{config.validation_size}-day validation slice (+ another gap) no date is left to fit"
        )
    return TrainWindow(
        "production",
        cal[start],
        cal[fit_end],
        None if val_start is None else cal[val_start],
        cal[end],
        cal[live_start],
        cal[-1],
    )


def sample_dates(dates: Any, every_n: int) -> pd.DatetimeIndex:
    """Every ``every_n``-th of the unique sorted ``dates``, counted back from the last one (kept)."""
    if every_n < 1:
        raise ValueError(f"every_n must be >= 1, got {every_n}")
    unique = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))))).sort_values()
    return unique[::-1][::every_n][::-1]


def ranking_dates(dates: Any, window: TrainWindow, every_n: int = 1) -> pd.DatetimeIndex:
    """The feature dates ``train_ranking`` uses in ``window``, out of the stored ``dates``: every
    ``every_n``-th date of the fitted span (counted back from its last, as ``ranking_rows``
    samples), every validation date and every test date. A reader that fetches only these rows
    (and passes them as ``fit_dates``) trains the same model as one that loads the whole history,
    with a fraction of the memory: at the default ``every_n`` of 5 about a quarter of the window."""
    stored = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))))).sort_values()
    fitted = stored[(stored >= window.train_start) & (stored <= window.fit_end)]
    chosen = sample_dates(fitted, every_n) if len(fitted) else fitted
    if window.has_validation:
        chosen = chosen.union(stored[(stored >= window.val_start) & (stored <= window.train_end)])
    return chosen.union(stored[(stored >= window.test_start) & (stored <= window.test_end)])


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The numeric model-input columns of a long features table (keys excluded)."""
    return [c for c in features.columns if c not in NON_FEATURE_COLUMNS and pd.api.types.is_numeric_dtype(features[c])]


def require_finite(frame: pd.DataFrame, what: str) -> None:
    """Raise when a model input holds +-inf (missing values are the models' business, inf is a bug)."""
    values = frame.to_numpy(dtype="float64")
    bad = np.isinf(values)
    if bad.any():
        columns = [str(c) for c, flag in zip(frame.columns, bad.any(axis=0)) if flag]
        raise ValueError(
            f"{what}: {int(bad.sum())} infinite values in {len(columns)} columns, e.g. {columns[:5]}: "
            "fix the upstream table; models must not see +-inf"
        )


def _rows_dated(dates: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """Positions of the rows dated in [start, end]: two binary searches when the dates are sorted
    (warehouse tables come back in insertion order, which is date order), a scan otherwise."""
    if dates.is_monotonic_increasing:
        return np.arange(dates.searchsorted(start, side="left"), dates.searchsorted(end, side="right"))
    return np.flatnonzero(((dates >= start) & (dates <= end)).to_numpy())


def _float_values(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 (missing values NaN), without a copy when it already is one."""
    if isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        return column.to_numpy(dtype="float64", na_value=np.nan)
    return column.to_numpy(dtype="float64")


def ranking_rows(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    start: Any,
    end: Any,
    every_n: int = 1,
    labelled_only: bool = True,
    dates: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature matrix ``X`` (float64) and outcomes (``label``, ``fwd_return``) for feature rows dated in [start, end].

    Both are indexed by (date, ticker) and sorted. ``every_n`` keeps every n-th date (counted back
    from the last one); ``dates`` instead keeps exactly the rows dated in it (e.g. the sampled dates
    ``ranking_dates`` chose before the rows were read; ``every_n`` is then not applied again);
    ``labelled_only`` drops rows whose label is missing (immature or unknown). Raises when no row
    is left, naming the window.

    The rows are chosen by position first (binary search on sorted dates, the sampled dates, the
    labelled keys) and each column is gathered once into the output: the features table can be
    most of the machine's memory, and copying its columns before cutting the window (twice, with
    pandas' row-then-column take) cost a fold more than half its LightGBM fits.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    window = f"{start.date()} .. {end.date()}"
    outcome_columns = [*KEYS, "label", "fwd_return"]
    missing = [c for c in outcome_columns if c not in targets.columns]
    if missing:
        raise ValueError(f"targets lack the columns {missing}")
    stamps = features["date"]
    rows = _rows_dated(stamps, start, end)
    target_rows = _rows_dated(targets["date"], start, end)
    if len(rows) and (dates is not None or every_n > 1):
        in_window = stamps.iloc[rows]
        keep = (
            sample_dates(in_window, every_n) if dates is None else pd.DatetimeIndex(pd.to_datetime(np.asarray(dates)))
        )
        rows = rows[in_window.isin(keep).to_numpy()]
        target_rows = target_rows[targets["date"].iloc[target_rows].isin(keep).to_numpy()]
    keys = pd.MultiIndex.from_arrays([stamps.to_numpy()[rows], features["ticker"].to_numpy()[rows]], names=KEYS)
    if not keys.is_unique:
        raise ValueError(f"features dated {window} hold duplicate (date, ticker) rows")
    # labels are looked up by key in the window's targets instead of merged into the wide frame
    outcome = targets.iloc[target_rows, targets.columns.get_indexer(outcome_columns)].set_index(KEYS)
    if not outcome.index.is_unique:
        raise ValueError(f"targets hold duplicate (date, ticker) rows dated {window}")
    outcome = outcome.reindex(keys)
    if labelled_only:
        labelled = outcome["label"].notna().to_numpy()
        if not labelled.all():
            rows, keys, outcome = rows[labelled], keys[labelled], outcome.iloc[np.flatnonzero(labelled)]
    if not len(rows):
        raise InsufficientDataError(
            f"no {'labelled ' if labelled_only else ''}feature rows dated {window}: "
            "materialize features and targets for that window first"
        )
    columns = feature_columns(features)
    matrix = np.empty((len(columns), len(rows)))  # pandas' own layout: no copy into the frame
    for out, name in zip(matrix, columns):
        np.take(_float_values(features[name]), rows, out=out)
    X = pd.DataFrame(matrix.T, index=keys, columns=columns, copy=False)
    if not X.index.is_monotonic_increasing:
        X = X.sort_index()
        outcome = outcome.reindex(X.index)
    require_finite(X, f"features {window}")
    return X, outcome


def regime_labels(true_regimes: pd.DataFrame, market_regime: pd.DataFrame) -> tuple[pd.Series, str]:
    """Regime label per date: the planted truth when there is one (generated market), else the
    rule detector's regime; returns the series (indexed by date) and the name of its source."""
    source, table = ("true_regimes", true_regimes) if len(true_regimes) else ("market_regime", market_regime)
    rows = table.dropna(subset=["date", "regime"])
    labels = pd.Series(rows["regime"].astype(str).to_numpy(), index=pd.DatetimeIndex(rows["date"]), name="regime")
    if labels.empty:
        raise InsufficientDataError(f"{source} has no regime labels")
    return labels.sort_index(), source


def date_rows(frame: pd.DataFrame, start: Any, end: Any, what: str) -> pd.DataFrame:
    """Rows of a per-date table dated in [start, end], indexed by date (``date`` column dropped)."""
    out = frame.loc[(frame["date"] >= pd.Timestamp(start)) & (frame["date"] <= pd.Timestamp(end))]
    if out.empty:
        raise InsufficientDataError(
            f"{what} has no rows dated {pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}"
        )
    out = out.assign(date=pd.to_datetime(out["date"])).set_index("date").sort_index()
    require_finite(out.select_dtypes("number"), what)
    return out


def event_dates(X: pd.DataFrame) -> pd.DatetimeIndex:
    """The announcement date of each earnings event (index level ``announce_date``, else ``date``)."""
    level = next((name for name in ("announce_date", "date") if name in X.index.names), None)
    if level is None:
        raise ValueError(
            f"earnings features need an 'announce_date' (or 'date') index level to be cut into training "
            f"windows; their index levels are {list(X.index.names)}"
        )
    return pd.DatetimeIndex(X.index.get_level_values(level))


def event_rows(X: pd.DataFrame, start: Any, end: Any) -> np.ndarray:
    """Boolean mask of the earnings events announced in [start, end] (``event_dates``)."""
    announced = event_dates(X)
    return np.asarray((announced >= pd.Timestamp(start)) & (announced <= pd.Timestamp(end)))


def earnings_dataset(
    earnings_events: pd.DataFrame, prices: pd.DataFrame, fundamentals: pd.DataFrame, max_price_staleness_days: int = 10
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Per-event features known before each announcement, beat label and surprise (all events)."""
    from axion_pipeline.ml.earnings_features import build_earnings_features

    if earnings_events.empty:
        raise InsufficientDataError("earnings_events is empty: no announcements to learn from")
    X, beat, surprise = build_earnings_features(
        earnings_events, prices[["date", "ticker", "close"]], fundamentals, max_price_staleness_days
    )
    require_finite(X, "earnings features")
    return X, beat, surprise


def close_panel(prices: pd.DataFrame) -> pd.DataFrame:
    """Closes as dates x tickers (no filling)."""
    panel = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    panel.index = pd.DatetimeIndex(panel.index)
    return panel


def factor_returns(
    factor_scores: pd.DataFrame, prices: pd.DataFrame, categories: list[str], n_quantiles: int = 5
) -> pd.DataFrame:
    """Daily top-minus-bottom quantile return per category (dates x categories), portfolios formed
    on the previous day's scores (``long_short_returns``); the first date (no prior scores) dropped."""
    from axion_pipeline.factor_engine.weights import long_short_returns

    missing = [c for c in categories if c not in factor_scores.columns]
    if missing:
        raise ValueError(f"factor_scores lacks the categories {missing}")
    scores = factor_scores[[*KEYS, *categories]].assign(date=lambda f: pd.to_datetime(f["date"]))
    returns = long_short_returns(scores, close_panel(prices), n_quantiles)
    return returns.loc[returns.notna().any(axis=1)]


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn without replacement (seeded), in their original order. A
    named index (e.g. (date, ticker)) becomes columns; only the drawn rows are copied."""
    if len(frame) > max_rows:
        # the positions DataFrame.sample(n, random_state=seed) draws, without its full-frame copy
        positions = np.sort(np.random.RandomState(seed).choice(len(frame), size=max_rows, replace=False))
        frame = frame.iloc[positions]
    keyed = any(name is not None for name in frame.index.names)
    return frame.reset_index(drop=not keyed)


def window_violations(
    calendar: pd.DatetimeIndex,
    window: TrainWindow,
    gap: int,
    fitted: tuple[Any, Any] | None = None,
    test_dates: Any = None,
) -> list[str]:
    """What breaks the purge of one window (empty list: nothing).

    Planned windows: ordered, at least ``gap`` trading days strictly between the last fitted date
    and the validation slice and between the training window and the test window. Observed data
    (optional): the dates a model was actually fitted on lie inside [train_start, train_end] (the
    fitted span and, for a model refitted after choosing its rounds there, the validation slice),
    and the dates it was scored on inside [test_start, test_end].
    """
    problems = []
    between = lambda a, b: count_dates(calendar, a, b) - 2  # noqa: E731 - trading days strictly between
    if not window.train_start <= window.fit_end <= window.train_end < window.test_start <= window.test_end:
        problems.append(f"{window.key}: windows out of order {window.to_dict()}")
    if between(window.train_end, window.test_start) < gap:
        problems.append(
            f"{window.key}: {between(window.train_end, window.test_start)} trading days between training "
            f"end {window.train_end.date()} and test start {window.test_start.date()}, need >= {gap}"
        )
    if window.has_validation and between(window.fit_end, window.val_start) < gap:
        problems.append(
            f"{window.key}: {between(window.fit_end, window.val_start)} trading days between the last fitted "
            f"date and the validation slice, need >= {gap}"
        )
    if fitted is not None:
        start, end = pd.Timestamp(fitted[0]), pd.Timestamp(fitted[1])
        if start < window.train_start or end > window.train_end:
            problems.append(
                f"{window.key}: model fitted on {start.date()} .. {end.date()}, outside the training window "
                f"{window.train_start.date()} .. {window.train_end.date()}"
            )
    if test_dates is not None and len(test_dates):
        dates = pd.DatetimeIndex(pd.to_datetime(np.asarray(test_dates)))
        outside = dates[(dates < window.test_start) | (dates > window.test_end)].unique()
        if len(outside):
            problems.append(
                f"{window.key}: {len(outside)} scored dates outside the test window, e.g. {outside[0].date()}"
            )
    return problems


def overlapping_tests(windows: list[TrainWindow]) -> list[str]:
    """Pairs of windows whose test spans overlap (walk-forward test windows must be disjoint)."""
    ordered = sorted(windows, key=lambda w: w.test_start)
    return [
        f"{a.key} test {a.test_start.date()} .. {a.test_end.date()} overlaps {b.key} from {b.test_start.date()}"
        for a, b in zip(ordered, ordered[1:])
        if b.test_start <= a.test_end
    ]
