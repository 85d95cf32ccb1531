"""The build runner: the split of a daily backfill into runs bounded in stock-days (memory) and in days
(per-day check results), stopping
at a failed run or a signal, and the code location and tags its runs carry."""

from pathlib import Path

from axion_pipeline.run_all import backfill_chunks

REPO = Path(__file__).resolve().parent.parent

KEYS = [f"d{i:04d}" for i in range(2087)]


def test_chunks_cover_every_day_once_in_order_and_bound_the_stock_days():
    chunks = backfill_chunks(KEYS, n_tickers=2000, max_stock_days=1_000_000, max_days=10**6)
    assert [k for chunk in chunks for k in chunk] == KEYS
    assert all(len(chunk) * 2000 <= 1_000_000 for chunk in chunks) and len(chunks) == 5


def test_the_default_history_runs_in_ranges_short_enough_for_per_day_check_results():
    from axion_pipeline.defs.adapters.partition_results import MAX_PARTITION_RESULTS
    from axion_pipeline.project.settings import ProjectSettings

    max_days = ProjectSettings().backfill_max_days
    assert max_days <= MAX_PARTITION_RESULTS  # else make run's history would record one result a range
    chunks = backfill_chunks(KEYS, n_tickers=300, max_stock_days=1_000_000, max_days=max_days)
    assert [k for chunk in chunks for k in chunk] == KEYS
    assert [len(c) for c in chunks] == [300] * 6 + [287]


def test_large_limits_keep_one_run_and_tiny_limits_keep_a_month():
    assert backfill_chunks(KEYS, n_tickers=300, max_stock_days=1_000_000, max_days=10**6) == [KEYS]
    assert {len(c) for c in backfill_chunks(KEYS[:100], n_tickers=10**6, max_stock_days=10, max_days=300)} <= {21, 16}
    assert {len(c) for c in backfill_chunks(KEYS[:100], n_tickers=1, max_stock_days=10**6, max_days=5)} <= {21, 16}


# ------------------------------------------------------------------ stopping: failures and signals
def _instance(root):
    import dagster as dg

    storage = {"module": "axion_pipeline.defs.storage", "class": "BatchingSqliteEventLogStorage"}
    return dg.instance_for_test(overrides={"event_log_storage": {**storage, "config": {"base_dir": str(root / "ev")}}})


def _runs(instance, job_name: str) -> list:
    import dagster as dg

    records = instance.get_run_records(filters=dg.RunsFilter(job_name=job_name), ascending=True)
    return [r.dagster_run for r in records]


def test_a_failed_fold_stops_the_build_before_the_next_fold_starts(tmp_path):
    """A deterministic error in fold 0 (here: no feature history in the warehouse) ends the build
    with the step and its reason; fold 1 is never started (it used to run every fold first)."""
    import dagster as dg
    import pytest

    from axion_pipeline.defs.jobs import Stage
    from axion_pipeline.run_all import run_stages
    from axion_pipeline_tests.defs.conftest import small_settings

    settings = small_settings(str(tmp_path / "empty.duckdb"))
    with _instance(tmp_path) as instance:
        with pytest.raises(SystemExit) as stopped:
            run_stages(settings, instance, [Stage("training_job", "each")], [])
        runs = _runs(instance, "training_job")
        labelled = instance.get_run_records(  # the stored label the UI filters a location's runs by
            filters=dg.RunsFilter(tags={".dagster/repository": "__repository__@axion_pipeline"})
        )
    assert [run.tags["dagster/partition"] for run in runs] == ["fold_0"]
    assert [r.dagster_run.run_id for r in labelled] == [runs[0].run_id]
    message = str(stopped.value)
    assert "stage training_job failed at fold_0" in message and "no further run or stage was started" in message
    assert "CatalogException" in message and "does not exist" in message  # the reason: the step's missing input
    # the run belongs to the UI's code location (workspace.yaml), so the UI re-executes it and lists it
    import tomllib

    import yaml

    from axion_pipeline.definitions import build_definitions

    (entry,) = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    location = entry["python_module"]["location_name"]
    assert location == tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dagster"]["code_location_name"]
    origin = runs[0].remote_job_origin
    assert origin is not None and origin.location_name == location and origin.job_name == "training_job"
    assert origin.repository_origin.repository_name == "__repository__"
    assert (
        origin.repository_origin.code_location_origin.loadable_target_origin.module_name
        == entry["python_module"]["module_name"]
    )
    expected = build_definitions(settings).resolve_job_def("training_job").get_job_snapshot_id()
    assert runs[0].job_snapshot_id == expected  # same snapshot as the location's job: no "may differ" warning
    # and tags a person reads: what started it, where and when; no bare pid or epoch
    assert runs[0].tags["axion/trigger"] == "make run"
    assert runs[0].tags["axion/runner"].startswith("make run on ")


def test_sigterm_to_the_runners_process_group_stops_it_cleanly(tmp_path, monkeypatch):
    """SIGTERM to the process group while a fold trains: the runner ends with 128 + 15 and says so,
    the interrupted run is marked failed (not left STARTED), and no further fold or stage starts
    (it used to report fold 1 "interrupted unexpectedly" and start fold 2)."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    import dagster as dg

    from axion_pipeline_tests.defs.conftest import REPO, child_env, small_settings

    settings = small_settings(str(tmp_path / "signal.duckdb"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "axion_pipeline.run_all"],
            env=child_env(settings, home),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while b"training_job fold_0 ..." not in log.read_bytes():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "fold 0 never started"
        time.sleep(0.1)
    time.sleep(1.5)  # inside fold 0's run (its set-up alone, the definitions rebuilt, takes about a second)
    fold_lines = r"training_job (fold_\d+) \.\.\."
    before = re.findall(fold_lines, log.read_text())
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)
    text = log.read_text()
    started = re.findall(fold_lines, text)
    assert proc.returncode == 128 + signal.SIGTERM, text[-3000:]
    # the fold in progress is the last one started, and at most the one being printed as the signal came
    assert started[: len(before)] == before and len(started) <= len(before) + 1, (before, started)
    assert re.search(rf"stopped by SIGTERM (during|after) training_job {started[-1]}", text), text[-3000:]
    assert "training_tables_job" not in text
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        folds = _runs(instance, "training_job")
        assert [run.tags["dagster/partition"] for run in folds] == started
        assert all(run.is_finished for run in folds)  # none left STARTED: the interrupted one failed or canceled
        assert not _runs(instance, "training_tables_job") and not _runs(instance, "inference_job")
