"""Market regime classifier: standardised market features -> GaussianMixture posteriors -> random forest.

Why two stages: the unsupervised mixture finds the clusters the market series form on their own
(calm trending, volatile falling, ...); its posteriors are handed to a supervised random forest as
extra features, so the forest learns how those clusters map onto the labelled regimes.

Rows are dates in time order. Missing feature values are imputed with the training medians stored
in the model (a column that is all-NaN in training is imputed with 0, i.e. ignored).
Where look-ahead could enter: the medians, the scaler and the mixture are fitted on training rows
only; ``train`` reports metrics on a time-ordered holdout (the last ``holdout_fraction`` of rows,
default 20%) with everything fitted on the earlier rows, then refits on all rows. The labels
themselves must be known at each row's date (e.g. a regime dated by the end of its window, not a
label that uses future returns) - that is the caller's responsibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from axion_pipeline.ml import serialization
from axion_pipeline.ml.base import BaseModel, InsufficientDataError, ModelLoadError, artifact_parsing, feature_array
from axion_pipeline.ml.config import RegimeModelConfig

ARTIFACT = "regime_model.json"
MIN_ROWS = 20


def trailing_run_length(labels) -> int:
    """How many trailing entries of ``labels`` (the last one included) equal the last one."""
    labels = np.asarray(labels)
    changed = np.flatnonzero(labels[::-1] != labels[-1])
    return int(changed[0]) if changed.size else len(labels)


@dataclass
class RegimePrediction:
    """Regime of the last row, its probability, all probabilities, and how many trailing rows
    (trading days) in a row were predicted as this regime."""

    regime: str
    confidence: float
    probabilities: dict[str, float] = field(default_factory=dict)
    duration_days: int = 1


def time_order(X: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by a DatetimeIndex (stable); any other index is taken to be in time order."""
    if isinstance(X.index, pd.DatetimeIndex) and not X.index.is_monotonic_increasing:
        return X.sort_index(kind="stable")
    return X


def holdout_split(n: int, fraction: float, gap: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training rows and of the last ``fraction`` of rows, ``gap`` rows apart."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {fraction}")
    n_hold = max(1, int(round(n * fraction)))
    n_train = n - n_hold - gap
    if n_train < 2:
        raise InsufficientDataError(f"{n} rows leave {n_train} training rows before a {n_hold}-row holdout (gap {gap})")
    return np.arange(n_train), np.arange(n - n_hold, n)


class _Stack:
    """Median imputation + StandardScaler + GaussianMixture + RandomForest, fitted together."""

    def __init__(self, cfg: RegimeModelConfig):
        self.cfg = cfg

    def fit(self, values: np.ndarray, codes: np.ndarray) -> _Stack:
        med = np.nanmedian(np.where(np.isnan(values).all(axis=0), 0.0, values), axis=0)
        self.medians = np.where(np.isnan(med), 0.0, med)
        z = self._scale(values, fit=True)
        self.gmm = GaussianMixture(
            n_components=self.cfg.n_components,
            covariance_type=self.cfg.covariance_type,
            random_state=self.cfg.random_state,
        ).fit(z)
        self.forest = RandomForestClassifier(
            n_estimators=self.cfg.rf_n_estimators,
            max_depth=self.cfg.rf_max_depth,
            random_state=self.cfg.random_state,
            n_jobs=self.cfg.n_jobs,
        ).fit(np.hstack([z, self.gmm.predict_proba(z)]), codes)
        # Threads add tree votes in varying order (last-bit differences); predict single-threaded
        # so probabilities are reproducible, also after save/load.
        self.forest.set_params(n_jobs=1)
        return self

    def _scale(self, values: np.ndarray, fit: bool = False) -> np.ndarray:
        filled = np.where(np.isnan(values), self.medians, values)
        if fit:
            self.scaler = StandardScaler().fit(filled)
        return self.scaler.transform(filled)

    def proba(self, values: np.ndarray) -> np.ndarray:
        """Probabilities over all configured regimes (0 for a regime absent from training)."""
        z = self._scale(values)
        p = self.forest.predict_proba(np.hstack([z, self.gmm.predict_proba(z)]))
        out = np.zeros((len(values), len(self.cfg.regimes)))
        out[:, self.forest.classes_.astype(int)] = p
        return out


class RegimeClassifier(BaseModel):
    """GMM + random forest regime classifier over a date-indexed frame of market features."""

    model_type = "regime_classifier"
    config_class = RegimeModelConfig

    def __init__(self, config: RegimeModelConfig | None = None):
        super().__init__(config)
        self._stack: _Stack | None = None

    @property
    def regimes(self) -> list[str]:
        return list(self.config.regimes)

    def _features(self, X: pd.DataFrame, names: list[str] | None = None) -> np.ndarray:
        return feature_array(X, names, "market features")

    def train(self, X: pd.DataFrame, labels: Any) -> dict[str, float]:
        """Fit on ``X`` (rows in time order) and regime ``labels`` (Series aligned on X's index,
        or an array of the same length). Rows with a missing label are dropped.

        Returns accuracy, ``<regime>_accuracy`` (recall of that regime; None when it does not occur
        in the holdout) and balanced_accuracy on the last ``holdout_fraction`` of rows, from a
        model fitted on the earlier rows; the returned model is then refitted on all rows.
        """
        X = time_order(X)
        if isinstance(labels, pd.Series):
            y = labels.reindex(X.index)
        else:
            y = pd.Series(np.asarray(labels, dtype=object), index=X.index)
            if len(labels) != len(X):
                raise ValueError(f"labels has {len(labels)} values for {len(X)} rows")
        keep = y.notna().to_numpy()
        if not keep.any():
            raise ValueError("no label matches a row of X (check that labels share X's index)")
        X, y = X.loc[keep], y[keep].astype(str)
        unknown = sorted(set(y) - set(self.regimes))
        if unknown:
            raise ValueError(f"labels {unknown} are not among the configured regimes {self.regimes}")
        if len(X) < MIN_ROWS:
            raise InsufficientDataError(f"need at least {MIN_ROWS} labelled rows, got {len(X)}")
        codes = y.map({r: i for i, r in enumerate(self.regimes)}).to_numpy(dtype=int)
        values = self._features(X)
        tr, ho = holdout_split(len(X), self.config.holdout_fraction)
        pred = _Stack(self.config).fit(values[tr], codes[tr]).proba(values[ho]).argmax(axis=1)
        truth = codes[ho]
        metrics: dict[str, Any] = {"accuracy": float(np.mean(pred == truth))}
        recalls = []
        for i, regime in enumerate(self.regimes):
            present = truth == i
            recall = float(np.mean(pred[present] == i)) if present.any() else None
            metrics[f"{regime}_accuracy"] = recall
            if recall is not None:
                recalls.append(recall)
        metrics["balanced_accuracy"] = float(np.mean(recalls))
        metrics.update(
            n_train=int(tr.size), n_holdout=int(ho.size), n_rows=len(X), n_unlabelled_dropped=int((~keep).sum())
        )
        self._stack = _Stack(self.config).fit(values, codes)
        span = {}
        if isinstance(X.index, pd.DatetimeIndex):
            span = {"train_start": str(X.index[0].date()), "train_end": str(X.index[-1].date())}
        self._finish_training(
            metrics,
            list(map(str, X.columns)),
            **span,
            class_counts={r: int((codes == i).sum()) for i, r in enumerate(self.regimes)},
        )
        return metrics

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """prob_<regime> for every configured regime, the most probable regime, and its probability."""
        self._require_fitted()
        proba = self._stack.proba(self._features(X, self.metadata.feature_names))
        out = pd.DataFrame(proba, index=X.index, columns=[f"prob_{r}" for r in self.regimes])
        out["regime"] = np.asarray(self.regimes, dtype=object)[proba.argmax(axis=1)]
        out["confidence"] = proba.max(axis=1)
        return out

    def predict_regime(self, X_current: pd.DataFrame) -> RegimePrediction:
        """Regime of the last row of ``X_current``; ``duration_days`` counts the consecutive trailing
        rows (the last one included) predicted as that same regime, so pass the recent history."""
        batch = self.predict(time_order(X_current))
        if batch.empty:
            raise ValueError("X_current has no rows")
        last = batch.iloc[-1]
        return RegimePrediction(
            regime=str(last["regime"]),
            confidence=float(last["confidence"]),
            probabilities={r: float(last[f"prob_{r}"]) for r in self.regimes},
            duration_days=trailing_run_length(batch["regime"].to_numpy()),
        )

    def get_feature_importance(self) -> pd.Series:
        """Impurity importance of the forest's inputs (market features and gmm_component_<k>
        posteriors), sorted descending."""
        self._require_fitted()
        names = self.metadata.feature_names + [f"gmm_component_{k}" for k in range(self.config.n_components)]
        imp = pd.Series(self._stack.forest.feature_importances_, index=names, name="importance")
        return imp.sort_values(ascending=False)

    # -- persistence ----------------------------------------------------------------------------
    def _has_fitted_state(self) -> bool:
        return self._stack is not None

    def _save_artifacts(self, directory: Path) -> list[str]:
        s = self._stack
        serialization.save_json(
            {
                "medians": s.medians.tolist(),
                "scaler": serialization.estimator_to_dict(s.scaler),
                "gmm": serialization.estimator_to_dict(s.gmm),
                "forest": serialization.estimator_to_dict(s.forest),
            },
            directory / ARTIFACT,
        )
        return [ARTIFACT]

    def _load_artifacts(self, directory: Path, files: list[str]) -> None:
        if ARTIFACT not in files:
            raise ModelLoadError(f"{directory}: {ARTIFACT} missing from the manifest")
        with artifact_parsing(directory / ARTIFACT):
            payload = serialization.load_json(directory / ARTIFACT)
            stack = _Stack(self.config)
            stack.medians = np.asarray(payload["medians"], dtype=float)
            stack.scaler = serialization.estimator_from_dict(payload["scaler"])
            stack.gmm = serialization.estimator_from_dict(payload["gmm"])
            stack.forest = serialization.estimator_from_dict(payload["forest"])
            d = stack.scaler.n_features_in_
            if (
                stack.medians.shape != (d,)
                or stack.gmm.n_features_in_ != d
                or stack.forest.n_features_in_ != d + self.config.n_components
                or not set(stack.forest.classes_.astype(int)) <= set(range(len(self.regimes)))
            ):
                raise ValueError("scaler, mixture and forest dimensions do not match each other or the config")
        self._stack = stack
