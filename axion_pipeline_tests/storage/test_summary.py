"""The `make run` summary prints what the loader did (market.source_notes) and the skipped models."""

from __future__ import annotations

import duckdb
import pandas as pd

from axion_pipeline.data.generic import load_generic_market
from axion_pipeline.data.quality import note_rows
from axion_pipeline.storage.summary import NOTES_PER_DATASET, print_skipped
from axion_pipeline_tests.data.test_generic import TODAY, canonical_frames, write_layout


def _warehouse(path, notes: pd.DataFrame, store: pd.DataFrame | None = None) -> str:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema market")
        con.register("notes", notes)
        con.execute("create table market.source_notes as select * from notes")
        if store is not None:
            con.execute("create schema training")
            con.register("store", store)
            con.execute("create table training.model_store as select * from store")
    return str(path)


def test_loader_notes_and_skipped_models_are_printed(tmp_path, capsys):
    frames = canonical_frames()
    frames["sectors"] = frames["sectors"].iloc[1:]  # AAA has no sector: 'Unknown', and a note
    del frames["universe"]
    md = load_generic_market(write_layout(tmp_path / "d", frames), today=TODAY)
    store = pd.DataFrame(
        {
            "model_name": ["earnings_model", "earnings_model", "ranking_model"],
            "kind": ["fold", "production", "fold"],
            "version": ["fold_0", None, "fold_0"],
            "status": ["skipped: no events", "skipped: no events", "trained"],
        }
    )
    print_skipped(_warehouse(tmp_path / "w.duckdb", note_rows(md), store))
    out = capsys.readouterr().out
    assert "  missing  universe: no universe file" in out
    assert "  note     sectors: 1 price tickers have no sector and get 'Unknown': AAA." in out
    assert out.index("missing  universe") < out.index("note     sectors")
    assert "  earnings_model (fold_0, production): skipped: no events" in out and "ranking_model" not in out


def test_long_note_lists_are_cut_per_dataset_and_point_at_the_table(tmp_path, capsys):
    notes = pd.DataFrame(
        {"dataset": "source", "kind": "note", "note": [f"split T{i} 2:1" for i in range(NOTES_PER_DATASET + 5)]}
    )
    print_skipped(_warehouse(tmp_path / "w.duckdb", notes))
    out = capsys.readouterr().out
    assert f"split T{NOTES_PER_DATASET - 1} 2:1" in out and f"split T{NOTES_PER_DATASET} 2:1" not in out
    assert "5 more notes on source in market.source_notes" in out
