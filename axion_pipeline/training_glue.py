"""Train one library model on one walk-forward window, score it out of sample, summarise, catalogue.

The Dagster training assets call these functions and nothing else holds the logic: each
``train_*`` takes the warehouse frames, a ``TrainWindow`` (``axion_pipeline.ml.datasets``) and the
library config, fits on the window's training dates only and returns a ``ModelRun``: the fitted
model (metadata carries the window), its predictions on the window's test dates, the
out-of-sample metrics and facts about the training set.

Where look-ahead could enter: the windows (gap >= label horizon, see ``plan_walk_forward``); the
feature selection (fitted here on the fitted rows only); factor-timing targets (21-day forward
sums of factor returns: only returns before the test window are passed to training, the gap
covers the last training date's window). Test-window outcomes are used for evaluation only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.datasets import TrainWindow, date_rows, event_rows, ranking_rows
from axion_pipeline.ml.pipeline import data_fingerprint

FORWARD_DAYS = 21


@dataclass
class ModelRun:
    """A model fitted on one window: predictions and metrics on the window's test dates."""

    model: Any
    predictions: pd.DataFrame
    metrics: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # SHA-256 over the training inputs (``data_fingerprint``)
    training_rows: pd.DataFrame | None = None  # ranking: the fitted rows' selected features, indexed by (date, ticker)


def _finish(model: Any, window: TrainWindow, started: float, **extra: Any) -> float:
    seconds = time.perf_counter() - started
    model.metadata.extra.update(window=window.to_dict(), train_seconds=round(seconds, 3), **extra)
    if window.key.startswith("fold_"):
        model.metadata.fold = int(window.key.split("_", 1)[1])
    return seconds


def _clean(value: Any) -> Any:
    """JSON-safe scalars: NaN/inf become None, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


# -- ranking -------------------------------------------------------------------------------------
def train_ranking(features: pd.DataFrame, targets: pd.DataFrame, window: TrainWindow, model_config: Any,
                  feature_config: Any, every_n_days: int = 1, fit_dates: Any = None) -> ModelRun:
    """StockRankingModel on the window's fitted dates (every n-th), early-stopped on its validation
    slice, feature selection fitted on the fitted rows; scored on every test-window feature row.

    ``features`` may hold only the rows ``ranking_dates`` names: pass those dates as ``fit_dates``
    so the fitted span is not sampled a second time (dates outside that span are ignored)."""
    from axion_pipeline.ml.features import FeatureEngineer
    from axion_pipeline.ml.ranking import StockRankingModel

    X_fit, out_fit = ranking_rows(features, targets, window.train_start, window.fit_end, every_n_days, dates=fit_dates)
    engineer = FeatureEngineer(feature_config).fit_selection(X_fit)
    kwargs: dict[str, Any] = {}
    if window.has_validation:
        X_val, out_val = ranking_rows(features, targets, window.val_start, window.train_end)
        kwargs = dict(X_val=engineer.transform_selection(X_val), y_val=out_val["label"],
                      forward_returns=out_val["fwd_return"])
    selected = engineer.transform_selection(X_fit)
    share_missing = round(float(X_fit.isna().to_numpy().mean()), 4)
    n_candidates, n_fit_dates = X_fit.shape[1], int(X_fit.index.get_level_values("date").nunique())
    fingerprint = data_fingerprint(X_fit, out_fit)
    del X_fit  # the selected columns are all training needs from here on
    started = time.perf_counter()
    model = StockRankingModel(model_config)
    train_metrics = model.train(selected, out_fit["label"], **kwargs)
    seconds = _finish(model, window, started, feature_selection=engineer.selection_to_dict(),
                      sample_every_n_days=every_n_days)
    X_test, out_test = ranking_rows(features, targets, window.test_start, window.test_end, labelled_only=False)
    pred = model.predict(engineer.transform_selection(X_test))
    dates = M.date_labels(pred.index)
    predictions = pd.DataFrame({
        "fold": window.key, "date": pd.DatetimeIndex(dates), "ticker": pred.index.get_level_values("ticker").astype(str),
        "score": pred["score"].to_numpy(), "rank": M.percentile_rank_by_date(pred["score"], dates),
        "predicted_quintile": pred["predicted_quintile"].to_numpy(dtype="int64"),
        "label": out_test["label"].to_numpy(dtype="float64"), "fwd_return": out_test["fwd_return"].to_numpy(dtype="float64"),
    })
    info = {
        "n_fit_rows": len(selected), "n_fit_dates": n_fit_dates,
        "n_validation_rows": len(kwargs.get("X_val", [])), "n_candidate_features": n_candidates,
        "n_features": len(model.feature_names), "best_iterations": train_metrics.get("best_iterations"),
        "validation_ic": train_metrics.get("information_coefficient"), "train_seconds": round(seconds, 2),
        "input_share_missing": share_missing,
    }
    return ModelRun(model, predictions, ranking_metrics(predictions), info, fingerprint, selected)


def ranking_metrics(predictions: pd.DataFrame, horizon: int = FORWARD_DAYS) -> dict[str, Any]:
    """IC of the score with the forward return per date (mean, std, ICIR, hit rate, Newey-West
    p-value with horizon - 1 lags), top-minus-bottom quintile spread and quintile accuracy."""
    known = predictions.dropna(subset=["fwd_return"])
    ic = M.per_date_ic(known["score"], known["fwd_return"], known["date"])
    summary = M.ic_summary(ic, newey_west_lags=max(horizon - 1, 0))
    spread = M.quantile_spread(known["score"], known["fwd_return"], known["date"], 5)
    labelled = predictions.dropna(subset=["label"])
    return _clean({
        "ic_mean": summary["ic_mean"], "ic_std": summary["ic_std"], "icir": summary["icir"],
        "hit_rate": summary["hit_rate"], "ic_pvalue_nw": summary["ic_pvalue"], "n_ic_dates": int(summary["n_dates"]),
        "spread_mean": float(spread.mean()) if len(spread) else None,
        "accuracy": float((labelled["predicted_quintile"] == labelled["label"]).mean()) if len(labelled) else None,
        "n_rows": len(predictions), "n_dates": int(predictions["date"].nunique()),
    })


def walk_forward_ranking(features: pd.DataFrame, targets: pd.DataFrame, windows: Any, model_config: Any,
                         feature_config: Any, every_n_days: int = 1, true_alpha: pd.DataFrame | None = None,
                         horizon: int = FORWARD_DAYS) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """``train_ranking`` on every window (e.g. ``FoldPlan.windows``), as the fold assets and the
    walk-forward report do: returns the ``walk_forward_table`` (per fold and "all"; oracle IC and
    ratio when ``true_alpha`` is given), the pooled out-of-sample predictions and the training
    seconds per window."""
    predictions, seconds = [], {}
    for window in windows:
        run = train_ranking(features, targets, window, model_config, feature_config, every_n_days)
        predictions.append(run.predictions)
        seconds[window.key] = float(run.info["train_seconds"])
    pooled = pd.concat(predictions, ignore_index=True)
    table, _ = walk_forward_table(pooled, true_alpha, horizon)
    return table, pooled, seconds


# -- regime --------------------------------------------------------------------------------------
def train_regime(regime_features: pd.DataFrame, labels: pd.Series, label_source: str, window: TrainWindow,
                 config: Any, truth: pd.Series | None = None, rule: pd.Series | None = None) -> ModelRun:
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
    out["label"] = labels.reindex(X_test.index).to_numpy(dtype=object)
    out["true_regime"] = (truth.reindex(X_test.index) if truth is not None else pd.Series(None, index=X_test.index)).to_numpy(dtype=object)
    out["rule_regime"] = (rule.reindex(X_test.index) if rule is not None else pd.Series(None, index=X_test.index)).to_numpy(dtype=object)
    metrics: dict[str, Any] = {"label_source": label_source, "n_dates": len(out),
                               "accuracy_vs_labels": _agreement(out["regime"], out["label"])}
    if out["true_regime"].notna().any():
        metrics["accuracy_vs_truth"] = _agreement(out["regime"], out["true_regime"])
        metrics["rule_accuracy_vs_truth"] = _agreement(out["rule_regime"], out["true_regime"])
    info = {"n_train_dates": len(X_train), "holdout_accuracy": train_metrics.get("accuracy"),
            "train_seconds": round(seconds, 2)}
    return ModelRun(model, out, _clean(metrics), info, data_fingerprint(X_train, labels.reindex(X_train.index)))


def _agreement(predicted: pd.Series, reference: pd.Series) -> float | None:
    both = predicted.notna() & reference.notna()
    return float((predicted[both] == reference[both]).mean()) if both.any() else None


# -- earnings ------------------------------------------------------------------------------------
def train_earnings(X: pd.DataFrame, beat: pd.Series, surprise: pd.Series, window: TrainWindow, config: Any) -> ModelRun:
    """EarningsPredictionModel on events announced in the training window; scored on the test window's."""
    from sklearn.metrics import roc_auc_score

    from axion_pipeline.ml.earnings import EarningsPredictionModel

    train, test = event_rows(X, window.train_start, window.train_end), event_rows(X, window.test_start, window.test_end)
    started = time.perf_counter()
    model = EarningsPredictionModel(config)
    train_metrics = model.train(X.loc[train], beat.loc[train], surprise.loc[train])
    seconds = _finish(model, window, started)
    pred = model.predict(X.loc[test])
    out = pred.reset_index()[["ticker", "announce_date", "beat_probability", "predicted_surprise"]]
    out.insert(0, "fold", window.key)
    out["beat"], out["surprise"] = beat.loc[test].to_numpy(), surprise.loc[test].to_numpy()
    known = out.dropna(subset=["beat"])
    two_classes = known["beat"].nunique() == 2
    metrics = {
        "auc": float(roc_auc_score(known["beat"], known["beat_probability"])) if two_classes else None,
        "accuracy": float(((known["beat_probability"] >= 0.5) == (known["beat"] == 1)).mean()) if len(known) else None,
        "brier_score": float(((known["beat_probability"] - known["beat"]) ** 2).mean()) if len(known) else None,
        "base_rate": float(known["beat"].mean()) if len(known) else None, "n_events": len(out),
    }
    info = {"n_train_events": int(train.sum()), "holdout_auc": train_metrics.get("auc"), "train_seconds": round(seconds, 2)}
    return ModelRun(model, out, _clean(metrics), info, data_fingerprint(X.loc[train], beat.loc[train], surprise.loc[train]))


# -- factor timing -------------------------------------------------------------------------------
def train_factor_timing(regime_features: pd.DataFrame, factor_returns: pd.DataFrame, window: TrainWindow,
                        config: Any) -> ModelRun:
    """FactorTimingModel on the training dates' macro features; its targets may use returns up to
    the day before the test window (the gap), never after. Scored per test date against the
    realised ``forward_days`` sums: time-series IC per factor and cross-factor IC per date."""
    from axion_pipeline.ml.factor_timing import FactorTimingModel, forward_sums

    X_train = date_rows(regime_features, window.train_start, window.train_end, "regime_features")
    started = time.perf_counter()
    model = FactorTimingModel(config)
    train_returns = factor_returns.loc[factor_returns.index < window.test_start]
    model.train(X_train, train_returns)
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
    return ModelRun(model, out, timing_metrics(out), info, data_fingerprint(X_train, train_returns))


def timing_metrics(predictions: pd.DataFrame) -> dict[str, Any]:
    """Per factor: Spearman IC of predicted vs realised return over the dates (overlapping windows:
    few independent observations); ``cross_factor_ic``: mean over dates of the rank correlation
    across factors; ``sign_hit_rate``."""
    known = predictions.dropna(subset=["realized_return"])
    out: dict[str, Any] = {"n_dates": int(predictions["date"].nunique()), "n_dates_realized": int(known["date"].nunique())}
    per_factor = {f: M.per_date_ic(g["predicted_return"], g["realized_return"], None) for f, g in known.groupby("factor")}
    ics = {f: float(ic.iloc[0]) if len(ic) else np.nan for f, ic in per_factor.items()}
    out.update({f"{f}_ic": v for f, v in ics.items()})
    out["timing_ic_mean"] = float(np.nanmean(list(ics.values()))) if any(np.isfinite(list(ics.values()))) else None
    cross = M.per_date_ic(known["predicted_return"], known["realized_return"], known["date"])
    out["cross_factor_ic"] = float(cross.mean()) if len(cross) else None
    out["sign_hit_rate"] = float((np.sign(known["predicted_return"]) == np.sign(known["realized_return"])).mean()) \
        if len(known) else None
    return _clean(out)


# -- hyperparameter search -----------------------------------------------------------------------
def search_ranking(features: pd.DataFrame, targets: pd.DataFrame, window: TrainWindow, model_config: Any,
                   feature_config: Any, every_n_days: int, n_trials: int, storage: str | None, study_name: str,
                   timeout: float | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Optuna search (``HyperparameterOptimizer``) of the ranking model on the window's fitted rows,
    scored by the validation slice's IC. Returns one row per trial (number, state, value = mean
    validation IC, seconds, ``param_*``) and the optimiser's summary (best params, PBO, deflated Sharpe)."""
    from axion_pipeline.ml.features import FeatureEngineer
    from axion_pipeline.ml.hyperopt import HyperparameterOptimizer
    from axion_pipeline.ml.ranking import StockRankingModel

    if not window.has_validation:
        raise ValueError("the search scores trials on the window's validation slice: set a validation size > 0")
    X_fit, out_fit = ranking_rows(features, targets, window.train_start, window.fit_end, every_n_days)
    X_val, out_val = ranking_rows(features, targets, window.val_start, window.train_end)
    engineer = FeatureEngineer(feature_config).fit_selection(X_fit)
    optimizer = HyperparameterOptimizer(storage=storage, study_name=study_name)
    summary = optimizer.optimize(
        StockRankingModel, engineer.transform_selection(X_fit), out_fit["label"], engineer.transform_selection(X_val),
        out_val["label"], n_trials=n_trials, timeout=timeout, base_config=model_config,
        forward_returns_val=out_val["fwd_return"])
    rows = [{"number": t.number, "state": t.state.name, "value": t.value,
             "duration_seconds": t.duration.total_seconds() if t.duration is not None else None,
             **{f"param_{k}": v for k, v in t.params.items()}} for t in optimizer.study.trials]
    return pd.DataFrame(rows), _clean({k: v for k, v in summary.items() if not k.endswith("_details")})


# -- walk-forward report -------------------------------------------------------------------------
def walk_forward_table(predictions: pd.DataFrame, true_alpha: pd.DataFrame | None = None,
                       horizon: int = FORWARD_DAYS) -> tuple[pd.DataFrame, pd.Series]:
    """Per fold and over all folds ("all"): ranking IC statistics, spread, accuracy and, when the
    planted ``true_alpha`` is given, the oracle IC (expected_return vs fwd_return on the same rows)
    and the model / oracle ratio. Returns the table and the model's IC per date."""
    preds = predictions.copy()
    preds["date"] = pd.to_datetime(preds["date"])
    oracle = None
    if true_alpha is not None and len(true_alpha):
        alpha = true_alpha[["date", "ticker", "expected_return"]].assign(date=lambda f: pd.to_datetime(f["date"]))
        preds = preds.merge(alpha, on=["date", "ticker"], how="left")
        oracle = True
    rows = []
    groups = [(key, g) for key, g in preds.groupby("fold", sort=True)] + [("all", preds)]
    for key, g in groups:
        row = {"fold": key, "test_start": g["date"].min(), "test_end": g["date"].max(), **ranking_metrics(g, horizon)}
        if oracle:
            known = g.dropna(subset=["fwd_return", "expected_return"])
            oic = M.per_date_ic(known["expected_return"], known["fwd_return"], known["date"])
            row["oracle_ic_mean"] = float(oic.mean()) if len(oic) else None
            ratio_ok = row["oracle_ic_mean"] not in (None, 0.0) and row["ic_mean"] is not None
            row["model_oracle_ratio"] = row["ic_mean"] / row["oracle_ic_mean"] if ratio_ok else None
        rows.append(row)
    known = preds.dropna(subset=["fwd_return"])
    ic = M.per_date_ic(known["score"], known["fwd_return"], known["date"])
    return pd.DataFrame(rows), ic


# -- model catalogue -----------------------------------------------------------------------------
CATALOG_COLUMNS = ["model_name", "kind", "version", "is_latest", "model_type", "trained_at", "train_start", "train_end",
                   "fit_start", "fit_end", "test_start", "test_end", "metrics", "feature_names", "artifacts",
                   "path", "sha256", "verified", "error", "model_text"]


def catalog_models(root: str | Path, model_classes: dict[str, type], fold_keys: list[str]) -> pd.DataFrame:
    """One row per stored model under ``root``: ``<name>/<fold>/`` (kind fold, for ``fold_keys``) and
    every ``<name>/production/<version>/`` (kind production, ``is_latest`` from LATEST).

    Only JSON and text are read, never unpickled. ``verified``: every artefact's SHA-256 matches
    ``metadata.json`` (else ``error`` says why and ``model_text`` is empty); ``sha256`` is the
    digest of ``metadata.json``, which pins every artefact's digest, so it identifies the model.
    ``model_text`` concatenates the artefacts (LightGBM model text, XGBoost JSON, scikit-learn
    JSON), each after a header line ``=== <file> sha256=<digest> ===``.
    """
    from axion_pipeline.ml.base import METADATA_FILE, ModelLoadError, sha256_file
    from axion_pipeline.ml.pipeline import read_latest

    root = Path(root)
    rows = []
    for name, cls in model_classes.items():
        base = root / name
        entries = [("fold", key, base / key, True) for key in fold_keys if (base / key / METADATA_FILE).is_file()]
        production = base / "production"
        if production.is_dir():
            latest = read_latest(production)
            entries += [("production", d.name, d, d.name == latest) for d in sorted(production.iterdir())
                        if (d / METADATA_FILE).is_file()]
        for kind, version, path, is_latest in entries:
            row = {"model_name": name, "kind": kind, "version": version, "is_latest": is_latest,
                   "path": str(path), "sha256": sha256_file(path / METADATA_FILE)}
            try:
                payload = cls.read_manifest(path)
                row.update(verified=True, error=None, **_catalog_fields(payload, path))
            except ModelLoadError as exc:
                row.update(verified=False, error=str(exc), model_text="")
            rows.append(row)
    return pd.DataFrame(rows, columns=CATALOG_COLUMNS)


def _catalog_fields(payload: dict, path: Path) -> dict[str, Any]:
    meta = payload["metadata"]
    window = meta.get("extra", {}).get("window") or {}
    texts = [f"=== {name} sha256={digest} ===\n{(path / name).read_text()}" for name, digest in payload["artifacts"].items()]
    return {
        "model_type": payload["model_type"], "trained_at": meta.get("trained_at"),
        "train_start": window.get("train_start"), "train_end": window.get("train_end"),
        "fit_start": meta.get("train_start"), "fit_end": meta.get("train_end"),
        "test_start": window.get("test_start"), "test_end": window.get("test_end"),
        "metrics": json.dumps(_clean(meta.get("metrics", {})), sort_keys=True),
        "feature_names": json.dumps(meta.get("feature_names", [])),
        "artifacts": json.dumps(payload["artifacts"], sort_keys=True), "model_text": "\n".join(texts),
    }
