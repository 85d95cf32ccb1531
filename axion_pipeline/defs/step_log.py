"""One INFO line per stored asset output: what the step read and wrote, the dates, the seconds.

Called by the I/O manager, which every asset output and every table input passes through, so no
asset logs by hand: ``record_read`` counts the rows of each input the step loads,
``log_written`` logs the line when the output is stored. The seconds run from the step's
STEP_START event (the whole step: loading, computing, writing)."""

from __future__ import annotations

import time

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import date_span

# (run id, step key) -> input name -> rows loaded, for the steps this process runs
_READS: dict[tuple[str, str], dict[str, int]] = {}
_MAX_STEPS = 1000  # a long-lived process (tests, in-process runs) forgets the oldest steps


def in_a_step(context: dg.InputContext | dg.OutputContext) -> bool:
    """Whether the context belongs to a step of a run (not one built by hand, e.g. by
    ``dg.build_output_context`` in a test of the type handler)."""
    try:
        context.step_context  # noqa: B018 - the property raises outside a step
    except dg.DagsterInvariantViolationError:
        return False
    return True


def record_read(context: dg.InputContext, frame: pd.DataFrame) -> None:
    """Count the rows of an input the step just loaded."""
    if not in_a_step(context):
        return
    step = context.step_context
    reads = _READS.setdefault((step.run_id, step.step.key), {})
    reads[context.name] = reads.get(context.name, 0) + len(frame)
    while len(_READS) > _MAX_STEPS:
        _READS.pop(next(iter(_READS)))


def step_reads(run_id: str, step_key: str) -> dict[str, int]:
    """Input name -> rows loaded, of a step this process ran (empty when it loaded no table input
    or is forgotten): the daily benchmark's rows-read column."""
    return dict(_READS.get((run_id, step_key), {}))


def log_written(context: dg.OutputContext, frame: pd.DataFrame, table: str) -> str | None:
    """Log (INFO) and return the step's line for an output just stored in ``table`` (None outside a step)."""
    if not in_a_step(context):
        return None
    asset = context.asset_key.to_user_string() if context.has_asset_key else context.name
    partitions = None
    if context.has_asset_partitions:
        keys = context.asset_partition_key_range
        partitions = keys.start if keys.start == keys.end else f"{keys.start} .. {keys.end}"
    line = summary_line(
        asset,
        partitions,
        frame,
        table,
        _READS.get((context.run_id, context.step_key), {}),
        _step_seconds(context),
    )
    context.log.info(line)
    return line


def summary_line(
    asset: str,
    partitions: str | None,
    frame: pd.DataFrame,
    table: str,
    reads: dict[str, int],
    seconds: float | None,
) -> str:
    """'<asset> [<partitions>]: wrote N rows (D dates, first .. last) to <table>; read <input> N, ...; S s'."""
    head = f"{asset} [{partitions}]" if partitions else asset
    out = f"wrote {len(frame):,} rows"
    column = next((c for c in ("date", "label_date") if c in frame.columns), None)
    if column is not None and len(frame):
        out += f" ({frame[column].nunique():,} dates, {date_span(frame, column)})"
    read = ", ".join(f"{name} {rows:,}" for name, rows in reads.items()) if reads else "no table inputs"
    took = f"; {seconds:.1f} s" if seconds is not None else ""
    return f"{head}: {out} to {table}; read {read}{took}"


def _step_seconds(context: dg.OutputContext) -> float | None:
    """Seconds since the step's STEP_START event (None when the instance holds none)."""
    records = context.step_context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.STEP_START
    ).records
    starts = [r.event_log_entry.timestamp for r in records if r.event_log_entry.step_key == context.step_key]
    return time.time() - max(starts) if starts else None
