"""Training group on the small generated market: fold models, walk-forward report, production
models, model store and checks, run as real Dagster jobs after the market, factor and feature history.

The fold windows come from ``AXION_WF_TRAIN_DAYS`` / ``AXION_WF_TEST_DAYS`` / ``AXION_WF_FOLDS``
(set by the defs conftest: train 120, test 21, 2 folds on the 650-day market).
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import dagster as dg
import duckdb
import pandas as pd
import pytest

from axion_pipeline_tests.defs.conftest import check_results, run_job

FOLDS = ["fold_0", "fold_1"]
# The small market fits ~600 rows per fold: leaves of the default 300 rows would leave the trees unsplit.
SMALL_RANKING = {"min_child_samples": 20, "num_leaves": 7, "max_depth": 3}
MODELS = ["ranking_model", "regime_model", "earnings_model", "factor_timing_model"]


def _rows(warehouse, sql, params=None) -> pd.DataFrame:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def _run(defs, instance, job_name, partition_key, op_config):
    run_config = {"ops": {op: {"config": config} for op, config in op_config.items()}}
    result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, partition_key=partition_key,
                                                               run_config=run_config)
    assert result.success
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """History, then every fold of training_job, then training_tables_job (once for the module)."""
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.partitions import trading_days

    root = tmp_path_factory.mktemp("training")
    warehouse, models = str(root / "warehouse.duckdb"), root / "models"
    previous = os.environ.get("AXION_MODEL_DIR")
    os.environ["AXION_MODEL_DIR"] = str(models)  # read by default_model_store() in build_definitions
    overrides = {"event_log_storage": {"module": "axion_pipeline.defs.storage", "class": "BatchingSqliteEventLogStorage",
                                       "config": {"base_dir": str(root / "event_log")}}}
    try:
        defs = build_definitions(warehouse=warehouse)
        keys = trading_days.get_partition_keys()
        with dg.instance_for_test(overrides=overrides) as instance:
            run_job(defs, instance, "market_tables_job")
            run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
            fold_checks = {k: check_results(_run(defs, instance, "training_job", k, {"ranking_model": SMALL_RANKING}))
                           for k in FOLDS}
            tables = _run(defs, instance, "training_tables_job", None, {"production_models": {"ranking": SMALL_RANKING}})
            yield SimpleNamespace(defs=defs, instance=instance, warehouse=warehouse, models=models,
                                  fold_checks=fold_checks, table_checks=check_results(tables), tables_run=tables)
    finally:
        if previous is None:
            os.environ.pop("AXION_MODEL_DIR", None)
        else:
            os.environ["AXION_MODEL_DIR"] = previous


def test_fold_partitions_follow_the_environment_and_are_purged():
    from axion_pipeline.defs.training.folds import PLAN, fold_partitions, fold_window, fold_windows_frame
    from axion_pipeline.ml.datasets import count_dates

    assert fold_partitions.get_partition_keys() == FOLDS
    assert (PLAN.config.train_size, PLAN.config.test_size, PLAN.config.gap) == (120, 21, 21)
    frame = fold_windows_frame()
    assert list(frame["window"]) == [*FOLDS, "production"]
    assert (frame["n_gap_dates"] >= 21).all() and (frame.loc[frame["window"] != "production", "n_test_dates"] == 21).all()
    a, b = fold_window("fold_0"), fold_window("fold_1")
    assert a.test_end < b.test_start and b.test_end < PLAN.live_start
    assert count_dates(PLAN.calendar, PLAN.live_start, PLAN.calendar[-1]) == 63
    with pytest.raises(KeyError, match="unknown fold"):
        fold_window("fold_9")


def test_production_cutoff_is_before_the_live_span():
    from axion_pipeline.defs.training.folds import PLAN, live_span, production_cutoff

    live_start, live_end = live_span()
    assert live_end == PLAN.calendar[-1]
    between = ((PLAN.calendar > production_cutoff()) & (PLAN.calendar < live_start)).sum()
    assert between == 21


def test_config_classes_map_onto_the_library_configs():
    from dataclasses import fields

    from axion_pipeline.defs.training import config as C
    from axion_pipeline.ml import config as L

    pairs = [(C.RankingTrainingConfig, [L.RankingModelConfig, L.FeatureConfig], {"sample_every_n_days"}),
             (C.RegimeTrainingConfig, [L.RegimeModelConfig], set()),
             (C.EarningsTrainingConfig, [L.EarningsModelConfig], {"max_price_staleness_days"}),
             (C.FactorTimingTrainingConfig, [L.FactorTimingConfig], {"n_quantiles"})]
    for config_cls, library, extra in pairs:
        library_fields = {f.name for cls in library for f in fields(cls)}
        assert set(config_cls.model_fields) - extra <= library_fields, config_cls
    ranking = C.RankingTrainingConfig(n_estimators=7, max_features=12)
    assert ranking.library_config().n_estimators == 7 and ranking.feature_config().max_features == 12


def test_training_chain_produces_predictions_models_and_report(trained):
    wh = trained.warehouse
    from axion_pipeline.defs.training.folds import fold_window

    for key in FOLDS:
        checks = trained.fold_checks[key]
        assert checks["fold_windows_disjoint"] and checks["ranking_predictions_cover_test_window"], checks
        window = fold_window(key)
        preds = _rows(wh, "select * from training.ranking_model where fold = ?", [key])
        assert len(preds) > 0
        assert preds["date"].min() == window.test_start and preds["date"].max() == window.test_end
        assert preds["score"].between(0, 1).all() and preds["rank"].between(0, 1).all()
        for table in ["regime_model", "factor_timing_model"]:
            out = _rows(wh, f"select date from training.{table} where fold = ?", [key])
            assert out["date"].min() >= window.test_start and out["date"].max() <= window.test_end
        events = _rows(wh, "select announce_date from training.earnings_model where fold = ?", [key])
        assert events["announce_date"].between(window.test_start, window.test_end).all()
    regime = _rows(wh, "select * from training.regime_model")
    assert regime["true_regime"].notna().all()  # generated market: the planted truth is there

    report = _rows(wh, "select * from training.walk_forward_report order by fold")
    assert list(report["fold"]) == ["all", *FOLDS]
    overall = report.loc[report["fold"] == "all"].iloc[0]
    assert overall["n_dates"] == 2 * 21 and -1 < overall["ic_mean"] < 1
    assert pd.notna(overall["oracle_ic_mean"]) and pd.notna(overall["model_oracle_ratio"])
    materialization = trained.tables_run.asset_materializations_for_node("walk_forward_report")[0]
    assert {"ic_mean", "icir", "oracle_ic_mean", "model_oracle_ratio", "ic_over_time"} <= set(materialization.metadata)


def test_models_are_stored_natively_and_listed_in_the_model_store(trained):
    files = [p for p in trained.models.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib"}]
    assert {p.name for p in files} >= {"metadata.json", "member_0.lgb.txt", "regime_model.json", "classifier.json",
                                       "factor_timing.json", "LATEST"}
    store = _rows(trained.warehouse, "select * from training.model_store")
    assert store["verified"].all() and (store["model_text"].str.len() > 0).all()
    for name in MODELS:
        rows = store.loc[store["model_name"] == name]
        assert sorted(rows.loc[rows["kind"] == "fold", "version"]) == FOLDS
        latest = (trained.models / name / "production" / "LATEST").read_text().strip()
        assert rows.loc[(rows["kind"] == "production") & rows["is_latest"], "version"].tolist() == [latest]
    ranking = store.loc[(store["model_name"] == "ranking_model") & (store["kind"] == "fold")].iloc[0]
    assert ranking["model_text"].startswith("=== ") and "tree" in ranking["model_text"]
    assert json.loads(ranking["feature_names"]) and "information_coefficient" in json.loads(ranking["metrics"])


def test_production_models_table_and_drift_reference(trained):
    from axion_pipeline.defs.training.folds import live_span, production_cutoff
    from axion_pipeline.defs.training.resources import ModelStore

    assert trained.table_checks["production_models_respect_cutoff"]
    table = _rows(trained.warehouse, "select * from training.production_models")
    assert sorted(table["model_name"]) == sorted(MODELS)
    assert (pd.to_datetime(table["train_end"]) <= production_cutoff()).all()
    assert production_cutoff() < live_span()[0]
    assert all(isinstance(json.loads(m), dict) for m in table["metrics"])
    store = ModelStore(root=str(trained.models))
    model = store.load_production("ranking_model")  # verified load: hashes checked, nothing unpickled
    drift = _rows(trained.warehouse, "select * from training.drift_reference")
    assert list(drift.columns[:2]) == ["date", "ticker"] and list(drift.columns[2:]) == model.feature_names
    assert pd.to_datetime(drift["date"]).max() <= production_cutoff()


def test_a_tampered_model_is_flagged_in_the_model_store(trained):
    from axion_pipeline.defs.training.resources import MODEL_NAMES, model_class
    from axion_pipeline.training_glue import catalog_models

    member = trained.models / "ranking_model" / "fold_0" / "member_0.lgb.txt"
    original = member.read_text()
    try:
        member.write_text(original.replace("tree", "tree ", 1))
        table = catalog_models(trained.models, {n: model_class(n) for n in MODEL_NAMES}, FOLDS)
        bad = table.loc[(table["model_name"] == "ranking_model") & (table["version"] == "fold_0")].iloc[0]
        assert not bad["verified"] and "does not match" in bad["error"] and bad["model_text"] == ""
    finally:
        member.write_text(original)


def test_hyperparameter_search_is_its_own_job(trained):
    from axion_pipeline.defs.training import STAGES

    assert STAGES == [("training_job", "each"), ("training_tables_job", None)]
    job = trained.defs.resolve_job_def("hyperparameter_search_job")
    assert [n.name for n in job.graph.nodes] == ["hyperparameter_search"]
    config = {"ops": {"hyperparameter_search": {"config": {"n_trials": 3, "ranking": {"n_estimators": 20, "n_ensemble": 1}}}}}
    result = job.execute_in_process(instance=trained.instance, run_config=config)
    assert result.success
    trials = _rows(trained.warehouse, "select * from training.hyperparameter_search")
    assert len(trials) == 3 and trials["value"].notna().any()
    meta = result.asset_materializations_for_node("hyperparameter_search")[0].metadata
    assert {"best_params", "pbo", "deflated_sharpe"} <= set(meta)
    assert (trained.models / "hyperparameter_search" / "optuna.db").is_file()


def test_ranking_folds_read_only_the_dates_they_use_and_train_what_the_whole_history_trains(trained):
    """The fold asset reads the feature and target rows of the sampled fitted dates, the validation
    and the test dates; the same library call on the whole stored history gives the same rows
    (fingerprint) and predictions."""
    from axion_pipeline.defs.resources import Warehouse
    from axion_pipeline.defs.training.config import RankingTrainingConfig
    from axion_pipeline.defs.training.folds import fold_window
    from axion_pipeline.defs.training.models import read_ranking_rows
    from axion_pipeline.training_glue import train_ranking

    warehouse = Warehouse(path=trained.warehouse)
    config = RankingTrainingConfig(**SMALL_RANKING)
    history, targets = warehouse.read("features", "features"), warehouse.read("features", "targets")
    window = fold_window("fold_1")
    features, fold_targets, dates = read_ranking_rows(warehouse, window, config.sample_every_n_days)
    span = history.loc[history["date"].between(window.train_start, window.test_end)]
    assert set(features["date"]) == set(dates) and len(features) < len(span) / 2  # every 5th fitted date
    assert set(fold_targets["date"]) <= set(dates) and list(fold_targets.columns) == ["date", "ticker", "label", "fwd_return"]
    whole = train_ranking(history, targets, window, config.library_config(), config.feature_config(),
                          config.sample_every_n_days)
    read = train_ranking(features, fold_targets, window, config.library_config(), config.feature_config(),
                         config.sample_every_n_days, fit_dates=dates)
    assert read.fingerprint == whole.fingerprint
    pd.testing.assert_frame_equal(read.predictions, whole.predictions)
    stored = _rows(trained.warehouse, "select * from training.ranking_model where fold = ? order by date, ticker",
                   ["fold_1"])
    assert stored["score"].to_numpy() == pytest.approx(whole.predictions.sort_values(["date", "ticker"])["score"].to_numpy())
