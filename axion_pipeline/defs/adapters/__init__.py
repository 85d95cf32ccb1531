"""The only modules of the project that import private Dagster APIs, one per need.

Each module's docstring names the private API it relies on, why no public API does the job and
what to check on a Dagster upgrade; ``axion_pipeline_tests/defs/test_dagster_adapters.py`` checks
that every private name still exists with the signature the module calls.
"""
