"""The pieces of Dagster's database I/O manager that ``axion_pipeline.defs.io_manager`` builds on.

Private API: ``DbIOManager`` and ``TableSlice`` (``dagster._core.storage.db_io_manager``), and
``DuckDbClient`` (``dagster_duckdb.io_manager``, not exported by ``dagster_duckdb``). Why: the
public ``DuckDBIOManager`` builds its ``DbIOManager`` with a fixed ``DuckDbClient``; opening each
connection in the warehouse's turn means a client subclass and a ``create_io_manager`` that builds
the ``DbIOManager`` itself, and the type handler receives a ``TableSlice``. Dagster's own
integrations (dagster-duckdb-pandas, -polars) import the same names from the same modules.

On a Dagster upgrade, check: ``DbIOManager.__init__`` keyword parameters (``db_client``, ``database``,
``schema``, ``type_handlers``, ``default_load_type``, ``io_manager_name``); that ``DbIOManager``
still opens connections through ``db_client.connect(context, table_slice)``; ``DuckDbClient.connect``
and ``get_select_statement(table_slice)``; the ``TableSlice`` fields ``schema``, ``table`` and
``partition_dimensions``; the type handler methods ``load_input(context, table_slice, connection)``
and ``handle_output(context, table_slice, obj, connection)``.
"""

from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)
from dagster_duckdb.io_manager import DuckDbClient

__all__ = ["DbClient", "DbIOManager", "DbTypeHandler", "DuckDbClient", "TablePartitionDimension", "TableSlice"]
