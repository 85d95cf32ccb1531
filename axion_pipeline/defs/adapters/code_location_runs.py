"""Runs executed in this process that belong to the UI's code location.

Why: a run carries the code location it came from. The UI re-executes a run only from that
location (else it warns that the run "loaded the job from a different code location") and lists on
the Overview timeline only the runs of the locations it has loaded (the stored
``.dagster/repository`` label). ``dg.execute_job`` records no code location, so the runs of
``make run`` were strangers to ``make ui``. This module creates the run with the origin the
webserver gives the runs it launches from ``workspace.yaml`` (module ``axion_pipeline.definitions``,
location ``axion_pipeline``, the implicit repository of a ``Definitions`` object) and executes it in
process, as ``dg.execute_job`` does.

Private API: ``ManagedGrpcPythonEnvCodeLocationOrigin`` and ``RemoteRepositoryOrigin``
(``dagster._core.remote_origin``), ``LoadableTargetOrigin`` (``dagster._core.types``),
``SINGLETON_REPOSITORY_NAME`` and ``execute_run`` (``dagster._core.execution.api``, what
``dg.execute_job`` calls after ``DagsterInstance.create_run_for_job``). No public API creates a
run with a code location and executes it in this process. On a Dagster upgrade,
``test_dagster_adapters.py`` checks these names and signatures and ``test_run_all.py`` that a
run of ``make run`` carries workspace.yaml's location.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteRepositoryOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

REPO_ROOT = Path(__file__).resolve().parents[3]  # where workspace.yaml is
CODE_LOCATION, CODE_LOCATION_MODULE = "axion_pipeline", "axion_pipeline.definitions"  # as in workspace.yaml


def workspace_job_origin(job_name: str):
    """The origin ``make ui`` gives a run of ``job_name`` (see the module docstring)."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable, module_name=CODE_LOCATION_MODULE, working_directory=str(REPO_ROOT)
        ),
        location_name=CODE_LOCATION,
    )
    return RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME).get_job_origin(job_name)


def execute_as_code_location_run(
    recon: dg.ReconstructableJob,
    instance: dg.DagsterInstance,
    run_config: Mapping,
    tags: Mapping[str, str],
) -> dg.JobExecutionResult:
    """``dg.execute_job(recon, instance, run_config, tags, raise_on_error=False)``, the run recorded
    as a run of the UI's code location. Use it as a context manager, like ``execute_job``'s result."""
    job_def = recon.get_definition()
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=run_config,
        tags={**job_def.run_tags, **tags},
        job_code_origin=recon.get_python_origin(),
        remote_job_origin=workspace_job_origin(job_def.name),
    )
    return execute_run(recon, run, instance, raise_on_error=False)
