"""The Dagster layer: one sub-package per stage (asset group = DuckDB schema), plus shared resources,
partitions, the I/O manager and jobs. Asset bodies call the library and hold no algorithm."""
