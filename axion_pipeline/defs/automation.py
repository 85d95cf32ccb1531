"""Schedules and sensors: the daily run of the next trading day not yet materialized, a replay of
the live span one day a tick (a finished history's demo of daily operation), the serving run that
follows each daily run on live-span days, drift/health-driven retraining, and a monthly retraining
schedule."""

from collections.abc import Callable, Mapping

import dagster as dg
import duckdb
import pandas as pd

from axion_pipeline.defs.adapters.partition_results import RANGE_END, RANGE_START, range_tags
from axion_pipeline.defs.monitoring.assets import MONITORING
from axion_pipeline.defs.recovery import MAKE_RUN, TRIGGER_TAG
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


REPLAY = "live_replay_schedule"


def next_replay_day(span: list[str], last: str | None) -> str:
    """The live-span day after ``last`` (the replay's previous day); the first day to start with,
    after the last one, or when ``last`` is no longer in the span."""
    if last not in span or last == span[-1]:
        return span[0]
    return span[span.index(last) + 1]


def last_replayed(instance: dg.DagsterInstance) -> str | None:
    """The partition of the replay schedule's latest run: its cursor, kept in the run history."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TRIGGER_TAG: REPLAY}), limit=1)
    return runs[0].tags.get("dagster/partition") if runs else None


def live_days_of_run(tags: Mapping[str, str], span: list[str]) -> list[str]:
    """The live-span days a run covered: its partition, or the days of its partition range."""
    if "dagster/partition" in tags:
        return [k for k in span if k == tags["dagster/partition"]]
    start, end = tags.get(RANGE_START), tags.get(RANGE_END)
    if start is None or end is None:
        return []
    return [k for k in span if start <= k <= end]


def build_automation(
    daily_job,
    inference_job,
    daily_assets: list,
    retraining_assets: list,
    live_keys: Callable[[], list[str]],
):
    """Schedules and sensors over the history's ``daily_job`` and the live span's ``inference_job``
    (two jobs: Dagster runs one partitions definition per job, and the serving assets' partitions
    start at the live span); ``daily_assets`` are every daily-partitioned asset of both, and
    ``live_keys`` gives the trading days of the live span (the production models' out-of-sample days)."""
    production_retraining_job = dg.define_asset_job(
        "production_retraining_job",
        selection=dg.AssetSelection.assets(*retraining_assets),
        description="Retrain the production models on the latest window and refresh the model store.",
    )
    daily_keys = [key for asset in daily_assets for key in asset.keys]

    @dg.schedule(
        cron_schedule="0 0 * * 1-5",
        job=daily_job,
        execution_timezone="UTC",
        description="Each weekday at 00:00 UTC (after the previous US close): runs daily_job on the earliest "
        "trading day of the live span that has ended and that the daily assets (history and serving) have not "
        "all materialized; live_serving_sensor then runs inference_job on it. Up to date, that is the day that "
        "just ended; after downtime it catches up one day a tick, oldest first (a day's lookbacks need the "
        "days before it); on a finished history (the generated market) it walks through the live span days "
        "not yet run, then skips saying the span is complete.",
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
        return dg.RunRequest(partition_key=key, tags={TRIGGER_TAG: "daily_schedule"})

    @dg.schedule(
        name=REPLAY,
        cron_schedule="0 0 * * 1-5",
        job=daily_job,
        execution_timezone="UTC",
        description="Replays the live span as if it were live: each weekday at 00:00 UTC, daily_job (then, "
        "through live_serving_sensor, inference_job) on the live-span day after the one this schedule ran last "
        "(the partition of its latest run, tagged axion/trigger), whether or not that day is materialized; "
        "after the last day it starts over. For a finished history (the generated market), where "
        "daily_schedule has nothing left to run.",
    )
    def live_replay_schedule(context: dg.ScheduleEvaluationContext):
        try:
            span = live_keys()
        except dg.Failure as failure:
            return dg.SkipReason(str(failure.description))
        if not span:
            return dg.SkipReason("the live span has no trading day")
        key = next_replay_day(span, last_replayed(context.instance))
        return dg.RunRequest(partition_key=key, tags={TRIGGER_TAG: REPLAY})

    @dg.run_status_sensor(
        name="live_serving_sensor",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[daily_job],
        request_job=inference_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each successful daily_job run that covered days of the live span (a schedule's day, "
        "a replay, a backfill launched from the UI), runs inference_job on those days: predictions, hybrid "
        "scores, regime, earnings, weights, health, drift and explanations. Runs of make run are left alone: "
        "the build runs inference_job itself. On by default, since nothing else serves a new day.",
    )
    def live_serving_sensor(context: dg.RunStatusSensorContext):
        tags = context.dagster_run.tags
        if tags.get(TRIGGER_TAG) == MAKE_RUN:
            run_id = context.dagster_run.run_id
            return dg.SkipReason(f"run {run_id} is part of make run, which serves the live span itself")
        try:
            days = live_days_of_run(tags, live_keys())
        except dg.Failure as failure:
            return dg.SkipReason(str(failure.description))
        if not days:
            return dg.SkipReason(f"run {context.dagster_run.run_id} covered no day of the live span")
        trigger = {TRIGGER_TAG: "live_serving_sensor", "axion/after_run": context.dagster_run.run_id}
        if len(days) == 1:
            return dg.RunRequest(partition_key=days[0], tags=trigger)
        return dg.RunRequest(tags={**trigger, **range_tags(days)})

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

    schedules = [daily_schedule, live_replay_schedule, monthly_retraining]
    return [production_retraining_job], schedules, [retraining_sensor, live_serving_sensor]
