"""The whole chain on the small generated market: training folds, production models, the daily
inference and monitoring assets, their checks, the schedule and the retraining sensor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from axion_pipeline_tests.defs.conftest import check_results, small_settings


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject

    tmp = tmp_path_factory.mktemp("chain")
    warehouse = str(tmp / "chain.duckdb")
    settings = small_settings(warehouse)
    defs, project = build_definitions(settings), DagsterProject.from_settings(settings)
    overrides = {
        "event_log_storage": {
            "module": "axion_pipeline.defs.storage",
            "class": "BatchingSqliteEventLogStorage",
            "config": {"base_dir": str(tmp / "event_log")},
        }
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        keys = project.trading_days.get_partition_keys()
        checks = {}

        def run(name, **kwargs):
            result = defs.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=True, **kwargs)
            checks.update(check_results(result))
            return result

        run("market_tables_job")
        run(
            "daily_job",
            tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        )
        # trees small enough to split on the 40-ticker market (the defaults are sized for 300 tickers)
        small = {
            "min_child_samples": 20,
            "num_leaves": 7,
            "max_depth": 3,
            "candidate_num_leaves": [],
            "candidate_min_child_samples": [],
            "n_estimators": 150,
        }
        folds = defs.resolve_job_def("training_job").partitions_def.get_partition_keys()
        for fold in folds:
            config = {"ops": {"ranking_validation": {"config": small}}}
            run("ranking_validation_job", partition_key=fold, run_config=config)
        for fold in folds:
            run("training_job", partition_key=fold, run_config={"ops": {"ranking_model": {"config": small}}})
        run("training_tables_job", run_config={"ops": {"production_models": {"config": {"ranking": small}}}})
        live = project.live_keys()
        run(
            "inference_job",
            tags={"dagster/asset_partition_range_start": live[0], "dagster/asset_partition_range_end": live[-1]},
        )
        yield {
            "defs": defs,
            "project": project,
            "instance": instance,
            "warehouse": warehouse,
            "checks": checks,
            "live": live,
            "model_root": Path(defs.resources["model_store"].root),
        }


def _df(warehouse, sql, params=None):
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchdf()


def test_live_span_tables_and_checks(chain):
    wh, checks, live = chain["warehouse"], chain["checks"], chain["live"]
    for name in [
        "predictions_cover_universe",
        "hybrid_scores_within_unit_interval",
        "shap_values_add_up",
        "health_status_present",
    ]:
        assert checks[name], name
    preds = _df(wh, "select * from inference.daily_predictions")
    assert preds["date"].nunique() == len(live) and (preds["source"] == "ml").all()
    hybrid = _df(wh, "select * from inference.hybrid_scores")
    assert hybrid["hybrid_score"].between(0, 1).all()
    shap = _df(wh, "select * from monitoring.shap_explanations")
    assert set(shap["rank"]) == {1, 2, 3, 4, 5}
    # a user can ask in SQL why a stock ranks where it does
    top = _df(
        wh,
        "select ticker from inference.hybrid_scores where date = ? order by hybrid_score desc limit 1",
        [pd.Timestamp(live[-1])],
    )["ticker"].iloc[0]
    why = _df(
        wh,
        "select feature, contribution from monitoring.shap_explanations where date = ? and ticker = ? order by rank",
        [pd.Timestamp(live[-1]), top],
    )
    assert len(why) == 5
    health = _df(wh, "select * from monitoring.model_health order by date")
    assert health["date"].nunique() == len(live)
    assert health["ic"].notna().sum() == len(live) - 21  # labels of the first 21 live days matured in the span
    drift = _df(wh, "select * from monitoring.drift_report")
    assert drift["psi"].notna().any()
    # a NaN predicted_surprise says why in the table too
    earnings = _df(wh, "select * from inference.earnings_predictions")
    assert "surprise_status" in earnings.columns and earnings["surprise_status"].notna().all()
    assert len(_df(wh, "select * from inference.regime_predictions")) == len(live)
    weights = _df(wh, "select date, sum(weight) w from inference.factor_weights group by date")
    assert (weights["w"] - 1).abs().max() < 1e-9


# every daily table and the column naming a row's partition
DAILY_TABLES = {
    "market.prices": "date",
    "market.market_series": "date",
    "factors.factor_scores": "date",
    "factors.market_regime": "date",
    "features.features": "date",
    "features.targets": "label_date",
    "features.regime_features": "date",
    "inference.daily_predictions": "date",
    "inference.hybrid_scores": "date",
    "inference.regime_predictions": "date",
    "inference.earnings_predictions": "date",
    "inference.factor_weights": "date",
    "monitoring.model_health": "date",
    "monitoring.drift_report": "date",
    "monitoring.shap_explanations": "date",
}


def _day_rows(warehouse, day: str) -> dict[str, pd.DataFrame]:
    """Each daily table's rows of ``day``, in a fixed order (a range run and a one-day run may store
    them in different orders)."""
    out = {}
    for table, column in DAILY_TABLES.items():
        rows = _df(warehouse, f"select * from {table} where {column} = ?", [pd.Timestamp(day)])
        out[table] = rows.sort_values(list(rows.columns)).reset_index(drop=True)
    return out


def test_one_day_run_stores_the_rows_the_range_run_stored(chain):
    """One day through daily_job then inference_job on its partition, as the daily schedule runs it,
    stores the rows the build's range runs stored for that day (same rows, columns, dtypes and
    non-float values; floats to 1e-6 relative: rolling moments are summed from, and the RSI's
    exponential average starts at, the first day of the loaded history) in every daily table: each
    loads all the history its values depend on (the factor scores the 315 days of the longest window
    plus the overlay's, the regime's duration its capped count), so a daily run does not store
    what a backfill would not. The evening run (the same two runs in process, the warehouse
    held open, as the daily benchmark runs them) then stores exactly, to the bit, what the plain
    one-day run stored, in every table. A speed-up of the one-day path (narrower reads, cached
    work, held connections) that changed a stored value fails here."""
    from axion_pipeline.storage.lock import held_connection

    defs, instance, warehouse = chain["defs"], chain["instance"], chain["warehouse"]
    # the newest live day with next-day earnings announcements, so that no table is empty
    (day,) = _df(
        warehouse,
        "select max(date) from inference.earnings_predictions where date >= ?",
        [pd.Timestamp(chain["live"][0])],
    ).iloc[0]
    day = pd.Timestamp(day).strftime("%Y-%m-%d")

    def one_day():
        for job in ("daily_job", "inference_job"):
            defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=day, raise_on_error=True)

    from_range = _day_rows(warehouse, day)
    assert all(len(rows) for rows in from_range.values()), {t: len(r) for t, r in from_range.items()}
    one_day()
    plain = _day_rows(warehouse, day)
    for table, rows in from_range.items():
        pd.testing.assert_frame_equal(plain[table], rows, rtol=1e-6, atol=1e-9, obj=table)
    with held_connection(warehouse):
        one_day()
    evening = _day_rows(warehouse, day)
    for table, rows in plain.items():
        pd.testing.assert_frame_equal(evening[table], rows, check_exact=True, obj=table)


def test_tampered_production_model_falls_back_to_rules(chain):
    """An edited byte in the production ranking model: refused, predictions fall back to the rule composite."""
    root = chain["model_root"] / "ranking_model" / "production"
    version = (root / "LATEST").read_text().strip()
    model_file = next(p for p in (root / version).iterdir() if p.name.endswith(".txt"))
    original = model_file.read_bytes()
    try:
        model_file.write_bytes(original[:-40] + b"0" * 40)
        defs, instance = chain["defs"], chain["instance"]
        key = chain["live"][-1]
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance,
            partition_key=key,
            raise_on_error=True,
            asset_selection=[dg.AssetKey("daily_predictions")],
        )
        meta = result.asset_materializations_for_node("daily_predictions")[0].metadata
        assert meta["model_status"].value == "error"
        assert "SHA-256" in meta["status_detail"].value or "altered" in meta["status_detail"].value
        preds = _df(chain["warehouse"], "select * from inference.daily_predictions where date = ?", [pd.Timestamp(key)])
        assert (preds["source"] == "rules").all()
        assert not list(chain["model_root"].rglob("*.pkl"))
    finally:
        model_file.write_bytes(original)


def test_daily_schedule_skips_once_the_live_span_is_built(chain):
    """After the build every live day is materialized: the schedule says so instead of re-running
    the last day (``test_automation`` walks it through the span)."""
    schedule = chain["defs"].resolve_schedule_def("daily_schedule")
    live = chain["live"]
    tick = (pd.Timestamp(live[-1]) + pd.offsets.BDay(1)).to_pydatetime().replace(tzinfo=dt.UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=tick, instance=chain["instance"], repository_def=chain["defs"].get_repository_def()
    ) as context:
        result = schedule.evaluate_tick(context)
    assert not result.run_requests and f"{live[0]} .. {live[-1]}" in result.skip_message


def test_retraining_sensor_quiet_when_healthy(chain):
    from axion_pipeline.defs.resources import Warehouse

    sensor = chain["defs"].resolve_sensor_def("retraining_sensor")
    with dg.build_sensor_context(
        instance=chain["instance"], resources={"warehouse": Warehouse(path=chain["warehouse"], queue_wait_seconds=60)}
    ) as ctx:
        result = sensor(ctx)
    health = _df(chain["warehouse"], "select * from monitoring.model_health order by date")
    drift_days = _df(
        chain["warehouse"], "select date, bool_or(overall_drift) d from monitoring.drift_report group by date"
    )
    expected_fire = bool(health["needs_retraining"].iloc[-1]) or drift_days.sort_values("date").tail(10)["d"].sum() >= 3
    assert isinstance(result, dg.RunRequest) == expected_fire


def test_every_table_shows_its_described_columns_and_their_lineage(chain):
    """The "Columns" section of every asset page: the latest materialization of every table (the
    whole chain, plus the tear sheet and a two-trial search) carries the schema the table has in the
    warehouse, every column described; fixed tables declare that schema on the definition too; and
    column lineage names only columns of the asset's own upstream tables."""
    from axion_pipeline.defs.columns import LINEAGE_KEY, SCHEMA_KEY

    defs, instance, wh = chain["defs"], chain["instance"], chain["warehouse"]
    small = {"min_child_samples": 20, "num_leaves": 7, "max_depth": 3, "n_estimators": 30}
    search = {"n_trials": 2, "window": "fold_0", "ranking": small}
    for job, config in [("factor_analysis_job", {}), ("hyperparameter_search_job", {"hyperparameter_search": search})]:
        run_config = {"ops": {op: {"config": c} for op, c in config.items()}}
        defs.resolve_job_def(job).execute_in_process(instance=instance, run_config=run_config, raise_on_error=True)
    rows = _df(
        wh,
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema <> 'main' order by table_name, ordinal_position",
    )
    stored = {t: dict(zip(g["column_name"], g["data_type"])) for t, g in rows.groupby("table_name", sort=False)}
    graph = defs.resolve_asset_graph()
    with_lineage = set()
    for spec in defs.resolve_all_asset_specs():
        table = spec.key.to_user_string()
        event = instance.get_latest_materialization_event(spec.key)
        assert event is not None, f"{table} was not materialized"
        meta = event.asset_materialization.metadata
        assert SCHEMA_KEY in meta, f"{table}: no column schema on its latest materialization"
        schema = meta[SCHEMA_KEY].value
        assert {c.name: c.type for c in schema.columns} == stored[table], table
        assert list(stored[table]) == [c.name for c in schema.columns], table
        undescribed = [c.name for c in schema.columns if not c.description]
        assert not undescribed, f"{table}: no description in axion_pipeline.storage.columns for {undescribed}"
        declared = spec.metadata.get(SCHEMA_KEY)  # the definition's: a TableSchema as given
        if declared is not None:
            assert [(c.name, c.type) for c in declared.columns] == list(stored[table].items()), table
            assert declared.columns == schema.columns, table
        if LINEAGE_KEY in meta:
            with_lineage.add(table)
            parents = graph.get(spec.key).parent_keys
            for column, deps in meta[LINEAGE_KEY].value.deps_by_column.items():
                assert column in stored[table], (table, column)
                for dep in deps:
                    assert dep.asset_key in parents, (table, column, dep.asset_key)
                    assert dep.column_name in stored[dep.asset_key.to_user_string()], (table, column, dep)
    assert {"features", "hybrid_scores", "regime_features", "targets", "walk_forward_report"} <= with_lineage
