"""Project-wide settings shared by the Dagster layer, the build runner and the benchmarks."""

from axion_pipeline.project.settings import ProjectSettings, SettingsError

__all__ = ["ProjectSettings", "SettingsError"]
