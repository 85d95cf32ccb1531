"""Dagster event-log storage that writes a batch of asset events in one SQLite transaction, and
keeps its SQLite connections open between events.

A single-run backfill over years of trading days emits one materialization event per partition
and asset. The stock SQLite storage commits each event separately (two databases, one fsync
each), which costs about 10 ms per event: minutes for a full history build. Dagster already hands
such events to ``store_event_batch`` when ``DAGSTER_EVENT_BATCH_SIZE`` is set (the Makefile sets
it); this subclass writes the batch in one transaction per database. Anything else, and any
failure (Dagster then retries event by event), goes through the stock code path.

Private API: ``SqliteEventLogStorage`` (``dagster._core.storage.event_log``) and the steps its
``store_event`` takes for an event of ``ASSET_EVENTS`` (``dagster._core.events``):
``prepare_insert_event``, ``run_connection``, ``index_transaction``, ``_store_asset_event_tags``,
``_store_asset_event``, and ``_store_asset_check_evaluation_planned`` (replaced: the same rows,
written faster). Why: dagster.yaml can only name a storage class, the public API has no
SQLite storage to subclass and no hook into how a storage writes; ``store_event_batch`` is the
extension point Dagster calls, and the batch must write the same rows ``store_event`` does.

On a Dagster upgrade, check ``SqliteEventLogStorage.store_event``: its branch for
``ASSET_EVENTS`` must still be "insert in the run database, insert in the index database, store
the asset event tags, store the asset event" (the batch repeats it, storing the asset key's row
only for the last event of each type per key: ``latest_of_each_kind``), and ``ASSET_EVENTS`` must
still not overlap the event types its other branches handle; test_dagster_adapters.py compares the
rows of a batch (several assets, materializations, planned events and observations interleaved)
with those ``store_event`` writes. The stock ``_store_asset_check_evaluation_planned`` must still
write one PLANNED row per partition of the planned subset; the test of kept connections compares a
range run's planned check and its evaluations with the stock storage's rows. The cursor is closed by SQLAlchemy 2's
``with conn.execute(...)`` (uv.lock pins SQLAlchemy 2). New run files (below) rely on
``_initdb(engine)`` building the whole schema of a run's file on any engine, and on
``path_for_shard``; test_dagster_adapters.py compares a copied run file's schema and rows with the
stock storage's.

Connections: the stock ``_connect`` creates an engine, opens a connection and disposes of both for
every statement group, six times per check evaluation (about 11 ms each on this machine; a range
run records one evaluation per partition and check). ``_connect`` here is the stock one (same lock,
same schema initialisation, one transaction per use) with the engine kept: one per shard, pooled
one connection per thread (``SingletonThreadPool``), at most ``MAX_RUN_SHARD_ENGINES`` run shards
kept (least recently used disposed first, since cross-run queries open every run's file). About
3 ms per check evaluation. Engines are dropped on ``wipe`` (it deletes the run files) and
``dispose``, and never cross a fork (keyed by process id). SQLite in WAL mode (Dagster sets it)
lets other processes read and write while a connection is held open between transactions.

Commits: every connection runs with ``PRAGMA synchronous=NORMAL`` (SQLite's recommended setting in
WAL mode) instead of SQLite's default ``FULL``, which syncs the write-ahead log to disk on every
commit. One trading day through the daily and serving jobs commits about 900 times: 2 ms each
with FULL, about 1.8 s of the run. With NORMAL a commit survives a crash of the process (Dagster's,
the webserver's) as before, the database stays consistent after a power loss or a crash of the
machine, but the events of the last moments before it may be lost. ``synchronous: FULL`` under
the storage's ``config`` in dagster.yaml restores SQLite's default.

New runs: each run gets its own SQLite file, which the stock storage creates with ``_initdb``: it
loads Dagster's ~90 alembic migration scripts to find the head revision, creates the tables and
indexes and stamps the revision, about 0.25-0.4 s per run on this machine (two runs a trading
day). Here the stock ``_initdb`` builds that schema once per process in an in-memory database,
and a new run's file is a copy of it (SQLite's backup API: the same tables, indexes and alembic
revision row, then WAL mode as ``_initdb`` sets it), written aside and linked into place only if
no file of that name appeared meanwhile; an existing file goes through the stock ``_initdb``.
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import dagster as dg
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import serialize_value
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import SingletonThreadPool, StaticPool

# Run-shard engines kept open besides the index shard's (each holds one file handle per thread).
MAX_RUN_SHARD_ENGINES = 8


# The storage's ``synchronous`` setting (module docstring) -> its statement: a PRAGMA takes no
# bound parameters, so each allowed value has its literal statement and nothing is formatted in.
SYNCHRONOUS = {"NORMAL": "PRAGMA synchronous=NORMAL", "FULL": "PRAGMA synchronous=FULL"}


def _set_synchronous(level: str):
    statement = SYNCHRONOUS[level]

    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()

    return on_connect


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with a transactional ``store_event_batch`` for asset events.

    ``base_dir`` defaults to ``$DAGSTER_HOME/storage``, where Dagster's default storage lives;
    ``synchronous`` (``NORMAL`` unless set) is SQLite's setting of every connection (module
    docstring, "Commits").
    """

    def __init__(self, base_dir: str, inst_data=None, synchronous: str = "NORMAL"):
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS)}, not {synchronous!r}")
        self.synchronous = synchronous
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {
            "base_dir": dg.Field(dg.StringSource, is_required=False),
            "synchronous": dg.Field(str, is_required=False, description="NORMAL or FULL"),
        }

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = config_value.get("base_dir") or os.path.join(os.environ["DAGSTER_HOME"], "storage")
        return cls(base_dir=base_dir, inst_data=inst_data, synchronous=config_value.get("synchronous") or "NORMAL")

    def _engine(self, shard: str) -> Engine:
        """The shard's kept engine (created, schema checked once, as the stock ``_connect`` does).
        Call with ``self._db_lock`` held."""
        if getattr(self, "_engines_pid", None) != os.getpid():  # a forked child opens its own
            self._engines: OrderedDict[str, Engine] = OrderedDict()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is None:
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=SingletonThreadPool,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _set_synchronous(self.synchronous))
            if shard not in self._initialized_dbs:
                if shard == INDEX_SHARD_NAME or not self._create_run_shard(shard):
                    self._initdb(engine)
                self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            run_shards = [name for name in self._engines if name != INDEX_SHARD_NAME]
            for name in run_shards[: max(0, len(run_shards) - MAX_RUN_SHARD_ENGINES)]:
                self._engines.pop(name).dispose()
        self._engines.move_to_end(shard)
        return engine

    def _create_run_shard(self, shard: str) -> bool:
        """Create a new run's database file as a copy (SQLite's backup API) of a schema built once
        per process by the stock ``_initdb`` (module docstring, "New runs"); False, and nothing
        written, when the file exists already (the stock ``_initdb`` then checks it as usual)."""
        path = self.path_for_shard(shard)
        if os.path.exists(path):
            return False
        if getattr(self, "_template_pid", None) != os.getpid():
            template = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
            self._initdb(template)
            self._template, self._template_pid = template, os.getpid()
        staging = f"{path}.{os.getpid()}.new"  # not *.db: no reader takes it for a run's file
        target = sqlite3.connect(staging)
        try:
            with self._template.connect() as source:
                source.connection.driver_connection.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
        try:
            os.link(staging, path)  # never replaces: another process may have created it meanwhile
        except FileExistsError:
            return False
        finally:
            os.unlink(staging)
        return True

    def _dispose_engines(self) -> None:
        with self._db_lock:
            for engine in getattr(self, "_engines", {}).values():
                engine.dispose()
            self._engines = OrderedDict()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def wipe(self) -> None:
        self._dispose_engines()  # the run files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()

    def _store_asset_check_evaluation_planned(self, event: dg.EventLogEntry, event_id: int | None) -> None:
        """The stock rows (one PLANNED execution per partition of the planned subset, each holding
        the serialized event), with the event serialized once instead of once per partition and
        the rows inserted as one parameter list instead of one statement of literal values: for a
        650-day range run the stock version re-serialized an event that lists the 650 partitions
        650 times, about 0.7 s per check."""
        planned = event.get_dagster_event().event_specific_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": key} for key in partition_keys])

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        run_ids = {event.run_id for event in events}
        batchable = len(run_ids) == 1 and all(
            event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS for event in events
        )
        if not batchable:
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(run_ids.pop()) as conn:
            for statement in statements:
                conn.execute(statement)
        with self.index_transaction() as conn:
            event_ids = []
            for statement in statements:
                with conn.execute(statement) as result:  # closes the cursor (SQLAlchemy 2)
                    event_ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, list(events), event_ids)
            for i in latest_of_each_kind(events):
                self._store_asset_event(conn, events[i], event_ids[i])


def latest_of_each_kind(events: Sequence[dg.EventLogEntry]) -> list[int]:
    """Positions, in order, of the last event of each (asset key, event type) in ``events``.

    ``_store_asset_event`` keeps one row per asset key (its latest materialization, run id and
    timestamp) and overwrites it event by event; which of those columns an event sets depends only
    on its type. So storing, in order, just the last event of each type per key leaves the row every
    event in turn would leave, without serializing each of a range run's 650 materializations of an
    asset into the row again (about a third of a small history build's time)."""
    last: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(events):
        dagster_event = entry.dagster_event
        if dagster_event is not None and dagster_event.asset_key is not None:
            last[(dagster_event.asset_key.to_string(), dagster_event.event_type_value)] = i
    return sorted(last.values())
