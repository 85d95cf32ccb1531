"""I/O manager storing every asset as Parquet partitions on shared storage (``storage.parquet_store``).

For a code location whose steps run on several machines (the Celery one, ``defs.executors``): it
keeps the behaviours of the DuckDB I/O manager (``defs.io_manager``) with no writer lock. A
partitioned asset's run replaces the file of each partition it covers (a partition whose frame has
no row becomes an empty file, so re-materializing replaces it); columns are matched by name and a
new column is NULL in older partitions; an unpartitioned asset replaces its one file; an empty frame
still creates its table. Reads select the files of the input's partitions (a lookback window opens
its days only) and filter the partition column with bound parameters; ``columns`` metadata selects
columns. The partitions and columns come from Dagster's ``DbIOManager``, as for the DuckDB manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import pandas as pd

from axion_pipeline.defs.adapters.db_io import DbClient, DbIOManager, DbTypeHandler, TableSlice
from axion_pipeline.defs.adapters.partition_results import add_partition_row_counts
from axion_pipeline.defs.io_manager import describe_table
from axion_pipeline.defs.step_log import log_written, record_read
from axion_pipeline.storage.parquet_store import ParquetStore, split_by_value, split_by_window, to_arrow
from axion_pipeline.storage.warehouse import quote


def _naive(moment) -> pd.Timestamp:
    """A partition window bound as the tz-naive timestamp the ``date`` columns hold."""
    return pd.Timestamp(moment).tz_localize(None)


class ParquetPandasTypeHandler(DbTypeHandler[pd.DataFrame]):
    """pandas frames in and out of the Parquet store (the store is the handler's "connection")."""

    @property
    def supported_types(self):
        return [pd.DataFrame]

    def handle_output(self, context: dg.OutputContext, table_slice: TableSlice, obj: pd.DataFrame, store):
        schema, table = table_slice.schema, table_slice.table
        data, types = to_arrow(obj)
        if not table_slice.partition_dimensions:
            store.write_table(schema, table, data)
            context.add_output_metadata({"dagster/row_count": len(obj)})
        else:
            column = table_slice.partition_dimensions[0].partition_expr
            keys = list(context.asset_partition_keys)
            partitions_def = context.asset_partitions_def
            if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
                windows = {k: partitions_def.time_window_for_partition_key(k) for k in keys}
                parts = split_by_window(data, column, {k: (_naive(w.start), _naive(w.end)) for k, w in windows.items()})
            else:
                parts = split_by_value(data, column, keys)
            store.write_partitions(schema, table, column, parts)
            if add_partition_row_counts(context, obj, column):
                context.add_output_metadata({"range_row_count": len(obj)})
            else:
                context.add_output_metadata({"dagster/partition_row_count": len(obj)})
        describe_table(context, table, types)
        log_written(context, obj, f"{schema}.{table}")

    def load_input(self, context: dg.InputContext, table_slice: TableSlice, store) -> pd.DataFrame:
        schema, table = table_slice.schema, table_slice.table
        where, params, keys = "", [], None
        if table_slice.partition_dimensions:
            if len(context.asset_partition_keys) == 0:
                return pd.DataFrame()
            dimension = table_slice.partition_dimensions[0]
            column = quote(dimension.partition_expr)
            if isinstance(dimension.partitions, dg.TimeWindow):
                keys = list(context.asset_partition_keys)
                where = f"{column} >= ? and {column} < ?"
                params = [_naive(dimension.partitions.start), _naive(dimension.partitions.end)]
            else:
                keys = [str(k) for k in dimension.partitions]
                where, params = f"{column} = any(?)", [keys]
        frame = store.read(schema, table, where, params, columns=table_slice.columns, keys=keys)
        record_read(context, frame)
        return frame


class ParquetDbClient(DbClient[ParquetStore]):
    """Dagster's database client over the store: no schema to create (folders appear on write), and
    no slice to delete first (the handler replaces each partition's file in one rename)."""

    @staticmethod
    def delete_table_slice(context, table_slice: TableSlice, connection: ParquetStore) -> None:
        return None

    @staticmethod
    def ensure_schema_exists(context, table_slice: TableSlice, connection: ParquetStore) -> None:
        return None

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        """What the ``Query`` metadata shows: where the table's files are (the store has no SQL table)."""
        return f"Parquet files {table_slice.schema}/{table_slice.table} under {table_slice.database}"

    @staticmethod
    def get_table_name(table_slice: TableSlice) -> str:
        return f"{table_slice.schema}.{table_slice.table}"

    @staticmethod
    @contextmanager
    def connect(context, table_slice: TableSlice) -> Iterator[ParquetStore]:
        yield ParquetStore(table_slice.database)


class SharedParquetIOManager(dg.ConfigurableIOManagerFactory):
    """Every asset as Parquet partitions under ``root`` (``schema`` metadata = folder), pandas in and out."""

    root: str

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=ParquetDbClient(),
            database=self.root,
            schema=None,
            type_handlers=[ParquetPandasTypeHandler()],
            default_load_type=pd.DataFrame,
            io_manager_name="SharedParquetIOManager",
        )
