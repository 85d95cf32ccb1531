"""One check result and one row count per partition when a run covers a range of partitions.

Why: the daily assets backfill as single runs over a partition range (``BackfillPolicy.single_run``).
A partitioned asset check that returns one ``AssetCheckResult`` in such a run records one
evaluation without a partition, and the UI shows every planned partition of the check as
skipped ("Skipped (2087)" after a passing range run). Likewise output metadata added once applies
to every partition of the range, so each day claimed the whole range's row count.

How: a check yields ``dg.AssetCheckEvaluation`` events with ``partition`` set, one per partition key
of the run, plus the ``Output`` its op declares (what Dagster itself yields for an
``AssetCheckResult``: ``execute_step._process_asset_results_to_events``). Each evaluation names the
partition's latest materialization as its target, as ``AssetCheckResult.to_asset_check_evaluation``
does for a single partition: the UI counts a partition's check result only while it targets the
partition's latest materialization (``AssetCheckPartitionInfo.is_current``), and without a target the
check's partitions tab showed every partition of a passing range run as missing. The I/O manager adds each
partition's row count through ``OutputContext.step_context.add_asset_metadata(partition_key=...)``,
the step-context method behind the public ``AssetExecutionContext.add_asset_metadata``; the
output context has no public way to reach it.

Private parts: the check op's single output (its name, read from ``op_def.output_defs``),
``OutputContext.step_context``, ``AssetCheckEvaluationTargetMaterializationData`` and the event log's
``get_latest_storage_id_by_partition``. On a Dagster upgrade, ``test_dagster_adapters.py`` runs a range
run and asserts one evaluation and one row count per partition, none skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

import dagster as dg
import pandas as pd
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

DATE_KEY = "%Y-%m-%d"
# The run tags that make a run a single-run backfill of a partition range (Dagster's own names).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# Dagster writes each check evaluation as its own event, never in a batch (about 3 ms each with the
# project's event-log storage, 11 ms with the stock one): a range run of a whole history would record
# 15 daily checks x 2,087 days. Runs longer than this record one evaluation for the range, as Dagster
# does; ``make run`` splits its history into runs this long (``AXION_BACKFILL_MAX_DAYS``).
MAX_PARTITION_RESULTS = 300


def range_tags(keys: list[str]) -> dict[str, str]:
    """The tags of one run over the partition range ``keys[0] .. keys[-1]``."""
    return {RANGE_START: keys[0], RANGE_END: keys[-1]}


def run_partition_keys(context: Any) -> list[str]:
    """The partition keys a (check or asset) run covers: one key, the keys of its range, or none."""
    op_context = getattr(context, "op_execution_context", context)
    # has_partition_key(_range), not has_partitions: a context built by build_asset_context (the
    # tests' direct invocation) has no step context behind has_partitions
    if op_context.has_partition_key_range:
        return list(op_context.partition_keys)
    if op_context.has_partition_key:
        return [op_context.partition_key]
    return []


def day_keys(dates: Collection) -> set[str]:
    """Partition keys of trading dates (any values ``pd.to_datetime`` reads)."""
    return {d.strftime(DATE_KEY) for d in pd.to_datetime(pd.Index(list(dates))).dropna()}


def partition_results(
    context: dg.AssetCheckExecutionContext,
    result: dg.AssetCheckResult,
    failing_days: Collection | None = None,
) -> Iterator[Any]:
    """``result`` as this run's check events: the result itself in a single-partition or
    unpartitioned run, else one evaluation per partition of the range.

    ``failing_days`` (trading dates) attributes a failed result to the days it failed on: those
    partitions fail, the others pass. Without it, every partition gets the range's verdict (the
    check judged the range as a whole). Each partition's metadata is the range's, plus
    ``evaluated_over`` (the range) and ``failed_on_this_day`` when days are attributed. A run of
    more than ``MAX_PARTITION_RESULTS`` partitions records one evaluation for the range (with the
    days it failed on in ``failed_on``)."""
    keys = run_partition_keys(context)
    op_context = context.op_execution_context
    if len(keys) <= 1 and not op_context.has_partition_key_range:
        yield result
        return
    (spec,) = context.check_specs
    failing = day_keys(failing_days) if failing_days is not None else None
    if failing is not None and not result.passed and not failing & set(keys):
        failing = None  # failed without a day to blame: the range's verdict for every day
    if len(keys) > MAX_PARTITION_RESULTS:
        note = {
            "evaluated_over": f"{keys[0]} .. {keys[-1]} ({len(keys)} partitions, one evaluation)",
            "per_partition_results": f"not recorded: more than {MAX_PARTITION_RESULTS} partitions in one run",
        }
        if failing:
            note["failed_on"] = ", ".join(sorted(failing)[:20]) + (" ..." if len(failing) > 20 else "")
        yield result.with_metadata({**result.metadata, **note})
        return
    scope = f"{keys[0]} .. {keys[-1]} ({len(keys)} partitions, one evaluation)"
    targets = latest_materializations(context.instance, spec.asset_key, keys)
    (output,) = op_context.op_def.output_defs
    yield dg.Output(None, output_name=output.name)
    for key in keys:
        passed = result.passed if failing is None else key not in failing
        extra: Mapping[str, Any] = {"evaluated_over": scope}
        if failing is not None:
            extra = {**extra, "failed_on_this_day": key in failing}
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=passed,
            metadata={**result.metadata, **extra},
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=key,
            target_materialization_data=targets.get(key),
        )


def latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: Collection[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The latest materialization of each of ``keys`` (partitions of ``asset_key``) that has one, in two
    queries whatever the number of partitions (Dagster looks one partition up per check result)."""
    storage_ids = instance.event_log_storage.get_latest_storage_id_by_partition(
        asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(keys)
    )
    if not storage_ids:
        return {}
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=list(storage_ids.values())), limit=len(storage_ids)
    ).records
    return {
        r.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
        )
        for r in records
        if r.partition_key is not None
    }


def add_partition_row_counts(context: dg.OutputContext, frame: pd.DataFrame, column: str) -> bool:
    """Record ``dagster/partition_row_count`` (and ``tickers`` when the frame has them) on each
    partition of a multi-partition output: its own rows, those whose partition ``column`` (the
    asset's ``partition_expr``) names it. False
    when the output covers one partition or none (the caller records one count as usual)."""
    if not context.has_asset_partitions or column not in frame.columns:
        return False
    keys = list(context.asset_partition_keys)
    if len(keys) <= 1:
        return False
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        values = values.dt.strftime(DATE_KEY)
    values = values.astype(str)
    counts = values.value_counts()
    tickers = frame["ticker"].groupby(values.to_numpy()).nunique() if "ticker" in frame.columns else None
    for key in keys:
        own = {"dagster/partition_row_count": int(counts.get(key, 0))}
        if tickers is not None:
            own["tickers"] = int(tickers.get(key, 0))
        context.step_context.add_asset_metadata(own, asset_key=context.asset_key, partition_key=key)
    return True
