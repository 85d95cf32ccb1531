"""Walk-forward validation on trading dates: fold windows, row splits, out-of-sample evaluation.

Folds are cut on the unique sorted dates, never on rows, so a date's cross-section is never split
between train and test. Each fold is ``train_size`` dates (sliding, or everything from the first
date when ``expanding``), then ``gap + embargo`` dropped dates, then ``test_size`` test dates; the
``n_splits`` folds end at the last date, consecutive test windows are adjacent and disjoint.

Where look-ahead could enter: a label at date t is the return from t to t+h, so the last training
labels overlap the test period unless ``gap >= h`` (the purge; ``check_purge`` enforces it). With
``validation_size > 0`` the last dates of each training window become an early-stopping set,
separated from the rows fitted by another ``gap``. Anything fitted from data (feature selection,
scalers) must be fitted inside the fold on training rows only; ``run_walk_forward`` clones the
model per fold so no fitted state crosses folds.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.config import WalkForwardConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: inclusive date windows and their positions among the unique dates."""

    fold: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    train_start_pos: int
    train_end_pos: int
    test_start_pos: int
    test_end_pos: int
    val_start: pd.Timestamp | None = None
    val_end: pd.Timestamp | None = None
    fit_end_pos: int | None = None  # last date fitted when part of the window is the validation set
    val_start_pos: int | None = None

    @property
    def n_train_dates(self) -> int:
        return self.train_end_pos - self.train_start_pos + 1

    @property
    def n_test_dates(self) -> int:
        return self.test_end_pos - self.test_start_pos + 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(n_train_dates=self.n_train_dates, n_test_dates=self.n_test_dates)
        return out


def _unique_dates(dates: Any) -> pd.DatetimeIndex:
    unique = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(pd.to_datetime(np.asarray(dates))))).sort_values()
    if unique.hasnans:
        raise ValueError("dates contain NaT")
    return unique


def _validate(config: WalkForwardConfig) -> None:
    for name in ("n_splits", "train_size", "test_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"WalkForwardConfig.{name} must be >= 1, got {getattr(config, name)}")
    for name in ("gap", "embargo", "validation_size"):
        if getattr(config, name) < 0:
            raise ValueError(f"WalkForwardConfig.{name} must be >= 0, got {getattr(config, name)}")
    if config.validation_size and config.train_size - config.validation_size - config.gap < 1:
        raise ValueError(
            f"train_size {config.train_size} leaves no dates to fit after validation_size "
            f"{config.validation_size} and gap {config.gap}"
        )


def make_folds(dates: Any, config: WalkForwardConfig) -> list[Fold]:
    """The ``n_splits`` most recent folds over the unique sorted ``dates`` (oldest fold first)."""
    _validate(config)
    unique = _unique_dates(dates)
    n = len(unique)
    separation = config.gap + config.embargo
    needed = config.train_size + separation + config.n_splits * config.test_size
    if n < needed:
        raise ValueError(
            f"walk-forward needs at least {needed} distinct dates (train_size {config.train_size} + gap "
            f"{config.gap} + embargo {config.embargo} + {config.n_splits} x test_size {config.test_size}), "
            f"got {n}"
        )
    folds = []
    for k in range(config.n_splits):
        test_end = n - 1 - (config.n_splits - 1 - k) * config.test_size
        test_start = test_end - config.test_size + 1
        train_end = test_start - separation - 1
        train_start = 0 if config.expanding else train_end - config.train_size + 1
        val = {}
        if config.validation_size:
            val_start = train_end - config.validation_size + 1
            val = dict(
                val_start=unique[val_start],
                val_end=unique[train_end],
                fit_end_pos=val_start - config.gap - 1,
                val_start_pos=val_start,
            )
        folds.append(
            Fold(
                fold=k,
                train_start=unique[train_start],
                train_end=unique[train_end],
                test_start=unique[test_start],
                test_end=unique[test_end],
                train_start_pos=train_start,
                train_end_pos=train_end,
                test_start_pos=test_start,
                test_end_pos=test_end,
                **val,
            )
        )
    return folds


def fold_windows(dates: Any, config: WalkForwardConfig | None = None) -> pd.DataFrame:
    """One row per fold (fold, train/val/test windows, date counts, gap, embargo), for Dagster."""
    cfg = config or WalkForwardConfig()
    rows = [f.to_dict() for f in make_folds(dates, cfg)]
    frame = pd.DataFrame(rows)
    frame["gap"], frame["embargo"] = cfg.gap, cfg.embargo
    columns = [
        "fold",
        "train_start",
        "train_end",
        "val_start",
        "val_end",
        "test_start",
        "test_end",
        "n_train_dates",
        "n_test_dates",
        "gap",
        "embargo",
    ]
    return frame[columns]


def check_purge(config: WalkForwardConfig, horizon: int) -> None:
    """Raise when the gap is shorter than the label horizon (training labels would see test returns)."""
    if config.gap < horizon:
        raise ValueError(f"walk-forward gap {config.gap} is shorter than the label horizon {horizon}: labels leak")


class WalkForwardValidator:
    """Date-based walk-forward splits and out-of-sample evaluation of ranking models."""

    def __init__(self, config: WalkForwardConfig | None = None):
        self.config = config if config is not None else WalkForwardConfig()

    def split_dates(self, dates: Any) -> list[Fold]:
        return make_folds(dates, self.config)

    def _date_positions(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
        dates = M.date_labels(X.index)
        if dates is None:
            raise ValueError("X needs a 'date' index level (or a DatetimeIndex) for walk-forward splits")
        unique = _unique_dates(dates)
        return np.asarray(dates), unique.get_indexer(pd.DatetimeIndex(dates)), unique

    def split(self, X: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train_idx, test_idx) row positions per fold; the training rows include any validation dates."""
        _, pos, unique = self._date_positions(X)
        out = []
        for f in make_folds(unique, self.config):
            train = np.flatnonzero((pos >= f.train_start_pos) & (pos <= f.train_end_pos))
            test = np.flatnonzero((pos >= f.test_start_pos) & (pos <= f.test_end_pos))
            out.append((train, test))
        return out

    def run_walk_forward(
        self,
        model: Any,
        X: pd.DataFrame,
        y: Any,
        forward_returns: Any = None,
        fold_transform: Callable[[pd.DataFrame], Callable[[pd.DataFrame], pd.DataFrame]] | None = None,
    ) -> list[dict[str, Any]]:
        """Fit a fresh clone of ``model`` (same class, copied config) per fold; evaluate on the test dates.

        ``fold_transform(X_fit)`` (optional) is called with the fold's fitted rows only and returns
        the transform applied to its fit, validation and test rows (e.g. feature selection), so
        nothing learnt from data crosses the fold boundary.

        The IC and spread use ``forward_returns`` when given, else the labels ``y``. Per fold:
        window dates, row counts, ``ic_mean``/``ic_std``/``icir``/``ic_pvalue``/``hit_rate``,
        ``spread_mean`` (top minus bottom quantile of the outcome), ``accuracy`` (predicted vs true
        label), ``ic_series`` and ``spread_series`` (per date), ``train_metrics``, ``train_seconds``.
        """
        dates, pos, unique = self._date_positions(X)
        labels = M.align_to_index(y, X.index, "y")
        outcome = labels if forward_returns is None else M.align_to_index(forward_returns, X.index, "forward_returns")
        y_series = pd.Series(labels, index=X.index)
        k = int(getattr(getattr(model, "config", None), "num_quintiles", 5))
        results = []
        for f in make_folds(unique, self.config):
            fit_end = f.fit_end_pos if f.fit_end_pos is not None else f.train_end_pos
            fit_rows = np.flatnonzero((pos >= f.train_start_pos) & (pos <= fit_end))
            test_rows = np.flatnonzero((pos >= f.test_start_pos) & (pos <= f.test_end_pos))
            X_fit = X.iloc[fit_rows]
            transform = fold_transform(X_fit) if fold_transform is not None else (lambda frame: frame)
            kwargs = {}
            if f.val_start_pos is not None:
                val_rows = np.flatnonzero((pos >= f.val_start_pos) & (pos <= f.train_end_pos))
                kwargs = {"X_val": transform(X.iloc[val_rows]), "y_val": y_series.iloc[val_rows]}
            clone = type(model)(config=copy.deepcopy(model.config))
            started = time.perf_counter()
            train_metrics = clone.train(transform(X_fit), y_series.iloc[fit_rows], **kwargs)
            seconds = time.perf_counter() - started
            pred = clone.predict(transform(X.iloc[test_rows]))
            score = pred["score"].to_numpy() if isinstance(pred, pd.DataFrame) else np.asarray(pred, dtype=float)
            ic = M.per_date_ic(score, outcome[test_rows], dates[test_rows])
            spread = M.quantile_spread(score, outcome[test_rows], dates[test_rows], k)
            summary = M.ic_summary(ic)
            accuracy = float("nan")
            if isinstance(pred, pd.DataFrame) and "predicted_quintile" in pred:
                truth = labels[test_rows]
                known = ~np.isnan(truth)
                if known.any():
                    accuracy = float((pred["predicted_quintile"].to_numpy()[known] == truth[known]).mean())
            result = {
                **{key: value for key, value in f.to_dict().items() if not key.endswith("_pos")},
                "n_train": int(len(fit_rows)),
                "n_test": int(len(test_rows)),
                "ic_mean": summary["ic_mean"],
                "ic_std": summary["ic_std"],
                "icir": summary["icir"],
                "ic_pvalue": summary["ic_pvalue"],
                "hit_rate": summary["hit_rate"],
                "n_dates": int(summary["n_dates"]),
                "spread_mean": float(spread.mean()) if len(spread) else float("nan"),
                "accuracy": accuracy,
                "ic_series": ic,
                "spread_series": spread,
                "train_metrics": train_metrics,
                "train_seconds": seconds,
            }
            logger.info(
                "fold %d: train %s..%s test %s..%s IC %.4f (%.1fs)",
                f.fold,
                f.train_start.date(),
                f.train_end.date(),
                f.test_start.date(),
                f.test_end.date(),
                summary["ic_mean"],
                seconds,
            )
            results.append(result)
        return results

    def aggregate_results(self, results: list[dict[str, Any]], newey_west_lags: int = 0) -> dict[str, Any]:
        """Pool the per-date out-of-sample ICs and spreads of all folds.

        ``ic_mean``/``ic_std``/``icir``/``hit_rate``/``ic_pvalue`` are over all OOS dates (test
        windows are disjoint, so no date counts twice); ``spread_mean`` over all dates;
        ``fold_ic_std`` is the dispersion of the per-fold mean ICs; ``accuracy`` the mean over folds.
        Set ``newey_west_lags`` (horizon - 1) for overlapping labels.
        """
        if not results:
            raise ValueError("no walk-forward results to aggregate")
        ic = pd.concat([r["ic_series"] for r in results])
        spread = pd.concat([r["spread_series"] for r in results])
        summary = M.ic_summary(ic, newey_west_lags=newey_west_lags)
        fold_ics = np.array([r["ic_mean"] for r in results], dtype=float)
        accuracies = np.array([r["accuracy"] for r in results], dtype=float)
        return {
            "ic_mean": summary["ic_mean"],
            "ic_std": summary["ic_std"],
            "icir": summary["icir"],
            "ic_tstat": summary["ic_tstat"],
            "ic_pvalue": summary["ic_pvalue"],
            "hit_rate": summary["hit_rate"],
            "spread_mean": float(spread.mean()) if len(spread) else float("nan"),
            "accuracy": float(np.nanmean(accuracies)) if np.isfinite(accuracies).any() else float("nan"),
            "fold_ic_mean": fold_ics.tolist(),
            "fold_ic_std": float(np.nanstd(fold_ics, ddof=1)) if len(fold_ics) > 1 else float("nan"),
            "n_folds": len(results),
            "n_dates": int(summary["n_dates"]),
        }
