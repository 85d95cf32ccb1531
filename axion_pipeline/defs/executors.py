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
of trading days), which the run queue (``max_concurrent_runs`` in dagster.yaml) spreads over run
workers.

DuckDB has one writer process at a time. Dagster's pools (``duckdb_warehouse``, one slot) are
enforced by the multiprocess and step-delegating executors (Kubernetes, Docker) but not by
``dagster-dask``'s executor, which also fails on current Dask (it hands Dagster records to
``Client.submit``, which walks tuples). ``dask_executor`` here is dagster-dask's executor with the same
config, fixed for that, and holding a cluster-wide ``distributed.Semaphore`` per pool (limit from the
instance's ``concurrency.pools``) around each step of a limited pool. Needs the ``dagster-dask``
package (in the dev dependency group).
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
    "execution": {"config": {
        "job_namespace": "axion",
        "max_concurrent": 4,
        "env_secrets": ["axion-warehouse-credentials"],
        "env_vars": ["AXION_WAREHOUSE", "AXION_DATA_DIR"],
        "step_k8s_config": {"container_config": {"resources": {
            "requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"memory": "16Gi"}}}},
    }},
}


class _StepCall:
    """Arguments of one step for a Dask worker. Dask (2024.12 on) walks tuple arguments of
    ``Client.submit`` looking for futures and trips over Dagster's records (``Iteration is not
    allowed on @record``), so they travel in this plain object and are pickled as a whole."""

    def __init__(self, recon_job, dagster_run, run_config, step_key, instance_ref, known_state, pool, pool_limit):
        self.recon_job, self.dagster_run, self.run_config = recon_job, dagster_run, run_config
        self.step_key, self.instance_ref, self.known_state = step_key, instance_ref, known_state
        self.pool, self.pool_limit = pool, pool_limit


def _execute_step(dependencies, call: _StepCall):
    """On a Dask worker: run one step, holding a lease of the cluster-wide semaphore of its pool."""
    from dagster_dask.executor import query_on_dask_worker

    def run():
        return query_on_dask_worker(dependencies, call.recon_job, call.dagster_run, call.run_config,
                                    [call.step_key], call.instance_ref, call.known_state)

    if not call.pool or not call.pool_limit:
        return run()
    from distributed import Semaphore

    with Semaphore(max_leases=call.pool_limit, name=f"dagster-pool-{call.pool}"):
        return run()


def _pool_limit(instance, pool: str | None) -> int | None:
    """The instance's slot count of ``pool`` (dagster.yaml ``concurrency.pools``), None when unlimited."""
    if not pool:
        return None
    limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    return limits.get(pool, instance.global_op_concurrency_default_limit)


_CLUSTERS = {
    "local": ("dask.distributed", "LocalCluster"), "ssh": ("dask.distributed", "SSHCluster"),
    "yarn": ("dask_yarn", "YarnCluster"), "pbs": ("dask_jobqueue", "PBSCluster"),
    "moab": ("dask_jobqueue", "MoabCluster"), "sge": ("dask_jobqueue", "SGECluster"),
    "lsf": ("dask_jobqueue", "LSFCluster"), "slurm": ("dask_jobqueue", "SLURMCluster"),
    "oar": ("dask_jobqueue", "OARCluster"), "kube": ("dask_kubernetes", "KubeCluster"),
}


def _pool_aware_executor_class():
    import dask.distributed
    from dagster._core.errors import raise_execution_interrupts
    from dagster._utils import iterate_with_context
    from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements

    class PoolAwareDaskExecutor(DaskExecutor):
        """dagster-dask's executor, fixed for current Dask and made to honour Dagster pools:
        arguments travel in ``_StepCall``; a step of a limited pool holds a lease of a cluster-wide
        ``distributed.Semaphore`` (limit from the instance); task keys carry the run id so that
        concurrent runs of one job on a shared cluster do not collide (dagster-io/dagster#21418)."""

        def execute(self, plan_context, execution_plan):
            instance = plan_context.instance
            if not instance.is_persistent:
                raise dg.DagsterInvariantViolationError("Dask execution requires a persistent DagsterInstance")
            job_name, run_id = plan_context.job_name, plan_context.dagster_run.run_id
            if self.cluster_type == "existing":
                cluster = self.cluster_configuration["address"]
            else:
                module, name = _CLUSTERS[self.cluster_type]
                cluster = getattr(__import__(module, fromlist=[name]), name)(**self.build_dict(job_name))
            with dask.distributed.Client(cluster) as client:
                futures = {}
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        dependencies = [futures[key] for step_input in step.step_inputs
                                        for key in step_input.dependency_keys]
                        call = _StepCall(plan_context.reconstructable_job, plan_context.dagster_run,
                                         plan_context.run_config, step.key, instance.get_ref(),
                                         execution_plan.known_state, step.pool, _pool_limit(instance, step.pool))
                        futures[step.key] = client.submit(
                            _execute_step, dependencies, call, key=f"{job_name}.{step.key}.{run_id}",
                            resources=get_dask_resource_requirements(step.tags), pure=False)
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _, events in iterate_with_context(raise_execution_interrupts, done):
                    yield from events

    return PoolAwareDaskExecutor


def _build_dask_executor():
    from dagster_dask import dask_executor as upstream

    @dg.executor(name="dask", config_schema=upstream.config_schema,
                 requirements=dg.multiple_process_executor_requirements())
    def dask_executor(init_context):
        """Steps on a Dask cluster (dagster-dask's config), Dagster pools enforced cluster-wide."""
        ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
        return _pool_aware_executor_class()(cluster_type, cluster_configuration)

    return dask_executor


def local_dask_executor(n_workers: int = 2, processes: bool = True) -> dg.ExecutorDefinition:
    """The Dask executor preconfigured with a local cluster of ``n_workers`` workers (one thread
    each: dagster-dask forces that for local clusters)."""
    return _build_dask_executor().configured(
        {"cluster": {"local": {"n_workers": n_workers, "processes": processes}}}, name="dask_local")


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
    return dg.Definitions(assets=base.assets, asset_checks=base.asset_checks, jobs=base.jobs,
                          schedules=base.schedules, sensors=base.sensors, resources=base.resources,
                          executor=executor)


@lru_cache(maxsize=16)
def dask_job(job_name: str, settings_json: str, n_workers: int = 2, processes: bool = True,
             address: str | None = None) -> dg.JobDefinition:
    """Job ``job_name`` of the project (settings as ``ProjectSettings.to_json``) with a Dask executor:
    a local cluster, or ``address``'s. Cached: a Dask worker rebuilds the job for every step it runs."""
    executor = scheduler_dask_executor(address) if address else local_dask_executor(n_workers, processes)
    return definitions_with_executor(executor, ProjectSettings.from_json(settings_json)).resolve_job_def(job_name)


def reconstructable_dask_job(job_name: str, settings: ProjectSettings, **kwargs: Any):
    """``dask_job(job_name, settings, **kwargs)`` in a form Dask workers can rebuild (for
    ``dg.execute_job``); ``kwargs`` must be JSON-serialisable."""
    return dg.build_reconstructable_job(__name__, "dask_job", reconstructable_args=(job_name, settings.to_json()),
                                        reconstructable_kwargs=kwargs)


@dg.definitions
def dask_defs() -> dg.Definitions:
    """Code location with every job on Dask: ``AXION_DASK_SCHEDULER`` (address of a running scheduler)
    or a local cluster of ``AXION_DASK_WORKERS`` (default 2) worker processes."""
    settings = ProjectSettings.from_env()
    executor = (scheduler_dask_executor(settings.dask_scheduler) if settings.dask_scheduler
                else local_dask_executor(settings.dask_workers))
    return definitions_with_executor(executor, settings)
