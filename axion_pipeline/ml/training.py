"""Train one library model on one walk-forward window and score it on the window's test dates.

The one training path of the project: ``TrainingPipeline`` (the spec's API) and the Dagster
training assets (fold partitions and the production models) call these functions, so the same
data and window give the same model. Each ``train_*`` takes long frames (one row per (date,
ticker), per date, or per earnings event), a ``TrainWindow`` (``axion_pipeline.ml.datasets``) and
the library config; it fits on the window's training dates only and returns a ``ModelRun``: the
fitted model (its metadata carries the window), its predictions on the test dates, the
out-of-sample metrics and facts about the training set.

Where look-ahead could enter: the windows (gap >= label horizon, see ``plan_walk_forward``); the
feature selection (fitted here on the fitted rows only); factor-timing targets (forward sums of
factor returns: only returns before the test window are passed to training, the gap covers the
last training date's window). Test-window outcomes are used for evaluation only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.config import (
    SCORE_BLEND_SIGNAL,
    EarningsModelConfig,
    FactorTimingConfig,
    MLConfig,
    RankingModelConfig,
    RegimeModelConfig,
)
from axion_pipeline.ml.datasets import TrainWindow, date_rows, event_rows, ranking_rows
from axion_pipeline.ml.evaluation import agreement, ranking_metrics, timing_metrics, walk_forward_table
from axion_pipeline.ml.feature_inputs import split_blend_signal
from axion_pipeline.ml.jsonable import jsonable
from axion_pipeline.ml.model_store import data_fingerprint


@dataclass
class ModelRun:
    """A model fitted on one window: predictions and metrics on the window's test dates."""

    model: Any
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # SHA-256 over the training inputs (``data_fingerprint``)
    training_rows: pd.DataFrame | None = None  # ranking: the fitted rows' selected features, indexed by (date, ticker)
    train_metrics: dict[str, Any] = field(default_factory=dict)  # what the model's own ``train`` reported


def empty_predictions(name: str, regimes: list[str] | None = None, factors: list[str] | None = None) -> pd.DataFrame:
    """The (empty) out-of-sample predictions table of a model that was not trained, with the columns
    and types its ``train_*`` function returns, so readers of the table see its shape."""
    text, date, number = "object", "datetime64[ns]", "float64"
    columns = {
        "ranking_model": {
            "fold": text,
            "date": date,
            "ticker": text,
            "score": number,
            "model_score": number,
            "rank": number,
            "predicted_quintile": "int64",
            "label": number,
            "fwd_return": number,
        },
        "regime_model": {
            "fold": text,
            "date": date,
            **{f"prob_{r}": number for r in regimes or []},
            "regime": text,
            "confidence": number,
            "label": text,
            "true_regime": text,
            "rule_regime": text,
        },
        "earnings_model": {
            "fold": text,
            "ticker": text,
            "announce_date": date,
            "beat_probability": number,
            "predicted_surprise": number,
            "surprise_status": text,
            "beat": number,
            "surprise": number,
        },
        "factor_timing_model": {
            "fold": text,
            "date": date,
            "factor": text,
            "predicted_return": number,
            "realized_return": number,
            "weight": number,
        },
        "alpha158_reference": {"fold": text, "date": date, "ticker": text, "score": number},
    }[name]
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _finish(model: Any, window: TrainWindow, started: float, **extra: Any) -> float:
    seconds = time.perf_counter() - started
    model.metadata.extra.update(window=window.to_dict(), train_seconds=round(seconds, 3), **extra)
    if window.key.startswith("fold_"):
        model.metadata.fold = int(window.key.split("_", 1)[1])
    return seconds


# -- ranking -------------------------------------------------------------------------------------
def ranking_labels(X: pd.DataFrame, outcome: pd.DataFrame, config: MLConfig, sectors: pd.Series | None) -> pd.Series:
    """The labels the ranking model learns for rows ``X``: quintiles of the forward return, or of
    its residual after the exposures and sectors of ``config`` (``neutralize_label_*``) are
    regressed out per date. Exposures missing from ``X`` are left out; so are sectors when
    ``sectors`` (ticker -> sector) is None."""
    from axion_pipeline.ml.neutralize import quantile_labels_by_date, residualize_by_date

    exposures = [c for c in config.neutralize_label_exposures if c in X.columns]
    use_sectors = config.neutralize_label_sectors and sectors is not None
    if not exposures and not use_sectors:
        return outcome["label"]
    dates = X.index.get_level_values("date").to_numpy()
    tickers = X.index.get_level_values("ticker").astype(str).to_numpy()
    groups = sectors.reindex(tickers).to_numpy(dtype=object) if use_sectors else None
    residual = residualize_by_date(
        outcome["fwd_return"].to_numpy(dtype="float64"), dates, X[exposures].to_numpy() if exposures else None, groups
    )
    labels = quantile_labels_by_date(residual, dates, tickers, config.ranking.num_quintiles)
    return pd.Series(labels, index=X.index, name="label")


@dataclass
class RankingRows:
    """A window's ranking rows as ``train_ranking`` and ``ranking_validation_curves`` cut them: the
    feature selection fitted on the fitted rows, the selected fitted rows and their labels, and the
    validation slice (empty dict without one) as ``StockRankingModel.train`` takes it."""

    engineer: Any
    selected: pd.DataFrame
    labels: pd.Series
    validation: dict[str, Any]
    share_missing: float
    n_candidates: int
    n_fit_dates: int
    fingerprint: str


def ranking_rows_for(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    window: TrainWindow,
    config: MLConfig,
    fit_dates: Any = None,
    sectors: pd.Series | None = None,
) -> RankingRows:
    """The fitted rows (every ``config.sample_every_n_days``-th date of ``train_start .. fit_end``,
    or ``fit_dates``), the feature selection fitted on them only, their labels (``ranking_labels``)
    and every row of the validation slice."""
    from axion_pipeline.ml.features import FeatureEngineer

    X_fit, out_fit = ranking_rows(
        features, targets, window.train_start, window.fit_end, config.sample_every_n_days, dates=fit_dates
    )
    X_fit, _ = split_blend_signal(X_fit)
    engineer = FeatureEngineer(config.features).fit_selection(X_fit)
    y_fit = ranking_labels(X_fit, out_fit, config, sectors)
    validation: dict[str, Any] = {}
    if window.has_validation:
        X_val, out_val = ranking_rows(features, targets, window.val_start, window.train_end)
        validation = dict(
            X_val=engineer.transform_selection(X_val),
            y_val=ranking_labels(X_val, out_val, config, sectors),
            forward_returns=out_val["fwd_return"],
        )
    return RankingRows(
        engineer,
        engineer.transform_selection(X_fit),
        y_fit,
        validation,
        round(float(X_fit.isna().to_numpy().mean()), 4),
        X_fit.shape[1],
        int(X_fit.index.get_level_values("date").nunique()),
        data_fingerprint(X_fit, out_fit),
    )


# -- ranking: tree size and rounds chosen on validation slices ----------------------------------
CURVE_COLUMNS = [
    "fold",
    "val_start",
    "val_end",
    "num_leaves",
    "min_child_samples",
    "rounds",
    "validation_ic",
    "n_dates",
]


@dataclass(frozen=True)
class RankingChoice:
    """The tree size and round count a ranking window trains with, and the evidence: the mean
    validation IC at that point over ``windows`` (their validation slices), and this window's own."""

    num_leaves: int
    min_child_samples: int
    rounds: int
    pooled_validation_ic: float
    own_validation_ic: float | None
    windows: tuple[str, ...]


def empty_curves() -> pd.DataFrame:
    types = dict.fromkeys(CURVE_COLUMNS, "float64")
    types.update(fold="object", val_start="datetime64[ns]", val_end="datetime64[ns]")
    types.update(num_leaves="int64", min_child_samples="int64", rounds="int64", n_dates="int64")
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in types.items()})


def no_curves(window: TrainWindow) -> pd.DataFrame:
    """The one row that records a window without curves (no validation slice, or too little data:
    the reason is the caller's to report): size and rounds 0, IC NaN. Never chosen."""
    val_end = pd.Timestamp(window.train_end) if window.has_validation else pd.NaT
    val_start = pd.Timestamp(window.val_start) if window.has_validation else pd.NaT
    row = dict(fold=[window.key], val_start=[val_start], val_end=[val_end], num_leaves=[0], min_child_samples=[0])
    frame = pd.DataFrame({**row, "rounds": [0], "validation_ic": [float("nan")], "n_dates": [0]})
    return frame.astype(empty_curves().dtypes.to_dict())


def ranking_validation_curves(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    window: TrainWindow,
    config: MLConfig,
    fit_dates: Any = None,
    sectors: pd.Series | None = None,
    rows: RankingRows | None = None,
) -> pd.DataFrame:
    """The validation rank IC of every candidate tree size (``RankingModelConfig.candidates``)
    after every ``ic_checkpoint_rounds`` rounds up to ``n_estimators`` (of ``config.ranking``): one
    single-member model per candidate fitted on the window's fitted rows (no early stopping),
    scored on its validation slice (mean per-date Spearman IC of the expected quintile with the
    forward return). A model that stops growing early (no split left) keeps its last score for the
    remaining checkpoints. Columns ``CURVE_COLUMNS``; without a validation slice, ``no_curves``.

    Look-ahead: only the window's own fitted and validation rows are read; the validation slice
    ends at ``train_end``, whose labels are known before the test window (gap >= horizon)."""
    from axion_pipeline.ml.ranking import StockRankingModel

    if not window.has_validation:
        return no_curves(window)
    rows = rows or ranking_rows_for(features, targets, window, config, fit_dates, sectors)
    step = max(int(config.ranking.ic_checkpoint_rounds), 1)
    max_rounds = int(config.ranking.n_estimators)
    grid = np.arange(step, max_rounds + 1, step)
    n_dates = int(rows.validation["X_val"].index.get_level_values("date").nunique())
    parts = []
    for candidate in config.ranking.candidates():
        probe = StockRankingModel(
            replace(
                candidate,
                n_ensemble=1,
                refit_on_validation=False,
                round_selection="validation_ic",
                n_estimators=max_rounds,
                early_stopping_rounds=max_rounds,
                ic_checkpoint_rounds=step,
            )
        )
        curve = pd.Series(probe.train(rows.selected, rows.labels, **rows.validation)["validation_ic_by_rounds"])
        curve = curve.reindex(grid).ffill()
        parts.append(
            pd.DataFrame(
                {
                    "num_leaves": candidate.num_leaves,
                    "min_child_samples": candidate.min_child_samples,
                    "rounds": grid,
                    "validation_ic": curve.to_numpy(dtype="float64"),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "fold", window.key)
    out.insert(1, "val_start", pd.Timestamp(window.val_start))
    out.insert(2, "val_end", pd.Timestamp(window.train_end))
    out["n_dates"] = n_dates
    return out.astype({"num_leaves": "int64", "min_child_samples": "int64", "rounds": "int64", "n_dates": "int64"})


def usable_curves(curves: pd.DataFrame, window: TrainWindow) -> pd.DataFrame:
    """The curves ``window`` may choose from: those of validation slices ending on or before its
    ``train_end`` (its own and every earlier window's). A later slice's labels reach into or past
    the window's test dates, so it is never used, whatever the caller passes."""
    if curves is None or curves.empty:
        return empty_curves()
    return curves.loc[pd.to_datetime(curves["val_end"]) <= pd.Timestamp(window.train_end)]


def choose_ranking_config(
    curves: pd.DataFrame, window: TrainWindow, config: RankingModelConfig
) -> RankingChoice | None:
    """The (tree size, rounds) with the highest mean validation IC over the usable windows'
    slices (``usable_curves``), each window weighted equally; ties go to fewer rounds, then to the
    smaller tree. Only the configured candidates count, and a point must be scored in every
    pooled window. None when no usable window has a finite IC (then the configured size and
    ``n_estimators`` are used).

    Why pooled: one 63-day slice holds about three independent 21-day periods; the round count
    chosen on it alone ranged from 1 to 295 on the 13-year real file and the size flipped between
    windows. The mean over every earlier slice is a steadier estimate that still never sees a
    label past the window's own ``train_end``."""
    usable = usable_curves(curves, window)
    sizes = {(c.num_leaves, c.min_child_samples) for c in config.candidates()}
    usable = usable[[(int(a), int(b)) in sizes for a, b in zip(usable["num_leaves"], usable["min_child_samples"])]]
    usable = usable.loc[np.isfinite(usable["validation_ic"].to_numpy(dtype="float64"))]
    if usable.empty:
        return None
    keys = ["num_leaves", "min_child_samples", "rounds"]
    windows = tuple(dict.fromkeys(usable["fold"]))
    pooled = usable.groupby(keys)["validation_ic"].agg(["mean", "count"]).reset_index()
    pooled = pooled.loc[pooled["count"] == len(windows)]
    if pooled.empty:
        return None
    best = pooled.sort_values(["mean", "rounds", "num_leaves"], ascending=[False, True, True]).iloc[0]
    point = (int(best["num_leaves"]), int(best["min_child_samples"]), int(best["rounds"]))
    own = usable.loc[usable["fold"] == window.key].set_index(keys)["validation_ic"]
    return RankingChoice(
        *point,
        pooled_validation_ic=float(best["mean"]),
        own_validation_ic=float(own.loc[point]) if point in own.index else None,
        windows=windows,
    )


def sampled_validation(rows: RankingRows, every_n_days: int) -> tuple[pd.DataFrame, pd.Series]:
    """The validation rows the final fit adds: every ``every_n_days``-th date of the slice counted
    back from its last date, so a validation date weighs as much as a fitted date (the slice is
    scored on every date, but fitting all of them would give its 63 days the weight of 300)."""
    X_val, y_val = rows.validation["X_val"], rows.validation["y_val"]
    dates = X_val.index.get_level_values("date")
    keep = pd.DatetimeIndex(dates.unique()).sort_values()[::-1][:: max(int(every_n_days), 1)]
    mask = dates.isin(keep)
    return X_val.loc[mask], y_val.loc[mask]


def require_configured_sizes(curves: pd.DataFrame, window: TrainWindow, config: RankingModelConfig) -> None:
    """The window's own curves must include a configured tree size: curves computed with another
    ranking config (e.g. a fold run with a different ``candidate_num_leaves``) would otherwise be
    ignored without a word and the model fall back to its default size."""
    own = curves.loc[(curves["fold"] == window.key) & (curves["rounds"] > 0)] if len(curves) else curves
    if own.empty:
        return
    stored = set(zip(own["num_leaves"].astype(int), own["min_child_samples"].astype(int)))
    configured = {(c.num_leaves, c.min_child_samples) for c in config.candidates()}
    if not stored & configured:
        raise ValueError(
            f"{window.key}: the validation curves hold tree sizes (num_leaves, min_child_samples) {sorted(stored)} "
            f"but the ranking config asks for {sorted(configured)}; compute the curves (ranking_validation) "
            "with the same ranking config"
        )


def train_ranking(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    window: TrainWindow,
    config: MLConfig,
    fit_dates: Any = None,
    sectors: pd.Series | None = None,
    curves: pd.DataFrame | None = None,
) -> ModelRun:
    """StockRankingModel on the window's fitted dates (every ``config.sample_every_n_days``-th),
    feature selection fitted on the fitted rows, labels from ``ranking_labels``; tree size and
    round count from ``choose_ranking_config`` over ``curves`` (``ranking_validation_curves`` of
    this and earlier windows; this window's own are computed when ``curves`` lacks them), then
    the ensemble is fitted with those rounds on the fitted rows and (``refit_on_validation``)
    the validation slice sampled like them (``sampled_validation``), so no recent stretch of
    labelled dates is left out; scored on every test-window row.
    Without a validation slice: the first candidate with ``n_estimators`` rounds.

    ``features`` may hold only the rows ``ranking_dates`` names: pass those dates as ``fit_dates``
    so the fitted span is not sampled a second time (dates outside that span are ignored)."""
    from axion_pipeline.ml.ranking import StockRankingModel

    rows = ranking_rows_for(features, targets, window, config, fit_dates, sectors)
    started = time.perf_counter()
    curves = curves if curves is not None else empty_curves()
    if window.has_validation and window.key not in set(curves["fold"]):
        own = ranking_validation_curves(features, targets, window, config, rows=rows)
        curves = pd.concat([curves, own], ignore_index=True) if len(curves) else own
    require_configured_sizes(curves, window, config.ranking)
    choice = choose_ranking_config(curves, window, config.ranking) if window.has_validation else None
    if choice is None:
        final = replace(config.ranking.candidates()[0], round_selection="fixed", refit_on_validation=False)
        fit_rows = (rows.selected, rows.labels)
    else:
        final = replace(
            config.ranking,
            num_leaves=choice.num_leaves,
            min_child_samples=choice.min_child_samples,
            candidate_num_leaves=[],
            candidate_min_child_samples=[],
            n_estimators=choice.rounds,
            round_selection="fixed",
            refit_on_validation=False,
        )
        fit_rows = (rows.selected, rows.labels)
        if config.ranking.refit_on_validation:
            X_val, y_val = sampled_validation(rows, config.sample_every_n_days)
            fit_rows = (pd.concat([rows.selected, X_val]), pd.concat([rows.labels, y_val]))
    model = StockRankingModel(final)
    fitted = model.train(*fit_rows)
    # what serving averages the model's score with (``MLPredictor``), kept with the model
    blend = {"signal": SCORE_BLEND_SIGNAL, "weight": float(config.score_blend_weight)}
    selection = {
        "rounds": final.n_estimators,
        "num_leaves": final.num_leaves,
        "min_child_samples": final.min_child_samples,
        "pooled_validation_ic": choice.pooled_validation_ic if choice else None,
        "own_validation_ic": choice.own_validation_ic if choice else None,
        "selection_windows": list(choice.windows) if choice else [],
    }
    train_metrics = {
        "n_train": fitted["n_train"],
        "best_iterations": [final.n_estimators] * final.n_ensemble,
        "refit_on_validation": bool(choice and config.ranking.refit_on_validation),
        "information_coefficient": selection["own_validation_ic"],
        "evaluated_on": "validation curves" if choice else "train",
        **selection,
    }
    model.metadata.metrics = jsonable(train_metrics)
    neutral = [c for c in config.neutralize_label_exposures if c in features.columns]
    neutral += ["sector"] if config.neutralize_label_sectors and sectors is not None else []
    seconds = _finish(
        model,
        window,
        started,
        feature_selection=rows.engineer.selection_to_dict(),
        sample_every_n_days=config.sample_every_n_days,
        ranking_selection=jsonable(selection),
        labels_neutral_to=neutral,
        score_blend=blend,
    )
    X_test, out_test = ranking_rows(features, targets, window.test_start, window.test_end, labelled_only=False)
    signal = X_test.get(SCORE_BLEND_SIGNAL)  # the selection below leaves it out of the model's columns
    pred = model.predict(rows.engineer.transform_selection(X_test))
    dates = M.date_labels(pred.index)
    score = M.blend_with_signal(pred["score"], signal, dates, blend["weight"])
    predictions = pd.DataFrame(
        {
            "fold": window.key,
            "date": pd.DatetimeIndex(dates),
            "ticker": pred.index.get_level_values("ticker").astype(str),
            "score": score,
            "model_score": pred["score"].to_numpy(),
            "rank": M.percentile_rank_by_date(score, dates),
            "predicted_quintile": pred["predicted_quintile"].to_numpy(dtype="int64"),
            "label": out_test["label"].to_numpy(dtype="float64"),
            "fwd_return": out_test["fwd_return"].to_numpy(dtype="float64"),
        }
    )
    info = {
        "n_fit_rows": len(rows.selected),
        "n_fit_dates": rows.n_fit_dates,
        "n_validation_rows": len(rows.validation.get("X_val", [])),
        "n_candidate_features": rows.n_candidates,
        "n_features": len(model.feature_names),
        "best_iterations": final.n_estimators,
        "num_leaves": final.num_leaves,
        "min_child_samples": final.min_child_samples,
        "validation_ic": selection["own_validation_ic"],
        "pooled_validation_ic": selection["pooled_validation_ic"],
        "selection_windows": len(selection["selection_windows"]),
        "train_seconds": round(seconds, 2),
        "input_share_missing": rows.share_missing,
    }
    return ModelRun(
        model, predictions, ranking_metrics(predictions), info, rows.fingerprint, rows.selected, train_metrics
    )


def walk_forward_ranking(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    windows: Any,
    config: MLConfig,
    true_alpha: pd.DataFrame | None = None,
    sectors: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[ModelRun]]:
    """As the fold assets do: the validation curves of every window, then ``train_ranking`` on
    each with the curves (each window uses its own and the earlier ones, ``usable_curves``).
    Returns the ``walk_forward_table`` (per fold and "all"; oracle IC and ratio when
    ``true_alpha`` is given), the pooled out-of-sample predictions and the runs."""
    windows = list(windows)
    curves = pd.concat(
        [ranking_validation_curves(features, targets, w, config, sectors=sectors) for w in windows], ignore_index=True
    )
    runs = [train_ranking(features, targets, w, config, sectors=sectors, curves=curves) for w in windows]
    pooled = pd.concat([run.predictions for run in runs], ignore_index=True)
    table, _ = walk_forward_table(pooled, true_alpha, config.forward_days)
    return table, pooled, runs


# -- Alpha158 reference --------------------------------------------------------------------------
def _rows_between(dates: pd.DatetimeIndex, start: Any, end: Any) -> slice:
    """The rows of sorted ``dates`` in [start, end], as a slice (a row slice of a frame is a view)."""
    return slice(dates.searchsorted(pd.Timestamp(start), "left"), dates.searchsorted(pd.Timestamp(end), "right"))


def train_alpha158_reference(
    features: pd.DataFrame, targets: pd.DataFrame, window: TrainWindow, config: Any
) -> ModelRun:
    """Qlib's Alpha158 + LightGBM recipe (``Alpha158Reference`` built by ``config``, an
    ``Alpha158ReferenceConfig``) on one window: normalisation fitted on every row of the fitted
    dates (``train_start .. fit_end``), trees on every ``sample_every_n_days``-th of those dates
    with the ``fwd_return`` label, early stopping on the validation slice (``val_start ..
    train_end``) and, as in Qlib, no refit with the validation rows; scored on every test-window
    row. ``features`` is the long ``alpha158`` frame, sorted by date: each window is a row slice
    of it (a view), so a fold holds no second copy of the panel. ``targets``: date, ticker,
    fwd_return. A window without a validation slice or without labelled rows raises
    ``InsufficientDataError``.

    Look-ahead: the plan purges ``gap`` dates between the last fitted label and the validation
    slice and between the slice and the test window; test outcomes only give the reported IC.
    """
    from axion_pipeline.ml.base import InsufficientDataError

    if not window.has_validation:
        raise InsufficientDataError(f"{window.key} has no validation slice, which Qlib's recipe early-stops on")
    dates = pd.DatetimeIndex(features["date"])
    if not dates.is_monotonic_increasing:
        raise ValueError("features must be sorted by date (as alpha158 returns them)")
    fit = features.iloc[_rows_between(dates, window.train_start, window.fit_end)]
    valid = features.iloc[_rows_between(dates, window.val_start, window.train_end)]
    test = features.iloc[_rows_between(dates, window.test_start, window.test_end)]
    if fit.empty or test.empty:
        raise InsufficientDataError(f"{window.key}: no feature rows in its fitted or test dates")

    def labels(start: Any, end: Any) -> pd.DataFrame:
        return targets.loc[targets["date"].between(start, end), ["date", "ticker", "fwd_return"]]

    model = config.model()
    started = time.perf_counter()
    model.fit(fit, labels(window.train_start, window.fit_end), valid, labels(window.val_start, window.train_end))
    seconds = time.perf_counter() - started
    scores = model.predict(test)
    predictions = pd.DataFrame(
        {
            "fold": window.key,
            "date": pd.DatetimeIndex(scores.index.get_level_values("date")),
            "ticker": scores.index.get_level_values("ticker").astype(str),
            "score": scores.to_numpy(dtype="float64"),
        }
    )
    outcome = labels(window.test_start, window.test_end).set_index(["date", "ticker"])["fwd_return"]
    known = outcome.reindex(scores.index).to_numpy(dtype="float64")
    ic = M.ic_summary(M.per_date_ic(scores.to_numpy(), known, predictions["date"].to_numpy()))
    info = {
        "n_fit_dates": int(dates[_rows_between(dates, window.train_start, window.fit_end)].nunique()),
        "n_train_rows": model.n_train_rows,
        "n_validation_rows": len(valid),
        "best_iteration": model.best_iteration,
        "rounds_trained": len(model.valid_curve),
        "train_seconds": round(seconds, 2),
        "test_ic_mean": ic["ic_mean"],
    }
    return ModelRun(model, predictions, jsonable({"ic_mean": ic["ic_mean"], "n_ic_dates": ic["n_dates"]}), info)


# -- regime --------------------------------------------------------------------------------------
def train_regime(
    regime_features: pd.DataFrame,
    labels: pd.Series,
    label_source: str,
    window: TrainWindow,
    config: RegimeModelConfig,
    truth: pd.Series | None = None,
    rule: pd.Series | None = None,
) -> ModelRun:
    """RegimeClassifier on the window's training dates; scored against the labels, and (when the
    planted truth exists) against the truth together with the rule detector on the same dates."""
    from axion_pipeline.ml.regime import RegimeClassifier

    X_train = date_rows(regime_features, window.train_start, window.train_end, "regime_features")
    started = time.perf_counter()
    model = RegimeClassifier(config)
    train_metrics = model.train(X_train, labels)
    seconds = _finish(model, window, started, label_source=label_source)
    X_test = date_rows(regime_features, window.test_start, window.test_end, "regime_features")
    pred = model.predict(X_test)
    out = pred.rename_axis("date").reset_index()
    out.insert(0, "fold", window.key)
    unknown = pd.Series(None, index=X_test.index)
    out["label"] = labels.reindex(X_test.index).to_numpy(dtype=object)
    out["true_regime"] = (truth.reindex(X_test.index) if truth is not None else unknown).to_numpy(dtype=object)
    out["rule_regime"] = (rule.reindex(X_test.index) if rule is not None else unknown).to_numpy(dtype=object)
    metrics: dict[str, Any] = {
        "label_source": label_source,
        "n_dates": len(out),
        "accuracy_vs_labels": agreement(out["regime"], out["label"]),
    }
    if out["true_regime"].notna().any():
        metrics["accuracy_vs_truth"] = agreement(out["regime"], out["true_regime"])
        metrics["rule_accuracy_vs_truth"] = agreement(out["rule_regime"], out["true_regime"])
    info = {
        "n_train_dates": len(X_train),
        "holdout_accuracy": train_metrics.get("accuracy"),
        "train_seconds": round(seconds, 2),
    }
    return ModelRun(
        model,
        out,
        jsonable(metrics),
        info,
        data_fingerprint(X_train, labels.reindex(X_train.index)),
        train_metrics=train_metrics,
    )


# -- earnings ------------------------------------------------------------------------------------
def train_earnings(
    X: pd.DataFrame, beat: pd.Series, surprise: pd.Series | None, window: TrainWindow, config: EarningsModelConfig
) -> ModelRun:
    """EarningsPredictionModel on events announced in the training window; scored on the test window's."""
    from sklearn.metrics import roc_auc_score

    from axion_pipeline.ml.earnings import EarningsPredictionModel

    train, test = event_rows(X, window.train_start, window.train_end), event_rows(X, window.test_start, window.test_end)
    surprise_train = surprise.loc[train] if surprise is not None else None
    started = time.perf_counter()
    model = EarningsPredictionModel(config)
    train_metrics = model.train(X.loc[train], beat.loc[train], surprise_train)
    seconds = _finish(model, window, started)
    pred = model.predict(X.loc[test])
    out = pred.reset_index()
    out = out.rename(columns={k: v for k, v in {"symbol": "ticker", "date": "announce_date"}.items() if v not in out})
    out = out[["ticker", "announce_date", "beat_probability", "predicted_surprise", "surprise_status"]]
    out.insert(0, "fold", window.key)
    out["beat"] = beat.loc[test].to_numpy()
    out["surprise"] = surprise.loc[test].to_numpy() if surprise is not None else float("nan")
    known = out.dropna(subset=["beat"])
    two_classes = known["beat"].nunique() == 2
    metrics = {
        "auc": float(roc_auc_score(known["beat"], known["beat_probability"])) if two_classes else None,
        "accuracy": float(((known["beat_probability"] >= 0.5) == (known["beat"] == 1)).mean()) if len(known) else None,
        "brier_score": float(((known["beat_probability"] - known["beat"]) ** 2).mean()) if len(known) else None,
        "base_rate": float(known["beat"].mean()) if len(known) else None,
        "n_events": len(out),
    }
    info = {
        "n_train_events": int(train.sum()),
        "holdout_auc": train_metrics.get("auc"),
        "train_seconds": round(seconds, 2),
    }
    inputs = [X.loc[train], beat.loc[train]] + ([surprise_train] if surprise_train is not None else [])
    return ModelRun(model, out, jsonable(metrics), info, data_fingerprint(*inputs), train_metrics=train_metrics)


# -- factor timing -------------------------------------------------------------------------------
def train_factor_timing(
    regime_features: pd.DataFrame, factor_returns: pd.DataFrame, window: TrainWindow, config: FactorTimingConfig
) -> ModelRun:
    """FactorTimingModel on the training dates' macro features; its targets may use returns up to
    the day before the test window (the gap), never after. Scored per test date against the
    realised ``forward_days`` sums: time-series IC per factor and cross-factor IC per date.

    A configured factor without enough history in the training window (no fundamentals file: no
    value, quality or growth scores) is left out and named in ``info["factors_left_out"]``; the
    model times the others, as long as their weights can stay within [min_weight, max_weight]
    (else, and when no factor has a history, ``InsufficientDataError``)."""
    from axion_pipeline.ml.base import InsufficientDataError
    from axion_pipeline.ml.factor_timing import MIN_ROWS, FactorTimingModel, forward_sums

    X_train = date_rows(regime_features, window.train_start, window.train_end, "regime_features")
    started = time.perf_counter()
    train_returns = factor_returns.loc[factor_returns.index < window.test_start]
    complete = forward_sums(train_returns.reindex(columns=list(config.factors)), X_train.index, config.forward_days)
    counts = np.isfinite(complete).sum()
    left_out = {f: int(counts[f]) for f in config.factors if counts[f] < MIN_ROWS}
    kept = [f for f in config.factors if f not in left_out]
    if left_out:
        if not kept or len(kept) * config.max_weight < 1.0 or len(kept) * config.min_weight > 1.0:
            raise InsufficientDataError(
                f"dates with a complete {config.forward_days}-day window per factor {left_out} (need {MIN_ROWS}): "
                f"{len(kept)} factors with a history cannot hold weights in [{config.min_weight}, "
                f"{config.max_weight}] summing to 1"
            )
        config = replace(config, factors=kept)
    model = FactorTimingModel(config)
    train_metrics = model.train(X_train, train_returns)
    seconds = _finish(model, window, started)
    X_test = date_rows(regime_features, window.test_start, window.test_end, "regime_features")
    factors = list(config.factors)
    forecast = model.predict(X_test)
    realized = forward_sums(factor_returns[factors], X_test.index, config.forward_days)
    weights = pd.DataFrame([model.get_factor_weights(X_test.iloc[[i]]) for i in range(len(X_test))], index=X_test.index)
    out = pd.concat({"predicted_return": forecast, "realized_return": realized, "weight": weights[factors]}, axis=1)
    out = out.stack(level=1, future_stack=True).rename_axis(["date", "factor"]).reset_index()
    out.insert(0, "fold", window.key)
    info = {"n_train_dates": len(X_train), "train_seconds": round(seconds, 2)}
    if left_out:
        info["factors_left_out"] = ", ".join(
            f"{f} ({n} dates with a complete window, need {MIN_ROWS})" for f, n in left_out.items()
        )
    return ModelRun(
        model, out, timing_metrics(out), info, data_fingerprint(X_train, train_returns), train_metrics=train_metrics
    )
