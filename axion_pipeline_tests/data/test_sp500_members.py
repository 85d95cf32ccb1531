"""The 13-year S&P 500 members file as a generic-layout folder: links and derived files, the load,
and point-in-time membership against the interval file."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.generic import load_generic_market
from axion_pipeline.data.quality import reconciliation
from axion_pipeline.data.sp500_members import PRICE_FILE, main, prepare_sp500_members
from axion_pipeline.data.universe import is_member, members_per_date

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def shared(shared_data_dir) -> Path:
    if not (shared_data_dir / PRICE_FILE).is_file():
        pytest.skip(f"no {PRICE_FILE} under {shared_data_dir}")
    return shared_data_dir


@pytest.fixture(scope="module")
def prepared(shared, tmp_path_factory):
    out = tmp_path_factory.mktemp("sp500_members")
    started = time.perf_counter()
    folder = prepare_sp500_members(shared, out)
    md = load_generic_market(out)
    return folder, md, time.perf_counter() - started


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepared_folder_links_or_derives_and_copies_nothing(shared, prepared):
    folder, _, _ = prepared
    entries = sorted(p.name for p in folder.directory.iterdir())
    assert entries == ["market_series.csv", "prices.csv.gz", "sectors.csv", "universe.csv"]
    shared_hashes = {_sha256(p) for p in shared.rglob("*") if p.is_file()}
    for path in folder.directory.iterdir():
        if path.is_symlink():
            assert path.resolve().is_relative_to(shared.resolve()), path
        else:  # derived: its bytes are no shared file's
            assert _sha256(path) not in shared_hashes, path
    assert (folder.directory / "prices.csv.gz").resolve() == (shared / PRICE_FILE).resolve()
    assert not (folder.directory / "fundamentals.csv").exists()


def test_loads_every_row_and_reconciles(prepared):
    _, md, seconds = prepared
    assert seconds < 60
    assert md.read_counts["prices"] == 1_800_840 and md.read_counts["universe"] == 1_230
    table = reconciliation(md)
    assert table["reconciles"].all(), table
    assert md.prices["ticker"].nunique() == 611 and md.prices["date"].nunique() == 3_239
    assert md.fundamentals.empty and md.index_name == "sp500"
    assert md.market_series[["sp500_close", "vix", "yield_10y"]].notna().all().all()
    notes = " ".join(md.notes)
    assert "no fundamentals file" in notes and "prices.csv.gz is a link to" in notes
    assert md.sectors["ticker"].nunique() == 611 and (md.sectors["sector"] == "Unknown").sum() == 100


def test_membership_matches_the_interval_file_on_known_dates(shared, prepared):
    _, md, _ = prepared
    raw = pd.read_csv(shared / "universe" / "sp500_ticker_start_end.csv", parse_dates=["start_date", "end_date"])
    prices = md.prices
    for day in ["2005-01-03", "2008-11-14", "2008-11-17", "2009-06-01", "2012-06-29", "2017-11-10"]:
        day = pd.Timestamp(day)
        priced = set(prices.loc[prices["date"] == day, "ticker"])
        member = raw[(raw["start_date"] <= day) & (raw["end_date"].isna() | (raw["end_date"] >= day))]
        expected = priced & set(member["ticker"])
        rows = prices[prices["date"] == day]
        got = set(rows.loc[is_member(rows["date"], rows["ticker"], md.universe), "ticker"])
        assert got == expected, day
    # ASH left the index on 2008-11-14: a member that day, absent from every 2009 cross-section
    ash = prices[prices["ticker"] == "ASH"]
    in_2009 = ash[ash["date"].dt.year == 2009]
    assert len(in_2009) > 200  # it still trades
    assert not is_member(in_2009["date"], in_2009["ticker"], md.universe).any()
    last = ash[ash["date"] <= "2008-11-14"]
    assert is_member(last["date"].tail(1), last["ticker"].tail(1), md.universe).all()


def test_factor_cross_sections_of_2009_leave_out_a_ticker_that_left_in_2008(prepared):
    from axion_pipeline.factor_engine.panel import compute_factor_panel

    _, md, _ = prepared
    prices = md.prices[(md.prices["date"] >= "2008-01-01") & (md.prices["date"] < "2009-04-01")]
    series = md.market_series.set_index("date")["sp500_close"]
    scores = compute_factor_panel(
        prices, None, series, start="2008-11-03", use_momentum_overlay=False, membership=md.universe
    )
    ash = scores.loc[scores["ticker"] == "ASH", "date"]
    assert ash.max() == pd.Timestamp("2008-11-14") and len(ash) == 10
    per_date = scores.groupby("date")["ticker"].nunique()
    expected = members_per_date(prices, md.universe).reindex(per_date.index)
    # about 390 of the ~500 members of the time have a file in the source (README: survivorship remains)
    assert per_date.equals(expected) and per_date.between(370, 420).all()


def test_command_line_prepares_the_folder(shared, tmp_path, capsys):
    assert main([str(shared), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "prices.csv.gz ->" in out and f"AXION_DATA_DIR={tmp_path / 'out'}" in out
    with pytest.raises(ValueError, match="inside the shared data folder"):
        prepare_sp500_members(shared, shared / "prepared")
    assert np.isin(["sectors.csv", "market_series.csv"], [p.name for p in (tmp_path / "out").iterdir()]).all()
