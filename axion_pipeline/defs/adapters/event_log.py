"""Dagster event-log storage that writes a batch of asset events in one SQLite transaction.

A single-run backfill over years of trading days emits one materialization event per partition
and asset. The stock SQLite storage commits each event separately (two databases, one fsync
each), which costs about 10 ms per event: minutes for a full history build. Dagster already hands
such events to ``store_event_batch`` when ``DAGSTER_EVENT_BATCH_SIZE`` is set (the Makefile sets
it); this subclass writes the batch in one transaction per database. Anything else, and any
failure (Dagster then retries event by event), goes through the stock code path.

Private API: ``SqliteEventLogStorage`` (``dagster._core.storage.event_log``) and the steps its
``store_event`` takes for an event of ``ASSET_EVENTS`` (``dagster._core.events``):
``prepare_insert_event``, ``run_connection``, ``index_transaction``, ``_store_asset_event_tags``,
``_store_asset_event``. Why: dagster_instance.yaml can only name a storage class, the public API has no
SQLite storage to subclass and no hook into how a storage writes; ``store_event_batch`` is the
extension point Dagster calls, and the batch must write the same rows ``store_event`` does.

On a Dagster upgrade, check ``SqliteEventLogStorage.store_event``: its branch for
``ASSET_EVENTS`` must still be "insert in the run database, insert in the index database, store
the asset event tags, store the asset event" (the batch repeats it), and ``ASSET_EVENTS`` must
still not overlap the event types its other branches handle; test_dagster_adapters.py compares the
rows of a batch with those ``store_event`` writes. The cursor is closed by SQLAlchemy 2's
``with conn.execute(...)`` (uv.lock pins SQLAlchemy 2).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import dagster as dg
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with a transactional ``store_event_batch`` for asset events.

    ``base_dir`` defaults to ``$DAGSTER_HOME/storage``, where Dagster's default storage lives.
    """

    @classmethod
    def config_type(cls):
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        base_dir = config_value.get("base_dir") or os.path.join(os.environ["DAGSTER_HOME"], "storage")
        return cls(base_dir=base_dir, inst_data=inst_data)

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
            for event, event_id in zip(events, event_ids):
                self._store_asset_event(conn, event, event_id)
