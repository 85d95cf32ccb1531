"""The daily schedule, the serving sensor, the live partitions and the retraining sensor's
description, without running any asset: the instance is told which partitions exist (runless
materializations)."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from axion_pipeline.ml.config import MonitoringConfig
from axion_pipeline.ml.retraining import describe_rule


@pytest.fixture
def schedule_setup(defs, project):
    schedule = defs.resolve_schedule_def("daily_schedule")
    jobs = [defs.resolve_job_def(name) for name in ("daily_job", "inference_job")]
    keys = sorted({k for job in jobs for k in job.asset_layer.executable_asset_keys}, key=lambda k: k.to_user_string())
    with dg.instance_for_test() as instance:
        yield schedule, keys, instance, project.live_keys(), defs.get_repository_def()


def materialize(instance, keys, day: str, skip: dg.AssetKey | None = None) -> None:
    for key in keys:
        if key != skip:
            instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))


def tick(schedule, instance, repository, day: str):
    """The schedule's evaluation at 00:00 UTC of ``day``."""
    when = pd.Timestamp(day, tz="UTC").to_pydatetime()
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=repository
    ) as context:
        return schedule.evaluate_tick(context)


def requested(result) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def test_daily_schedule_walks_the_live_span_oldest_day_first(schedule_setup):
    schedule, keys, instance, live, repository = schedule_setup

    def run(day: str):
        return tick(schedule, instance, repository, day)

    assert len(live) > 5 and len(keys) > 10  # the job covers ingestion through monitoring
    after_the_span = (pd.Timestamp(live[-1]) + pd.offsets.BDay(1)).strftime("%Y-%m-%d")
    # nothing run yet: the first live day, not the last one (its lookbacks need the days before)
    assert requested(run(after_the_span)) == [live[0]]
    materialize(instance, keys, live[0])
    assert requested(run(after_the_span)) == [live[1]]
    # a day with one asset missing (a failed step) is run again
    materialize(instance, keys, live[1], skip=dg.AssetKey("shap_explanations"))
    assert requested(run(after_the_span)) == [live[1]]
    materialize(instance, keys, live[1])
    # a day that has not ended at the tick is never requested
    result = run(live[2])
    assert requested(result) == [] and "materialized" in result.skip_message
    assert requested(run(live[3])) == [live[2]]
    for day in live[2:]:
        materialize(instance, keys, day)
    result = run(after_the_span)
    assert requested(result) == []
    assert f"{live[0]} .. {live[-1]}" in result.skip_message


def test_retraining_sensor_states_its_thresholds(defs):
    description = defs.resolve_sensor_def("retraining_sensor").description
    assert describe_rule(MonitoringConfig()) in description
    for figure in ("PSI >= 0.25", "3 of the last 10 days", "20%", "below 0.02", "63 daily ICs"):
        assert figure in description, figure
    # the text follows the config: another threshold, another description
    assert "PSI >= 0.4" in describe_rule(MonitoringConfig(psi_critical=0.4))


def test_live_replay_schedule_advances_one_day_a_tick_and_starts_over(schedule_setup, defs):
    """The replay's cursor is the partition of its latest run: each tick asks for the next live
    day, materialized or not, and the first one again after the last."""
    from axion_pipeline.defs.automation import REPLAY, TRIGGER_TAG

    _, keys, instance, live, repository = schedule_setup
    replay = defs.resolve_schedule_def(REPLAY)
    for day in live:  # everything already built, as after `make run`
        materialize(instance, keys, day)
    after_the_span = (pd.Timestamp(live[-1]) + pd.offsets.BDay(1)).strftime("%Y-%m-%d")

    def run_tick() -> str:
        (request,) = tick(replay, instance, repository, after_the_span).run_requests
        assert request.tags[TRIGGER_TAG] == REPLAY
        # what the daemon does with the request: a run tagged with the partition
        instance.add_run(
            dg.DagsterRun(job_name="daily_job", tags={**request.tags, "dagster/partition": request.partition_key})
        )
        return request.partition_key

    assert [run_tick() for _ in range(3)] == live[:3]
    for _ in range(len(live) - 3):
        run_tick()
    assert run_tick() == live[0]  # after the last live day: from the start


def test_serving_assets_are_partitioned_by_the_live_span_only(defs, project):
    """Predictions and monitors exist only after the production models' window: their partitions
    are the live span's days (the UI shows them filled, not 97% missing); the history's are every
    trading day, and the jobs keep one partitions definition each."""
    live, history = project.live_keys(), project.trading_days.get_partition_keys()
    assert 5 < len(live) < len(history) and history[-len(live) :] == live
    inference = defs.resolve_job_def("inference_job")
    for key in inference.asset_layer.executable_asset_keys:
        partitions = defs.get_assets_def(key).partitions_def
        assert partitions is not None and partitions.get_partition_keys() == live, key
    for key in defs.resolve_job_def("daily_job").asset_layer.executable_asset_keys:
        assert defs.get_assets_def(key).partitions_def.get_partition_keys() == history, key
    # a live day's 80-day price lookback maps onto the history's partitions, holidays skipped alike
    mapping = defs.get_assets_def("earnings_predictions").get_partition_mapping(dg.AssetKey("prices"))
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        project.live_days.subset_with_partition_keys([live[0]]), project.live_days, project.trading_days
    ).partitions_subset.get_partition_keys()
    first = history.index(live[0])
    assert list(upstream) == history[first - 80 : first + 1]


def test_live_serving_sensor_serves_the_live_days_of_each_daily_run(defs, project):
    """A successful daily_job run on a live day (schedule, replay, UI backfill) is followed by
    inference_job on the same days; a run of make run, or one outside the live span, is not."""
    from axion_pipeline.defs.automation import MAKE_RUN, TRIGGER_TAG

    sensor = defs.resolve_sensor_def("live_serving_sensor")
    live, history = project.live_keys(), project.trading_days.get_partition_keys()
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING

    def evaluate(tags: dict[str, str]):
        with dg.instance_for_test() as instance:
            run = instance.add_run(dg.DagsterRun(job_name="daily_job", run_id="r1", tags=tags))
            event = dg.DagsterEvent(
                event_type_value="PIPELINE_SUCCESS", job_name="daily_job", message="", event_specific_data=None
            )
            with dg.build_run_status_sensor_context(
                sensor_name=sensor.name,
                dagster_instance=instance,
                dagster_run=run,
                dagster_event=event,
                repository_def=defs.get_repository_def(),
            ) as context:
                return sensor(context)

    one = evaluate({"dagster/partition": live[3]})
    assert one.partition_key == live[3] and one.tags[TRIGGER_TAG] == "live_serving_sensor"
    span = evaluate({"dagster/asset_partition_range_start": history[0], "dagster/asset_partition_range_end": live[2]})
    assert span.tags["dagster/asset_partition_range_start"] == live[0]
    assert span.tags["dagster/asset_partition_range_end"] == live[2]
    assert isinstance(evaluate({"dagster/partition": history[0]}), dg.SkipReason)
    assert isinstance(evaluate({"dagster/partition": live[3], TRIGGER_TAG: MAKE_RUN}), dg.SkipReason)
