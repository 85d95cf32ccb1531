"""Steps on a Dask cluster with Dagster's pools enforced cluster-wide: a fork of dagster-dask's executor.

``pool_aware_dask_executor`` takes dagster-dask's config. Its executor hands each step's arguments
to ``Client.submit`` in one plain object (Dask, 2024.12 on, walks tuple arguments and trips over
Dagster's records), holds a lease of a cluster-wide ``distributed.Semaphore`` per pool (limit from
the instance's ``concurrency.pools``) around each step of a limited pool, and puts the run id in
the task keys so that concurrent runs of one job on a shared cluster do not collide
(dagster-io/dagster#21418).

Private API: from ``dagster_dask.executor`` (not exported by ``dagster_dask``): ``DaskExecutor``
(``__init__(cluster_type, cluster_configuration)``, ``cluster_type``, ``cluster_configuration``,
``build_dict(job_name)``), ``query_on_dask_worker`` and ``get_dask_resource_requirements``; the
internal objects Dagster hands to ``Executor.execute``: ``PlanOrchestrationContext`` (``instance``,
``job_name``, ``dagster_run``, ``run_config``, ``reconstructable_job``), ``ExecutionPlan``
(``get_steps_to_execute_by_level``, ``known_state``) and ``ExecutionStep`` (``key``, ``tags``,
``pool``, ``step_inputs`` and their ``dependency_keys``); the pool limits of the instance
(``event_log_storage.get_pool_limits()``: ``PoolLimit.name``/``limit``, and
``global_op_concurrency_default_limit``). Why: ``dg.Executor`` is public but ``execute`` receives
only those internal objects, and the public ``dagster_dask.dask_executor`` neither honours pools
nor runs on current Dask. Waiting for results uses the public ``dg.raise_execution_interrupts``.

On a Dagster or dagster-dask upgrade, compare ``DaskExecutor.execute`` with
``PoolAwareDaskExecutor.execute`` (new arguments of ``query_on_dask_worker``, new steps), check the
names above, and run ``axion_pipeline_tests/defs/test_dask_executor.py``.
"""

from __future__ import annotations

import dagster as dg
import dask.distributed
from dagster_dask import dask_executor as _upstream
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

# dagster-dask's cluster types (config key -> module, class), "existing" (a scheduler address) aside
CLUSTERS = {
    "local": ("dask.distributed", "LocalCluster"),
    "ssh": ("dask.distributed", "SSHCluster"),
    "yarn": ("dask_yarn", "YarnCluster"),
    "pbs": ("dask_jobqueue", "PBSCluster"),
    "moab": ("dask_jobqueue", "MoabCluster"),
    "sge": ("dask_jobqueue", "SGECluster"),
    "lsf": ("dask_jobqueue", "LSFCluster"),
    "slurm": ("dask_jobqueue", "SLURMCluster"),
    "oar": ("dask_jobqueue", "OARCluster"),
    "kube": ("dask_kubernetes", "KubeCluster"),
}


class _StepCall:
    """Arguments of one step for a Dask worker, pickled as a whole (Dask walks tuple arguments of
    ``Client.submit`` looking for futures and fails on Dagster's records)."""

    def __init__(self, recon_job, dagster_run, run_config, step_key, instance_ref, known_state, pool, pool_limit):
        self.recon_job, self.dagster_run, self.run_config = recon_job, dagster_run, run_config
        self.step_key, self.instance_ref, self.known_state = step_key, instance_ref, known_state
        self.pool, self.pool_limit = pool, pool_limit


def _execute_step(dependencies, call: _StepCall):
    """On a Dask worker: run one step, holding a lease of the cluster-wide semaphore of its pool."""

    def run():
        return query_on_dask_worker(
            dependencies,
            call.recon_job,
            call.dagster_run,
            call.run_config,
            [call.step_key],
            call.instance_ref,
            call.known_state,
        )

    if not call.pool or not call.pool_limit:
        return run()
    with dask.distributed.Semaphore(max_leases=call.pool_limit, name=f"dagster-pool-{call.pool}"):
        return run()


def _pool_limit(instance, pool: str | None) -> int | None:
    """The instance's slot count of ``pool`` (dagster_instance.yaml ``concurrency.pools``), None when unlimited."""
    if not pool:
        return None
    limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}
    return limits.get(pool, instance.global_op_concurrency_default_limit)


def _with_interrupts(iterator):
    """The items of ``iterator``, each awaited where Dagster turns an interrupt into its own error
    (so that terminating a run stops the wait)."""
    while True:
        with dg.raise_execution_interrupts():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


class PoolAwareDaskExecutor(DaskExecutor):
    """dagster-dask's executor, fixed for current Dask, with run-id task keys and Dagster pools."""

    def execute(self, plan_context, execution_plan):
        instance = plan_context.instance
        if not instance.is_persistent:
            raise dg.DagsterInvariantViolationError("Dask execution requires a persistent DagsterInstance")
        job_name, run_id = plan_context.job_name, plan_context.dagster_run.run_id
        if self.cluster_type == "existing":
            cluster = self.cluster_configuration["address"]
        else:
            module, name = CLUSTERS[self.cluster_type]
            cluster = getattr(__import__(module, fromlist=[name]), name)(**self.build_dict(job_name))
        with dask.distributed.Client(cluster) as client:
            futures = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    dependencies = [
                        futures[key] for step_input in step.step_inputs for key in step_input.dependency_keys
                    ]
                    call = _StepCall(
                        plan_context.reconstructable_job,
                        plan_context.dagster_run,
                        plan_context.run_config,
                        step.key,
                        instance.get_ref(),
                        execution_plan.known_state,
                        step.pool,
                        _pool_limit(instance, step.pool),
                    )
                    futures[step.key] = client.submit(
                        _execute_step,
                        dependencies,
                        call,
                        key=f"{job_name}.{step.key}.{run_id}",
                        resources=get_dask_resource_requirements(step.tags),
                        pure=False,
                    )
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            for _, events in _with_interrupts(done):
                yield from events


@dg.executor(
    name="dask", config_schema=_upstream.config_schema, requirements=dg.multiple_process_executor_requirements()
)
def pool_aware_dask_executor(init_context):
    """Steps on a Dask cluster (dagster-dask's config), Dagster pools enforced cluster-wide."""
    ((cluster_type, cluster_configuration),) = init_context.executor_config["cluster"].items()
    return PoolAwareDaskExecutor(cluster_type, cluster_configuration)
