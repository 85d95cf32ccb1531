"""The DuckDB I/O manager's ranged reads: ``date_window`` / ``date_windows`` input metadata narrow a
time-partitioned upstream to a date window in SQL; without them the whole table is read."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.io_manager import AxionDuckDBIOManager

DAYS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")
GROUPS = dg.StaticPartitionsDefinition(["early", "late"])


@dg.asset(partitions_def=DAYS, metadata={"partition_expr": "date", "schema": "t"})
def daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
    day = pd.Timestamp(context.partition_key)
    return pd.DataFrame({"date": [day, day], "ticker": ["A", "B"], "x": [1.0, 2.0]})


seen: dict[str, list[pd.Timestamp]] = {}


@dg.asset(ins={"daily": dg.AssetIn(partition_mapping=dg.AllPartitionMapping(),
                                   metadata={"date_window": ["2024-01-03", "2024-01-05"]})},
          metadata={"schema": "t"})
def fixed_window(daily: pd.DataFrame) -> pd.DataFrame:
    seen["fixed"] = sorted(daily["date"].unique())
    return daily


@dg.asset(ins={"daily": dg.AssetIn(partition_mapping=dg.AllPartitionMapping(),
                                   metadata={"date_windows": {"early": ["2024-01-01", "2024-01-02"]}})},
          partitions_def=GROUPS, metadata={"schema": "t", "partition_expr": "grp"})
def per_partition(context: dg.AssetExecutionContext, daily: pd.DataFrame) -> pd.DataFrame:
    seen[context.partition_key] = sorted(daily["date"].unique())
    return daily.assign(grp=context.partition_key)


def test_inputs_read_only_their_date_window(tmp_path):
    io = AxionDuckDBIOManager(database=str(tmp_path / "w.duckdb"))
    resources = {"io_manager": io}
    with dg.instance_for_test() as instance:
        assert dg.materialize([daily], partition_key="2024-01-01", resources=resources, instance=instance).success
        for key in DAYS.get_partition_keys()[1:]:
            assert dg.materialize([daily], partition_key=key, resources=resources, instance=instance).success
        selection = [daily, fixed_window, per_partition]
        assert dg.materialize(selection, selection=[fixed_window], resources=resources, instance=instance).success
        for key in ("early", "late"):
            assert dg.materialize(selection, selection=[per_partition], partition_key=key, resources=resources,
                                  instance=instance).success
    days = pd.date_range("2024-01-01", "2024-01-10")
    assert seen["fixed"] == list(days[2:5])  # both ends inclusive
    assert seen["early"] == list(days[:2])
    assert seen["late"] == list(days)  # a partition without a window reads the whole table
