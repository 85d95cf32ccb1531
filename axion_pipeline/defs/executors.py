"""Running the jobs on several machines: the same assets and jobs on Celery workers.

The default code location (``axion_pipeline.definitions``) keeps Dagster's default executor
(multiprocess: one process per step; the ``duckdb_warehouse`` pool queues the steps that touch the
warehouse file). This module builds the same Definitions for a cluster, without changing the default:

- ``celery_defs``: a second code location whose jobs run each step as a task of dagster-celery's
  executor on whichever Celery worker takes it (broker ``AXION_CELERY_BROKER``, results
  ``AXION_CELERY_BACKEND``), with the warehouse as Parquet partitions and the model store under
  ``AXION_SHARED_DIR`` (``resources.build_shared_resources``), e.g.
  ``dagster dev -m axion_pipeline.defs.executors -a celery_defs``, ``DAGSTER_HOME`` holding
  ``deploy/celery/dagster.yaml`` (the instance on Postgres);
- ``celery_job(job_name, ...)``: one job of that location, and ``reconstructable_celery_job`` to hand
  it to ``dg.execute_job`` (each worker rebuilds the job from the same arguments);
- ``K8S_RUN_CONFIG``: the ``execution`` run config of ``dagster_k8s.k8s_job_executor``, the
  Kubernetes path (not runnable here: no container engine).

Workers are plain Celery workers of dagster-celery's app, started with the project installed:
``celery -A dagster_celery.app -b $AXION_CELERY_BROKER --result-backend $AXION_CELERY_BACKEND worker
-Q dagster -c 1``. A task names the job it belongs to by its origin, which the worker imports: a
run of ``celery_defs`` (launched from the UI or the daemon) rebuilds the location from the
worker's ``AXION_*`` variables, so workers need the webserver's; a run of
``reconstructable_celery_job`` carries the settings in the task (the job's arguments), so workers
need none. The instance travels in the task too (its ref: Postgres, reachable from every machine),
and the data is in the shared folder.

Units of parallelism: the steps of one run (the four fold models of a ``training_job`` run), and
the runs themselves (one per walk-forward fold, one per chunk of trading days of a backfill),
whose steps all go to the same queue. The Parquet warehouse has no one-writer rule (each step
replaces whole files of its own partitions), so the Postgres instance of this location sets no
pool limit; dagster-celery's executor claims pool slots, so a limit set with ``dagster instance
concurrency set duckdb_warehouse N`` would still apply.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import dagster as dg

from axion_pipeline.project import ProjectSettings

# ``execution`` run config of ``dagster_k8s.k8s_job_executor`` (one Kubernetes Job per step). It is a
# step-delegating executor: it claims pool slots like the Celery one. Every pod mounts the shared
# folder of ``build_shared_resources`` (a ReadWriteMany volume) and reaches the Postgres instance.
K8S_RUN_CONFIG: dict[str, Any] = {
    "execution": {
        "config": {
            "job_namespace": "axion",
            "max_concurrent": 4,
            "env_secrets": ["axion-dagster-postgres"],
            "env_vars": ["AXION_SHARED_DIR", "AXION_DATA_DIR"],
            "step_k8s_config": {
                "container_config": {
                    "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}
                }
            },
        }
    },
}


def celery_executor(broker: str, backend: str | None = None) -> dg.ExecutorDefinition:
    """dagster-celery's executor on ``broker`` (results in ``backend``, default the broker): each step
    a task on the ``dagster`` queue, run by whichever worker takes it."""
    from dagster_celery import celery_executor as upstream

    return upstream.configured({"broker": broker, "backend": backend or broker}, name="celery")


def definitions_with_executor(
    executor: dg.ExecutorDefinition, settings: ProjectSettings, resources: dict[str, Any] | None = None
) -> dg.Definitions:
    """The project's Definitions (assets, checks, jobs, automation) with ``executor`` as every job's
    executor, and ``resources`` in place of the default ones when given."""
    from axion_pipeline.definitions import build_definitions

    base = build_definitions(settings)
    return dg.Definitions(
        assets=base.assets,
        asset_checks=base.asset_checks,
        jobs=base.jobs,
        schedules=base.schedules,
        sensors=base.sensors,
        resources=resources if resources is not None else base.resources,
        executor=executor,
    )


def celery_definitions(settings: ProjectSettings) -> dg.Definitions:
    """Every job on Celery workers, the warehouse and models under ``settings.shared_dir``."""
    from axion_pipeline.defs.resources import build_shared_resources

    if not settings.shared_dir or not settings.celery_broker:
        raise dg.DagsterInvariantViolationError(
            "the Celery code location needs AXION_SHARED_DIR (a folder every worker mounts) and "
            "AXION_CELERY_BROKER (e.g. redis://broker:6379/0)"
        )
    return definitions_with_executor(
        celery_executor(settings.celery_broker, settings.celery_backend),
        settings,
        build_shared_resources(settings, settings.shared_dir),
    )


@lru_cache(maxsize=16)
def celery_job(job_name: str, settings_json: str) -> dg.JobDefinition:
    """Job ``job_name`` of the Celery location for the settings (``ProjectSettings.to_json``). Cached:
    a worker rebuilds the job for every step it runs."""
    return celery_definitions(ProjectSettings.from_json(settings_json)).resolve_job_def(job_name)


def reconstructable_celery_job(job_name: str, settings: ProjectSettings):
    """``celery_job(job_name, settings)`` in the form workers rebuild (for ``dg.execute_job``)."""
    return dg.build_reconstructable_job(__name__, "celery_job", reconstructable_args=(job_name, settings.to_json()))


@dg.definitions
def celery_defs() -> dg.Definitions:
    """Code location with every job on Celery workers (``AXION_SHARED_DIR``, ``AXION_CELERY_BROKER``)."""
    return celery_definitions(ProjectSettings.from_env())
