"""The multi-machine path, run: the Celery code location (``axion_pipeline.defs.executors``) with its
pieces as separate processes, checked row by row against the single-machine build.

Processes: a Postgres server (the Dagster instance, ``deploy/celery/dagster.yaml``), a Redis server
(the Celery broker and result store) and two Celery workers, each with its own environment and one
task slot; this process only submits runs. The workers share no file handles: each step opens the
Parquet files it reads and replaces the files of the partitions it writes under the shared folder.

On the small generated market: the single-machine build (DuckDB, the default code location, in this
process) runs the history and the fold training. The shared warehouse is given that build's history
except the trading days of fold_1's test window, which a chunked backfill recomputes on the workers
(two ``daily_job`` runs of consecutive chunks, their steps spread over both workers); then
``ranking_validation_job`` and ``training_job`` run for both folds on the workers, fold_1 training on
the rows the workers wrote. Every row of every table they wrote must equal the single-machine build's,
exactly. The single-machine build runs the history in the same chunks (before, the two chunks, and
the label horizon after them, the last days fold_1's targets need): a rolling statistic computed
from a chunk's lookback differs in the last bits from the same statistic computed in one run over
the whole history, and a percentile rank can flip on such a tie.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import psutil
import pytest

from axion_pipeline_tests.cluster import celery_workers, missing_servers, postgres_server, redis_server
from axion_pipeline_tests.defs.conftest import run_job, small_settings
from axion_pipeline_tests.defs.test_training import FOLDS, SMALL_RANKING

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HISTORY_JOBS = ("market_tables_job", "daily_job")
FOLD_JOBS = {
    "ranking_validation_job": {"ranking_validation": SMALL_RANKING},
    "training_job": {"ranking_model": SMALL_RANKING},
}


def _run_config(op_config: dict) -> dict:
    return {"ops": {op: {"config": config} for op, config in op_config.items()}}


@pytest.fixture(scope="module")
def single_machine(tmp_path_factory):
    """The default code location's build (DuckDB warehouse, this process): the history up to the last
    label fold_1 uses, then every fold of ranking_validation_job and training_job."""
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject

    root = tmp_path_factory.mktemp("single")
    settings = replace(small_settings(str(root / "warehouse.duckdb")), model_dir=str(root / "models"))
    defs = build_definitions(settings)
    keys = DagsterProject.from_settings(settings).trading_days.get_partition_keys()
    chunks = backfill_chunks(settings, keys)
    first, last = keys.index(chunks[0][0]), keys.index(chunks[-1][-1])
    with dg.instance_for_test() as instance:
        run_job(defs, instance, "market_tables_job")
        for chunk in [keys[:first], *chunks, keys[last + 1 : last + 1 + settings.horizon]]:
            run_job(defs, instance, "daily_job", key_range=(chunk[0], chunk[-1]))
        for job, op_config in FOLD_JOBS.items():
            for fold in FOLDS:
                job_def = defs.resolve_job_def(job)
                assert job_def.execute_in_process(
                    instance=instance, partition_key=fold, run_config=_run_config(op_config)
                ).success
    return settings, defs, keys


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Postgres, Redis and two Celery workers, each a process of its own; yields what runs need."""
    missing = missing_servers()
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run scripts/install_servers.sh (make test does)")
    root = tmp_path_factory.mktemp("cluster")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "celery" / "dagster.yaml", home / "dagster.yaml")
    with postgres_server() as postgres_url, redis_server() as broker:
        backend = broker.rsplit("/", 1)[0] + "/1"
        # a worker's whole environment: the instance's database and OpenMP's waiting policy; no
        # DAGSTER_HOME, no AXION_* (the job's settings travel in each task)
        env = {"PATH": os.environ["PATH"], "AXION_DAGSTER_PG_URL": postgres_url, "OMP_WAIT_POLICY": "passive"}
        with celery_workers(2, broker, backend, env, root) as worker_pids:
            os.environ["AXION_DAGSTER_PG_URL"] = postgres_url
            try:
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    yield {"instance": instance, "broker": broker, "backend": backend, "workers": worker_pids}
            finally:
                del os.environ["AXION_DAGSTER_PG_URL"]


def backfill_chunks(settings, keys: list[str]) -> list[list[str]]:
    """The trading days of fold_1's test window (what fold_1 scores on), in two consecutive chunks."""
    window = settings.plan.window("fold_1")
    days = [k for k in keys if window.test_start <= pd.Timestamp(k) <= window.test_end]
    return [days[: len(days) // 2], days[len(days) // 2 :]]


def _asset_tables(defs, jobs) -> dict[tuple[str, str], str | None]:
    """(schema, table) -> partition column (None: unpartitioned) of the assets of ``jobs``."""
    out = {}
    for job in jobs:
        job_def = defs.resolve_job_def(job)
        for key in job_def.asset_layer.executable_asset_keys:
            metadata = job_def.asset_layer.get(key).metadata
            out[(metadata["schema"], key.path[-1])] = metadata.get("partition_expr")
    return out


def _seed(store, warehouse: str, tables: dict, trading_days, skip: list[str]) -> None:
    """Copy the single-machine build's history into the shared store, each partition a file, except
    the trading days ``skip``."""
    from axion_pipeline.storage.parquet_store import split_by_window, to_arrow

    windows = {}
    for key in trading_days.get_partition_keys():
        window = trading_days.time_window_for_partition_key(key)
        windows[key] = (pd.Timestamp(window.start).tz_localize(None), pd.Timestamp(window.end).tz_localize(None))
    with duckdb.connect(warehouse, read_only=True) as con:
        for (schema, table), column in tables.items():
            data, _ = to_arrow(con.execute(f'select * from "{schema}"."{table}"').fetchdf())
            if column is None:
                store.write_table(schema, table, data)
            else:
                parts = split_by_window(data, column, windows)
                store.write_partitions(schema, table, column, {k: v for k, v in parts.items() if k not in skip})


ROW_KEYS = (
    "fold",
    "date",
    "label_date",
    "announce_date",
    "ticker",
    "factor",
    "num_leaves",
    "min_child_samples",
    "rounds",
)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns by name, rows by their identifying columns (those of ``ROW_KEYS`` the table has)."""
    keys = [c for c in ROW_KEYS if c in frame.columns]
    return frame[sorted(frame.columns)].sort_values(keys, kind="stable").reset_index(drop=True)


def _step_pids(result) -> set[int]:
    return {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}


def test_fold_training_and_a_chunked_backfill_on_two_celery_workers(single_machine, cluster, tmp_path):
    from axion_pipeline.defs.executors import reconstructable_celery_job
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.resources import ModelStore
    from axion_pipeline.storage.parquet_store import ParquetStore

    reference, defs, keys = single_machine
    shared = tmp_path / "shared"
    settings = replace(
        reference,
        warehouse=str(tmp_path / "unused.duckdb"),
        model_dir=str(tmp_path / "unused_models"),
        shared_dir=str(shared),
        celery_broker=cluster["broker"],
        celery_backend=cluster["backend"],
    )
    store = ParquetStore(shared / "warehouse")
    history = _asset_tables(defs, HISTORY_JOBS)
    chunks = backfill_chunks(settings, keys)
    backfill = [k for chunk in chunks for k in chunk]
    _seed(store, reference.warehouse, history, DagsterProject.from_settings(reference).trading_days, skip=backfill)

    instance, worker_pids = cluster["instance"], set(cluster["workers"])
    pids = set()

    def run(job: str, tags: dict, op_config: dict | None = None):
        recon = reconstructable_celery_job(job, settings)
        with dg.execute_job(recon, instance=instance, tags=tags, run_config=_run_config(op_config or {})) as result:
            assert result.success, job
            step_pids = _step_pids(result)
        # each step ran in a prefork child of one of the workers, never in this process
        assert step_pids and all(psutil.Process(p).ppid() in worker_pids for p in step_pids), step_pids
        pids.update(step_pids)
        return result

    # the chunked backfill: consecutive chunks (a chunk's features look back on the previous one's scores)
    for chunk in chunks:
        run(
            "daily_job",
            {"dagster/asset_partition_range_start": chunk[0], "dagster/asset_partition_range_end": chunk[-1]},
        )
    for job, op_config in FOLD_JOBS.items():
        for fold in FOLDS:
            run(job, {"dagster/partition": fold}, op_config)
    assert len({psutil.Process(p).ppid() for p in pids}) == 2, "the steps did not use both workers"

    daily = {t: c for t, c in history.items() if c is not None}
    fold_tables = _asset_tables(defs, FOLD_JOBS)
    compared = 0
    with duckdb.connect(reference.warehouse, read_only=True) as con:
        for (schema, table), column in {**daily, **fold_tables}.items():
            keys_written = FOLDS if (schema, table) in fold_tables else backfill
            stored = store.read(schema, table, keys=keys_written)
            if column != "fold":
                stored = stored[stored[column].between(pd.Timestamp(backfill[0]), pd.Timestamp(backfill[-1]))]
            expected = con.execute(f'select * from "{schema}"."{table}"').fetchdf()
            if column != "fold":
                expected = expected[expected[column].between(pd.Timestamp(backfill[0]), pd.Timestamp(backfill[-1]))]
            assert len(stored) > 0, (schema, table)
            pd.testing.assert_frame_equal(_sorted(stored), _sorted(expected), check_exact=True, obj=f"{schema}.{table}")
            compared += len(stored)
    assert compared > 0
    models = ModelStore(root=str(shared / "models"))
    for fold in FOLDS:
        for name in ("ranking_model", "regime_model", "earnings_model", "factor_timing_model"):
            assert models.fold_dir(name, fold).exists() or models.fold_skipped(name, fold), (name, fold)


def test_celery_code_location_keeps_every_job_and_the_default_is_unchanged(settings, tmp_path):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.executors import celery_definitions
    from axion_pipeline.defs.parquet_io_manager import SharedParquetIOManager

    default = build_definitions(settings)
    shared = replace(settings, shared_dir=str(tmp_path), celery_broker="redis://127.0.0.1:6379/0")
    on_celery = celery_definitions(shared)
    names = {j.name for j in default.resolve_all_job_defs()}
    assert names == {j.name for j in on_celery.resolve_all_job_defs()}
    for name in names:
        assert on_celery.resolve_job_def(name).executor_def.name == "celery"
        assert default.resolve_job_def(name).executor_def.name != "celery"
    assert isinstance(on_celery.resources["io_manager"], SharedParquetIOManager)
    assert not isinstance(default.resources["io_manager"], SharedParquetIOManager)
    with pytest.raises(dg.DagsterInvariantViolationError, match="AXION_CELERY_BROKER"):
        celery_definitions(replace(settings, shared_dir=str(tmp_path)))
