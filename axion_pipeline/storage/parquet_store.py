"""A warehouse of Parquet files on shared storage: one file per table partition, queried with DuckDB.

Why not one DuckDB file: DuckDB lets one process at a time open a database file for writing, so
steps on several machines would queue for one lock that does not even cross machines. Here every
step writes only the files of the partitions it owns, each one complete under a temporary name in
the same folder and then renamed into place (atomic on POSIX filesystems, NFS included): no writer
lock, any number of workers, and a reader sees a partition's old file or its new one, never half of
one. Readers open an in-memory DuckDB connection over the files they need, so a lookback over 300
trading days opens those 300 files and nothing else.

Layout under ``root``: ``<schema>/<table>.parquet`` for an unpartitioned table;
``<schema>/<table>/<key>.parquet`` for a partitioned one (the key percent-encoded). Files of one
table are read by column name (``union_by_name``): a column new to the table is missing (NULL) in
older partitions, as after ``ALTER TABLE ADD COLUMN``.
"""

from __future__ import annotations

import bisect
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote as percent_encode

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from axion_pipeline.storage.warehouse import count_non_finite_on, count_rows_on, quote, read_table_on

SUFFIX = ".parquet"
# beside a partitioned table's files: the column its partitions split (its keys are that column's
# days when it is ``DATE_COLUMN``, so a read of a span of dates opens only their files)
PARTITION_COLUMN_FILE = "_partition_column"
DATE_COLUMN = "date"
# the temporary view over a table's files, under which ``connect`` names the table ``schema.table``
FILES_VIEW = "parquet_files"


def to_arrow(frame: pd.DataFrame) -> tuple[pa.Table, dict[str, str]]:
    """The frame as DuckDB converts it when it stores a pandas frame (same column types as the
    DuckDB warehouse: datetime64 -> TIMESTAMP_NS, object text -> VARCHAR, NaN kept), and its
    column name -> DuckDB type."""
    with duckdb.connect() as con:
        relation = con.sql("select * from frame")
        return relation.to_arrow_table(), dict(zip(relation.columns, (str(t) for t in relation.types)))


class ParquetStore:
    """The Parquet files of the warehouse at ``root`` (a folder every worker mounts)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- layout ---------------------------------------------------------------------------------
    def table_file(self, schema: str, table: str) -> Path:
        return self.root / schema / f"{table}{SUFFIX}"

    def partition_dir(self, schema: str, table: str) -> Path:
        return self.root / schema / table

    def partition_file(self, schema: str, table: str, key: str) -> Path:
        return self.partition_dir(schema, table) / f"{percent_encode(key, safe='')}{SUFFIX}"

    def files(
        self, schema: str, table: str, keys: Sequence[str] | None = None, dates: tuple | None = None
    ) -> list[Path]:
        """The files holding the table (only those of ``keys``, in that order, when given; only those
        that can hold rows of the ``dates`` span (first, last) of a table partitioned by trading day
        on ``date``); empty when the table was never written."""
        single = self.table_file(schema, table)
        if single.exists():
            return [single]
        if keys is not None:
            paths = [self.partition_file(schema, table, k) for k in keys]
            return [p for p in paths if p.exists()]
        folder = self.partition_dir(schema, table)
        found = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
        if dates is None or self.partition_column(schema, table) != DATE_COLUMN:
            return found
        # a day's partition holds the rows from its day to the next partition's: the span starts in
        # the last partition on or before its first day
        days = [p.name[: -len(SUFFIX)] for p in found]
        first, last = (str(pd.Timestamp(d).date()) for d in dates)
        return found[max(bisect.bisect_right(days, first) - 1, 0) : bisect.bisect_right(days, last)]

    def partition_column(self, schema: str, table: str) -> str | None:
        marker = self.partition_dir(schema, table) / PARTITION_COLUMN_FILE
        return marker.read_text().strip() if marker.exists() else None

    # -- writes ---------------------------------------------------------------------------------
    def write_table(self, schema: str, table: str, data: pa.Table) -> Path:
        """Replace an unpartitioned table (an empty ``data`` still creates it, with its columns)."""
        return _write_atomically(_typed(data, self._stored_schema(schema, table)), self.table_file(schema, table))

    def write_partitions(self, schema: str, table: str, column: str, parts: Mapping[str, pa.Table]) -> list[Path]:
        """Replace each partition ``key`` of the table partitioned on ``column`` by its rows (an empty
        table leaves an empty partition): partitions not named are untouched. A column with no type (all
        missing) takes the type it has in the table's stored files, text otherwise (as the DuckDB
        warehouse keeps it)."""
        if self.partition_column(schema, table) != column:
            marker = self.partition_dir(schema, table) / PARTITION_COLUMN_FILE
            _write_text_atomically(column, marker)
        stored = self._stored_schema(schema, table)
        return [
            _write_atomically(_typed(data, stored), self.partition_file(schema, table, key))
            for key, data in parts.items()
        ]

    def _stored_schema(self, schema: str, table: str) -> pa.Schema | None:
        existing = self.files(schema, table)
        return pq.read_schema(existing[-1]) if existing else None

    # -- reads ----------------------------------------------------------------------------------
    @contextmanager
    def connect(
        self, schema: str, table: str, keys: Sequence[str] | None = None, dates: tuple | None = None
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory DuckDB connection holding a view ``<schema>.<table>`` over the table's files (of
        ``keys`` or ``dates`` only, when given; every file when none of them exists, so a query still
        sees the columns): SQL written for the DuckDB warehouse runs unchanged. No view when the
        table was never written."""
        with duckdb.connect() as con:
            files = self.files(schema, table, keys, dates)
            if not files and (keys is not None or dates is not None):
                files = self.files(schema, table)
            if files:
                con.read_parquet([str(f) for f in files], union_by_name=True).create_view(FILES_VIEW)
                full = f"{quote(schema)}.{quote(table)}"
                con.execute(f"create schema {quote(schema)}")
                con.execute(f"create view {full} as select * from {quote(FILES_VIEW)}")
            yield con

    def read(
        self,
        schema: str,
        table: str,
        where: str = "",
        params: list | None = None,
        columns: list[str] | None = None,
        keys: Sequence[str] | None = None,
        dates: tuple | None = None,
    ) -> pd.DataFrame:
        """Rows of the table (``where`` with ``?`` placeholders bound from ``params``), as
        ``warehouse.read_table`` reads them from a DuckDB file, ``dates`` (first, last) keeping the rows
        whose ``date`` lies in that span; only the files of ``keys``, or of the ``dates`` span, are
        opened (with ``keys``, ``where`` must itself keep only rows of those)."""
        if not self.files(schema, table):
            raise FileNotFoundError(f"table {schema}.{table} has no Parquet files under {self.root}: materialize it")
        with self.connect(schema, table, keys, dates) as con:
            return read_table_on(con, schema, table, where, params, columns, dates)

    def count_rows(self, schema: str, table: str, by: str | None = None) -> int | dict[str, int] | None:
        with self.connect(schema, table) as con:
            return count_rows_on(con, schema, table, by)

    def count_non_finite(
        self, schema: str, table: str, where: str = "", params: list | None = None, dates: tuple | None = None
    ) -> dict:
        with self.connect(schema, table, dates=dates) as con:
            return count_non_finite_on(con, schema, table, where, params, dates)


def split_by_value(data: pa.Table, column: str, keys: Sequence[str]) -> dict[str, pa.Table]:
    """Rows of each key whose ``column`` equals it (static partitions such as walk-forward folds).
    Raises when a row belongs to none of ``keys``: a step writes only its own partitions."""
    values = data.column(column).to_numpy(zero_copy_only=False).astype(str)
    return _split(data, column, {k: np.flatnonzero(values == k) for k in keys}, len(values))


def split_by_window(
    data: pa.Table, column: str, windows: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]]
) -> dict[str, pa.Table]:
    """Rows of each key whose ``column`` lies in its window ``[start, end)`` (time partitions such
    as trading days). Raises when a row lies in none of the windows."""
    values = pd.DatetimeIndex(data.column(column).to_pandas())
    rows = {k: np.flatnonzero((values >= start) & (values < end)) for k, (start, end) in windows.items()}
    return _split(data, column, rows, len(values))


def _split(data: pa.Table, column: str, rows: dict[str, np.ndarray], n: int) -> dict[str, pa.Table]:
    placed = sum(len(r) for r in rows.values())
    if placed != n:
        raise ValueError(
            f"{n - placed} of {n} rows have a {column!r} outside the partitions being written ({len(rows)}): "
            "a step writes only the partitions of its run"
        )
    return {k: data.take(pa.array(r, type=pa.int64())) for k, r in rows.items()}


def _typed(data: pa.Table, stored: pa.Schema | None) -> pa.Table:
    """``data`` with each column of no type (all missing) cast to its stored type, or to text."""
    for i, field in enumerate(data.schema):
        if pa.types.is_null(field.type):
            target = pa.string()
            known = stored.field(field.name).type if stored is not None and field.name in stored.names else None
            if known is not None and not pa.types.is_null(known):
                target = known
            data = data.set_column(i, field.name, data.column(i).cast(target))
    return data


def _write_text_atomically(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    staging.write_text(text)
    os.replace(staging, path)


def _write_atomically(data: pa.Table, path: Path) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
