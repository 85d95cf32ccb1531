"""Axion Pipeline: cross-sectional stock ranking as Dagster software-defined assets.

The library lives in ``data``, ``factors``, ``factor_engine``, ``analytics`` and ``ml`` (no Dagster
imports); ``defs`` is the thin Dagster layer and ``definitions`` assembles it.
"""

__version__ = "0.1.0"
