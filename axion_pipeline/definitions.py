"""The code location: every asset, check, job, schedule, sensor and resource of Axion Pipeline.

``defs`` is loaded lazily by Dagster (``@dg.definitions``): the settings are read from the
environment and the calendar computed when the code location loads, not when this module is
imported. ``build_definitions(settings)`` builds the same from explicit settings (tests, two
configurations in one process).
"""

from __future__ import annotations

import warnings

import dagster as dg

from axion_pipeline.project import ProjectSettings

PARTITIONED_CHECK_PREVIEW = "Specifying a partitions_def on an AssetCheckSpec is currently in preview"


def build_definitions(settings: ProjectSettings) -> dg.Definitions:
    """Definitions of the project described by ``settings``."""
    from axion_pipeline.defs import factors, features, inference, market, monitoring, training
    from axion_pipeline.defs.automation import build_automation
    from axion_pipeline.defs.columns import with_fixed_schemas
    from axion_pipeline.defs.jobs import build_jobs
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.resources import build_resources

    project = DagsterProject.from_settings(settings)
    stages = {
        name: module.build_assets(project)
        for name, module in [
            ("market", market),
            ("factors", factors),
            ("features", features),
            ("training", training),
            ("inference", inference),
            ("monitoring", monitoring),
        ]
    }
    live = [*stages["inference"], *stages["monitoring"]]
    history = [*stages["market"], *stages["factors"], *stages["features"]]
    stage_jobs = {job.name: job for job in build_jobs(stages["market"], stages["factors"], stages["features"], live)}
    automation_jobs, schedules, sensors = build_automation(
        daily_job=stage_jobs["daily_job"],
        inference_job=stage_jobs["inference_job"],
        daily_assets=[a for a in [*history, *live] if a.partitions_def is not None],
        retraining_assets=["production_models", "drift_reference", "model_store"],
        live_keys=project.live_keys,
    )
    # A check result per trading day or fold needs ``partitions_def`` on ``@dg.asset_check``, which
    # Dagster 1.13 marks as preview (there is no other API for it): accept that API while the checks
    # are built, and only its warning.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", PARTITIONED_CHECK_PREVIEW, dg.PreviewWarning)
        checks = [
            check
            for module in (market, factors, features, training, monitoring)
            for check in module.build_checks(project)
        ]
    return dg.Definitions(
        assets=with_fixed_schemas([asset for assets in stages.values() for asset in assets]),
        asset_checks=checks,
        jobs=[
            *stage_jobs.values(),
            *training.build_jobs(),
            *automation_jobs,
        ],
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of ``dagster dev`` and ``make run``: settings from the environment."""
    return build_definitions(ProjectSettings.from_env())


def job_from_settings(job_name: str, settings_json: str) -> dg.JobDefinition:
    """A job of ``build_definitions`` over settings given as JSON (``ProjectSettings.to_json``):
    what a run executed by ``dg.execute_job`` reconstructs in each process."""
    return build_definitions(ProjectSettings.from_json(settings_json)).resolve_job_def(job_name)


def reconstructable_job(job_name: str, settings: ProjectSettings) -> dg.ReconstructableJob:
    """``job_name`` of these settings, rebuildable in another process (public
    ``dg.build_reconstructable_job``), for ``dg.execute_job``."""
    return dg.build_reconstructable_job(
        "axion_pipeline.definitions", "job_from_settings", reconstructable_args=(job_name, settings.to_json())
    )


__all__ = ["build_definitions", "defs", "job_from_settings", "reconstructable_job"]
