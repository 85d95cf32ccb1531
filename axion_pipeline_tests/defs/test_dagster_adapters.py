"""The private Dagster APIs behind ``axion_pipeline.defs.adapters``: a contract test per adapter, plus
behavioural tests where they are cheap.

A contract test fails on a Dagster (or dagster-duckdb) upgrade that removes a private name an adapter
uses or changes the parameters the adapter calls it with. The behavioural tests check that the adapter
still does its job. The last test keeps private Dagster imports inside the adapters.
"""

from __future__ import annotations

import ast
import inspect
import sqlite3
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "axion_pipeline"


def _params(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def _materializations(run_id: str, n: int) -> list[dg.EventLogEntry]:
    """``n`` materialization events of one run, one per daily partition of asset ``prices``."""
    from dagster._core.events import StepMaterializationData

    return [
        dg.EventLogEntry(
            error_info=None,
            level="debug",
            user_message="",
            run_id=run_id,
            timestamp=1.7e9 + i,
            step_key="prices",
            job_name="daily_job",
            dagster_event=dg.DagsterEvent(
                dg.DagsterEventType.ASSET_MATERIALIZATION.value,
                "daily_job",
                step_key="prices",
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization(
                        "prices",
                        partition=str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=i))[:10],
                        tags={"dagster/data_version": str(i)},
                    )
                ),
            ),
        )
        for i in range(n)
    ]


# --- adapters/event_log.py -------------------------------------------------------------------------------


def test_event_log_adapter_contract():
    from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from axion_pipeline.defs.adapters.event_log import BatchingSqliteEventLogStorage

    assert issubclass(BatchingSqliteEventLogStorage, SqliteEventLogStorage)
    storage = SqliteEventLogStorage
    assert _params(storage.__init__) == ["self", "base_dir", "inst_data"]
    assert _params(storage.from_config_value) == ["inst_data", "config_value"]
    assert _params(storage.store_event_batch) == ["self", "events"]
    assert _params(storage.prepare_insert_event) == ["self", "event"]
    assert _params(storage.run_connection) == ["self", "run_id"]
    assert _params(storage.index_transaction) == ["self"]
    assert _params(storage._store_asset_event_tags) == ["self", "conn", "events", "event_ids"]
    assert _params(storage._store_asset_event) == ["self", "conn", "event", "event_id"]
    stock_planned = SqliteEventLogStorage._store_asset_check_evaluation_planned
    assert _params(stock_planned) == ["self", "event", "event_id"]
    assert "AssetCheckExecutionRecordStatus.PLANNED" in inspect.getsource(stock_planned)
    # the batch repeats store_event's branch for ASSET_EVENTS and none of its other branches
    assert dg.DagsterEventType.ASSET_MATERIALIZATION in ASSET_EVENTS
    assert not ASSET_EVENTS & (set(ASSET_CHECK_EVENTS) | set(EVENT_TYPE_TO_PIPELINE_RUN_STATUS))
    # the kept-engine _connect replaces the stock one: same signature, same lock and schema set-up
    assert _params(storage._connect) == ["self", "shard"] and _params(storage._initdb)[:2] == ["self", "engine"]
    assert _params(storage.conn_string_for_shard) == ["self", "shard_name"]
    assert "self._db_lock" in inspect.getsource(storage.__init__)
    assert "self._initialized_dbs.add(shard)" in inspect.getsource(storage._connect)


def _rows(db: Path) -> dict[str, list[str]]:
    """Every table's rows, without the wall clock: columns defaulting to the time of insert and
    ``secondary_indexes`` (when the storage was created)."""
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        found = {}
        for table in set(tables) - {"secondary_indexes"}:
            info = con.execute(f"pragma table_info({table})").fetchall()
            columns = [f'"{c[1]}"' for c in info if c[4] != "CURRENT_TIMESTAMP"]
            found[table] = sorted(map(repr, con.execute(f"select {', '.join(columns)} from {table}")))
        return found


def _interleaved_asset_events(run_id: str, n: int) -> list[dg.EventLogEntry]:
    """``n`` days of two assets as a range run and an observer emit them: per day, a planned event
    and a materialization of ``prices``, a materialization of ``features`` and, every third day, an
    observation of ``prices`` after them. So each event type's last event of an asset is at a
    different place, and with 30 days the last event of ``prices`` is an observation, which sets no
    materialization."""
    from dagster._core.events import AssetMaterializationPlannedData, AssetObservationData, StepMaterializationData

    out = []

    def entry(event_type, data, step):
        event = dg.DagsterEvent(event_type.value, "daily_job", step_key=step, event_specific_data=data)
        out.append(
            dg.EventLogEntry(
                error_info=None,
                level="debug",
                user_message="",
                run_id=run_id,
                timestamp=1.7e9 + len(out),
                step_key=step,
                job_name="daily_job",
                dagster_event=event,
            )
        )

    for i in range(n):
        day = str(pd.Timestamp("2024-01-01") + pd.Timedelta(days=i))[:10]
        entry(
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            AssetMaterializationPlannedData(dg.AssetKey("prices"), partition=day),
            None,
        )
        for asset in ("prices", "features"):
            materialization = dg.AssetMaterialization(asset, partition=day, metadata={"rows": i})
            entry(dg.DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(materialization), asset)
        if i % 3 == 2:
            entry(
                dg.DagsterEventType.ASSET_OBSERVATION,
                AssetObservationData(dg.AssetObservation("prices", partition=day)),
                "prices",
            )
    return out


def test_only_the_last_event_of_each_kind_and_asset_updates_the_asset_row():
    from axion_pipeline.defs.adapters.event_log import latest_of_each_kind

    events = _interleaved_asset_events("run-1", 5)
    kept = [
        (e.dagster_event.asset_key.path[0], e.dagster_event_type.value, e.timestamp)
        for e in (events[i] for i in latest_of_each_kind(events))
    ]
    # day 4: planned prices, prices, features; the last observation was day 2's (every third day)
    assert [k[:2] for k in kept] == [
        ("prices", "ASSET_OBSERVATION"),
        ("prices", "ASSET_MATERIALIZATION_PLANNED"),
        ("prices", "ASSET_MATERIALIZATION"),
        ("features", "ASSET_MATERIALIZATION"),
    ]
    assert [k[2] for k in kept] == sorted(k[2] for k in kept)


@pytest.mark.parametrize("make_events", [_materializations, _interleaved_asset_events])
def test_batching_storage_writes_what_the_stock_storage_writes_event_by_event(tmp_path, make_events):
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from axion_pipeline.defs.adapters.event_log import BatchingSqliteEventLogStorage

    events = make_events("run-1", 30)
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    batching = BatchingSqliteEventLogStorage(str(tmp_path / "batch"))
    for event in events:
        stock.store_event(event)
    batching.store_event_batch(events)
    for storage in (stock, batching):
        storage.dispose()

    for db in ("index.db", "run-1.db"):
        written = _rows(tmp_path / "batch" / db)
        assert len(written["event_logs"]) == len(events)
        assert written == _rows(tmp_path / "stock" / db), db


def _check_evaluations(run_id: str, keys: list[str]) -> list[dg.EventLogEntry]:
    """The planned event of a range run's check, then one evaluation per partition (as
    ``partition_results`` yields them), the last one failing."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluation,
        AssetCheckEvaluationPlanned,
    )

    def entry(event_type, data, offset):
        event = dg.DagsterEvent(event_type_value=event_type.value, job_name="daily_job", event_specific_data=data)
        return dg.EventLogEntry(
            error_info=None, level=20, user_message="", run_id=run_id, timestamp=1.7e9 + offset, dagster_event=event
        )

    key, subset = dg.AssetKey("prices"), dg.StaticPartitionsDefinition(keys).subset_with_partition_keys(keys)
    planned = AssetCheckEvaluationPlanned(asset_key=key, check_name="unique_keys", partitions_subset=subset)
    return [entry(dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, planned, 0)] + [
        entry(
            dg.DagsterEventType.ASSET_CHECK_EVALUATION,
            AssetCheckEvaluation(asset_key=key, check_name="unique_keys", passed=i < len(keys) - 1, partition=k),
            i + 1,
        )
        for i, k in enumerate(keys)
    ]


def test_kept_connections_write_what_the_stock_storage_writes(tmp_path):
    """Check evaluations stored one by one through kept engines: the same rows as the stock
    storage's; at most MAX_RUN_SHARD_ENGINES run files stay open; a second storage on the same
    directory (another process, as the webserver) sees every write; wipe closes before deleting."""
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from axion_pipeline.defs.adapters.event_log import MAX_RUN_SHARD_ENGINES, BatchingSqliteEventLogStorage

    keys = [f"2024-01-{d:02d}" for d in range(1, 21)]
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    kept = BatchingSqliteEventLogStorage(str(tmp_path / "kept"))
    reader = BatchingSqliteEventLogStorage(str(tmp_path / "kept"))
    for event in _check_evaluations("run-1", keys):
        stock.store_event(event)
        kept.store_event(event)
    check_key = dg.AssetCheckKey(dg.AssetKey("prices"), "unique_keys")
    for partition, passed in [(keys[0], True), (keys[-1], False)]:
        (record,) = reader.get_asset_check_execution_history(
            check_key, limit=5, partition_filter=PartitionKeyFilter(key=partition)
        )
        assert record.status.value == ("SUCCEEDED" if passed else "FAILED")
    for storage in (stock, kept):
        storage.dispose()
    for db in ("index.db", "run-1.db"):
        assert _rows(tmp_path / "kept" / db) == _rows(tmp_path / "stock" / db), db
    assert len(_rows(tmp_path / "kept" / "index.db")["asset_check_executions"]) == len(keys)

    for n in range(MAX_RUN_SHARD_ENGINES + 4):  # many runs: the oldest run files are closed
        kept.store_event(_check_evaluations(f"run-{n + 2}", keys[:1])[0])
    assert len(kept._engines) == 1 + MAX_RUN_SHARD_ENGINES and "index" in kept._engines
    assert len(reader.get_logs_for_run("run-2")) == 1  # written through a since-closed engine
    kept.wipe()
    assert not (tmp_path / "kept" / "run-2.db").exists() and list(kept._engines) == ["index"]  # index wiped after
    kept.store_event(_check_evaluations("run-2", keys[:1])[0])  # reopened, schema set up again
    assert len(reader.get_logs_for_run("run-2")) == 1


def test_batching_storage_stores_a_batch_in_one_call_read_back_through_the_instance(tmp_path, monkeypatch):
    from axion_pipeline.defs.storage import BatchingSqliteEventLogStorage

    overrides = {
        "event_log_storage": {
            "module": "axion_pipeline.defs.storage",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(tmp_path / "event_log")},
        }
    }
    events = _materializations("run-1", 50)
    partitions = [e.dagster_event.partition for e in events]
    key = dg.AssetKey("prices")
    with dg.instance_for_test(overrides=overrides) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, BatchingSqliteEventLogStorage)

        def one_by_one(event):
            raise AssertionError("the batch went event by event")

        monkeypatch.setattr(storage, "store_event", one_by_one)
        storage.store_event_batch(events)

        assert len(instance.all_logs("run-1")) == 50
        records = instance.fetch_materializations(key, limit=100).records
        assert sorted(r.partition_key for r in records) == partitions
        assert instance.get_latest_materialization_event(key).asset_materialization.partition == partitions[-1]
        assert instance.get_materialized_partitions(key) == set(partitions)


# --- adapters/db_io.py -----------------------------------------------------------------------------------


def test_db_io_adapter_contract():
    from dagster._core.storage.db_io_manager import DbIOManager, TableSlice
    from dagster_duckdb import DuckDBIOManager
    from dagster_duckdb.io_manager import DuckDbClient
    from dagster_duckdb_pandas import DuckDBPandasTypeHandler

    from axion_pipeline.defs import io_manager

    init = inspect.signature(DbIOManager.__init__).parameters
    called = ["db_client", "database", "schema", "type_handlers", "default_load_type", "io_manager_name"]
    assert all(name in init and init[name].kind != inspect.Parameter.POSITIONAL_ONLY for name in called)
    assert {"schema", "table", "partition_dimensions"} <= set(TableSlice._fields)
    assert len(_params(DuckDbClient.connect)) == 2  # (context, table_slice), called by position
    assert _params(DuckDbClient.get_select_statement) == ["table_slice"]
    assert _params(DuckDBPandasTypeHandler.load_input) == ["self", "context", "table_slice", "connection"]
    assert _params(DuckDBPandasTypeHandler.handle_output) == ["self", "context", "table_slice", "obj", "connection"]
    assert _params(DuckDBIOManager.create_io_manager) == ["self", "context"]
    assert {"database", "schema_"} <= set(DuckDBIOManager.model_fields)
    assert issubclass(io_manager.QueuedDuckDbClient, DuckDbClient)


def test_io_manager_writes_and_reads_through_the_queued_client(tmp_path, monkeypatch):
    from axion_pipeline.defs import io_manager

    turns = []
    queue = io_manager.writer_queue

    def counted_queue(database, wait_seconds):
        turns.append((database, wait_seconds))
        return queue(database, wait_seconds=wait_seconds)

    monkeypatch.setattr(io_manager, "writer_queue", counted_queue)
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-03")

    @dg.asset(metadata={"schema": "market"})
    def sectors() -> pd.DataFrame:
        return pd.DataFrame({"ticker": ["A", "B"], "sector": ["x", "y"]})

    @dg.asset(metadata={"schema": "market", "partition_expr": "date"}, partitions_def=days)
    def prices(context, sectors: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"date": pd.Timestamp(context.partition_key), "ticker": sectors["ticker"], "close": 1.0})

    database = str(tmp_path / "w.duckdb")
    resources = {"io_manager": io_manager.AxionDuckDBIOManager(database=database, queue_wait_seconds=60)}
    for _ in range(2):  # re-materializing a partition replaces it
        assert dg.materialize([sectors, prices], resources=resources, partition_key="2024-01-02").success
    with duckdb.connect(database, read_only=True) as con:
        count, first = con.execute("select count(*), min(date) from market.prices").fetchone()
    assert (count, first) == (2, pd.Timestamp("2024-01-02"))
    assert len(turns) == 6 and set(turns) == {(database, 60)}  # per run: write sectors, read sectors, write prices


# --- adapters/db_io.py: the client and handler of the Parquet I/O manager ---------------------------------


def test_db_client_and_type_handler_contract():
    """``defs.parquet_io_manager`` implements Dagster's ``DbClient`` and ``DbTypeHandler``: the
    methods ``DbIOManager`` calls, with these parameters, and the table slice field it reads."""
    from axion_pipeline.defs.adapters.db_io import DbClient, DbTypeHandler, TableSlice
    from axion_pipeline.defs.parquet_io_manager import ParquetDbClient, ParquetPandasTypeHandler

    for name in ("delete_table_slice", "get_select_statement", "ensure_schema_exists", "connect", "get_table_name"):
        assert callable(getattr(DbClient, name)) and name in vars(ParquetDbClient), name
    assert _params(DbClient.delete_table_slice) == ["context", "table_slice", "connection"]
    assert _params(DbClient.ensure_schema_exists) == ["context", "table_slice", "connection"]
    assert _params(DbClient.connect) == ["context", "table_slice"]
    assert {"handle_output", "load_input", "supported_types"} == set(DbTypeHandler.__abstractmethods__)
    assert not ParquetPandasTypeHandler.__abstractmethods__
    assert _params(DbTypeHandler.handle_output) == ["self", "context", "table_slice", "obj", "connection"]
    assert {"database", "schema", "table", "partition_dimensions", "columns"} <= set(TableSlice._fields)


# --- private imports stay in the adapters ----------------------------------------------------------------


def _is_private(module: str) -> bool:
    """``dagster._...``, or a submodule of one of Dagster's libraries (``dagster_duckdb.io_manager``:
    their public API is what the package exports)."""
    top, *rest = module.split(".")
    return (top == "dagster" and any(p.startswith("_") for p in rest)) or (top.startswith("dagster_") and bool(rest))


def _private_dagster_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_private(node.module):
                found.append(node.module)
            elif node.module == "dagster":  # from dagster import _check
                found += [f"dagster.{alias.name}" for alias in node.names if alias.name.startswith("_")]
    return found


# --- adapters/code_location_runs.py ----------------------------------------------------------------------


def test_code_location_runs_adapter_contract():
    from dagster._core.execution.api import execute_run
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin, RemoteRepositoryOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from axion_pipeline.defs.adapters.code_location_runs import workspace_job_origin

    assert _params(execute_run)[:4] == ["job", "dagster_run", "instance", "raise_on_error"]
    assert {"job_code_origin", "remote_job_origin", "tags", "run_config"} <= set(
        _params(dg.DagsterInstance.create_run_for_job)
    )
    origin = workspace_job_origin("daily_job")  # built with keyword fields: a renamed one fails here
    assert isinstance(origin.repository_origin, RemoteRepositoryOrigin)
    location = origin.repository_origin.code_location_origin
    assert isinstance(location, ManagedGrpcPythonEnvCodeLocationOrigin) and location.location_name == "axion_pipeline"
    assert isinstance(location.loadable_target_origin, LoadableTargetOrigin)
    assert location.loadable_target_origin.module_name == "axion_pipeline.definitions"
    assert origin.repository_origin.get_label() == "__repository__@axion_pipeline"  # the UI's run filter


def test_private_dagster_imports_only_in_the_adapters():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        imports = _private_dagster_imports(ast.parse(path.read_text(), filename=str(path)))
        if imports and not relative.startswith("defs/adapters/"):
            found[relative] = imports
    assert found == {}


# --- adapters/partition_results.py ------------------------------------------------------------------------


def _range_run_definitions():
    """A daily asset backfilled in one run, a check failing on one day, an I/O manager that counts rows
    per partition as the warehouse's does."""
    from axion_pipeline.defs.adapters.partition_results import add_partition_row_counts, partition_results

    days = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-06")

    @dg.asset(partitions_def=days, backfill_policy=dg.BackfillPolicy.single_run())
    def table(context) -> pd.DataFrame:
        start, end = context.partition_time_window
        dates = pd.date_range(
            pd.Timestamp(start).tz_localize(None), pd.Timestamp(end).tz_localize(None), inclusive="left"
        )
        # day k of January holds k rows
        return pd.DataFrame({"date": [d for d in dates for _ in range(d.day)]})

    @dg.asset_check(asset=table, partitions_def=days, blocking=False)
    def no_third_of_january(context, table: pd.DataFrame):
        bad = table.loc[table["date"] == pd.Timestamp("2024-01-03"), "date"]
        yield from partition_results(context, dg.AssetCheckResult(passed=bad.empty, metadata={"rows": len(table)}), bad)

    class CountingIO(dg.IOManager):
        stored: pd.DataFrame | None = None

        def handle_output(self, context, obj):
            type(self).stored = obj
            if not add_partition_row_counts(context, obj, "date"):
                context.add_output_metadata({"dagster/partition_row_count": len(obj)})

        def load_input(self, context):
            return type(self).stored

    return table, no_third_of_january, CountingIO()


def test_partition_results_adapter_contract():
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )
    from dagster._core.execution.context.output import OutputContext
    from dagster._core.execution.context.system import StepExecutionContext
    from dagster._core.storage.event_log.base import EventLogStorage

    assert "step_context" in dir(OutputContext)
    assert _params(StepExecutionContext.add_asset_metadata)[:4] == ["self", "metadata", "asset_key", "partition_key"]
    assert "partition" in _params(dg.AssetCheckEvaluation.__new__)
    assert "target_materialization_data" in _params(dg.AssetCheckEvaluation.__new__)
    assert AssetCheckEvaluationTargetMaterializationData(storage_id=1, run_id="r", timestamp=0.0).storage_id == 1
    assert _params(EventLogStorage.get_latest_storage_id_by_partition)[:4] == [
        "self",
        "asset_key",
        "event_type",
        "partitions",
    ]


def test_a_range_run_records_one_check_result_and_one_row_count_per_partition(tmp_path):
    table, check, io = _range_run_definitions()
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-05"}
    result = dg.materialize([table, check], instance=instance, resources={"io_manager": io}, tags=tags)
    evaluations = {
        e.event_specific_data.partition: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert sorted(evaluations) == [f"2024-01-0{d}" for d in range(1, 6)]  # none without a partition
    assert {k: v.passed for k, v in evaluations.items()} == {f"2024-01-0{d}": d != 3 for d in range(1, 6)}
    assert evaluations["2024-01-04"].metadata["evaluated_over"].value.startswith("2024-01-01 .. 2024-01-05")
    counts = {
        e.event_specific_data.materialization.partition: e.event_specific_data.materialization.metadata[
            "dagster/partition_row_count"
        ].value
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    }
    assert counts == {f"2024-01-0{d}": d for d in range(1, 6)}
    key = dg.AssetCheckKey(dg.AssetKey("table"), "no_third_of_january")
    infos = instance.event_log_storage.get_asset_check_partition_info([key])
    status = {i.partition_key: i.latest_execution_status.value for i in infos}
    assert status == {f"2024-01-0{d}": "FAILED" if d == 3 else "SUCCEEDED" for d in range(1, 6)}
    # each result targets its partition's materialization: the UI counts only current results (a
    # result without a target showed every partition of the range as missing)
    assert all(i.is_current for i in infos), [i.partition_key for i in infos if not i.is_current]


def test_a_single_partition_run_records_its_check_result_on_its_partition(tmp_path):
    table, check, io = _range_run_definitions()
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    result = dg.materialize([table, check], instance=instance, resources={"io_manager": io}, partition_key="2024-01-03")
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert (evaluation.partition, evaluation.passed) == ("2024-01-03", False)
    (materialization,) = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert materialization.metadata["dagster/partition_row_count"].value == 3


def test_a_range_longer_than_the_cap_records_one_check_result_naming_the_failed_days(tmp_path, monkeypatch):
    from axion_pipeline.defs.adapters import partition_results

    monkeypatch.setattr(partition_results, "MAX_PARTITION_RESULTS", 3)
    table, check, io = _range_run_definitions()
    instance = dg.DagsterInstance.local_temp(str(tmp_path))
    tags = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-05"}
    result = dg.materialize([table, check], instance=instance, resources={"io_manager": io}, tags=tags)
    (evaluation,) = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert evaluation.partition is None and not evaluation.passed
    assert evaluation.metadata["failed_on"].value == "2024-01-03"
    assert "more than 3 partitions" in evaluation.metadata["per_partition_results"].value


@pytest.mark.parametrize("configured, expected", [({}, 1), ({"synchronous": "FULL"}, 2)])
def test_event_log_connections_commit_with_the_configured_synchronous(tmp_path, configured, expected):
    """SQLite's ``synchronous`` of the storage's connections: NORMAL (1) unless dagster.yaml sets FULL (2)."""
    from axion_pipeline.defs.adapters.event_log import BatchingSqliteEventLogStorage

    storage = BatchingSqliteEventLogStorage.from_config_value(None, {"base_dir": str(tmp_path), **configured})
    storage.store_event(_check_evaluations("run-1", ["2024-01-02"])[0])
    for shard in ("index", "run-1"):
        with storage._connect(shard) as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == expected
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    storage.dispose()
    with pytest.raises(ValueError, match="synchronous"):
        BatchingSqliteEventLogStorage(str(tmp_path), synchronous="OFF")


def _schema(path) -> tuple:
    with sqlite3.connect(path) as con:
        return (
            sorted(con.execute("select type, name, tbl_name, sql from sqlite_master").fetchall()),
            con.execute("select * from alembic_version").fetchall(),
            con.execute("pragma journal_mode").fetchone(),
            con.execute("pragma user_version").fetchone(),
        )


def test_a_new_runs_file_is_a_copy_of_the_schema_the_stock_storage_creates(tmp_path):
    """A run's file made from the per-process template has the stock ``_initdb``'s tables, indexes,
    alembic revision and WAL mode, and stores what the stock storage stores; a file that exists
    already is left to the stock check, never replaced."""
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from axion_pipeline.defs.adapters.event_log import BatchingSqliteEventLogStorage

    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    kept = BatchingSqliteEventLogStorage(str(tmp_path / "kept"))
    events = _check_evaluations("run-1", ["2024-01-02", "2024-01-03"])
    for event in events:
        stock.store_event(event)
        kept.store_event(event)
    for storage in (stock, kept):
        storage.dispose()
    assert _schema(tmp_path / "kept" / "run-1.db") == _schema(tmp_path / "stock" / "run-1.db")
    assert _schema(tmp_path / "kept" / "run-1.db")[2] == ("wal",)
    assert _rows(tmp_path / "kept" / "run-1.db") == _rows(tmp_path / "stock" / "run-1.db")
    assert not [p.name for p in (tmp_path / "kept").iterdir() if p.name.endswith(".new")]  # no staging file left

    again = BatchingSqliteEventLogStorage(str(tmp_path / "kept"))  # another process: the file exists
    assert not again._create_run_shard("run-1")
    again.store_event(_check_evaluations("run-1", ["2024-01-04"])[0])
    assert len(again.get_logs_for_run("run-1")) == len(events) + 1
    again.dispose()
