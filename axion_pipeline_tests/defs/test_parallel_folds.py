"""Walk-forward folds train in parallel: two runs (one per fold, as a UI backfill of the fold
partitions launches them) with Dagster's multiprocess executor, started at once on the same
warehouse. The fold assets are outside the ``duckdb_warehouse`` pool; their warehouse reads and
writes wait their turn in the I/O manager's queue, so training overlaps and nothing fails on
DuckDB's file lock."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from axion_pipeline.defs.resources import ModelStore
from axion_pipeline_tests.defs.conftest import child_env, run_at_once, small_settings
from axion_pipeline_tests.defs.test_concurrent_backfills import _step_spans
from axion_pipeline_tests.defs.test_training import SMALL_RANKING

REPO = Path(__file__).resolve().parents[2]
# Two fold-partitioned training steps (the ranking model's validation curves and the regime
# model), with their checks: each step a process of its own.
FOLD_ASSETS = "ranking_validation,regime_model"
# Tree sizes for the 40-ticker market (the defaults expect thousands of rows per leaf candidate).
RUN_CONFIG = json.dumps({"ops": {"ranking_validation": {"config": SMALL_RANKING}}})


@pytest.mark.slow
def test_two_folds_train_at_once_without_lock_failures(tmp_path, monkeypatch):
    settings = small_settings(str(tmp_path / "folds.duckdb"))
    env = child_env(settings, tmp_path / "home")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "dagster.yaml").write_text((REPO / "dagster_instance.yaml").read_text())
    prepare = subprocess.run(
        [
            sys.executable,
            "-m",
            "axion_pipeline.run_all",
            "--stages",
            "market_tables_job",
            "daily_job",
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert prepare.returncode == 0, prepare.stdout[-2000:] + prepare.stderr[-3000:]

    dagster = str(Path(sys.executable).with_name("dagster"))
    command = ["materialize", "-m", "axion_pipeline.definitions", "--select", FOLD_ASSETS, "--config-json", RUN_CONFIG]
    done = run_at_once(
        {fold: [dagster, "asset", *command, "--partition", fold] for fold in ("fold_0", "fold_1")},
        env,
        tmp_path,
        timeout=600,
    )
    for code, out in done.values():
        assert code == 0, out[-4000:]
        assert "multiprocess" in out.lower()  # each run's steps ran in their own processes

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        runs = [r for r in instance.get_runs() if r.tags.get("dagster/partition") in {"fold_0", "fold_1"}]
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        spans = [_step_spans(instance, run.run_id) for run in runs]
    overlapping = [(a[0], b[0]) for a in spans[0] for b in spans[1] if a[1] < b[2] and b[1] < a[2]]
    assert overlapping, "the two folds' training steps never ran at the same time"

    with duckdb.connect(env["AXION_WAREHOUSE"], read_only=True) as con:
        for table in FOLD_ASSETS.split(","):  # out-of-sample predictions of both folds, once each
            counts = (
                dict(
                    con.execute(
                        f"select fold, count(*) - count(distinct (num_leaves, rounds)) from training.{table} "
                        "group by fold"
                    ).fetchall()
                )
                if table == "ranking_validation"
                else dict(
                    con.execute(
                        f"select fold, count(*) - count(distinct date) from training.{table} group by fold"
                    ).fetchall()
                )
            )
            assert counts == {"fold_0": 0, "fold_1": 0}, (table, counts)
    store = ModelStore(root=settings.model_dir)
    for fold in ("fold_0", "fold_1"):
        assert store.load_fold("regime_model", fold).is_fitted
