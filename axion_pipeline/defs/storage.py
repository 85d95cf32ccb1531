"""The instance's event-log storage, under the name dagster_instance.yaml and the tests give it.

``BatchingSqliteEventLogStorage`` writes the asset events of a single-run backfill in one SQLite
transaction per batch (``DAGSTER_EVENT_BATCH_SIZE``, set by the Makefile) instead of one commit per
event. It subclasses Dagster's private SQLite storage, so it lives in
``axion_pipeline.defs.adapters.event_log``.
"""

from axion_pipeline.defs.adapters.event_log import BatchingSqliteEventLogStorage

__all__ = ["BatchingSqliteEventLogStorage"]
