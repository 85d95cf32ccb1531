"""Running the jobs on a distributed engine: the same assets and jobs with another executor.

The default code location (``axion_pipeline.definitions``) keeps Dagster's default executor
(multiprocess: one process per step; the ``duckdb_warehouse`` pool queues the steps that touch the
warehouse). This module builds the same Definitions with another executor, for a Dask cluster or
Kubernetes, without changing the default:

- ``dask_defs``: a second code location whose jobs run their steps on Dask (a local cluster of
  ``AXION_DASK_WORKERS`` worker processes, or the scheduler at ``AXION_DASK_SCHEDULER``), e.g.
  ``dagster dev -m axion_pipeline.defs.executors -a dask_defs``;
- ``dask_job(job_name, ...)``: one job bound to a Dask executor, and ``reconstructable_dask_job``
  to hand it to ``dg.execute_job`` (Dask workers rebuild the job in their own processes);
- ``DASK_RUN_CONFIG`` / ``K8S_RUN_CONFIG``: the ``execution`` run config of the Dask executor and
  of ``dagster_k8s.k8s_job_executor`` (set as a job's ``executor_def``, dagster-k8s installed).

Units of parallelism: the steps of one run (the four fold models of a ``training_job`` run, the
unpartitioned market tables), and the runs themselves (one run per walk-forward fold, one per range
of trading days), which the run queue (``max_concurrent_runs`` in dagster_instance.yaml) spreads over run
workers.

DuckDB has one writer process at a time. Dagster's pools (``duckdb_warehouse``, one slot) are
enforced by the multiprocess and step-delegating executors (Kubernetes, Docker) but not by
``dagster-dask``'s executor, which also fails on current Dask (it hands Dagster records to
``Client.submit``, which walks tuples). ``dask_executor`` here is dagster-dask's executor with the same
config, fixed for that, and holding a cluster-wide ``distributed.Semaphore`` per pool (limit from the
instance's ``concurrency.pools``) around each step of a limited pool: a fork on dagster-dask's
internals, in ``axion_pipeline.defs.adapters.dask_executor``. Needs the ``dagster-dask`` package (in the
dev dependency group).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dagster as dg

from axion_pipeline.project import ProjectSettings

# ``execution`` run config of a job whose executor is the Dask executor (launchpad or YAML).
DASK_RUN_CONFIG: dict[str, Any] = {
    "execution": {"config": {"cluster": {"local": {"n_workers": 2, "processes": True}}}},
}
DASK_EXISTING_CLUSTER_RUN_CONFIG: dict[str, Any] = {
    "execution": {"config": {"cluster": {"existing": {"address": "tcp://dask-scheduler:8786"}}}},
}
# ``execution`` run config of ``dagster_k8s.k8s_job_executor`` (one Kubernetes Job per step). It is a
# step-delegating executor: it claims pool slots, so the ``duckdb_warehouse`` pool still applies
# (but every pod needs the shared warehouse: DuckDB on a local disk does not cross pods).
K8S_RUN_CONFIG: dict[str, Any] = {
    "execution": {
        "config": {
            "job_namespace": "axion",
            "max_concurrent": 4,
            "env_secrets": ["axion-warehouse-credentials"],
            "env_vars": ["AXION_WAREHOUSE", "AXION_DATA_DIR"],
            "step_k8s_config": {
                "container_config": {
                    "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}
                }
            },
        }
    },
}


def _build_dask_executor() -> dg.ExecutorDefinition:
    from axion_pipeline.defs.adapters.dask_executor import pool_aware_dask_executor  # needs dagster-dask

    return pool_aware_dask_executor


def local_dask_executor(n_workers: int = 2, processes: bool = True) -> dg.ExecutorDefinition:
    """The Dask executor preconfigured with a local cluster of ``n_workers`` workers (one thread
    each: dagster-dask forces that for local clusters)."""
    return _build_dask_executor().configured(
        {"cluster": {"local": {"n_workers": n_workers, "processes": processes}}}, name="dask_local"
    )


def scheduler_dask_executor(address: str) -> dg.ExecutorDefinition:
    """The Dask executor connected to a running Dask scheduler (``tcp://host:8786``)."""
    return _build_dask_executor().configured({"cluster": {"existing": {"address": address}}}, name="dask_existing")


def dask_executor() -> dg.ExecutorDefinition:
    """The Dask executor, configured by run config (``DASK_RUN_CONFIG``)."""
    return _build_dask_executor()


def definitions_with_executor(executor: dg.ExecutorDefinition, settings: ProjectSettings) -> dg.Definitions:
    """The project's Definitions (assets, checks, jobs, automation, resources) with ``executor`` as
    every job's executor."""
    from axion_pipeline.definitions import build_definitions

    base = build_definitions(settings)
    return dg.Definitions(
        assets=base.assets,
        asset_checks=base.asset_checks,
        jobs=base.jobs,
        schedules=base.schedules,
        sensors=base.sensors,
        resources=base.resources,
        executor=executor,
    )


@lru_cache(maxsize=16)
def dask_job(
    job_name: str, settings_json: str, n_workers: int = 2, processes: bool = True, address: str | None = None
) -> dg.JobDefinition:
    """Job ``job_name`` of the project (settings as ``ProjectSettings.to_json``) with a Dask executor:
    a local cluster, or ``address``'s. Cached: a Dask worker rebuilds the job for every step it runs."""
    executor = scheduler_dask_executor(address) if address else local_dask_executor(n_workers, processes)
    return definitions_with_executor(executor, ProjectSettings.from_json(settings_json)).resolve_job_def(job_name)


def reconstructable_dask_job(job_name: str, settings: ProjectSettings, **kwargs: Any):
    """``dask_job(job_name, settings, **kwargs)`` in a form Dask workers can rebuild (for
    ``dg.execute_job``); ``kwargs`` must be JSON-serialisable."""
    return dg.build_reconstructable_job(
        __name__, "dask_job", reconstructable_args=(job_name, settings.to_json()), reconstructable_kwargs=kwargs
    )


@dg.definitions
def dask_defs() -> dg.Definitions:
    """Code location with every job on Dask: ``AXION_DASK_SCHEDULER`` (address of a running scheduler)
    or a local cluster of ``AXION_DASK_WORKERS`` (default 2) worker processes."""
    settings = ProjectSettings.from_env()
    executor = (
        scheduler_dask_executor(settings.dask_scheduler)
        if settings.dask_scheduler
        else local_dask_executor(settings.dask_workers)
    )
    return definitions_with_executor(executor, settings)
