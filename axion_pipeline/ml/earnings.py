"""Earnings beat/miss model: an XGBoost classifier for P(beat) and a regressor for the surprise size.

Inputs are per-announcement features known before the announcement (see
``axion_pipeline.ml.earnings_features``); XGBoost handles missing values natively, so a ticker
without history simply has NaN features. Models are stored in XGBoost's own JSON format
(``save_model("x.json")``), never pickled.

Where look-ahead could enter: the features (built strictly before each announce_date) and the
holdout. ``train`` orders rows by announcement date (the ``announce_date`` or ``date`` index level,
else row order) and reports metrics on the last ``holdout_fraction`` of announcement dates with
models fitted on earlier dates only (a date is never split between the two), then refits on all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml.base import BaseModel, InsufficientDataError, ModelLoadError, feature_array
from axion_pipeline.ml.config import EarningsModelConfig

CLASSIFIER_FILE = "classifier.json"
REGRESSOR_FILE = "regressor.json"
MIN_ROWS = 20
SURPRISE_PREDICTED = "predicted"


@dataclass
class EarningsPrediction:
    """P(beat), predicted surprise, confidence = |2p - 1| and ``surprise_status``: "predicted", or
    why ``predicted_surprise`` is NaN (no surprise model: trained without a surprise target)."""

    symbol: str
    beat_probability: float
    predicted_surprise: float
    confidence: float
    surprise_status: str = SURPRISE_PREDICTED


def _event_dates(index: pd.Index) -> np.ndarray | None:
    if isinstance(index, pd.MultiIndex):
        for name in ("announce_date", "date"):
            if name in index.names:
                return np.asarray(index.get_level_values(name), dtype="datetime64[ns]")
        return None
    if isinstance(index, pd.DatetimeIndex):
        return np.asarray(index, dtype="datetime64[ns]")
    return None


def _align(values: Any, index: pd.Index, name: str) -> np.ndarray:
    if isinstance(values, pd.Series):
        if not values.index.equals(index):
            values = values.reindex(index)
        return values.to_numpy(dtype=float)
    arr = np.asarray(values, dtype=float)
    if arr.shape != (len(index),):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({len(index)},)")
    return arr


class EarningsPredictionModel(BaseModel):
    """XGBClassifier (beat = 1) plus an optional XGBRegressor for ``surprise_pct``."""

    model_type = "earnings_prediction"
    config_class = EarningsModelConfig

    def __init__(self, config: EarningsModelConfig | None = None):
        super().__init__(config)
        self._classifier: Any = None
        self._regressor: Any = None

    def _params(self) -> dict[str, Any]:
        c = self.config
        return dict(
            n_estimators=c.n_estimators,
            max_depth=c.max_depth,
            learning_rate=c.learning_rate,
            subsample=c.subsample,
            colsample_bytree=c.colsample_bytree,
            random_state=c.random_state,
            n_jobs=c.n_jobs,
            tree_method="hist",
        )

    def _fit(self, X: np.ndarray, y: np.ndarray, surprise: np.ndarray | None) -> tuple[Any, Any]:
        import xgboost as xgb

        if np.unique(y).size < 2:
            raise InsufficientDataError("training labels hold a single class; cannot fit a beat/miss classifier")
        clf = xgb.XGBClassifier(objective="binary:logistic", eval_metric="logloss", **self._params()).fit(X, y)
        reg = None
        if surprise is not None:
            known = np.isfinite(surprise)
            if known.sum() >= 2:
                reg = xgb.XGBRegressor(objective="reg:squarederror", **self._params()).fit(X[known], surprise[known])
        return clf, reg

    def _matrix(self, X: pd.DataFrame, names: list[str] | None = None) -> np.ndarray:
        return feature_array(X, names, "earnings features")

    def train(self, X: pd.DataFrame, y_beat_miss: Any, surprise: Any = None) -> dict[str, float]:
        """Fit on ``X`` with labels 1 = beat, 0 = miss (rows with a missing label are dropped) and,
        when given, the surprise size. Metrics (auc, accuracy at p = 0.5, brier_score; with
        ``surprise`` also surprise_rmse and surprise_ic = Spearman) come from the time-ordered
        holdout described in the module docstring."""
        from scipy.stats import spearmanr
        from sklearn.metrics import roc_auc_score

        y = _align(y_beat_miss, X.index, "y_beat_miss")
        s = None if surprise is None else _align(surprise, X.index, "surprise")
        keep = np.isfinite(y)
        if not np.isin(y[keep], (0.0, 1.0)).all():
            raise ValueError("y_beat_miss must hold 0 (miss) and 1 (beat)")
        values, y = self._matrix(X)[keep], y[keep].astype(int)
        s = None if s is None else s[keep]
        dates = _event_dates(X.index)
        dates = None if dates is None else dates[keep]
        order = np.arange(len(y)) if dates is None else np.argsort(dates, kind="stable")
        values, y, s = values[order], y[order], None if s is None else s[order]
        if len(y) < MIN_ROWS:
            raise InsufficientDataError(f"need at least {MIN_ROWS} labelled events, got {len(y)}")
        frac = self.config.holdout_fraction
        if not 0.0 < frac < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {frac}")
        cut = len(y) - max(1, int(round(len(y) * frac)))
        if dates is not None:  # never split one announcement date between train and holdout
            sorted_dates = dates[order]
            cut = int(np.searchsorted(sorted_dates, sorted_dates[cut], side="left"))
        if cut < 2 or cut >= len(y):
            raise InsufficientDataError("the holdout leaves too few training or holdout events")
        clf, reg = self._fit(values[:cut], y[:cut], None if s is None else s[:cut])
        p = clf.predict_proba(values[cut:])[:, 1]
        truth = y[cut:]
        metrics: dict[str, Any] = {
            "auc": float(roc_auc_score(truth, p)) if np.unique(truth).size == 2 else None,
            "accuracy": float(np.mean((p >= 0.5) == truth)),
            "brier_score": float(np.mean((p - truth) ** 2)),
            "base_rate_holdout": float(truth.mean()),
            "n_train": int(cut),
            "n_holdout": int(len(y) - cut),
            "n_unlabelled_dropped": int((~keep).sum()),
        }
        if reg is not None:
            known = np.isfinite(s[cut:])
            pred = reg.predict(values[cut:][known])
            metrics["surprise_rmse"] = float(np.sqrt(np.mean((pred - s[cut:][known]) ** 2))) if known.any() else None
            metrics["surprise_ic"] = float(spearmanr(pred, s[cut:][known])[0]) if known.sum() > 2 else None
        self._classifier, self._regressor = self._fit(values, y, s)
        span = {}
        if dates is not None:
            span = {
                "train_start": str(pd.Timestamp(dates.min()).date()),
                "train_end": str(pd.Timestamp(dates.max()).date()),
            }
        if self._regressor is None:
            missing = "trained without a surprise target" if s is None else "fewer than 2 known surprise values"
            span["surprise_model"] = f"no surprise model: {missing} (pass surprise= to train)"
        self._finish_training(metrics, list(map(str, X.columns)), **span)
        return metrics

    @property
    def surprise_status(self) -> str:
        """``SURPRISE_PREDICTED`` when a surprise regressor was trained, else why there is none."""
        self._require_fitted()
        if self._regressor is not None:
            return SURPRISE_PREDICTED
        return (self.metadata.extra or {}).get("surprise_model") or "no surprise model was trained"

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """beat_probability, predicted_surprise (NaN without a surprise model) and surprise_status
        ("predicted", or why the surprise is NaN) per row."""
        self._require_fitted()
        values = self._matrix(X, self.metadata.feature_names)
        out = pd.DataFrame(index=X.index)
        out["beat_probability"] = self._classifier.predict_proba(values)[:, 1].astype(float)
        out["predicted_surprise"] = (
            self._regressor.predict(values).astype(float) if self._regressor is not None else np.nan
        )
        out["surprise_status"] = self.surprise_status
        return out

    def predict_single(self, symbol: str, features: Any) -> EarningsPrediction:
        """Prediction for one upcoming announcement; ``features`` is a dict, a Series or a one-row
        DataFrame holding every training feature (extra keys are ignored, NaN is allowed)."""
        if isinstance(features, pd.DataFrame):
            if len(features) != 1:
                raise ValueError(f"features must be one row, got {len(features)}")
            row = features
        elif isinstance(features, (dict, pd.Series)):
            row = pd.DataFrame([dict(features)])
        else:
            raise TypeError(f"features must be a dict, Series or one-row DataFrame, got {type(features).__name__}")
        pred = self.predict(row).iloc[0]
        p = float(pred["beat_probability"])
        return EarningsPrediction(
            symbol=str(symbol),
            beat_probability=p,
            predicted_surprise=float(pred["predicted_surprise"]),
            confidence=abs(2.0 * p - 1.0),
            surprise_status=str(pred["surprise_status"]),
        )

    def get_feature_importance(self) -> pd.Series:
        """Gain importance of the beat/miss classifier, normalised to sum 1, sorted descending."""
        self._require_fitted()
        gain = self._classifier.get_booster().get_score(importance_type="gain")
        names = self.metadata.feature_names
        imp = pd.Series([gain.get(f"f{i}", 0.0) for i in range(len(names))], index=names, name="importance")
        total = imp.sum()
        return (imp / total if total > 0 else imp).sort_values(ascending=False)

    def raw_classifier(self) -> Any:
        """The fitted ``xgboost.XGBClassifier`` for P(beat) (e.g. for SHAP: ``get_booster()``,
        ``pred_contribs=True``); it sees the feature columns of ``metadata.feature_names`` in order."""
        self._require_fitted()
        return self._classifier

    def raw_regressor(self) -> Any:
        """The fitted ``xgboost.XGBRegressor`` for the surprise size, or None when trained without
        surprises; same inputs as ``raw_classifier``."""
        self._require_fitted()
        return self._regressor

    # -- persistence ----------------------------------------------------------------------------
    def _has_fitted_state(self) -> bool:
        return self._classifier is not None

    def _save_artifacts(self, directory: Path) -> list[str]:
        self._classifier.save_model(str(directory / CLASSIFIER_FILE))
        files = [CLASSIFIER_FILE]
        if self._regressor is not None:
            self._regressor.save_model(str(directory / REGRESSOR_FILE))
            files.append(REGRESSOR_FILE)
        else:
            (directory / REGRESSOR_FILE).unlink(missing_ok=True)
        return files

    def _load_artifacts(self, directory: Path, files: list[str]) -> None:
        import xgboost as xgb

        if CLASSIFIER_FILE not in files:
            raise ModelLoadError(f"{directory}: {CLASSIFIER_FILE} missing from the manifest")

        def load(estimator: Any, name: str) -> Any:
            try:
                estimator.load_model(str(directory / name))
            except xgb.core.XGBoostError as exc:
                raise ModelLoadError(f"{directory / name}: XGBoost could not parse the model: {exc}") from exc
            return estimator

        clf = load(xgb.XGBClassifier(**self._params()), CLASSIFIER_FILE)
        reg = load(xgb.XGBRegressor(**self._params()), REGRESSOR_FILE) if REGRESSOR_FILE in files else None
        self._classifier, self._regressor = clf, reg
