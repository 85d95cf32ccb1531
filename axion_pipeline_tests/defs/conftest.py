"""Dagster-layer tests run on a small generated market and a temporary warehouse.

The partitions definition is built when ``axion_pipeline.defs`` is imported, from the environment,
so the small market is configured here before any test module imports it.
"""

from __future__ import annotations

import os

os.environ.pop("AXION_DATA_DIR", None)
os.environ["AXION_SIM_TICKERS"] = "40"
os.environ["AXION_SIM_START"] = "2021-01-04"
os.environ["AXION_SIM_END"] = "2023-06-30"
os.environ["AXION_SIM_SEED"] = "11"
# the small market has ~270 usable days: two short walk-forward folds
os.environ["AXION_WF_TRAIN_DAYS"] = "120"
os.environ["AXION_WF_TEST_DAYS"] = "21"
os.environ["AXION_WF_FOLDS"] = "2"
os.environ["DAGSTER_EVENT_BATCH_SIZE"] = "10000"
os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"

import dagster as dg  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def warehouse(tmp_path):
    return str(tmp_path / "test.duckdb")


@pytest.fixture
def defs(warehouse):
    from axion_pipeline.definitions import build_definitions

    return build_definitions(warehouse=warehouse)


@pytest.fixture
def instance(tmp_path):
    """A temporary instance with the project's batching event-log storage (as in dagster.yaml)."""
    overrides = {"event_log_storage": {"module": "axion_pipeline.defs.storage",
                                       "class": "BatchingSqliteEventLogStorage",
                                       "config": {"base_dir": str(tmp_path / "event_log")}}}
    with dg.instance_for_test(overrides=overrides) as inst:
        yield inst


def run_job(defs, instance, job_name: str, partition_key: str | None = None, key_range: tuple[str, str] | None = None):
    job = defs.resolve_job_def(job_name)
    tags = {}
    if key_range:
        tags = {"dagster/asset_partition_range_start": key_range[0], "dagster/asset_partition_range_end": key_range[1]}
    result = job.execute_in_process(instance=instance, partition_key=partition_key, tags=tags, raise_on_error=True)
    assert result.success
    return result


def check_results(result) -> dict[str, bool]:
    """check name -> passed, for every check evaluated in a run."""
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
