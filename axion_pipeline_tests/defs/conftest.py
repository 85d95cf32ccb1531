"""Dagster-layer tests run on a small generated market and a temporary warehouse.

The settings are explicit objects (``small_settings``): nothing depends on the environment or on
import order. Tests that start other processes pass ``settings.to_env()`` to them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from axion_pipeline.data.simulator.config import SimulationConfig
from axion_pipeline.ml.config import WalkForwardConfig
from axion_pipeline.project import ProjectSettings

REPO = Path(__file__).resolve().parents[2]

# the small market has ~270 usable days: two short walk-forward folds
SMALL_MARKET = SimulationConfig(seed=11, n_tickers=40, start="2021-01-04", end="2023-06-30")
SMALL_WALK_FORWARD = WalkForwardConfig(n_splits=2, train_size=120, test_size=21, validation_size=21)


def small_settings(warehouse: str) -> ProjectSettings:
    """The small market, its history built in one run by ``run_all`` (the product splits it into
    300-day runs, each recording one check result per day: about 45 ms a day over 15 checks, which
    every test that builds the history would pay; the split is tested in test_run_all.py, the
    per-day results on ranges of at most 300 days in test_history.py and test_dagster_adapters.py)."""
    return ProjectSettings(
        simulation=SMALL_MARKET, walk_forward=SMALL_WALK_FORWARD, warehouse=warehouse, backfill_max_days=100_000
    )


@pytest.fixture
def warehouse(tmp_path):
    return str(tmp_path / "test.duckdb")


@pytest.fixture
def settings(warehouse) -> ProjectSettings:
    return small_settings(warehouse)


@pytest.fixture
def project(settings):
    from axion_pipeline.defs.project import DagsterProject

    return DagsterProject.from_settings(settings)


@pytest.fixture
def trading_days(project):
    return project.trading_days


@pytest.fixture
def defs(settings):
    from axion_pipeline.definitions import build_definitions

    return build_definitions(settings)


def child_env(settings: ProjectSettings, dagster_home) -> dict[str, str]:
    """The environment of a child process (``make run``, ``dagster``) that builds ``settings``."""
    return {
        **os.environ,
        **settings.to_env(),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_EVENT_BATCH_SIZE": "10000",
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    }


def batching_instance(root):
    """A temporary instance with the project's batching event-log storage (as in dagster.yaml),
    its event log under ``root`` (a context manager)."""
    overrides = {
        "event_log_storage": {
            "module": "axion_pipeline.defs.storage",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(Path(root) / "event_log")},
        }
    }
    return dg.instance_for_test(overrides=overrides)


@pytest.fixture
def instance(tmp_path):
    """A temporary instance with the project's batching event-log storage (as in dagster.yaml)."""
    with batching_instance(tmp_path) as inst:
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
    """check name -> passed, for every check evaluated in a run (a range run evaluates a check once
    per partition: passed only when every partition passed)."""
    out: dict[str, bool] = {}
    for e in result.all_events:
        if e.event_type_value == "ASSET_CHECK_EVALUATION":
            data = e.event_specific_data
            out[data.check_name] = out.get(data.check_name, True) and data.passed
    return out


def run_at_once(
    commands: dict[str, list[str]], env: dict[str, str], log_dir, timeout: float
) -> dict[str, tuple[int, str]]:
    """Start every command at once and wait for all: name -> (return code, output). Output goes to
    files in ``log_dir``, not pipes: a pipe read only after another process ends fills up, blocks
    its writer (a Dagster step holding the warehouse pool slot) and the runs then wait on each other."""
    logs = {name: Path(log_dir) / f"{name}.log" for name in commands}
    procs = {}
    for name, command in commands.items():
        with open(logs[name], "w") as out:
            procs[name] = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    for proc in procs.values():
        proc.wait(timeout=timeout)
    return {name: (proc.returncode, logs[name].read_text()) for name, proc in procs.items()}
