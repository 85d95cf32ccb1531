"""SQL injection safety: hostile values round-trip through the DuckDB warehouse as data, and no SQL
in ``axion_pipeline/`` is built from values by string formatting.

Values reach SQL only as bound parameters (``?``). The only string-built SQL is identifier quoting
(schema, table, column names, which come from code or DuckDB's own catalogue, never from data) and
``warehouse.read_table``'s ``where`` fragment, which is caller code with ``?`` placeholders. The
source scan below keeps it that way: a new formatted SQL string fails the test until reviewed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from axion_pipeline.storage import warehouse

PACKAGE = Path(__file__).resolve().parent.parent / "axion_pipeline"
EVIL = "X'); DROP TABLE prices; --"
STACKED = "x'; drop table market.prices; --"  # closes the literal and stacks a second statement
TICKERS = [EVIL, STACKED, "O'REILLY", "A;B", "ÄBC", 'QUOTE"D', "NULL"]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"date": pd.Timestamp("2024-01-02"), "ticker": TICKERS, "close": [10.0 + i for i in range(len(TICKERS))]}
    )


def write_duckdb(con, df):
    con.execute("create table market.prices as select * from df")


def write_io_manager(con, df, partitioned: bool = False):
    """The project's DuckDB type handler, as the I/O manager calls it (schema already created)."""
    import dagster as dg

    from axion_pipeline.defs.adapters.db_io import TablePartitionDimension, TableSlice
    from axion_pipeline.defs.io_manager import ReplacingPandasTypeHandler

    dims = [TablePartitionDimension(partition_expr="date", partitions=["2024-01-02"])] if partitioned else None
    context = dg.build_output_context(asset_key=["market", "prices"])
    ReplacingPandasTypeHandler().handle_output(
        context, TableSlice(table="prices", schema="market", partition_dimensions=dims), df, con
    )


WRITERS = {
    "duckdb": write_duckdb,
    "io_manager": write_io_manager,
    "io_manager_partitioned": lambda con, df: write_io_manager(con, df, partitioned=True),
}


@pytest.fixture(scope="module", params=sorted(WRITERS))
def stored(request, tmp_path_factory):
    """A warehouse file holding market.prices; the tests open it read-only (warehouse.connect)."""
    path = tmp_path_factory.mktemp(request.param) / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema market")
        WRITERS[request.param](con, frame())
    return path


@pytest.mark.parametrize("ticker", TICKERS)
def test_hostile_ticker_round_trips_through_a_parameter(stored, ticker):
    out = warehouse.read_table(stored, "market", "prices", where="ticker = ?", params=[ticker])
    assert out["ticker"].tolist() == [ticker]  # byte for byte
    assert out["close"].tolist() == [10.0 + TICKERS.index(ticker)]
    summary = warehouse.table_summary(stored)
    assert summary[["schema", "table", "rows"]].values.tolist() == [["market", "prices", len(TICKERS)]]


def test_whole_table_round_trips(stored):
    out = warehouse.read_table(stored, "market", "prices")
    pd.testing.assert_frame_equal(
        out.sort_values("close").reset_index(drop=True)[["ticker", "close"]], frame()[["ticker", "close"]]
    )


def test_hostile_identifier_is_quoted_not_executed(stored):
    with pytest.raises(duckdb.CatalogException, match="does not exist"):
        warehouse.read_table(stored, "market", 'prices"; drop table market.prices; --')
    assert warehouse.read_table(stored, "market", "prices").shape[0] == len(TICKERS)


@pytest.mark.parametrize("column", ['QUOTE"D', 'x" varchar; drop table market.prices; --'])
def test_new_column_name_with_a_quote_is_added_not_executed(tmp_path, column):
    """A partitioned asset whose frame gains a column: the I/O manager's ALTER TABLE quotes the name
    like warehouse._quote, so an embedded '"' neither breaks the statement nor ends the identifier
    to stack a second one (the second name, merely wrapped in quotes, dropped the table)."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema market")
        write_io_manager(con, frame(), partitioned=True)
        write_io_manager(con, frame().assign(**{column: "added"}), partitioned=True)
    out = warehouse.read_table(path, "market", "prices")
    assert list(out.columns) == ["date", "ticker", "close", column]
    assert len(out) == 2 * len(TICKERS)
    assert sorted(out[column].fillna("<null>")) == ["<null>"] * len(TICKERS) + ["added"] * len(TICKERS)


def test_control_naive_interpolation_would_drop_the_table(tmp_path):
    """Why values must be bound: DuckDB runs stacked statements, so an interpolated value drops the table."""
    with duckdb.connect(str(tmp_path / "naive.duckdb")) as con:
        con.execute("create schema market")
        write_duckdb(con, frame())
        con.execute(f"select * from market.prices where ticker = '{STACKED}'")  # the anti-pattern, on purpose
        assert con.execute("select count(*) from information_schema.tables").fetchone()[0] == 0


# ------------------------------------------------------------------------------- source scan
# Text that starts like a SQL statement (or a WHERE fragment). Keywords that also start English
# messages ("with 3 rows", "update ...") count only with a second SQL keyword after them.
SQL_TEXT = re.compile(
    r"""^\s*(?:
    (?:select|insert|delete|describe|pragma|attach|detach|truncate|install|alter|where)\s
  | (?:with|create|drop|update|copy|export|import|load)\s.*\b(?:from|into|table|as|set|values|schema|view)\b
)""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
SQL_CALLS = {"execute", "executemany", "sql", "query", "from_query"}

# (file, interpolated expression) pairs reviewed as identifier-only (or caller SQL) uses. Keep small.
ALLOWED = {
    # warehouse.py: identifiers from DuckDB's own catalogue or the caller, each through quote(),
    # which double-quotes and escapes embedded quotes; ``full`` is two such quoted identifiers.
    ("storage/warehouse.py", "full"),
    ("storage/warehouse.py", "quote(date_col)"),
    ("storage/warehouse.py", "quote(schema)"),
    ("storage/warehouse.py", "quote(table)"),
    # warehouse.read_table: ``where`` is a SQL fragment written by the calling code (documented to
    # hold ``?`` placeholders); the values themselves go through ``params``.
    ("storage/warehouse.py", "where"),
    # warehouse.read_table: ``selected`` joins the requested column names, each quoted by quote.
    ("storage/warehouse.py", "selected"),
    # warehouse.count_non_finite: ``inf``, ``nan`` and ``valued`` are aggregates over the table's
    # column names (read from information_schema), each quoted by quote.
    ("storage/warehouse.py", "inf"),
    ("storage/warehouse.py", "nan"),
    ("storage/warehouse.py", "valued"),
    # defs/io_manager.py: ``table`` is "<schema>.<table>" from the asset key (code, not data);
    # ``name`` a column name of the asset's output frame, quoted by warehouse.quote (embedded
    # quotes doubled); the type comes from a fixed map.
    ("defs/io_manager.py", "table"),
    ("defs/io_manager.py", "quote(str(name))"),
    ("defs/io_manager.py", "_duckdb_type(dtype)"),
    # io_manager.handle_output: ``casts`` keeps the stored type of an all-missing column: each
    # column name quoted by quote, each type read from the table's information_schema row (the
    # catalogue, not data); ``select`` is the fixed "select * [replace (casts)] from frame".
    ("defs/io_manager.py", "casts"),
    ("defs/io_manager.py", "select"),
    # warehouse.count_rows: ``by`` is a column name chosen by the caller (code), quoted by quote.
    ("storage/warehouse.py", "quote(by)"),
    # parquet_store.connect: the view naming a table's files ``schema.table`` in an in-memory
    # database; schema and table come from the asset (code) or the caller, each through quote, and
    # FILES_VIEW is a constant. The files themselves are passed as a Python list, not as SQL text.
    ("storage/parquet_store.py", "quote(schema)"),
    ("storage/parquet_store.py", "full"),
    ("storage/parquet_store.py", "quote(FILES_VIEW)"),
}


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def formatted_sql(source: str) -> list[tuple[int, str]]:
    """(line, interpolated expression) of every SQL string built by f-string, ``.format`` or ``%``:
    a formatted string that starts like SQL, or any formatted string passed to execute/sql/query."""
    tree = ast.parse(source)
    sql_args = {
        id(a)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SQL_CALLS
        for a in n.args[:1]
    }
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text, exprs = (
                _literal_text(node),
                [ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)],
            )
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            text, exprs = _literal_text(node.func.value), [ast.unparse(a) for a in (*node.args, *node.keywords)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            text, exprs = _literal_text(node.left), [ast.unparse(node.right)]
        else:
            continue
        if text is None or not exprs:
            continue
        if SQL_TEXT.match(text) or id(node) in sql_args:
            hits.extend((node.lineno, e) for e in exprs)
    return hits


def scan_package() -> list[tuple[str, int, str]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), line, expr)
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, expr in formatted_sql(path.read_text(encoding="utf-8"))
    ]


def test_no_value_is_formatted_into_sql():
    hits = scan_package()
    unreviewed = [h for h in hits if (h[0], h[2]) not in ALLOWED]
    assert not unreviewed, f"SQL built from formatted values; bind them as parameters (?) instead: {unreviewed}"
    stale = ALLOWED - {(f, e) for f, _, e in hits}
    assert not stale, f"allowlist entries no longer used, remove them: {sorted(stale)}"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("con.execute(f\"select * from t where ticker = '{ticker}'\")", ["ticker"]),
        ('sql = f"DELETE FROM t WHERE d = {day}"', ["day"]),
        ("con.sql(f'{query}')", ["query"]),
        ('q = "select * from t where x = {}".format(value)', ["value"]),
        ('q = "insert into t values (%s)" % value', ["value"]),
        ('con.execute("select * from t where ticker = ?", [ticker])', []),
        ('msg = f"selected {n} rows"', []),
        ('log(f"with {n} rows")', []),
        ('q = f"with x as (select {col} from t) select * from x"', ["col"]),
        ('q = f"CREATE TABLE {name} AS SELECT 1"', ["name"]),
    ],
)
def test_scanner_flags_formatted_sql(snippet, expected):
    assert [e for _, e in formatted_sql(snippet)] == expected


def test_count_non_finite_counts_inside_duckdb_over_a_parameterised_range(tmp_path):
    path = tmp_path / "w.duckdb"
    frame_ = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04"]),
            "ticker": ["A", 'B"; drop table x; --', "A", "A"],
            "f1": [1.0, np.inf, np.nan, -np.inf],
            'odd "name"': [0.5, np.nan, 2.0, 3.0],
            "label_text": ["x", "y", "z", "w"],
        }
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema features")
        con.register("frame_", frame_)
        con.execute("create table features.features as select * from frame_")
        con.execute("insert into features.features (date, ticker) values ('2024-01-03', 'C')")  # NULL features
    counts = warehouse.count_non_finite(
        path, "features", "features", "date >= ? and date < ?", [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-04")]
    )
    # rows of 01-02 and 01-03 (4): one +inf; missing: f1 NaN + 2 NULLs (C), 'odd "name"' NaN (B)
    assert counts == {"infinite": 1, "missing": 4, "values": 8, "rows": 4, "all_missing_columns": []}
    assert warehouse.count_non_finite(path, "features", "features")["infinite"] == 2
    # on 01-03 f1 is NaN (A) or NULL (C): a column with no value on any row is named
    day = warehouse.count_non_finite(path, "features", "features", "date = ?", [pd.Timestamp("2024-01-03")])
    assert day["all_missing_columns"] == ["f1"] and day["missing"] == 3
    assert warehouse.read_table(
        path, "features", "features", "ticker = ?", ["C"], columns=["date", 'odd "name"']
    ).shape == (1, 2)
