"""Model monitoring: realised rank IC per prediction date, rolling health status, drift (``drift``).

``ModelPerformanceTracker.record_prediction(date, predicted_scores, actual_returns)`` computes that
date's rank IC (Spearman over the symbols present in both Series, through
``metrics.per_date_ic``; NaN when fewer than 3 symbols or a constant side) and appends one JSON
line to ``storage_path`` (when given), so any tracker opened on the same file sees the history.
Recording the same (model, date) again replaces the earlier record (the last line wins).

Health (``get_health_status``) over the last ``rolling_window_days`` recorded dates with an IC:

- ``current_ic``: IC of the latest date; ``rolling_ic_3m``: mean IC over the window;
  ``ic_trend``: least-squares slope of IC per recorded date over the window (NaN with < 2 dates);
- ``ic_tstat_nw``: Newey-West t of the rolling IC with ``overlap_days - 1`` lags (daily ICs of
  21-day returns overlap);
- "unknown": fewer than ``min_ic_observations`` dates with an IC (default 63, three independent
  21-day periods), or a rolling IC at or above the healthy minimum whose t is below
  ``min_tstat_healthy`` (default 2): the data cannot tell it from zero;
- "critical": rolling IC < ``retrain_ic_threshold`` (default 0: the model ranks no better than
  chance); "degraded": rolling IC < ``min_ic_healthy`` (default 0.02); else "healthy";
- ``needs_retraining``: critical, or degraded with a negative trend (getting worse).

Look-ahead: ``actual_returns`` for a prediction made at ``t`` are forward returns over
``t .. t + h``; record them only once they are realised (at ``t + h`` or later). The tracker does
not know the horizon and cannot check this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.config import MonitoringConfig
from axion_pipeline.ml.drift import DegradationDetector, DriftReport, psi
from axion_pipeline.ml.jsonable import jsonable

__all__ = ["DegradationDetector", "DriftReport", "ModelHealthStatus", "ModelPerformanceTracker", "psi"]

DEFAULT_MODEL = "stock_ranking"
_COLUMNS = ["model_name", "date", "ic", "n_symbols", "recorded_at"]


@dataclass
class ModelHealthStatus:
    """Health of one model from its recorded ICs (module docstring for the rules)."""

    model_name: str
    status: str
    current_ic: float
    rolling_ic_3m: float
    ic_trend: float
    needs_retraining: bool
    n_observations: int = 0
    last_date: str | None = None
    reasons: list[str] = field(default_factory=list)
    ic_tstat_nw: float = float("nan")


def _slope(y: np.ndarray) -> float:
    """Least-squares slope of ``y`` against 0, 1, ..., n-1 (exactly 0 for a constant series)."""
    x = np.arange(len(y), dtype=float) - (len(y) - 1) / 2.0
    return float(x @ (y - y.mean()) / (x @ x))


class ModelPerformanceTracker:
    """Records realised ICs of daily predictions and derives a health status (module docstring)."""

    def __init__(self, storage_path: str | Path | None = None, config: MonitoringConfig | None = None):
        self.storage_path = Path(storage_path) if storage_path is not None else None
        self.config = config if config is not None else MonitoringConfig()
        self._memory: list[dict[str, Any]] = []

    def record_prediction(
        self, date: Any, predicted_scores: pd.Series, actual_returns: pd.Series, model_name: str = DEFAULT_MODEL
    ) -> float:
        """Store the rank IC of ``predicted_scores`` vs ``actual_returns`` for ``date``; returns it."""
        if not isinstance(predicted_scores, pd.Series) or not isinstance(actual_returns, pd.Series):
            raise TypeError("predicted_scores and actual_returns must be Series indexed by symbol")
        for name, s in (("predicted_scores", predicted_scores), ("actual_returns", actual_returns)):
            if s.index.has_duplicates:
                raise ValueError(f"{name} has duplicate symbols")
        common = predicted_scores.index.intersection(actual_returns.index)
        scores = predicted_scores.reindex(common).to_numpy(dtype=float)
        outcomes = actual_returns.reindex(common).to_numpy(dtype=float)
        ic_series = M.per_date_ic(scores, outcomes, None)
        ic = float(ic_series.iloc[0]) if len(ic_series) else float("nan")
        valid = int((np.isfinite(scores) & np.isfinite(outcomes)).sum())
        record = {
            "model_name": str(model_name),
            "date": str(pd.Timestamp(date).date()),
            "ic": jsonable(ic),
            "n_symbols": valid,
            "recorded_at": datetime.now(UTC).isoformat(),
        }
        if self.storage_path is not None:
            self.storage_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.storage_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
        else:
            self._memory.append(record)
        return ic

    def _records(self) -> list[dict[str, Any]]:
        if self.storage_path is None:
            return list(self._memory)
        if not self.storage_path.is_file():
            return []
        records = []
        with open(self.storage_path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{self.storage_path}:{number}: not a JSON record ({exc})") from exc
                if not isinstance(rec, dict) or not {"model_name", "date", "ic"} <= set(rec):
                    raise ValueError(f"{self.storage_path}:{number}: record lacks model_name/date/ic")
                records.append(rec)
        return records

    def history(self, model_name: str | None = DEFAULT_MODEL) -> pd.DataFrame:
        """Recorded ICs (one row per model and date, the latest record wins), sorted by date;
        all models when ``model_name`` is None."""
        frame = pd.DataFrame(self._records(), columns=_COLUMNS)
        if model_name is not None:
            frame = frame[frame["model_name"] == model_name]
        frame = frame.assign(date=pd.to_datetime(frame["date"]), ic=pd.to_numeric(frame["ic"]).astype(float))
        frame = frame.drop_duplicates(["model_name", "date"], keep="last")
        return frame.sort_values(["model_name", "date"], kind="stable").reset_index(drop=True)

    def get_ic_history(self, model_name: str = DEFAULT_MODEL) -> pd.Series:
        """IC per recorded date (NaN where undefined), indexed by date."""
        frame = self.history(model_name)
        return pd.Series(frame["ic"].to_numpy(), index=pd.DatetimeIndex(frame["date"], name="date"), name="ic")

    def get_health_status(self, name: str = DEFAULT_MODEL) -> ModelHealthStatus:
        """Health from the last ``rolling_window_days`` recorded dates with an IC."""
        return health_status(self.get_ic_history(name), self.config, name)


def health_status(
    ic: pd.Series, config: MonitoringConfig | None = None, name: str = DEFAULT_MODEL
) -> ModelHealthStatus:
    """Health (rules in the module docstring) from the last ``rolling_window_days`` dates of ``ic``
    (IC per date, sorted by date) that have an IC."""
    cfg = config if config is not None else MonitoringConfig()
    ic = ic.dropna()
    window = ic.iloc[-cfg.rolling_window_days :] if cfg.rolling_window_days > 0 else ic
    n = len(window)
    nan = float("nan")
    current = float(window.iloc[-1]) if n else nan
    rolling = float(window.mean()) if n else nan
    trend = _slope(window.to_numpy()) if n >= 2 else nan
    last = str(window.index[-1].date()) if n else None
    tstat = M.ic_summary(window, newey_west_lags=max(cfg.overlap_days - 1, 0))["ic_tstat"]
    if n >= 2 and window.std() == 0:  # a constant IC has no sampling error
        tstat = float(np.sign(rolling) * np.inf) if rolling else nan
    reasons: list[str] = []
    if n < max(cfg.min_ic_observations, 1):
        status, retrain = "unknown", False
        reasons.append(f"{n} dates with an IC, {cfg.min_ic_observations} needed")
    elif rolling < cfg.retrain_ic_threshold:
        status, retrain = "critical", True
        reasons.append(f"rolling IC {rolling:.4f} < retrain threshold {cfg.retrain_ic_threshold}")
    elif rolling < cfg.min_ic_healthy:
        status = "degraded"
        retrain = bool(trend < 0)
        reasons.append(f"rolling IC {rolling:.4f} < healthy minimum {cfg.min_ic_healthy}")
        if retrain:
            reasons.append(f"IC trend {trend:.5f} per date is negative")
    elif not tstat >= cfg.min_tstat_healthy:
        status, retrain = "unknown", False
        reasons.append(
            f"rolling IC {rolling:.4f} over {n} dates has Newey-West t {tstat:.2f} < {cfg.min_tstat_healthy}: "
            "not distinguishable from zero"
        )
    else:
        status, retrain = "healthy", False
    return ModelHealthStatus(
        model_name=name,
        status=status,
        current_ic=current,
        rolling_ic_3m=rolling,
        ic_trend=trend,
        needs_retraining=retrain,
        n_observations=n,
        last_date=last,
        reasons=reasons,
        ic_tstat_nw=tstat,
    )
