"""Dagster-level faults of ingestion and storage, each run kept under 30 s:

- stray dates (1899-12-29, 1970-01-01, a Sunday) are rejected with a reason, so the partitions span
  only the real history and the build plans at once; a folder far too short for the default
  walk-forward plan still ingests (the training layout is not needed to import data);
- ``read = loaded + rejected`` is checked against the warehouse: a row lost between the loader and
  a table fails ``ingestion_reconciles`` or ``prices_stored_as_loaded``;
- a truncated, garbled or immutable warehouse fails a step within seconds, saying what is wrong;
- a production ranking model that cannot explain the features leaves ``shap_explanations`` empty
  with its reason, and the stage succeeds (predictions use the rule scores);
- an all-missing column keeps the numeric type its table has.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.calendar import non_trading_weekdays
from axion_pipeline.data.validation import ISOLATED_DATE, NOT_A_TRADING_DAY, WEEKEND_DATE
from axion_pipeline_tests.data import corpus
from axion_pipeline_tests.defs.conftest import check_results, small_settings

STRAY = {"2020-01-05": WEEKEND_DATE, "1899-12-29": "date outside 1900-01-01 .. 2100-12-31", "1970-01-01": ISOLATED_DATE}


def _sql(warehouse, sql, params=None):
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _stray_folder(root: Path) -> Path:
    files = corpus.base_files()
    text = corpus.csv_text(files["prices.csv"])
    files["prices.csv"] = text + "".join(f"{day},AAA,20.0,20.5,19.5,20.1,1000\n" for day in STRAY)
    market = files["market_series.csv"]
    saturday = market.iloc[[2]].assign(date=pd.Timestamp("2020-01-04"))
    files["market_series.csv"] = pd.concat([market, saturday], ignore_index=True)
    return corpus.write(root, files)


def _ingest(tmp_path, instance):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline.project import ProjectSettings

    settings = ProjectSettings(
        data_dir=str(_stray_folder(tmp_path / "data")), warehouse=str(tmp_path / "w.duckdb"), max_reject_share=0.1
    )
    defs, project = build_definitions(settings), DagsterProject.from_settings(settings)
    keys = project.trading_days.get_partition_keys()
    tables = defs.resolve_job_def("market_tables_job").execute_in_process(instance=instance, raise_on_error=False)
    daily = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey("prices"), dg.AssetKey("market_series")],
        tags={"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]},
        raise_on_error=False,
    )
    return settings, project, keys, {**check_results(tables), **check_results(daily)}


def test_stray_dates_are_rejected_and_the_warehouse_reconciles(tmp_path, instance):
    started = time.perf_counter()
    settings, project, keys, checks = _ingest(tmp_path, instance)
    assert time.perf_counter() - started < 30
    # partitions: the 12 days of the history, no excluded weekday (1899 would have made ~31,000)
    assert keys == [f"{d:%Y-%m-%d}" for d in corpus.DAYS]
    assert non_trading_weekdays(project.calendar) == []
    # three years' default plan cannot fit 12 days: ingestion still runs, training says why not
    assert project.folds.get_partition_keys() == []
    with pytest.raises(dg.Failure, match="no walk-forward plan fits this history.*warm-up"):
        project.plan.window("fold_0")
    for name in ("ingestion_reconciles", "prices_stored_as_loaded", "market_series_stored_as_loaded"):
        assert checks[name], name
    wh = settings.warehouse
    rejected = _sql(wh, "select dataset, value, reason from market.rejected_rows order by dataset desc, row_number")
    assert rejected == [("prices", day, reason) for day, reason in STRAY.items()] + [
        ("market_series", "2020-01-04", NOT_A_TRADING_DAY)
    ]
    n_prices = len(corpus.DAYS) * len(corpus.TICKERS)
    assert _sql(wh, "select count(*), min(date), max(date) from market.prices") == [
        (n_prices, corpus.DAYS[0].to_pydatetime(), corpus.DAYS[-1].to_pydatetime())
    ]
    # read (lines of the file) = rows in market.prices + rows in market.rejected_rows
    stored = _sql(
        wh,
        "select (select count(*) from market.prices) + count(*) from market.rejected_rows where dataset = ?",
        ["prices"],
    )
    assert stored == [(n_prices + len(STRAY),)]


def test_a_row_lost_between_loader_and_warehouse_fails_the_checks(tmp_path, instance, monkeypatch):
    """The checks read the warehouse: a storage layer that drops one row is caught (the loader's own
    counts still add up, which is all the check compared before)."""
    from axion_pipeline.defs import io_manager

    original = io_manager.ReplacingPandasTypeHandler.handle_output

    def drop_first_row(self, context, table_slice, obj, connection):
        if table_slice.table in ("prices", "fundamentals") and len(obj):
            obj = obj.iloc[1:]
        return original(self, context, table_slice, obj, connection)

    monkeypatch.setattr(io_manager.ReplacingPandasTypeHandler, "handle_output", drop_first_row)
    _, _, _, checks = _ingest(tmp_path, instance)
    assert checks["ingestion_reconciles"] is False
    assert checks["prices_stored_as_loaded"] is False
    assert checks["market_series_stored_as_loaded"] is True


# ------------------------------------------------------------------------------ storage faults
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _immutable(path: Path) -> None:
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        if os.geteuid() == 0:
            pytest.skip("needs chattr +i: root ignores file permissions")
        path.chmod(0o444)


FAULTS = {
    "truncated": (_truncate, "is truncated or corrupt: restore it from a backup, or move it aside and rebuild it"),
    "garbled": (_garble, "is not a DuckDB database"),
    "immutable": (_immutable, "cannot be opened for writing.*make it writable"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_permanent_warehouse_fault_fails_within_seconds(tmp_path, fault):
    from axion_pipeline.defs.io_manager import AxionDuckDBIOManager

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema market; create table market.filler as select range i from range(200000)")

    @dg.asset(metadata={"schema": "market"})
    def sectors() -> pd.DataFrame:
        return pd.DataFrame({"ticker": ["A"], "sector": ["x"]})

    plant, message = FAULTS[fault]
    plant(path)
    try:
        started = time.perf_counter()
        result = dg.materialize(
            [sectors],
            resources={"io_manager": AxionDuckDBIOManager(database=str(path), queue_wait_seconds=5)},
            raise_on_error=False,
        )
        elapsed = time.perf_counter() - started
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o644)
    assert not result.success and elapsed < 10
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = failure.event_specific_data.error.to_string()
    assert "WarehouseUnavailable" in text and str(path) in text
    assert re.search(message, text), text


# --------------------------------------------------------------------------- refused model, SHAP
def _features_table(warehouse: str, day: pd.Timestamp, columns: list[str]) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"date": day, "ticker": [f"S{i:02d}" for i in range(20)]})
    for c in columns:
        frame[c] = rng.normal(size=len(frame))
    with duckdb.connect(warehouse) as con:
        con.execute("create schema if not exists features")
        con.execute("create table features.features as select * from frame")


def _production_ranking_model(model_root: Path) -> Path:
    from axion_pipeline.defs.resources import ModelStore
    from axion_pipeline.ml.ranking import StockRankingModel
    from axion_pipeline_tests.ml.test_model_tampering import TINY, tiny_panel

    X, y = tiny_panel()
    model = StockRankingModel(TINY)
    model.train(X, y)
    _, directory = ModelStore(root=str(model_root)).save_production("ranking_model", model, "test", {})
    return directory


def _rename_features(directory: Path) -> None:
    """A rewritten manifest naming a feature the table lacks: the model loads, then cannot score."""
    from axion_pipeline_tests.ml.test_model_tampering import rehash

    for path in directory.glob("*.json"):
        path.write_text(path.read_text().replace('"signal"', '"signal_v0"'))
    rehash(directory)


def _edit_model_file(directory: Path) -> None:
    """An edited byte: refused on load by the SHA-256 manifest."""
    victim = next(p for p in directory.iterdir() if p.suffix in (".txt", ".json") and p.name != "metadata.json")
    victim.write_bytes(victim.read_bytes()[:-40] + b"0" * 40)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [(_rename_features, "features are not in the feature table.*signal"), (_edit_model_file, "SHA-256|altered")],
    ids=["features_renamed", "file_edited"],
)
def test_refused_production_model_gives_no_explanations_and_no_failure(tmp_path, instance, tamper, reason):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs.project import DagsterProject

    settings = small_settings(str(tmp_path / "w.duckdb"))
    defs, project = build_definitions(settings), DagsterProject.from_settings(settings)
    day = project.calendar[-1]
    _features_table(settings.warehouse, day, ["signal", "noise0", "noise1"])
    tamper(_production_ranking_model(Path(settings.model_dir)))
    started = time.perf_counter()
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey("shap_explanations")],
        partition_key=f"{day:%Y-%m-%d}",
        raise_on_error=False,
    )
    assert time.perf_counter() - started < 30
    assert result.success
    meta = result.asset_materializations_for_node("shap_explanations")[0].metadata
    assert meta["dagster/partition_row_count"].value == 0 and meta["status"].value == "no explanations"
    assert re.search(reason, meta["reason"].value), meta["reason"].value
    assert check_results(result) == {"shap_values_add_up": True}
    assert _sql(settings.warehouse, "select count(*) from monitoring.shap_explanations") == [(0,)]


# ------------------------------------------------------------------------------- stored types
def test_all_missing_column_keeps_the_numeric_type_of_its_table(tmp_path):
    from axion_pipeline.defs.io_manager import AxionDuckDBIOManager

    path = str(tmp_path / "w.duckdb")
    values = iter([[0.25, 0.5], [None, None]])  # the second materialization has no value at all

    @dg.asset(metadata={"schema": "training"})
    def report() -> pd.DataFrame:
        return pd.DataFrame({"fold": ["fold_0", "all"], "ic_mean": pd.Series(next(values), dtype=object)})

    resources = {"io_manager": AxionDuckDBIOManager(database=path, queue_wait_seconds=5)}
    for _ in range(2):
        assert dg.materialize([report], resources=resources).success
    types = dict(
        _sql(path, "select column_name, data_type from information_schema.columns where table_name = 'report'")
    )
    assert types == {"fold": "VARCHAR", "ic_mean": "DOUBLE"}
    assert _sql(path, "select round(ic_mean, 2) from training.report") == [(None,), (None,)]


def test_a_source_without_rejections_stores_row_number_as_an_integer():
    from axion_pipeline.data.contracts import MarketData, empty_frame

    data = MarketData(*(empty_frame(["x"]) for _ in range(5)))
    assert data.rejected_rows["row_number"].dtype == "int64"
