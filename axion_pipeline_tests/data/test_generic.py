"""The generic bring-your-own-data layout, and the source dispatch of ``load_source``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
)
from axion_pipeline.data.generic import load_generic_market
from axion_pipeline.data.quality import reconciliation
from axion_pipeline.data.sources import detect_layout, load_source
from axion_pipeline.data.validation import DataValidationError
from axion_pipeline_tests.data.test_real import make_shared_layout

TODAY = pd.Timestamp("2024-06-28")
DAYS = pd.bdate_range("2024-01-02", periods=12)
TICKERS = ["AAA", "BBB", "CCC"]


def canonical_frames() -> dict[str, pd.DataFrame]:
    """Small canonical datasets, already in the loader's output order and dtypes."""
    rng = np.random.default_rng(0)
    n = len(DAYS) * len(TICKERS)
    close = np.round(50 + rng.standard_normal(n), 2)
    prices = pd.DataFrame(
        {
            "date": np.repeat(DAYS, len(TICKERS)),
            "ticker": TICKERS * len(DAYS),
            "open": close,
            "high": close + 0.5,
            "low": close - 0.5,
            "close": close,
            "volume": rng.integers(1_000, 9_000, n).astype(float),
        }
    )
    fund = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "BBB", "CCC"],
            "period_end": pd.to_datetime(["2023-09-30", "2023-12-31", "2023-12-31", "2023-12-31"]),
            "available_date": pd.to_datetime(["2023-11-01", "2024-02-10", "2024-01-05", "2024-03-01"]),
            "period_type": ["Q", "Q", "FY", "FY"],
            **{f: np.round(rng.uniform(1, 100, 4), 3) for f in FUNDAMENTAL_FIELDS},
        }
    )
    sectors = pd.DataFrame({"ticker": TICKERS, "sector": ["Energy", "Financials", "Utilities"]}).astype(object)
    market = pd.DataFrame(
        {"date": DAYS, **{c: np.round(rng.uniform(1, 2, len(DAYS)), 4) for c in MARKET_SERIES_COLUMNS[1:]}}
    )
    market["advance_decline"] -= 1.5
    market["pct_above_200sma"] -= 1
    earnings = pd.DataFrame(
        {
            "ticker": ["AAA", "BBB"],
            "announce_date": pd.to_datetime(["2024-01-25", "2024-02-01"]),
            "fiscal_quarter_end": pd.to_datetime(["2023-12-31", pd.NaT]),
            "eps_estimate": [1.0, -0.5],
            "eps_actual": [1.2, -0.4],
            "surprise_pct": [0.2, 0.2],
            "release_time": ["post", None],
        }
    )
    return {
        "prices": prices,
        "fundamentals": fund[FUNDAMENTAL_COLUMNS],
        "sectors": sectors,
        "market_series": market,
        "earnings_events": earnings[EARNINGS_COLUMNS],
    }


def write_layout(root, frames: dict[str, pd.DataFrame], fmt: str = "csv"):
    root.mkdir(parents=True, exist_ok=True)
    for stem, frame in frames.items():
        if fmt == "parquet":
            frame.to_parquet(root / f"{stem}.parquet", index=False)
        else:
            frame.to_csv(root / f"{stem}.csv", index=False, date_format="%Y-%m-%d")
    return root


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(tmp_path, fmt):
    frames = canonical_frames()
    md = load_generic_market(write_layout(tmp_path / fmt, frames, fmt), today=TODAY)
    assert md.source == "generic" and md.rejected_rows.empty and md.notes == []
    for name, expected in frames.items():
        pd.testing.assert_frame_equal(getattr(md, name), expected, check_exact=False, rtol=1e-12)
    assert reconciliation(md)["reconciles"].all()


def test_optional_columns_missing_are_noted(tmp_path):
    frames = canonical_frames()
    frames["market_series"] = frames["market_series"][["date", "sp500_close", "vix"]]
    frames["fundamentals"] = frames["fundamentals"].drop(columns=["available_date", "forward_eps"])
    frames["fundamentals"]["extra"] = "ignored"
    del frames["earnings_events"]
    md = load_generic_market(write_layout(tmp_path, frames), reporting_lag_days=45, today=TODAY)
    assert md.market_series[["vix_3m", "yield_10y", "put_call_ratio"]].isna().all().all()
    breadth = breadth_from_prices(md.prices)
    assert np.allclose(md.market_series["advance_decline"], breadth["advance_decline"], equal_nan=True)
    assert (md.fundamentals["available_date"] == md.fundamentals["period_end"] + pd.Timedelta(days=45)).all()
    assert md.fundamentals["forward_eps"].isna().all()
    notes = " | ".join(md.notes)
    for text in [
        "yield_10y is absent",
        "['advance_decline', 'pct_above_200sma'] computed from the prices",
        "4 rows without available_date use period_end + 45 days",
        "['forward_eps']",
        "columns ignored: ['extra']",
        "no earnings_events file",
    ]:
        assert text in notes
    assert md.earnings_events.empty and list(md.earnings_events.columns) == EARNINGS_COLUMNS
    assert md.read_counts["earnings_events"] == 0 and reconciliation(md)["reconciles"].all()


def test_bad_rows_quarantined_and_sectors_completed(tmp_path):
    frames = canonical_frames()
    frames["prices"].loc[4, "close"] = -1.0  # line 6
    frames["sectors"] = frames["sectors"].iloc[:2]  # CCC has no sector
    frames["fundamentals"].loc[0, "available_date"] = pd.Timestamp("2023-09-01")  # before its period_end
    md = load_generic_market(write_layout(tmp_path, frames), max_reject_share=0.3, today=TODAY)
    rej = md.rejected_rows
    assert rej[["dataset", "source_file", "row_number", "column", "reason"]].values.tolist() == [
        ["prices", "prices.csv", 6, "close", "non-positive price"],
        ["fundamentals", "fundamentals.csv", 2, "available_date", "available_date before period_end"],
    ]
    assert md.sectors.set_index("ticker").loc["CCC", "sector"] == "Unknown"
    assert any("get 'Unknown': CCC" in n for n in md.notes)
    assert reconciliation(md)["reconciles"].all()


def test_parquet_preferred_and_missing_required_file(tmp_path):
    frames = canonical_frames()
    write_layout(tmp_path, frames, "parquet")
    (tmp_path / "prices.csv").write_text("broken")  # ignored: the parquet file wins
    assert len(load_generic_market(tmp_path, today=TODAY).prices) == len(frames["prices"])
    (tmp_path / "sectors.parquet").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing sectors\.parquet\|sectors\.csv"):
        load_generic_market(tmp_path)


def test_file_level_error_names_generic_file(tmp_path):
    frames = canonical_frames()
    write_layout(tmp_path, frames)
    (tmp_path / "market_series.csv").write_text("date;sp500_close\n2024-01-02;4700\n")
    with pytest.raises(DataValidationError, match=r"file market_series\.csv, row 1.*wrong delimiter.*semicolon"):
        load_generic_market(tmp_path, today=TODAY)


# --------------------------------------------------------------------------------- sources
def test_sources_dispatch(tmp_path, monkeypatch):
    generic = write_layout(tmp_path / "generic", canonical_frames())
    assert detect_layout(generic) == "generic" and load_source(generic, today=TODAY).source == "generic"
    shared = make_shared_layout(tmp_path / "shared")
    assert detect_layout(shared) == "shared"
    md = load_source(shared, max_reject_share=0.25, today=TODAY)
    assert md.source == "real" and reconciliation(md)["reconciles"].all()
    monkeypatch.setenv("AXION_DATA_DIR", str(generic))
    assert load_source(None, today=TODAY).source == "generic"


def test_sources_errors(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as exc:
        load_source(tmp_path / "empty")
    msg = str(exc.value)
    assert "all_stocks_5yr.csv.gz" in msg and "prices.parquet" in msg and "prices.csv" in msg
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_source(tmp_path / "nowhere")
    monkeypatch.delenv("AXION_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="AXION_DATA_DIR is unset"):
        load_source(None)
