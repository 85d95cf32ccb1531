"""When to retrain: the rule behind the retraining sensor, over the monitoring tables.

Retrain when the latest model-health row says so (rolling IC below the critical threshold, or
degraded and falling), or when feature drift is broad: on at least ``min_drift_days`` of the last
``lookback_days`` dates the share of features with PSI >= 0.25 exceeded the drift threshold.
Requiring several days keeps one noisy day from triggering a retrain.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from axion_pipeline.ml.config import MonitoringConfig

LOOKBACK_DAYS = 10
MIN_DRIFT_DAYS = 3


@dataclass(frozen=True)
class RetrainingDecision:
    retrain: bool
    reason: str
    as_of: pd.Timestamp | None


def retraining_decision(
    health: pd.DataFrame, drift: pd.DataFrame, lookback_days: int = LOOKBACK_DAYS, min_drift_days: int = MIN_DRIFT_DAYS
) -> RetrainingDecision:
    """``health``: model_health rows (date, needs_retraining, status, rolling_ic_3m); ``drift``:
    drift_report rows (date, feature, psi, status, overall_drift)."""
    dates = [
        d
        for d in (health["date"].max() if len(health) else None, drift["date"].max() if len(drift) else None)
        if d is not None
    ]
    as_of = pd.Timestamp(max(dates)) if dates else None
    reasons = []
    if len(health):
        last = health.sort_values("date").iloc[-1]
        if bool(last["needs_retraining"]):
            reasons.append(
                f"model health {last['status']} on {pd.Timestamp(last['date']).date()} "
                f"(rolling 3-month IC {last['rolling_ic_3m']:.4f})"
            )
    if len(drift):
        per_day = drift.groupby("date")["overall_drift"].first().sort_index().tail(lookback_days)
        if int(per_day.sum()) >= min_drift_days:
            worst = drift.loc[drift["date"] == per_day.index[-1]].nlargest(3, "psi")["feature"].tolist()
            reasons.append(
                f"feature drift on {int(per_day.sum())} of the last {len(per_day)} days (worst: {', '.join(worst)})"
            )
    if reasons:
        return RetrainingDecision(True, "; ".join(reasons), as_of)
    # say what the health is: "unknown" (too few matured dates) is not "healthy"
    status = f"model health {health.sort_values('date').iloc[-1]['status']}" if len(health) else "no model health yet"
    return RetrainingDecision(False, f"no retrain: {status}, no broad drift", as_of)


def describe_rule(
    config: MonitoringConfig | None = None, lookback_days: int = LOOKBACK_DAYS, min_drift_days: int = MIN_DRIFT_DAYS
) -> str:
    """The rule of ``retraining_decision`` with the thresholds of ``config`` (the monitoring
    assets' config), in words: text built from the figures in force cannot go stale."""
    cfg = config if config is not None else MonitoringConfig()
    return (
        f"Retrain when the latest model health needs it (rolling {cfg.rolling_window_days}-day rank IC "
        f"below {cfg.retrain_ic_threshold:g}: critical; or below {cfg.min_ic_healthy:g} and falling: degraded; "
        f"judged once {cfg.min_ic_observations} daily ICs have matured), or when drift was broad on at least "
        f"{min_drift_days} of the last {lookback_days} days (more than {cfg.drift_share_threshold:.0%} of the "
        f"features at PSI >= {cfg.psi_critical:g}; coverage changes and shifts to a level "
        f"training days had are not counted)."
    )
