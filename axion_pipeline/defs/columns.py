"""The warehouse's column registry (``axion_pipeline.storage.columns``) as Dagster metadata.

Every asset page's "Columns" section: ``dagster/column_schema`` with each column's type and
description, and ``dagster/column_lineage`` for the columns computed from named upstream columns.
The I/O manager attaches both to every stored table from the table it has just written (the
schema the table actually has: one code path for every asset); tables whose columns are fixed
also declare their schema on the definition (``with_fixed_schemas``), so it shows before the first
materialization.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg

from axion_pipeline.storage.columns import describe, fixed_columns, sources

SCHEMA_KEY = "dagster/column_schema"
LINEAGE_KEY = "dagster/column_lineage"


def column_schema(table: str, types: Mapping[str, str]) -> dg.TableSchema:
    """``types`` (column -> DuckDB type, in table order) with the registry's descriptions; a column
    the registry does not know has none (a test over every stored table fails on it)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, dtype, description=describe(table, name)) for name, dtype in types.items()]
    )


def column_lineage(table: str, columns: Iterable[str]) -> dg.TableColumnLineage | None:
    """The upstream columns of each of ``columns`` the registry declares; None when none has any."""
    deps = {
        column: [dg.TableColumnDep(asset_key=dg.AssetKey(upstream), column_name=name) for upstream, name in found]
        for column in columns
        if (found := sources(table, column))
    }
    return dg.TableColumnLineage(deps_by_column=deps) if deps else None


def table_metadata(table: str, types: Mapping[str, str]) -> dict:
    """``dagster/column_schema`` and, when some column has declared sources, ``dagster/column_lineage``."""
    meta: dict = {SCHEMA_KEY: column_schema(table, types)}
    lineage = column_lineage(table, types)
    if lineage is not None:
        meta[LINEAGE_KEY] = lineage
    return meta


def with_fixed_schemas(assets: list) -> list:
    """``assets`` with the declared column schema on the definition of every table whose columns are fixed."""

    def declare(spec: dg.AssetSpec) -> dg.AssetSpec:
        table = spec.key.to_user_string()
        types = fixed_columns(table)
        return spec if types is None else spec.merge_attributes(metadata={SCHEMA_KEY: column_schema(table, types)})

    return list(dg.map_asset_specs(declare, assets))
