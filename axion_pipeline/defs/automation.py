"""Schedules and sensors: the daily run of the newest trading day, drift/health-driven retraining,
and a monthly retraining schedule."""

import dagster as dg
import duckdb
import pandas as pd

from axion_pipeline.defs.resources import Warehouse

LOOKBACK_DAYS = 10


def build_automation(daily_assets: list, retraining_assets: list):
    """Jobs, schedules and sensors over the given daily-partitioned assets and retraining asset keys."""
    live_daily_job = dg.define_asset_job(
        "live_daily_job",
        selection=dg.AssetSelection.assets(*daily_assets),
        description="One trading day end to end: ingestion, factors, features, predictions, hybrid scores, "
        "regime, earnings, weights, health, drift and explanations.",
    )
    production_retraining_job = dg.define_asset_job(
        "production_retraining_job",
        selection=dg.AssetSelection.assets(*retraining_assets),
        description="Retrain the production models on the latest window and refresh the model store.",
    )
    daily_schedule = dg.build_schedule_from_partitioned_job(
        live_daily_job,
        name="daily_schedule",
        description="Each weekday at 00:00 UTC (after the previous US close): materializes the trading day "
        "that just ended, the newest partition.",
    )
    monthly_retraining = dg.ScheduleDefinition(
        name="monthly_retraining_schedule",
        job=production_retraining_job,
        cron_schedule="0 6 1 * *",
        description="First of the month, 06:00 UTC: retrain the production models whatever the monitors say.",
    )

    @dg.sensor(
        job=production_retraining_job,
        minimum_interval_seconds=3600,
        description="Requests production retraining when model health or feature drift crosses its threshold.",
    )
    def retraining_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse):
        from axion_pipeline.ml.retraining import retraining_decision

        try:
            health = warehouse.read("monitoring", "model_health")
            drift = warehouse.read(
                "monitoring",
                "drift_report",
                "date >= (select max(date) from monitoring.drift_report) - ?",
                [pd.Timedelta(days=2 * LOOKBACK_DAYS).to_pytimedelta()],
            )
        except (FileNotFoundError, duckdb.Error) as exc:  # no monitoring tables before the first daily run
            return dg.SkipReason(f"monitoring tables not readable yet: {type(exc).__name__}: {exc}")
        decision = retraining_decision(health, drift, lookback_days=LOOKBACK_DAYS)
        if not decision.retrain:
            return dg.SkipReason(decision.reason)
        return dg.RunRequest(
            run_key=f"retrain-{decision.as_of.date()}", tags={"axion/retrain_reason": decision.reason[:200]}
        )

    return [live_daily_job, production_retraining_job], [daily_schedule, monthly_retraining], [retraining_sensor]
