"""The Parquet I/O manager of the Celery location (``defs.parquet_io_manager``) through Dagster:
range runs write one file per day, re-materializing a day replaces it, lookback inputs and
``columns`` metadata read what the DuckDB manager reads, static (fold) partitions and unpartitioned
tables round-trip, and an empty frame still creates its table."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.parquet_io_manager import SharedParquetIOManager
from axion_pipeline.storage.parquet_store import ParquetStore

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-06")
FOLDS = dg.StaticPartitionsDefinition(["fold_0", "fold_1"])
LOOKBACK = dg.TimeWindowPartitionMapping(start_offset=-2)


def build_assets(bump: float = 0.0):
    @dg.asset(partitions_def=DAYS, metadata={"schema": "market", "partition_expr": "date"})
    def prices(context: dg.AssetExecutionContext) -> pd.DataFrame:
        window = context.partition_time_window
        days = pd.date_range(window.start.replace(tzinfo=None), window.end.replace(tzinfo=None), inclusive="left")
        return pd.DataFrame({"date": days, "ticker": "A", "close": [d.day + bump for d in days], "volume": 1.0})

    @dg.asset(
        partitions_def=DAYS,
        metadata={"schema": "factors", "partition_expr": "date"},
        ins={"prices": dg.AssetIn(partition_mapping=LOOKBACK, metadata={"columns": ["date", "close"]})},
    )
    def momentum(context: dg.AssetExecutionContext, prices: pd.DataFrame) -> pd.DataFrame:
        context.add_output_metadata({"input_rows": len(prices), "input_columns": ",".join(prices.columns)})
        last = prices.sort_values("date").iloc[-1:]
        return last.assign(momentum=prices["close"].sum())[["date", "momentum"]]

    @dg.asset(partitions_def=FOLDS, metadata={"schema": "training", "partition_expr": "fold"})
    def fold_scores(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return pd.DataFrame({"fold": [context.partition_key] * 2, "score": [1.0, 2.0]})

    @dg.asset(metadata={"schema": "market"})
    def sectors() -> pd.DataFrame:
        return pd.DataFrame({"ticker": pd.Series([], dtype=object), "sector": pd.Series([], dtype=object)})

    return [prices, momentum, fold_scores, sectors]


def test_partitions_lookbacks_folds_and_empty_tables_through_dagster(tmp_path):
    store = ParquetStore(tmp_path / "warehouse")
    resources = {"io_manager": SharedParquetIOManager(root=str(store.root))}
    prices, momentum, fold_scores, sectors = build_assets()
    with dg.instance_for_test() as instance:
        tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-05"}
        assert dg.materialize([prices], instance=instance, resources=resources, tags=tags).success
        assert [p.stem for p in store.files("market", "prices")] == [f"2024-01-0{d}" for d in range(1, 6)]

        # a lookback input: the two days before and the day itself, only the listed columns
        result = dg.materialize(
            [momentum, prices], selection=[momentum], instance=instance, resources=resources, partition_key="2024-01-04"
        )
        meta = result.asset_materializations_for_node("momentum")[0].metadata
        assert (meta["input_rows"].value, meta["input_columns"].value) == (3, "date,close")
        assert store.read("factors", "momentum")["momentum"].tolist() == [2.0 + 3.0 + 4.0]

        # re-materializing one day replaces that day's rows only
        bumped = build_assets(bump=100.0)[0]
        assert dg.materialize([bumped], instance=instance, resources=resources, partition_key="2024-01-02").success
        closes = store.read("market", "prices").sort_values("date")["close"].tolist()
        assert closes == [1.0, 102.0, 3.0, 4.0, 5.0]

        for fold in ("fold_0", "fold_1"):
            assert dg.materialize([fold_scores], instance=instance, resources=resources, partition_key=fold).success
        assert store.read("training", "fold_scores").groupby("fold").size().to_dict() == {"fold_0": 2, "fold_1": 2}

        assert dg.materialize([sectors], instance=instance, resources=resources).success
        assert list(store.read("market", "sectors").columns) == ["ticker", "sector"]
