"""Bring your own data, end to end, as a user runs it: the README's prices-only example (its two
commands, read from the README) built by `make run`'s runner; the README's warehouse queries run on
the result (a warehouse without a planted truth, like real data's); and the same build when the
ranking model cannot be trained. Nothing fails: every asset is there, missing inputs and skipped
models say why, and serving falls back to the rules."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
OPTIONAL = ["fundamentals", "sectors", "market_series", "earnings_events", "universe"]
PRICE_FACTORS = ["momentum", "volatility", "technical"]


def readme_block(marker: str, language: str) -> str:
    """The first fenced ``language`` block after ``marker`` in the README."""
    start = README.index(marker)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no {language} block after {marker!r}"
    return match.group(1)


def example_commands() -> tuple[list[str], dict[str, str]]:
    """The minimal example's two commands: the folder writer (argv) and `make run`'s environment."""
    write, run = readme_block("**Minimal example (prices only).**", "bash").strip().splitlines()
    argv, words = shlex.split(write), shlex.split(run)
    assert argv[0] == ".venv/bin/python" and words[-2:] == ["make", "run"], (write, run)
    return argv[1:], dict(word.split("=", 1) for word in words[:-2])


def _rows(warehouse: str, sql: str, params: list | None = None) -> pd.DataFrame:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def _home(root: Path) -> Path:
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return home


def _metadata(instance, asset: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None, f"{asset} was never materialized"
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The README's two commands, the folder and the warehouse under a temporary directory."""
    root = tmp_path_factory.mktemp("byod")
    (module_flag, module, _readme_folder), variables = example_commands()
    folder = root / "prices_only"
    subprocess.run([sys.executable, module_flag, module, str(folder)], cwd=REPO, check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXION_")}
    env.update(variables)
    env.update(
        AXION_DATA_DIR=str(folder),
        AXION_WAREHOUSE=str(root / "warehouse.duckdb"),  # not the repository's warehouse/ folder
        DAGSTER_HOME=str(_home(root)),
        DAGSTER_EVENT_BATCH_SIZE="10000",
        DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS="true",
        OMP_WAIT_POLICY="passive",
    )
    log = root / "make_run.log"
    with open(log, "w") as out:  # `make run` runs exactly this after its setup
        proc = subprocess.run(
            [sys.executable, "-m", "axion_pipeline.run_all"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    return SimpleNamespace(
        root=root,
        folder=folder,
        env=env,
        returncode=proc.returncode,
        output=log.read_text(),
        warehouse=env["AXION_WAREHOUSE"],
        models=Path(env["AXION_WAREHOUSE"]).with_suffix("").as_posix() + "_models",
    )


def test_the_readme_example_is_prices_only(built):
    assert [p.name for p in built.folder.iterdir()] == ["prices.csv"]


def test_prices_only_builds_every_asset_and_says_what_was_skipped(built, monkeypatch):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.jobs import BUILD_STAGES
    from axion_pipeline.project import ProjectSettings

    assert built.returncode == 0, built.output[-4000:]
    # every asset of the build is a table, those of the missing datasets empty
    settings = ProjectSettings.from_env(built.env)
    defs = build_definitions(settings)
    tables = set(_rows(built.warehouse, "select table_name from information_schema.tables")["table_name"])
    for stage in BUILD_STAGES:
        for key in defs.resolve_job_def(stage.job).asset_layer.selected_asset_keys:
            assert key.path[-1] in tables, f"{key.to_user_string()} of {stage.job} is not in the warehouse"
    for table in ["market.fundamentals", "market.earnings_events", "market.universe", "training.earnings_model"]:
        assert _rows(built.warehouse, f"select count(*) n from {table}")["n"].item() == 0, table
    # the notes: each missing file with what it skips, in the warehouse and in the summary
    notes = _rows(built.warehouse, "select dataset, kind, note from market.source_notes")
    assert notes.loc[notes["kind"] == "missing", "dataset"].tolist() == OPTIONAL
    assert "What the loader did" in built.output
    for stem in OPTIONAL:
        assert f"missing  {stem}: no {stem} file" in built.output, stem
    # the earnings model cannot train: a skip record in the store, rows in the warehouse, the summary
    assert (
        "earnings_model (fold_0, fold_1, production): skipped: earnings_dataset: earnings_events is empty"
        in built.output
    )
    store = _rows(built.warehouse, "select model_name, kind, version, status from training.model_store")
    skipped = store.loc[store["status"].str.startswith("skipped")]
    assert sorted(zip(skipped["model_name"], skipped["version"].fillna("production"))) == [
        ("earnings_model", "fold_0"),
        ("earnings_model", "fold_1"),
        ("earnings_model", "production"),
    ]
    for where in ("fold_0", "fold_1", "production"):
        assert (Path(built.models) / "earnings_model" / where / "SKIPPED.json").is_file(), where
    production = _rows(built.warehouse, "select model_name, status from training.production_models")
    status = dict(zip(production["model_name"], production["status"]))
    assert status["earnings_model"].startswith("skipped: earnings_dataset: earnings_events is empty")
    assert status["ranking_model"] == status["regime_model"] == status["factor_timing_model"] == "trained"
    # the factor-timing model times the factors that have prices behind them
    timed = _rows(built.warehouse, "select distinct factor from training.factor_timing_model")["factor"]
    assert sorted(timed) == sorted(PRICE_FACTORS)
    # the UI: dataset statuses, the regime on the equal-weighted index, the skipped fold
    monkeypatch.setenv("DAGSTER_HOME", built.env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        assert _metadata(instance, "fundamentals")["status"].startswith("empty: fundamentals: no fundamentals file")
        assert _metadata(instance, "market_series")["status"].startswith("derived: market_series: no market_series")
        assert "equal-weighted index of the universe" in _metadata(instance, "market_regime")["index"]
        assert _metadata(instance, "earnings_model")["status"].startswith("skipped: earnings_dataset")
        assert "value (" in _metadata(instance, "factor_timing_model")["factors_left_out"]


def readme_queries() -> list[tuple[str, list]]:
    """Every query of the README's warehouse section: the Python example's and the SQL block's."""
    python = readme_block("## The warehouse", "python")
    match = re.search(r'con\.execute\("(.+?)", \[(.+?)\]\)', python)
    queries = [(match.group(1), [eval(match.group(2))])]  # noqa: S307 - the README's own literal
    sql = readme_block("## The warehouse", "sql")
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", sql).split(";")]
    return queries + [(s, []) for s in statements if s]


def test_the_readme_warehouse_queries_run_on_a_real_data_like_warehouse(built):
    """No planted truth, no fundamentals, no earnings: the README's queries still run as written
    (the walk-forward one used to fail on real data: oracle_ic_mean did not exist there)."""
    assert built.returncode == 0, built.output[-4000:]
    queries = readme_queries()
    assert len(queries) >= 8
    with duckdb.connect(built.warehouse, read_only=True) as con:
        for sql, params in queries:
            con.execute(sql, params).fetchall()
        folds = con.execute(
            "select fold, ic_mean, oracle_ic_mean from training.walk_forward_report order by fold"
        ).fetchall()
    assert [f[0] for f in folds] == ["all", "fold_0", "fold_1"] and all(pd.isna(f[2]) for f in folds)


def test_a_ranking_model_the_data_cannot_train_is_skipped_and_serving_uses_the_rules(
    built, tmp_path, monkeypatch, capsys
):
    """Too few rows for the ranking model (its training refuses): training, production, inference
    and monitoring still run; every fold and the production model are 'skipped' with the reason,
    the scores come from the rule composite, the hybrid keeps ML weight 0, health says 'no model'."""
    from axion_pipeline.ml import training
    from axion_pipeline.ml.base import InsufficientDataError
    from axion_pipeline.run_all import main

    assert built.returncode == 0, built.output[-4000:]
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built.warehouse, warehouse)
    shutil.copytree(built.models, str(warehouse.with_suffix("")) + "_models")
    for key, value in {**built.env, "AXION_WAREHOUSE": str(warehouse), "DAGSTER_HOME": str(_home(tmp_path))}.items():
        if key.startswith(("AXION_", "DAGSTER_")):
            monkeypatch.setenv(key, value)
    reason = "only 12 labelled rows in the fitted window"

    def refuse(*args, **kwargs):
        raise InsufficientDataError(reason)

    monkeypatch.setattr(training, "train_ranking", refuse)
    assert main(["--stages", "training_job", "training_tables_job", "inference_job"]) == 0
    output = capsys.readouterr().out
    assert f"ranking_model (fold_0, fold_1, production): skipped: refuse: {reason}" in output

    w = str(warehouse)
    store = _rows(w, "select version, status from training.model_store where model_name = 'ranking_model'")
    skipped = store.loc[store["status"].str.startswith("skipped")]
    assert sorted(skipped["version"].fillna("production")) == ["fold_0", "fold_1", "production"]
    assert (skipped["status"] == f"skipped: refuse: {reason}").all()
    assert _rows(w, "select count(*) n from training.ranking_model")["n"].item() == 0
    report = _rows(w, "select fold, status from training.walk_forward_report where fold <> 'all'")
    assert set(report["status"]) == {"no predictions: model skipped or not trained"}
    predictions = _rows(w, "select distinct source from inference.daily_predictions")
    assert predictions["source"].tolist() == ["rules"]
    assert not _rows(w, "select bool_or(ml_active) on_ from inference.hybrid_scores")["on_"].item()
    health = _rows(w, "select distinct status, reason from monitoring.model_health")
    assert health["status"].tolist() == ["no model"] and "skipped: refuse: " + reason in health["reason"].item()
    assert _rows(w, "select count(*) n from monitoring.drift_report")["n"].item() == 0
    with dg.DagsterInstance.get() as instance:
        assert _metadata(instance, "drift_report")["status"] == "no model"
        assert _metadata(instance, "hybrid_scores")["ml_weight"] == 0
        assert _metadata(instance, "ranking_model")["status"] == f"skipped: refuse: {reason}"
