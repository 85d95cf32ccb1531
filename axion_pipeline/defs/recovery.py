"""Recover the Dagster instance after a runner process died (SIGKILL, OOM killer, power loss).

Why: every warehouse writer is in the ``duckdb_warehouse`` pool (one slot, see dagster_instance.yaml). A
run claims the slot for each step and frees it when the step ends; a process killed mid-step
never frees it, and its run stays STARTED forever. The next build would then wait for that slot
indefinitely. Dagster's daemon (run monitoring) handles runs it launched itself; runs executed in
process by ``run_all`` carry the runner's host, pid and process start time as tags, so a later
runner can tell that their process is gone, mark them failed and free their slots.

The warehouse itself needs no repair: each partition write replaces its rows in one DuckDB
transaction, so a killed step leaves either the old rows or the new ones.
"""

import os
import socket
from collections.abc import Mapping

import dagster as dg

HOST_TAG = "axion/runner_host"
PID_TAG = "axion/runner_pid"
STARTED_TAG = "axion/runner_started"  # process start time: a reused pid is not the same process

IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _process_started(pid: int) -> str | None:
    """The process's start time as text, or None when no such process exists."""
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # exists but belongs to someone else: treat as alive
        return "unknown"


def runner_tags() -> dict[str, str]:
    """Tags identifying this process, for the runs it executes in process."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: _process_started(pid) or ""}


def runner_is_gone(tags: Mapping[str, str]) -> bool:
    """True when a run's tags name a runner on this host that no longer exists."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False  # not ours, or launched elsewhere: the daemon's run monitoring owns it
    started = _process_started(int(tags[PID_TAG]))
    return started is None or (started != "unknown" and started != tags.get(STARTED_TAG))


def reap_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark in-flight runs whose runner died as failed, and free concurrency slots held by runs that
    have ended (or no longer exist). Returns the ids of the runs marked failed."""
    reaped = []
    for record in instance.get_run_records(
        filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={HOST_TAG: socket.gethostname()})
    ):
        run = record.dagster_run
        if runner_is_gone(run.tags):
            instance.report_run_failed(
                run,
                f"runner process {run.tags[PID_TAG]} on {run.tags[HOST_TAG]} is gone "
                "(killed or crashed); marked failed by the next runner",
            )
            reaped.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
    return reaped


def end_own_runs(instance: dg.DagsterInstance, message: str) -> list[str]:
    """Mark this process's in-flight runs canceled and free their pool slots: a stop signal that
    arrived while a run was being set up, before Dagster's own handlers took over, would otherwise
    leave it NOT_STARTED or STARTED until the next runner reaps it. Returns the run ids."""
    own = runner_tags()
    ended = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags=own)):
        instance.report_run_canceled(record.dagster_run, message)
        ended.append(record.dagster_run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in ended:
            storage.free_concurrency_slots_for_run(run_id)
    return ended
