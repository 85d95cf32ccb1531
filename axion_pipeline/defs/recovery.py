"""Recover the Dagster instance after a runner process died (SIGKILL, OOM killer, power loss).

Why: every warehouse writer is in the ``duckdb_warehouse`` pool (one slot, see dagster.yaml). A
run claims the slot for each step and frees it when the step ends; a process killed mid-step
never frees it, and its run stays STARTED forever. The next build would then wait for that slot
indefinitely. Dagster's daemon (run monitoring) handles runs it launched itself; runs executed in
process by ``run_all`` carry the runner's host, pid and process start time in one readable tag
(``axion/runner``), so a later runner can tell that their process is gone, mark them failed and
free their slots.

The warehouse itself needs no repair: each partition write replaces its rows in one DuckDB
transaction, so a killed step leaves either the old rows or the new ones.
"""

import os
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime

import dagster as dg

RUNNER_TAG = "axion/runner"  # "make run on <host>, pid <pid>, started <process start, UTC>"
TRIGGER_TAG, MAKE_RUN = "axion/trigger", "make run"  # what started a run; the sensors read it too
_RUNNER = re.compile(r"^make run on (?P<host>\S+), pid (?P<pid>\d+), started (?P<started>.+)$")

IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _process_started(pid: int) -> str | None:
    """The process's start time (UTC, to the millisecond) as text, or None when no such process exists."""
    import psutil

    try:
        created = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:  # exists but belongs to someone else: treat as alive
        return "unknown"
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def runner_tags() -> dict[str, str]:
    """Tags of the runs this process executes in process: what started them, in words a person reads
    on the run page (one tag, not a host, a pid and an epoch apart), and what a later runner needs to
    tell that this process is gone (host, pid, and its start time, since a pid can be reused)."""
    pid = os.getpid()
    runner = f"make run on {socket.gethostname()}, pid {pid}, started {_process_started(pid) or 'unknown'}"
    return {TRIGGER_TAG: MAKE_RUN, RUNNER_TAG: runner}


def runner_is_gone(tags: Mapping[str, str]) -> bool:
    """True when a run's tags name a runner on this host that no longer exists."""
    match = _RUNNER.match(tags.get(RUNNER_TAG, ""))
    if match is None or match["host"] != socket.gethostname():
        return False  # not ours, or launched elsewhere: the daemon's run monitoring owns it
    started = _process_started(int(match["pid"]))
    return started is None or (started != "unknown" and started != match["started"])


def reap_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark in-flight runs whose runner died as failed, and free concurrency slots held by runs that
    have ended (or no longer exist). Returns the ids of the runs marked failed."""
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=IN_FLIGHT, tags={TRIGGER_TAG: MAKE_RUN})):
        run = record.dagster_run
        if runner_is_gone(run.tags):
            instance.report_run_failed(
                run, f"its runner ({run.tags[RUNNER_TAG]}) is gone (killed or crashed); marked failed by the next one"
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
