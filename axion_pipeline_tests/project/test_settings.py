"""One real dataset, one warehouse: the default warehouse follows the data folder, and `make run`
refuses a warehouse that another source built."""

from __future__ import annotations

import duckdb
import pytest

from axion_pipeline.project import ProjectSettings
from axion_pipeline.storage.warehouse import WarehouseMixError, claim_warehouse


def test_each_data_folder_gets_its_own_default_warehouse_and_model_store(tmp_path):
    first, second = tmp_path / "one" / "data", tmp_path / "two" / "data"
    for folder in (first, second):
        folder.mkdir(parents=True)
    (tmp_path / "link").symlink_to(first)
    a, b = ProjectSettings(data_dir=str(first)), ProjectSettings(data_dir=str(second))
    assert a.warehouse != b.warehouse and a.model_dir != b.model_dir
    assert a.warehouse.endswith(".duckdb") and "axion_real_data_" in a.warehouse
    # the same folder under another spelling is the same dataset
    assert ProjectSettings(data_dir=str(tmp_path / "link")).warehouse == a.warehouse
    assert ProjectSettings(data_dir=str(first / ".." / "data")).warehouse == a.warehouse
    assert ProjectSettings().warehouse.endswith("warehouse/axion.duckdb")
    assert ProjectSettings.from_env({"AXION_DATA_DIR": str(second)}).warehouse == b.warehouse
    assert ProjectSettings.from_env({"AXION_DATA_DIR": str(second), "AXION_WAREHOUSE": "/x/w.duckdb"}).warehouse == (
        "/x/w.duckdb"
    )


def test_a_warehouse_is_claimed_once_and_refused_to_another_source(tmp_path):
    path = str(tmp_path / "w.duckdb")
    assert claim_warehouse(path, "data folder /a") is True
    assert claim_warehouse(path, "data folder /a") is False  # the same source carries on
    with pytest.raises(WarehouseMixError, match="holds the build of data folder /a .* this run reads data folder /b"):
        claim_warehouse(path, "data folder /b")


def test_make_run_refuses_to_mix_before_any_stage_runs(tmp_path, monkeypatch):
    """A warehouse built from one source, a run configured for another: the runner stops before
    the first stage, so not one row of the second source lands beside the first one's."""
    from axion_pipeline.run_all import main

    path = str(tmp_path / "w.duckdb")
    claim_warehouse(path, "data folder /somewhere/else")
    monkeypatch.setenv("AXION_WAREHOUSE", path)
    monkeypatch.setenv("AXION_SIM_TICKERS", "20")
    monkeypatch.delenv("AXION_DATA_DIR", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    with pytest.raises(SystemExit, match="refused: warehouse .* holds the build of data folder /somewhere/else"):
        main(["--stages", "market_tables_job"])
    with duckdb.connect(path, read_only=True) as con:
        tables = con.execute("select table_schema || '.' || table_name from information_schema.tables").fetchall()
    assert tables == [("market.build_source",)]
    assert not (tmp_path / "home").exists()  # no Dagster instance, no run
