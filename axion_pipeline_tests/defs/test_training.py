"""Training group on the small generated market: fold models, walk-forward report, Alpha158
reference, model evaluation, production models, model store and checks, run as real Dagster jobs
after the market, factor and feature history.

The fold windows come from the small settings of the defs conftest (train 120, test 21, 2 folds
on the 650-day market).
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from axion_pipeline_tests.defs.conftest import check_results, run_job, small_settings

FOLDS = ["fold_0", "fold_1"]
# The small market fits ~600 rows per fold: leaves of the default 300 rows would leave the trees unsplit.
SMALL_RANKING = {
    "min_child_samples": 20,
    "num_leaves": 7,
    "max_depth": 3,
    "candidate_num_leaves": [3, 7],
    "candidate_min_child_samples": [20, 20],
    "n_estimators": 150,
}
MODELS = ["ranking_model", "regime_model", "earnings_model", "factor_timing_model"]


def _rows(warehouse, sql, params=None) -> pd.DataFrame:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def _run(defs, instance, job_name, partition_key, op_config):
    run_config = {"ops": {op: {"config": config} for op, config in op_config.items()}}
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, partition_key=partition_key, run_config=run_config
    )
    assert result.success
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """History, then every fold of ranking_validation_job and of training_job, then
    training_tables_job (once for the module)."""
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject

    root = tmp_path_factory.mktemp("training")
    settings = replace(small_settings(str(root / "warehouse.duckdb")), model_dir=str(root / "models"))
    overrides = {
        "event_log_storage": {
            "module": "axion_pipeline.defs.storage",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(root / "event_log")},
        }
    }
    defs = build_definitions(settings)
    keys = DagsterProject.from_settings(settings).trading_days.get_partition_keys()
    with dg.instance_for_test(overrides=overrides) as instance:
        run_job(defs, instance, "market_tables_job")
        run_job(defs, instance, "daily_job", key_range=(keys[0], keys[-1]))
        for k in FOLDS:
            _run(defs, instance, "ranking_validation_job", k, {"ranking_validation": SMALL_RANKING})
        fold_checks = {
            k: check_results(_run(defs, instance, "training_job", k, {"ranking_model": SMALL_RANKING})) for k in FOLDS
        }
        tables = _run(defs, instance, "training_tables_job", None, {"production_models": {"ranking": SMALL_RANKING}})
        yield SimpleNamespace(
            defs=defs,
            instance=instance,
            settings=settings,
            plan=settings.plan,
            warehouse=settings.warehouse,
            models=root / "models",
            fold_checks=fold_checks,
            table_checks=check_results(tables),
            tables_run=tables,
        )


def test_fold_partitions_follow_the_settings_and_are_purged(project):
    from axion_pipeline.ml.datasets import count_dates

    plan = project.plan
    assert project.folds.get_partition_keys() == FOLDS
    assert (plan.config.train_size, plan.config.test_size, plan.config.gap) == (120, 21, 21)
    frame = plan.frame()
    assert list(frame["window"]) == [*FOLDS, "production"]
    assert (frame["n_gap_dates"] >= 21).all() and (
        frame.loc[frame["window"] != "production", "n_test_dates"] == 21
    ).all()
    a, b = plan.window("fold_0"), plan.window("fold_1")
    assert a.test_end < b.test_start and b.test_end < plan.live_start
    assert count_dates(plan.calendar, plan.live_start, plan.calendar[-1]) == 63
    with pytest.raises(KeyError, match="no walk-forward window"):
        plan.window("fold_9")


def test_production_cutoff_is_before_the_live_span(project):
    plan = project.plan
    assert plan.production.test_end == plan.calendar[-1]
    between = ((plan.calendar > plan.production_cutoff) & (plan.calendar < plan.live_start)).sum()
    assert between == 21


def test_config_classes_are_generated_from_the_library_configs():
    """Every run-config field is a library field with the library's default (declared once)."""
    from dataclasses import MISSING, fields

    from axion_pipeline.defs import config as C
    from axion_pipeline.ml import config as L
    from axion_pipeline.ml.alpha158 import Alpha158ReferenceConfig

    pairs = [
        (C.RankingTrainingConfig, [L.RankingModelConfig, L.FeatureConfig, L.MLConfig]),
        (C.RegimeTrainingConfig, [L.RegimeModelConfig]),
        (C.EarningsTrainingConfig, [L.EarningsModelConfig]),
        (C.FactorTimingTrainingConfig, [L.FactorTimingConfig]),
        (C.HybridSettings, [L.HybridScoringConfig]),
        (C.FeatureSettings, [L.FeatureConfig]),
        (C.Alpha158ReferenceSettings, [Alpha158ReferenceConfig]),
        (C.ModelEvaluationSettings, [L.ModelEvaluationConfig]),
    ]
    for config_cls, library in pairs:
        defaults = {
            f.name: f.default if f.default is not MISSING else f.default_factory()
            for cls in library
            for f in fields(cls)
        }
        for name, field in config_cls.model_fields.items():
            assert name in defaults, (config_cls, name)
            assert field.default == defaults[name], (config_cls, name)
    ranking = C.RankingTrainingConfig(n_estimators=7, max_features=12, neutralize_label_sectors=False)
    ml = C.ranking_config(ranking, horizon=21)
    assert ml.ranking.n_estimators == 7 and ml.features.max_features == 12 and not ml.neutralize_label_sectors
    assert ml.sample_every_n_days == L.MLConfig().sample_every_n_days
    assert C.RankingTrainingConfig().to_library(L.RankingModelConfig) == L.RankingModelConfig()


def test_training_chain_produces_predictions_models_and_report(trained):
    from axion_pipeline.defs.resources import ModelStore

    wh = trained.warehouse
    fold_window = trained.plan.window

    for key in FOLDS:
        checks = trained.fold_checks[key]
        assert checks["fold_windows_disjoint"] and checks["ranking_predictions_cover_test_window"], checks
        assert checks["ranking_selection_sees_no_later_slice"], checks
        window = fold_window(key)
        curves = _rows(wh, "select * from training.ranking_validation where fold = ?", [key])
        # 2 candidate sizes x 15 checkpoints (10 .. 150 rounds), all ending at the fold's train_end
        assert len(curves) == 2 * 15 and (curves["val_end"] == window.train_end).all()
        chosen = ModelStore(root=str(trained.models)).fold_metadata("ranking_model", key).extra["ranking_selection"]
        assert chosen["selection_windows"] == FOLDS[: FOLDS.index(key) + 1]
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
    assert pd.notna(overall["ic_tstat_nw"]) and pd.notna(overall["ic_ci_low"])  # 42 dates: two 21-day blocks
    assert overall["ic_ci_low"] <= overall["ic_mean"] <= overall["ic_ci_high"]
    assert report.loc[report["fold"] != "all", "ic_ci_low"].isna().all()  # 21 dates: fewer than two blocks
    materialization = trained.tables_run.asset_materializations_for_node("walk_forward_report")[0]
    assert {
        "ic_mean",
        "icir",
        "oracle_ic_mean",
        "model_oracle_ratio",
        "ic_over_time",
        "ic_tstat_newey_west",
        "ic_ci95_block_bootstrap",
    } <= set(materialization.metadata)


def test_models_are_stored_natively_and_listed_in_the_model_store(trained):
    files = [p for p in trained.models.rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in {".pkl", ".pickle", ".joblib"}]
    assert {p.name for p in files} >= {
        "metadata.json",
        "member_0.lgb.txt",
        "regime_model.json",
        "classifier.json",
        "factor_timing.json",
        "LATEST",
    }
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
    from axion_pipeline.defs.resources import ModelStore

    cutoff = trained.plan.production_cutoff
    assert trained.table_checks["production_models_respect_cutoff"]
    table = _rows(trained.warehouse, "select * from training.production_models")
    assert sorted(table["model_name"]) == sorted(MODELS)
    assert (pd.to_datetime(table["train_end"]) <= cutoff).all()
    assert cutoff < trained.plan.live_start
    assert all(isinstance(json.loads(m), dict) for m in table["metrics"])
    store = ModelStore(root=str(trained.models))
    model = store.load_production("ranking_model")  # verified load: hashes checked, nothing unpickled
    drift = _rows(trained.warehouse, "select * from training.drift_reference")
    assert list(drift.columns[:2]) == ["date", "ticker"] and list(drift.columns[2:]) == model.feature_names
    assert pd.to_datetime(drift["date"]).max() <= cutoff


def test_a_tampered_model_is_flagged_in_the_model_store(trained):
    from axion_pipeline.ml.model_store import catalog_models

    member = trained.models / "ranking_model" / "fold_0" / "member_0.lgb.txt"
    original = member.read_text()
    try:
        member.write_text(original.replace("tree", "tree ", 1))
        table = catalog_models(trained.models, FOLDS)
        bad = table.loc[(table["model_name"] == "ranking_model") & (table["version"] == "fold_0")].iloc[0]
        assert not bad["verified"] and "does not match" in bad["error"] and bad["model_text"] == ""
    finally:
        member.write_text(original)


def test_hyperparameter_search_is_its_own_job(trained):
    from axion_pipeline.defs.jobs import BUILD_STAGES

    assert "hyperparameter_search_job" not in {stage.job for stage in BUILD_STAGES}
    job = trained.defs.resolve_job_def("hyperparameter_search_job")
    assert [n.name for n in job.graph.nodes] == ["hyperparameter_search"]
    config = {
        "ops": {"hyperparameter_search": {"config": {"n_trials": 3, "ranking": {"n_estimators": 20, "n_ensemble": 1}}}}
    }
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
    from axion_pipeline.defs.config import RankingTrainingConfig, ranking_config
    from axion_pipeline.defs.resources import Warehouse
    from axion_pipeline.defs.training.models import read_ranking_rows
    from axion_pipeline.ml.training import train_ranking

    warehouse = Warehouse(path=trained.warehouse, queue_wait_seconds=60)
    config = ranking_config(RankingTrainingConfig(**SMALL_RANKING), trained.plan.horizon)
    sectors = warehouse.read("market", "sectors").set_index("ticker")["sector"]
    history, targets = warehouse.read("features", "features"), warehouse.read("features", "targets")
    window = trained.plan.window("fold_1")
    features, fold_targets, dates = read_ranking_rows(warehouse, window, config.sample_every_n_days)
    span = history.loc[history["date"].between(window.train_start, window.test_end)]
    assert set(features["date"]) == set(dates) and len(features) < len(span) / 2  # every 5th fitted date
    assert set(fold_targets["date"]) <= set(dates) and list(fold_targets.columns) == [
        "date",
        "ticker",
        "label",
        "fwd_return",
    ]
    # the stored validation curves of folds 0 and 1: fold 1 chooses its size and rounds from both
    curves = warehouse.read("training", "ranking_validation")
    whole = train_ranking(history, targets, window, config, sectors=sectors, curves=curves)
    read = train_ranking(features, fold_targets, window, config, fit_dates=dates, sectors=sectors, curves=curves)
    assert whole.train_metrics["selection_windows"] == ["fold_0", "fold_1"]
    assert read.fingerprint == whole.fingerprint
    pd.testing.assert_frame_equal(read.predictions, whole.predictions)
    stored = _rows(
        trained.warehouse, "select * from training.ranking_model where fold = ? order by date, ticker", ["fold_1"]
    )
    assert stored["score"].to_numpy() == pytest.approx(
        whole.predictions.sort_values(["date", "ticker"])["score"].to_numpy()
    )


def test_the_spec_pipeline_trains_the_same_models_as_the_assets(trained, tmp_path):
    """``TrainingPipeline`` (the spec's API) on the same factor scores, prices and regime features
    plans the same windows and trains through the same library path: the fold predictions and the
    production model equal the Dagster assets'."""
    from axion_pipeline.defs.resources import ModelStore, Warehouse
    from axion_pipeline.ml.config import MLConfig, RankingModelConfig
    from axion_pipeline.ml.feature_inputs import from_long, macro_frame, raw_factor_frame, returns_panel
    from axion_pipeline.ml.pipeline import TrainingPipeline

    settings = trained.settings
    warehouse = Warehouse(path=trained.warehouse, queue_wait_seconds=60)
    raw = raw_factor_frame(warehouse.read("factors", "factor_scores"))
    sectors = warehouse.read("market", "sectors").set_index("ticker")["sector"]
    raw["sector"] = sectors.reindex(raw.index.get_level_values("symbol")).to_numpy()
    returns = returns_panel(warehouse.read("market", "prices"))
    macro = macro_frame(warehouse.read("features", "regime_features"))
    config = MLConfig(
        model_dir=str(tmp_path),
        ranking=RankingModelConfig(**SMALL_RANKING),
        walk_forward=settings.walk_forward,
        forward_days=settings.horizon,
        warmup_days=settings.warmup_days,
        live_days=settings.live_days,
    )
    pipeline = TrainingPipeline(config)
    result = pipeline.train_ranking_model(raw, returns, macro)

    assert [r["key"] for r in result.fold_results] == FOLDS
    for fold in result.fold_results:
        assert {k: fold[k] for k in ("train_start", "fit_end", "val_start", "train_end", "test_start", "test_end")} == {
            k: v for k, v in trained.plan.window(fold["key"]).to_dict().items() if k != "key"
        }
        stored = _rows(
            trained.warehouse,
            "select * from training.ranking_model where fold = ? order by date, ticker",
            [fold["key"]],
        )
        mine = fold["predictions"].sort_values(["date", "ticker"]).reset_index(drop=True)
        assert list(mine["ticker"]) == list(stored["ticker"])
        assert mine["score"].to_numpy() == pytest.approx(stored["score"].to_numpy(), abs=1e-12)

    production = ModelStore(root=str(trained.models)).load_production("ranking_model")
    assert pipeline.ranking_model.feature_names == production.feature_names
    assert pipeline.ranking_model.metadata.extra["window"] == production.metadata.extra["window"]
    live = from_long(warehouse.read("features", "features", "date >= ?", [trained.plan.live_start.to_pydatetime()]))
    pd.testing.assert_frame_equal(pipeline.ranking_model.predict(live), production.predict(live))


def _metadata(trained, output: str) -> dict:
    materialization = next(
        m for m in trained.tables_run.get_asset_materialization_events() if m.asset_key.to_user_string() == output
    )
    return {k: v.value for k, v in materialization.materialization.metadata.items()}


def test_alpha158_reference_scores_every_fold_test_window(trained):
    reference = _rows(trained.warehouse, "select * from training.alpha158_reference order by fold, date, ticker")
    ranking = _rows(
        trained.warehouse, "select fold, date, ticker from training.ranking_model order by fold, date, ticker"
    )
    assert list(reference.columns) == ["fold", "date", "ticker", "score"]
    for key in FOLDS:
        window = trained.plan.window(key)
        rows = reference.loc[reference["fold"] == key]
        assert rows["date"].min() == window.test_start and rows["date"].max() == window.test_end
        assert np.isfinite(rows["score"]).all()
    # every row the model scored has a reference score (both score every priced row of the test windows)
    assert len(ranking.merge(reference, on=["fold", "date", "ticker"])) == len(ranking)
    meta = _metadata(trained, "alpha158_reference")
    assert meta["status"] == "2 of 2 folds trained" and meta["feature_seconds"] >= 0
    assert set(meta["fold_seconds"]) == set(FOLDS) and "158 features" in meta["feature_panel"]


def test_alpha158_reference_can_be_switched_off(project):
    from axion_pipeline.defs.config import Alpha158ReferenceSettings
    from axion_pipeline.defs.training.reference import build_reference

    asset = build_reference(project)
    context = dg.build_asset_context()
    out = asset(
        context=context, config=Alpha158ReferenceSettings(enabled=False), prices=pd.DataFrame(), targets=pd.DataFrame()
    )
    assert out.empty and list(out.columns) == ["fold", "date", "ticker", "score"]
    assert context.get_output_metadata("result")["status"].startswith("disabled")


def test_alpha158_reference_folds_it_cannot_train_have_no_rows_and_say_why(tmp_path):
    """Without a validation slice Qlib's recipe has nothing to early-stop on: every fold is skipped,
    the table is empty and the metadata names the reason per fold."""
    from axion_pipeline.defs.config import Alpha158ReferenceSettings
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.defs.training.reference import build_reference
    from axion_pipeline_tests.defs.conftest import SMALL_WALK_FORWARD

    base = small_settings(str(tmp_path / "unused.duckdb"))
    project = DagsterProject.from_settings(replace(base, walk_forward=replace(SMALL_WALK_FORWARD, validation_size=0)))
    rng = np.random.default_rng(0)
    days, tickers = project.calendar, ["A", "B", "C"]
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (len(days), len(tickers))), axis=0)).ravel()
    prices = pd.DataFrame(
        {
            "date": np.repeat(days, len(tickers)),
            "ticker": np.tile(tickers, len(days)),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 1e4,
        }
    )
    targets = prices[["date", "ticker"]].assign(fwd_return=rng.normal(size=len(prices)))
    context = dg.build_asset_context()
    out = build_reference(project)(context=context, config=Alpha158ReferenceSettings(), prices=prices, targets=targets)
    meta = context.get_output_metadata("result")
    assert out.empty and meta["status"] == "0 of 2 folds trained"
    assert len(meta["skipped_folds"]) == 2 and all("no validation slice" in s for s in meta["skipped_folds"])


def test_model_evaluation_compares_the_model_with_every_signal_on_its_rows(trained):
    from axion_pipeline.ml.model_evaluation import signal_kinds

    wh = trained.warehouse
    evaluation = _rows(wh, "select * from training.model_evaluation")
    signals = list(signal_kinds())
    assert list(evaluation["signal"].unique()) == signals
    assert set(evaluation["fold"]) == {*FOLDS, "all"}
    overall = evaluation.loc[evaluation["fold"] == "all"].set_index("signal")
    # the ML score's statistics are the walk-forward report's: the same rows, IC, Newey-West t and bootstrap
    report = _rows(wh, "select * from training.walk_forward_report where fold = 'all'").iloc[0]
    ml = overall.loc["ml_score"]
    assert ml["n_dates"] == report["n_dates"] == 42
    for mine, theirs in [("ic_mean", "ic_mean"), ("ic_tstat_nw", "ic_tstat_nw"), ("ic_ci_low", "ic_ci_low")]:
        assert ml[mine] == pytest.approx(report[theirs]), mine
    assert overall.loc["momentum_12_1", "n_dates"] == 42 and overall.loc["composite", "kind"] == "rules"
    net = ml["ls_return_mean"] - 0.001 * ml["turnover"]
    assert ml["ls_return_net_mean"] == pytest.approx(net)

    paired = _rows(wh, "select * from training.model_vs_baselines")
    assert list(paired["baseline"]) == signals[1:]
    assert set(paired["verdict"]) <= {"loses", "beats", "no significant difference", "undetermined"}
    loses = paired.loc[paired["diff_tstat_nw"] <= -2, "baseline"].tolist()
    assert paired.loc[paired["verdict"] == "loses", "baseline"].tolist() == loses
    # the check warns exactly when the model loses to a signal
    assert trained.table_checks["model_does_not_lose_to_a_baseline"] == (not loses)
    evaluation_meta = _metadata(trained, "model_evaluation")
    assert evaluation_meta["model_loses_to"] == loses and "10 bps" in evaluation_meta["cost_per_turnover"]
    assert evaluation_meta["plots"].count("data:image/png;base64,") == 2
    assert evaluation_meta["overall"].startswith("| signal | kind |")

    exposures = _rows(wh, "select * from training.model_exposures")
    assert set(exposures["signal"]) == {"ml_score", "composite"} and set(exposures["fold"]) == {*FOLDS, "all"}
    assert {"beta", "volatility", "momentum", "size", "sector_r2"} <= set(exposures.columns)
    assert exposures[["beta", "size", "sector_r2"]].notna().all().all()
    assert "data:image/png;base64," in _metadata(trained, "model_exposures")["per_fold"]


def test_a_loss_to_a_baseline_is_a_warning(trained):
    """The check's severity is WARN: a model that loses to a one-factor rule is flagged, not blocked."""
    evaluations = [
        e.event_specific_data
        for e in trained.tables_run.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "model_does_not_lose_to_a_baseline"
    ]
    assert len(evaluations) == 1 and evaluations[0].severity == dg.AssetCheckSeverity.WARN
