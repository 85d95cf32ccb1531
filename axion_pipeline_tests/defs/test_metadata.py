"""Asset metadata a person can read (rounded floats, integer counts, tables that fit, a table name
that is a table name, no duplicate row counts) and the one INFO line each step logs."""

from __future__ import annotations

import logging
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from axion_pipeline.defs.common import MAX_TABLE_COLUMNS, cell, markdown_table, round_sig, tidy
from axion_pipeline.defs.step_log import summary_line


@pytest.mark.parametrize(
    ("value", "rounded"),
    [(0.04665559547347781, 0.04666), (18140.53, 18141.0), (-1.23456, -1.235), (0.0, 0.0), (123.0, 123.0)],
)
def test_round_sig(value, rounded):
    assert round_sig(value) == rounded


def test_tidy_rounds_floats_and_makes_counts_ints():
    meta = tidy(
        {
            "ic": np.float64(0.04665559547347781),
            "n_rows": 18140.0,  # a count that arrived as a float
            "train_rows": np.float64(1814.0),
            "share": 0.5,  # not a count: stays a float
            "tickers": np.int64(40),
            "ok": np.bool_(True),
            "nested": {"t": 2.123456, "n_dates": 250.0},
            "list": [0.123456789, "text"],
            "table": dg.MetadataValue.md("| a |"),
            "missing": None,
        }
    )
    assert meta["ic"] == 0.04666 and type(meta["ic"]) is float
    assert meta["n_rows"] == 18140 and type(meta["n_rows"]) is int
    assert type(meta["train_rows"]) is int and type(meta["tickers"]) is int and meta["ok"] is True
    assert meta["nested"] == {"t": 2.123, "n_dates": 250} and meta["list"] == [0.1235, "text"]
    assert meta["share"] == 0.5 and meta["missing"] is None
    assert meta["table"] == dg.MetadataValue.md("| a |")


@pytest.mark.parametrize(
    ("value", "text"),
    [(18140.0, "18,140"), (0.04665559547347781, "0.04666"), (18140.53, "18,141"), (3, "3"), (float("nan"), "nan")],
)
def test_table_cells(value, text):
    assert cell(value) == text


def test_a_wide_table_is_split_with_its_key_column_repeated():
    frame = pd.DataFrame({"fold": ["fold_0", "fold_1"], **{f"c{i}": [float(i), 1e5 + 0.5] for i in range(12)}})
    text = markdown_table(frame).value
    tables = text.split("\n\n")
    assert len(tables) == 2
    headers = [t.splitlines()[0].strip("| ").split(" | ") for t in tables]
    assert all(h[0] == "fold" and len(h) <= MAX_TABLE_COLUMNS for h in headers)
    assert [c for h in headers for c in h[1:]] == [f"c{i}" for i in range(12)]  # every column, once
    assert "1e+05" not in text and "100,000" in text
    narrow = markdown_table(frame.iloc[:, :MAX_TABLE_COLUMNS]).value
    assert "\n\n" not in narrow


def test_summary_line():
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-02", "2024-01-03"]), "x": [1, 2, 3]})
    line = summary_line("prices", "2024-01-02 .. 2024-01-03", frame, "market.prices", {"raw": 1200}, 1.234)
    assert line == (
        "prices [2024-01-02 .. 2024-01-03]: wrote 3 rows (2 dates, 2024-01-02 .. 2024-01-03) to market.prices; "
        "read raw 1,200; 1.2 s"
    )
    assert summary_line("sectors", None, frame[["x"]], "market.sectors", {}, None) == (
        "sectors: wrote 3 rows to market.sectors; read no table inputs"
    )


def _info_lines(instance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if e.level == logging.INFO and " to " in e.user_message]


def test_materialized_metadata_and_the_steps_info_line(defs, project, instance):
    """market_series over a range (one run), then regime_features of the last day reading its
    lookback: table names are schema.table, no ``rows`` next to the row counts, and each step
    logs what it wrote and read."""
    from axion_pipeline.defs.features.assets import build_assets as feature_assets
    from axion_pipeline.defs.market.assets import build_daily_assets
    from axion_pipeline.ml.regime_features import HISTORY

    keys = project.trading_days.get_partition_keys()
    first, last = keys[0], keys[HISTORY + 1]
    _, market_series = build_daily_assets(project)
    regime_features = next(a for a in feature_assets(project) if a.key == dg.AssetKey("regime_features"))
    resources = {k: v for k, v in defs.resources.items() if k in ("io_manager", "market_source")}
    span = dg.materialize(
        [market_series],
        resources=resources,
        instance=instance,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    assert span.success
    (line,) = [x for x in _info_lines(instance, span.run_id) if x.startswith("market_series")]
    assert re.fullmatch(
        rf"market_series \[{first} \.\. {last}\]: wrote {HISTORY + 2} rows "
        rf"\({HISTORY + 2} dates, {first} \.\. {last}\) to market\.market_series; read no table inputs; \d+\.\d s",
        line,
    ), line

    day = dg.materialize(
        [regime_features, market_series.to_source_asset()], partition_key=last, resources=resources, instance=instance
    )
    assert day.success
    (line,) = _info_lines(instance, day.run_id)
    assert re.fullmatch(
        rf"regime_features \[{last}\]: wrote 1 rows \(1 dates, {last} \.\. {last}\) to features\.regime_features; "
        rf"read market_series {HISTORY + 1}; \d+\.\d s",
        line,
    ), line
    meta = day.asset_materializations_for_node("regime_features")[0].metadata
    assert meta["dagster/table_name"].value == "features.regime_features"
    assert meta["dagster/partition_row_count"].value == 1 and "rows" not in meta
    assert isinstance(meta["dates"].value, int)
