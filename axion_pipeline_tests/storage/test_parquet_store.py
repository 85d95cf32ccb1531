"""The Parquet warehouse (``axion_pipeline.storage.parquet_store``): one file per partition, replaced
whole; reads by column name over the files a query needs; values only through parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from axion_pipeline.storage.parquet_store import ParquetStore, split_by_value, split_by_window, to_arrow

DAYS = ["2024-01-02", "2024-01-03", "2024-01-04"]
HOSTILE = ["X'); DROP TABLE prices; --", "O'REILLY", 'QUOTE"D']


def prices(days=DAYS, tickers=("A", "B"), **extra) -> pd.DataFrame:
    rows = [{"date": pd.Timestamp(d), "ticker": t, "close": 10.0 + i} for i, d in enumerate(days) for t in tickers]
    return pd.DataFrame(rows).assign(**extra)


def windows(days) -> dict:
    return {d: (pd.Timestamp(d), pd.Timestamp(d) + pd.Timedelta(days=1)) for d in days}


def write_days(store: ParquetStore, frame: pd.DataFrame, days=DAYS) -> None:
    data, _ = to_arrow(frame)
    store.write_partitions("market", "prices", "date", split_by_window(data, "date", windows(days)))


def test_a_partition_is_replaced_and_the_others_are_kept(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices())
    write_days(store, prices(days=[DAYS[1]]).assign(close=99.0), days=[DAYS[1]])
    out = store.read("market", "prices").sort_values(["date", "ticker"])
    assert out["close"].tolist() == [10.0, 10.0, 99.0, 99.0, 12.0, 12.0]
    assert len(store.files("market", "prices")) == 3
    assert not list(tmp_path.rglob("*.tmp"))  # nothing left of the staging files


def test_a_partition_written_without_rows_is_emptied(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices())
    write_days(store, prices().iloc[:0], days=[DAYS[0]])
    assert sorted(store.read("market", "prices")["date"].dt.strftime("%Y-%m-%d").unique()) == DAYS[1:]


def test_a_new_column_is_missing_in_older_partitions_and_columns_match_by_name(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices(days=DAYS[:1]), days=DAYS[:1])
    later = prices(days=DAYS[1:2], volume=5.0).assign(close=11.0)
    write_days(store, later[["volume", "close", "ticker", "date"]], days=DAYS[1:2])  # another column order
    out = store.read("market", "prices").sort_values(["date", "ticker"])
    assert list(out.columns) == ["date", "ticker", "close", "volume"]
    assert out["close"].tolist() == [10.0, 10.0, 11.0, 11.0]
    assert out["volume"].isna().tolist() == [True, True, False, False]


def test_an_all_missing_column_keeps_the_type_stored_files_give_it(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices(days=DAYS[:1], score=1.5), days=DAYS[:1])
    write_days(store, prices(days=DAYS[1:2], score=None), days=DAYS[1:2])  # object column, no value
    out = store.read("market", "prices")
    assert out["score"].dtype == np.float64 and out["score"].isna().sum() == 2


def test_an_empty_unpartitioned_table_exists_with_its_columns(tmp_path):
    store = ParquetStore(tmp_path)
    data, _ = to_arrow(pd.DataFrame({"ticker": pd.Series([], dtype=object), "sector": pd.Series([], dtype=object)}))
    store.write_table("market", "sectors", data)
    out = store.read("market", "sectors")
    assert list(out.columns) == ["ticker", "sector"] and out.empty
    assert store.count_rows("market", "sectors") == 0
    assert store.count_rows("market", "missing") is None
    with pytest.raises(FileNotFoundError, match="market.missing"):
        store.read("market", "missing")


def test_rows_outside_the_partitions_being_written_are_refused(tmp_path):
    data, _ = to_arrow(prices())
    with pytest.raises(ValueError, match="outside the partitions"):
        split_by_window(data, "date", windows(DAYS[:2]))
    folds = pa.table({"fold": ["fold_0", "fold_1"], "x": [1, 2]})
    assert {k: v.num_rows for k, v in split_by_value(folds, "fold", ["fold_0", "fold_1"]).items()} == {
        "fold_0": 1,
        "fold_1": 1,
    }
    with pytest.raises(ValueError, match="outside the partitions"):
        split_by_value(folds, "fold", ["fold_0"])


def test_a_span_of_dates_opens_only_its_days_files(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices())
    span = (pd.Timestamp(DAYS[1]), pd.Timestamp(DAYS[2]))
    assert [p.stem for p in store.files("market", "prices", dates=span)] == DAYS[1:]
    # a span starting between partitions starts in the partition holding its first day
    assert [
        p.stem for p in store.files("market", "prices", dates=(pd.Timestamp(DAYS[1]) + pd.Timedelta(hours=6), span[1]))
    ] == DAYS[1:]
    out = store.read("market", "prices", "date >= ? and date <= ?", list(span), dates=span)
    assert sorted(out["date"].dt.strftime("%Y-%m-%d").unique()) == DAYS[1:]
    counts = store.count_non_finite("market", "prices", "date >= ? and date <= ?", list(span), dates=span)
    assert (counts["rows"], counts["infinite"], counts["missing"]) == (4, 0, 0)


def test_hostile_values_round_trip_through_parameters(tmp_path):
    store = ParquetStore(tmp_path)
    write_days(store, prices(days=DAYS[:1], tickers=HOSTILE), days=DAYS[:1])
    for ticker in HOSTILE:
        assert store.read("market", "prices", "ticker = ?", [ticker])["ticker"].tolist() == [ticker]
    assert store.count_rows("market", "prices") == len(HOSTILE)


def test_sql_written_for_the_duckdb_warehouse_names_the_table_by_schema(tmp_path):
    """The retraining sensor's read has a subquery on ``monitoring.drift_report``: the view carries
    the schema's name, so the same SQL runs on both warehouses."""
    store = ParquetStore(tmp_path)
    write_days(store, prices())
    out = store.read("market", "prices", "date >= (select max(date) from market.prices) - ?", [pd.Timedelta(days=1)])
    assert sorted(out["date"].dt.strftime("%Y-%m-%d").unique()) == DAYS[1:]
