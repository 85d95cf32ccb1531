"""``warehouse.fetch_frame``: the frame DuckDB's ``fetchdf`` gives, built through Arrow."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from axion_pipeline.storage import warehouse

# one query per column type, each with and without a missing value
QUERIES = {
    "double": "select * from (values (1.5::double), ('nan'::double), (NULL)) t(x)",
    "float": "select * from (values (1.5::float), (NULL)) t(x)",
    "varchar": "select * from (values ('a'), (NULL)) t(x)",
    "all-null varchar": "select NULL::varchar as x from range(3)",
    "bigint": "select * from (values (1::bigint), (2)) t(x)",
    "bigint with null": "select * from (values (1::bigint), (NULL)) t(x)",
    "integer with null": "select * from (values (1::integer), (NULL)) t(x)",
    "utinyint with null": "select * from (values (1::utinyint), (NULL)) t(x)",
    "boolean": "select * from (values (true), (false)) t(x)",
    "boolean with null": "select * from (values (true), (NULL)) t(x)",
    "timestamp_ns with null": "select * from (values (TIMESTAMP_NS '2020-01-02 03:04:05.123456789'), (NULL)) t(x)",
    "timestamp": "select TIMESTAMP '2020-01-02 10:00' as x",
    "timestamp_ms": "select '2020-01-02 10:00'::TIMESTAMP_MS as x",
    "timestamptz": "select TIMESTAMPTZ '2020-01-02 10:00+00' as x",
    # types Arrow converts differently: these go through fetchdf
    "date": "select * from (values (DATE '2020-01-02'), (NULL)) t(x)",
    "decimal": "select 1.5::decimal(10, 2) as x",
    "hugeint": "select 1::hugeint as x",
    "empty": "select 1.0::double as x, 'a' as y where false",
    "mixed": "select range::double as x, range::bigint as n, 't' || range as s, range % 2 = 0 as b from range(1000)",
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_fetch_frame_gives_the_frame_fetchdf_gives(name):
    con = duckdb.connect()
    expected = con.execute(QUERIES[name]).fetchdf()
    got = warehouse.fetch_frame(con, QUERIES[name])
    pd.testing.assert_frame_equal(got, expected)


def test_fetch_frame_binds_parameters_and_reads_a_wide_float_table_consolidated(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(500, 40)), columns=[f"f{i}" for i in range(40)])
    frame.insert(0, "date", pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(500) // 10, unit="D"))
    frame.insert(1, "ticker", [f"T{i % 10}" for i in range(500)])
    frame.loc[3, "f5"] = np.nan
    con.execute("create table t as select * from frame")
    sql = "select * from t where date >= ? and date < ?"
    params = [pd.Timestamp("2024-01-10"), pd.Timestamp("2024-01-20")]
    got = warehouse.fetch_frame(con, sql, params)
    pd.testing.assert_frame_equal(got, con.execute(sql, params).fetchdf())
    assert len(got) == 100 and got["date"].min() == params[0]
    assert got._mgr.nblocks == 3  # one float block, one datetime, one text: window cuts copy once


def test_read_table_goes_through_fetch_frame(tmp_path):
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema s")
        con.execute(
            "create table s.t as select range::bigint as n, if(range = 2, NULL, range) as m, "
            "DATE '2024-01-01' + range::int as d from range(5)"
        )
    got = warehouse.read_table(path, "s", "t", "n >= ?", [1], columns=["n", "m"])
    assert list(got["n"]) == [1, 2, 3, 4]
    assert str(got["m"].dtype) == "Int64" and got["m"].isna().sum() == 1  # nullable, as fetchdf gives it
