"""The generic bring-your-own-data layout, and the source dispatch of ``load_source``."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
    UNIVERSE_COLUMNS,
)
from axion_pipeline.data.generic import find_file, load_generic_market
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
    universe = pd.DataFrame(
        {
            "ticker": ["AAA", "BBB", "CCC", "CCC"],
            "start_date": pd.to_datetime(["2023-01-03", "2024-01-05", "2023-01-03", "2024-01-10"]),
            "end_date": pd.to_datetime([None, None, "2024-01-08", None]),
        }
    ).astype({"ticker": object})
    return {
        "prices": prices,
        "fundamentals": fund[FUNDAMENTAL_COLUMNS],
        "sectors": sectors,
        "market_series": market,
        "earnings_events": earnings[EARNINGS_COLUMNS],
        "universe": universe[UNIVERSE_COLUMNS],
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
    assert md.source == "generic" and md.rejected_rows.empty and md.index_name == "sp500"
    # the only notes describe the membership: BBB joins on 2024-01-05, CCC is out 2024-01-09
    assert md.notes == [
        f"universe: 4 intervals of 3 tickers from universe.{fmt}; a ticker enters a date's cross-sections only "
        "while a member.",
        "universe: priced tickers per date min 3, median 3, max 3; members among them min 2, median 3, max 3.",
    ]
    for name, expected in frames.items():
        pd.testing.assert_frame_equal(getattr(md, name), expected, check_exact=False, rtol=1e-12)
    assert reconciliation(md)["reconciles"].all() and md.read_counts["universe"] == 4


def test_optional_columns_missing_are_noted(tmp_path):
    frames = canonical_frames()
    frames["market_series"] = frames["market_series"][["date", "sp500_close", "vix"]]
    frames["fundamentals"] = frames["fundamentals"].drop(columns=["available_date", "forward_eps"])
    frames["fundamentals"]["extra"] = "ignored"
    del frames["earnings_events"], frames["universe"]
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
        "no universe file (looked for universe.parquet|universe.csv|universe.csv.gz); every priced ticker is a member",
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
    (tmp_path / "sectors.parquet").unlink()  # optional: loads, every ticker 'Unknown'
    assert set(load_generic_market(tmp_path, today=TODAY).sectors["sector"]) == {"Unknown"}
    (tmp_path / "prices.parquet").unlink()
    (tmp_path / "prices.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing prices\.parquet\|prices\.csv\|prices\.csv\.gz"):
        load_generic_market(tmp_path)


def test_gzipped_csv_and_symlinks_are_followed(tmp_path):
    frames = canonical_frames()
    shared = write_layout(tmp_path / "shared", frames)
    with gzip.open(shared / "prices_source.csv.gz", "wt") as fh:
        frames["prices"].to_csv(fh, index=False, date_format="%Y-%m-%d")
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "prices.csv.gz").symlink_to(shared / "prices_source.csv.gz")
    (layout / "universe.csv").symlink_to(shared / "universe.csv")
    assert find_file(layout, "prices") == layout / "prices.csv.gz"
    md = load_generic_market(layout, today=TODAY)
    pd.testing.assert_frame_equal(md.prices, frames["prices"], check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(md.universe, frames["universe"])
    assert f"prices.csv.gz is a link to {shared / 'prices_source.csv.gz'}." in md.notes
    assert reconciliation(md)["reconciles"].all()


def test_links_that_lead_nowhere_and_directories_are_refused(tmp_path):
    write_layout(tmp_path, {"prices": canonical_frames()["prices"]})
    (tmp_path / "universe.csv").symlink_to(tmp_path / "loop.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "universe.csv")
    with pytest.raises(DataValidationError, match=r"universe\.csv: symbolic link loop"):
        load_generic_market(tmp_path, today=TODAY)
    (tmp_path / "universe.csv").unlink()
    (tmp_path / "universe.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(
        DataValidationError, match=r"universe\.csv: symbolic link to .*gone\.csv which cannot be opened"
    ):
        load_generic_market(tmp_path, today=TODAY)
    (tmp_path / "universe.csv").unlink()
    (tmp_path / "fundamentals.parquet").mkdir()
    with pytest.raises(DataValidationError, match=r"fundamentals\.parquet: is a directory, not a data file"):
        load_generic_market(tmp_path, today=TODAY)
    (tmp_path / "fundamentals.parquet").rmdir()
    (tmp_path / "sectors.csv").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(DataValidationError, match=r"sectors\.csv: is a directory \(through the link to"):
        load_generic_market(tmp_path, today=TODAY)


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


# ------------------------------------------------------------- what the loader keeps and says
def test_a_supplied_surprise_is_kept_and_the_difference_is_noted(tmp_path):
    """EPS rounded to cents make (actual - estimate) / |estimate| coarse: the file's own surprise_pct
    wins; the recomputed value fills only rows without one; a note counts what differs."""
    frames = canonical_frames()
    frames["earnings_events"] = pd.DataFrame(
        {
            "ticker": ["AAA", "BBB", "CCC"],
            "announce_date": pd.to_datetime(["2024-01-25", "2024-02-01", "2024-02-02"]),
            "eps_estimate": [0.01, 1.00, 2.00],
            "eps_actual": [-0.01, 1.10, 2.10],
            "surprise_pct": [0.031, 0.1, None],  # AAA: supplied +3.1%, recomputed -200%
        }
    )
    md = load_generic_market(write_layout(tmp_path / "d", frames), today=TODAY)
    kept = md.earnings_events.set_index("ticker")["surprise_pct"]
    assert kept.to_dict() == {"AAA": 0.031, "BBB": 0.1, "CCC": pytest.approx(0.05)}
    (note,) = [n for n in md.notes if n.startswith("earnings_events: surprise_pct")]
    assert "kept as supplied in its 2 rows with a value; 1 of them differ by more than 0.05" in note
    assert "(1 with the opposite sign)" in note
    assert "1 rows without a supplied value get the recomputed one" in note and "percent" not in note


def test_a_surprise_in_percent_is_flagged_not_rescaled(tmp_path):
    frames = canonical_frames()
    earnings = frames["earnings_events"].copy()
    earnings["surprise_pct"] = [20.0, 20.0]  # the recomputed values are 0.2
    frames["earnings_events"] = earnings
    md = load_generic_market(write_layout(tmp_path / "d", frames), today=TODAY)
    assert md.earnings_events["surprise_pct"].tolist() == [20.0, 20.0]
    (note,) = [n for n in md.notes if n.startswith("earnings_events: surprise_pct")]
    assert "about 100 times the recomputed ones: they look like percent" in note


def test_empty_filler_rows_do_not_blank_a_tickers_fundamentals(tmp_path):
    """A row with only ticker and period_end (later than the real report, and one repeating its
    keys) is not loaded: it is a rejected row with its reason, the counts reconcile, and the
    ticker's point-in-time figures stay those of its last real report."""
    from axion_pipeline.data.pit import fundamentals_as_of
    from axion_pipeline.data.validation import read_table

    frames = canonical_frames()
    path = write_layout(tmp_path / "d", frames)
    with open(path / "fundamentals.csv", "a") as out:
        out.write("AAA,2024-03-31" + "," * (len(FUNDAMENTAL_COLUMNS) - 2) + "\n")  # later, empty
        out.write("BBB,2023-12-31,2024-01-05" + "," * (len(FUNDAMENTAL_COLUMNS) - 3) + "\n")  # same keys, empty
    assert len(read_table(path / "fundamentals.csv", ["ticker"])) == 6
    md = load_generic_market(path, today=TODAY)
    assert len(md.fundamentals) == 4 and md.fundamentals[FUNDAMENTAL_FIELDS].notna().all().all()
    filler = md.rejected_rows.loc[md.rejected_rows["dataset"] == "fundamentals"]
    assert filler["row_number"].tolist() == [6, 7] and filler["reason"].str.startswith("no figure apart").all()
    assert reconciliation(md)["reconciles"].all()
    latest = fundamentals_as_of(md.fundamentals, "2024-12-31")
    expected = frames["fundamentals"].set_index("ticker")
    assert latest.loc["AAA", "revenue"] == expected.loc["AAA"].iloc[-1]["revenue"]
    assert latest.loc["BBB", "revenue"] == expected.loc["BBB", "revenue"]
    assert any("2 rows of fundamentals.csv hold no figure apart from the keys" in n for n in md.notes)
