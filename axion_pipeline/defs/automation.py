"""Schedules and sensors: the daily run of the next trading day not yet materialized,
drift/health-driven retraining, and a monthly retraining schedule."""

from collections.abc import Callable

import dagster as dg
import duckdb
import pandas as pd

from axion_pipeline.defs.monitoring.assets import MONITORING
from axion_pipeline.defs.resources import Warehouse
from axion_pipeline.ml.retraining import LOOKBACK_DAYS, MIN_DRIFT_DAYS, describe_rule


def next_day_to_run(instance: dg.DagsterInstance, asset_keys, candidates: list[str]) -> str | None:
    """The earliest of ``candidates`` (partition keys in order) that some asset of ``asset_keys``
    has not materialized, or None when every asset holds every candidate."""
    done = None
    for key in asset_keys:
        have = instance.get_materialized_partitions(key)
        done = have if done is None else done & have
    return next((k for k in candidates if k not in (done or set())), None)


def build_automation(daily_assets: list, retraining_assets: list, live_keys: Callable[[], list[str]]):
    """Jobs, schedules and sensors over the given daily-partitioned assets and retraining asset keys;
    ``live_keys`` gives the trading days of the live span (the production models' out-of-sample days)."""
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
    daily_keys = [key for asset in daily_assets for key in asset.keys]

    @dg.schedule(
        cron_schedule="0 0 * * 1-5",
        job=live_daily_job,
        execution_timezone="UTC",
        description="Each weekday at 00:00 UTC (after the previous US close): runs the earliest trading day "
        "of the live span that has ended and that live_daily_job has not fully materialized. Up to date, "
        "that is the day that just ended; after downtime it catches up one day a tick, oldest first (a "
        "day's lookbacks need the days before it); on a finished history (the generated market) it "
        "walks through the live span days not yet run, then skips saying the span is complete.",
    )
    def daily_schedule(context: dg.ScheduleEvaluationContext):
        try:
            span = live_keys()
        except dg.Failure as failure:  # no walk-forward plan fits the history: no live span
            return dg.SkipReason(str(failure.description))
        tick = pd.Timestamp(context.scheduled_execution_time or pd.Timestamp.now("UTC"))
        tick = tick.tz_convert(None) if tick.tzinfo is not None else tick
        ended = [k for k in span if pd.Timestamp(k) < tick.normalize()]
        key = next_day_to_run(context.instance, daily_keys, ended)
        if key is None:
            last = ended[-1] if ended else "none"
            return dg.SkipReason(
                f"every ended trading day of the live span is materialized ({span[0] if span else 'none'} .. "
                f"{last}); the next run waits for a newer trading day in the source"
            )
        return dg.RunRequest(partition_key=key, tags={"axion/trigger": "daily_schedule"})

    monthly_retraining = dg.ScheduleDefinition(
        name="monthly_retraining_schedule",
        job=production_retraining_job,
        cron_schedule="0 6 1 * *",
        description="First of the month, 06:00 UTC: retrain the production models whatever the monitors say.",
    )

    @dg.sensor(
        job=production_retraining_job,
        minimum_interval_seconds=3600,
        description=f"Requests production_retraining_job, at most once per monitored day. {describe_rule(MONITORING)}",
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
        decision = retraining_decision(health, drift, lookback_days=LOOKBACK_DAYS, min_drift_days=MIN_DRIFT_DAYS)
        if not decision.retrain:
            return dg.SkipReason(decision.reason)
        return dg.RunRequest(
            run_key=f"retrain-{decision.as_of.date()}", tags={"axion/retrain_reason": decision.reason[:200]}
        )

    return [live_daily_job, production_retraining_job], [daily_schedule, monthly_retraining], [retraining_sensor]
