"""Factor timing: ridge forecasts of each factor's next ``forward_days`` return -> bounded weights.

For each factor, a ridge regression on standardised macro features at date t predicts the sum of
that factor's daily long-short returns over the next ``forward_days`` trading days (t+1 .. t+h,
where "trading days" are the rows of the factor-returns index). ``get_factor_weights`` turns the
forecasts into weights: z_f = forecast_f / std_f (std of the factor's h-day target in training,
so factors of different volatility compete on signal-to-noise), w_f proportional to
exp(tilt_strength * z_f) (a softmax tilt: equal weights when nothing is forecast), then clipped
to [min_weight, max_weight] and renormalised until the weights sum to 1 inside the bounds.

Missing macro values are imputed with training medians stored in the model.
Where look-ahead could enter: the target window starts strictly after t; rows whose window is
incomplete (the last h dates, or a gap in the returns) are dropped and counted. The reported
metrics come from a time-ordered holdout (last ``holdout_fraction`` of dates) with medians, scaler
and ridges fitted on earlier dates only, and ``forward_days`` rows purged between the two so no
training target overlaps the holdout period; the model is then refitted on all rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from axion_pipeline.ml import serialization
from axion_pipeline.ml.base import BaseModel, InsufficientDataError, ModelLoadError, feature_array
from axion_pipeline.ml.config import FactorTimingConfig
from axion_pipeline.ml.regime import holdout_split

ARTIFACT = "factor_timing.json"
MIN_ROWS = 30


def forward_sums(returns: pd.DataFrame, dates: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
    """For each date t in ``dates``, the sum of each column of ``returns`` over the ``horizon``
    rows of ``returns`` strictly after t; NaN when fewer rows remain or any of them is NaN."""
    r = returns.sort_index()
    values = r.to_numpy(dtype=float)
    csum = np.vstack([np.zeros(values.shape[1]), np.cumsum(np.nan_to_num(values), axis=0)])
    cnan = np.vstack([np.zeros(values.shape[1]), np.cumsum(np.isnan(values), axis=0)])
    start = np.searchsorted(r.index.to_numpy(), np.asarray(dates, dtype=r.index.dtype), side="right")
    end = start + horizon
    ok = end <= len(r)
    e, s = np.minimum(end, len(r)), start
    out = csum[e] - csum[s]
    out[~ok] = np.nan
    out[(cnan[e] - cnan[s]) > 0] = np.nan
    return pd.DataFrame(out, index=dates, columns=r.columns)


def bounded_softmax(scores: np.ndarray, strength: float, low: float, high: float) -> np.ndarray:
    """Weights proportional to exp(strength * scores), clipped to [low, high], summing to 1.

    Returns w_i = clip(c * b_i, low, high) for the one scale c at which the weights sum to 1: the
    fixed point of "clip to the bounds, renormalise the rest" repeated until nothing moves.
    The total is piecewise linear and non-decreasing in c, so c is solved exactly between the
    breakpoints low / b_i and high / b_i. Requires n * low <= 1 <= n * high.
    """
    scores = np.asarray(scores, dtype=float)
    n = scores.size
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be finite, got {scores}")
    if not (0 <= low <= high and n * low <= 1.0 + 1e-12 and n * high >= 1.0 - 1e-12):
        raise ValueError(f"bounds [{low}, {high}] cannot hold {n} weights summing to 1")
    b = np.exp(strength * (scores - scores.max()))
    b = np.maximum(b / b.sum(), 1e-300)
    cands = np.unique(np.concatenate([low / b, high / b]))
    totals = np.array([np.clip(c * b, low, high).sum() for c in cands])
    k = int(np.searchsorted(totals, 1.0))
    if k == 0:
        c = cands[0]
    elif k == cands.size:
        c = cands[-1]
    else:
        c0, c1, t0, t1 = cands[k - 1], cands[k], totals[k - 1], totals[k]
        c = c0 + (1.0 - t0) * (c1 - c0) / (t1 - t0)
    w = np.clip(c * b, low, high)
    return w / w.sum()


class FactorTimingModel(BaseModel):
    """One ridge forecast per configured factor and bounded softmax weights from the forecasts."""

    model_type = "factor_timing"
    config_class = FactorTimingConfig

    def __init__(self, config: FactorTimingConfig | None = None):
        super().__init__(config)
        self._medians: np.ndarray | None = None
        self._scaler: StandardScaler | None = None
        self._ridges: dict[str, Ridge] = {}
        self._target_std: dict[str, float] = {}

    @property
    def factors(self) -> list[str]:
        return list(self.config.factors)

    def _matrix(self, X: pd.DataFrame, names: list[str] | None = None) -> np.ndarray:
        return feature_array(X, names, "macro features (X_macro)")

    @staticmethod
    def _fit_prep(values: np.ndarray) -> tuple[np.ndarray, StandardScaler]:
        medians = np.nanmedian(np.where(np.isnan(values).all(axis=0), 0.0, values), axis=0)
        filled = np.where(np.isnan(values), medians, values)
        return medians, StandardScaler().fit(filled)

    def _ridge(self, z: np.ndarray, y: np.ndarray) -> Ridge:
        return Ridge(alpha=self.config.alpha, random_state=self.config.random_state).fit(z, y)

    def train(self, X_macro: pd.DataFrame, factor_returns_df: pd.DataFrame) -> dict[str, Any]:
        """Fit a ridge per factor. ``X_macro``: date-indexed macro features; ``factor_returns_df``:
        date-indexed daily long-short returns, one column per configured factor.

        Metrics per factor ``<f>_``: r2_oos (1 - SSE / SSE of the training-mean forecast, on the
        holdout), hit_rate (share of holdout dates with the right sign), ic (Spearman), n_train,
        n_holdout, n_dropped (dates without a complete forward window)."""
        if not isinstance(X_macro.index, pd.DatetimeIndex) or not isinstance(factor_returns_df.index, pd.DatetimeIndex):
            raise TypeError("X_macro and factor_returns_df must be indexed by date (DatetimeIndex)")
        missing = [f for f in self.factors if f not in factor_returns_df.columns]
        if missing:
            raise ValueError(f"factor_returns_df lacks the configured factors {missing}")
        h = self.config.forward_days
        X = X_macro.sort_index(kind="stable")
        values = self._matrix(X)
        targets = forward_sums(factor_returns_df[self.factors], X.index, h)
        metrics: dict[str, Any] = {"forward_days": h}
        self._medians, self._scaler = self._fit_prep(values)
        z_all = self._scaler.transform(np.where(np.isnan(values), self._medians, values))
        ridges, stds = {}, {}
        for f in self.factors:
            y = targets[f].to_numpy()
            ok = np.isfinite(y)
            if ok.sum() < MIN_ROWS:
                raise InsufficientDataError(
                    f"factor {f!r}: {int(ok.sum())} dates with a complete {h}-day window, need {MIN_ROWS}"
                )
            v, yy = values[ok], y[ok]
            tr, ho = holdout_split(len(yy), self.config.holdout_fraction, gap=h)
            med, scaler = self._fit_prep(v[tr])
            zs = scaler.transform(np.where(np.isnan(v), med, v))
            pred = self._ridge(zs[tr], yy[tr]).predict(zs[ho])
            actual = yy[ho]
            sse_bench = np.sum((actual - yy[tr].mean()) ** 2)
            metrics[f"{f}_r2_oos"] = float(1.0 - np.sum((actual - pred) ** 2) / sse_bench) if sse_bench > 0 else None
            metrics[f"{f}_hit_rate"] = float(np.mean(np.sign(pred) == np.sign(actual)))
            ic = spearmanr(pred, actual)[0] if np.ptp(pred) > 0 and np.ptp(actual) > 0 else np.nan
            metrics[f"{f}_ic"] = float(ic) if np.isfinite(ic) else None
            metrics.update(
                {f"{f}_n_train": int(tr.size), f"{f}_n_holdout": int(ho.size), f"{f}_n_dropped": int((~ok).sum())}
            )
            ridges[f] = self._ridge(z_all[ok], yy)
            stds[f] = float(np.std(yy)) if np.std(yy) > 0 else 1.0
        self._ridges, self._target_std = ridges, stds
        self._finish_training(
            metrics, list(map(str, X.columns)), train_start=str(X.index[0].date()), train_end=str(X.index[-1].date())
        )
        return metrics

    def predict(self, X_macro: pd.DataFrame) -> pd.DataFrame:
        """Forecast ``forward_days`` return of every factor, one row per date of ``X_macro``."""
        self._require_fitted()
        values = self._matrix(X_macro, self.metadata.feature_names)
        z = self._scaler.transform(np.where(np.isnan(values), self._medians, values))
        return pd.DataFrame({f: self._ridges[f].predict(z) for f in self.factors}, index=X_macro.index)

    def get_factor_weights(self, X_current_macro: pd.DataFrame | pd.Series | dict) -> dict[str, float]:
        """Bounded softmax weights (module docstring) from the forecasts at the last row given."""
        if isinstance(X_current_macro, (dict, pd.Series)):
            X_current_macro = pd.DataFrame([dict(X_current_macro)])
        if len(X_current_macro) == 0:
            raise ValueError("X_current_macro has no rows")
        last = (
            X_current_macro.sort_index(kind="stable")
            if isinstance(X_current_macro.index, pd.DatetimeIndex)
            else X_current_macro
        )
        forecast = self.predict(last.iloc[[-1]]).iloc[0]
        z = np.array([forecast[f] / self._target_std[f] for f in self.factors])
        c = self.config
        w = bounded_softmax(z, c.tilt_strength, c.min_weight, c.max_weight)
        return {f: float(x) for f, x in zip(self.factors, w)}

    # -- persistence ----------------------------------------------------------------------------
    def _has_fitted_state(self) -> bool:
        return self._scaler is not None and set(self._ridges) == set(self.factors)

    def _save_artifacts(self, directory: Path) -> list[str]:
        serialization.save_json(
            {
                "medians": self._medians.tolist(),
                "scaler": serialization.estimator_to_dict(self._scaler),
                "ridges": {f: serialization.estimator_to_dict(r) for f, r in self._ridges.items()},
                "target_std": self._target_std,
            },
            directory / ARTIFACT,
        )
        return [ARTIFACT]

    def _load_artifacts(self, directory: Path, files: list[str]) -> None:
        if ARTIFACT not in files:
            raise ModelLoadError(f"{directory}: {ARTIFACT} missing from the manifest")
        payload = serialization.load_json(directory / ARTIFACT)
        scaler = serialization.estimator_from_dict(payload["scaler"])
        d = scaler.n_features_in_
        medians = np.asarray(payload["medians"], dtype=float)
        ridges = {f: serialization.estimator_from_dict(payload["ridges"][f]) for f in self.factors}
        stds = {f: float(payload["target_std"][f]) for f in self.factors}
        if medians.shape != (d,) or any(r.n_features_in_ != d for r in ridges.values()):
            raise ValueError("medians, scaler and ridge dimensions do not match")
        if not all(np.isfinite(s) and s > 0 for s in stds.values()):
            raise ValueError("target_std must be positive and finite")
        self._medians, self._scaler, self._ridges, self._target_std = medians, scaler, ridges, stds
