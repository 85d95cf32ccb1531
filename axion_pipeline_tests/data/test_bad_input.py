"""Bad-input corpus: every one-defect variant of a small generic-layout folder (``corpus.py``) either
fails with a ``DataValidationError`` naming the file (and row/column where meaningful), or loads
with the bad rows quarantined in ``rejected_rows`` under a specific reason, or loads unchanged
where the "defect" is legitimate data. Whatever loads reconciles: for every dataset,
``read == loaded + rejected``, and ``read`` is the file's own row count.

Documented behaviours asserted here:

- mixed date formats: only ISO 8601 is parsed; '01/03/2020' (3 January or 1 March?) is never
  guessed, the row is quarantined as 'unparseable date'.
- dates in the future (after the loader's ``today``) are quarantined, never loaded.
- dates out of order load sorted by (date, ticker), nothing lost.
- an unadjusted 2:1 split loads unchanged and is flagged by ``quality.split_like_jumps``.
- a ticker's gap (listed, absent, listed again) stays a gap: no rows are invented.
- VIX gaps: missing values stay NaN; the loader never fills (no forward fill, no interpolation).
- market series without some price dates (holidays of the index source): the rows stay absent and
  the count is reported in the notes; nothing is invented.
- a price ticker without a sector gets sector 'Unknown' and a note; a blank sector cell is
  quarantined ('missing sector') and the ticker then gets 'Unknown' too.
- zero or negative EPS: loaded as is; the value factor's earnings yield is eps / close, so 0 or
  negative (the loss-maker ranks last), never infinite; P/E is never computed as close / eps.
- timestamps with a UTC offset keep their local date (a Tokyo midnight is that day, not the UTC
  day before), as a timezone-aware Parquet column does.
- membership intervals: an overlapping interval or one ending before it starts is quarantined; a
  universe file without its start_date column fails like any corrupt file.
- only prices are required: without the optional files (or with them empty: no bytes, a header
  only, gzipped) the folder loads, each missing file named in a note, with an equal-weighted
  index in place of the S&P 500 and every ticker's sector 'Unknown'.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from axion_pipeline.data.contracts import MARKET_SERIES_COLUMNS, PRICE_COLUMNS
from axion_pipeline.data.generic import load_generic_market
from axion_pipeline.data.pit import fundamentals_as_of, fundamentals_on_dates
from axion_pipeline.data.quality import reconciliation, split_like_jumps
from axion_pipeline.data.validation import NOT_A_TRADING_DAY, DataValidationError, RejectionThresholdExceeded
from axion_pipeline.factors import ValueFactors, build_fundamentals_snapshot
from axion_pipeline_tests.data import corpus
from axion_pipeline_tests.data.corpus import DAYS, TICKERS, TODAY, price_line

# The kinds the reliability issue requires; the corpus holds a few more found while building it.
REQUIRED_KINDS = [
    "empty_file",
    "header_only",
    "missing_column",
    "renamed_column",
    "wrong_delimiter",
    "non_numeric_price",
    "negative_price",
    "zero_price",
    "high_below_low",
    "duplicate_key",
    "dates_out_of_order",
    "mixed_date_formats",
    "future_date",
    "split_jump",
    "odd_tickers",
    "ticker_gap",
    "one_ticker",
    "one_date",
    "all_missing_fundamentals_column",
    "nonpositive_eps",
    "period_end_after_prices",
    "vix_gaps",
    "market_holidays_missing",
    "sector_missing",
]
BREADTH_NOTE = "market_series: ['advance_decline', 'pct_above_200sma'] computed from the prices."
UNIVERSE_NOTES = [
    "universe: 5 intervals of 4 tickers from universe.csv; "
    "a ticker enters a date's cross-sections only while a member.",
    "universe: priced tickers per date min 4, median 4, max 4; members among them min 4, median 4, max 4.",
]
DATASETS = ["prices", "fundamentals", "sectors", "market_series", "earnings_events", "universe"]


def load(root, **kwargs):
    return load_generic_market(root, today=TODAY, **kwargs)


def file_rows(root, stem: str) -> int:
    """Data rows of a dataset file, counted independently of the loader (blank lines count; a
    missing or empty file has none)."""
    parquet = root / f"{stem}.parquet"
    if parquet.is_file():
        return pq.read_metadata(parquet).num_rows
    for name, read in ((f"{stem}.csv", Path.read_bytes), (f"{stem}.csv.gz", lambda p: gzip.decompress(p.read_bytes()))):
        if (root / name).is_file():
            return max(len(read(root / name).decode("utf-8").splitlines()) - 1, 0)
    return 0


def assert_reconciles(md, root) -> None:
    rec = reconciliation(md).set_index("dataset")
    assert sorted(rec.index) == sorted(DATASETS)
    assert rec["reconciles"].all(), rec
    for ds in ("prices", "fundamentals", "earnings_events", "universe"):
        assert rec.loc[ds, "read"] == file_rows(root, ds), ds
    # a market series derived from the prices (no rows in the file) has one record per price date
    derived = md.prices["date"].nunique() if md.index_name == "equal_weighted" else 0
    assert rec.loc["market_series", "read"] == file_rows(root, "market_series") + derived
    # sectors are a lookup joined onto the price tickers: one record per ticker plus rejected rows
    assert rec.loc["sectors", "read"] == md.prices["ticker"].nunique() + rec.loc["sectors", "rejected"]


def keys(frame: pd.DataFrame) -> set[tuple]:
    return set(zip(frame["date"], frame["ticker"]))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = corpus.write(tmp_path_factory.mktemp("base"), corpus.base_files())
    return load(root), root


def test_base_dataset_is_clean(base):
    """The control: without a defect nothing is rejected, so every case below tests its defect."""
    md, root = base
    assert md.rejected_rows.empty and md.notes == [*UNIVERSE_NOTES, BREADTH_NOTE]
    assert md.universe["ticker"].tolist() == ["AAA", "BBB", "CCC", "DDD", "DDD"] and md.index_name == "sp500"
    assert len(md.prices) == len(DAYS) * len(TICKERS) and keys(md.prices) == {(d, t) for d in DAYS for t in TICKERS}
    assert split_like_jumps(md.prices).empty
    assert_reconciles(md, root)


def test_corpus_covers_every_required_kind():
    assert not set(REQUIRED_KINDS) - set(corpus.CASES)
    assert set(corpus.CASES) == set(ERRORS) | set(QUARANTINED) | set(LOADS)


# ----------------------------------------------------------------------------- file-level errors
# kind -> (row, column, message pattern); the file is the case's file (Parquet name for Parquet).
ERRORS = {
    "empty_file": (1, None, r"file is empty \(no header line\)"),
    "header_only": (2, None, "header only: the file has no data rows"),
    "missing_column": (1, "volume", r"missing required column\(s\) \['volume'\].*found \['date', 'ticker', 'open'"),
    "renamed_column": (1, "sp500_close", "'sp500_close' looks renamed to 'SP500 Close'"),
    "wrong_delimiter": (1, "ticker;sector", r"wrong delimiter.*semicolon \(';'\)"),
    "not_utf8": (5, None, "not UTF-8 text: byte 0xc4 cannot be decoded"),
    "binary_as_csv": (None, None, r"gzip-compressed but its name ends in '\.csv'.*name it prices\.csv\.gz"),
    "corrupt_parquet": (None, None, "not a readable Parquet file"),
    "nul_byte": (price_line("2020-01-06", "CCC"), None, "NUL byte.*silently cut the cell"),
    "duplicate_header": (1, "close", "duplicate column 'close' in the header"),
    "universe_missing_column": (1, "start_date", r"missing required column\(s\) \['start_date'\]"),
    "ragged_row": (price_line("2020-01-13", "AAA"), None, r"wrong number of fields.*Expected 7 fields"),
    "unterminated_quote": (price_line("2020-01-14", "BBB"), None, "unterminated quoted field"),
}


def _cases(kinds, formats=("csv", "parquet")):
    return [
        pytest.param(k, f, id=k if f == "csv" else f"{k}-{f}")
        for k in kinds
        for f in formats
        if f == "csv" or corpus.CASES[k].parquet
    ]


@pytest.mark.parametrize(("kind", "fmt"), _cases(ERRORS))
def test_file_level_defect_raises_naming_file_row_column(tmp_path, kind, fmt):
    root = corpus.build(tmp_path, kind, fmt)
    file = corpus.CASES[kind].file
    if fmt == "parquet":
        file = file.replace(".csv", ".parquet")
    row, column, pattern = ERRORS[kind]
    with pytest.raises(DataValidationError, match=pattern) as exc:
        load(root)
    err = exc.value
    assert (err.file, err.row, err.column) == (file, row, column)
    prefix = ", ".join([f"file {file}", *([f"row {row}"] if row else []), *([f"column {column!r}"] if column else [])])
    assert str(err).startswith(prefix + ": ")


# ------------------------------------------------------------------------------- quarantined rows
# kind -> (dataset, line, column, value, reason) of the only rejected row.
QUARANTINED = {
    "non_numeric_price": ("prices", price_line("2020-01-07", "BBB"), "close", "2O.5", "non-numeric price"),
    # the value is the cell as written ('-1.0' in the CSV; a Parquet double's shortest repr)
    "negative_price": ("prices", price_line("2020-01-08", "CCC"), "low", "-1.0", "non-positive price"),
    "zero_price": ("prices", price_line("2020-01-09", "AAA"), "open", "0.0", "non-positive price"),
    "high_below_low": ("prices", price_line("2020-01-10", "DDD"), "high", "51.2", "high < low"),
    "duplicate_key": (
        "prices",
        len(DAYS) * len(TICKERS) + 2,
        "date",
        f"2020-01-06 BBB (first at row {price_line('2020-01-06', 'BBB')})",
        "duplicate (date, ticker)",
    ),
    "mixed_date_formats": ("prices", price_line("2020-01-03", "CCC"), "date", "01/03/2020", "unparseable date"),
    "future_date": ("prices", len(DAYS) * len(TICKERS) + 2, "date", "2031-01-02", "date in the future"),
    "blank_lines": ("prices", price_line("2020-01-07", "AAA"), "", "", "blank line"),
    "sector_blank": ("sectors", TICKERS.index("CCC") + 2, "sector", "", "missing sector"),
    "universe_overlap": (
        "universe",
        7,
        "start_date",
        "BBB from 2019-12-02 (the interval at row 3 runs to open)",
        "overlapping interval",
    ),
    "universe_end_before_start": ("universe", 4, "end_date", "2018-12-31", "end_date before start_date"),
}
# the (date, ticker) whose row is rejected and must therefore be absent (None: the key stays loaded)
LOST_KEY = {
    "non_numeric_price": ("2020-01-07", "BBB"),
    "negative_price": ("2020-01-08", "CCC"),
    "zero_price": ("2020-01-09", "AAA"),
    "high_below_low": ("2020-01-10", "DDD"),
    "mixed_date_formats": ("2020-01-03", "CCC"),
}


@pytest.mark.parametrize(("kind", "fmt"), _cases(QUARANTINED))
def test_bad_row_is_quarantined_with_reason(tmp_path, base, kind, fmt):
    root = corpus.build(tmp_path, kind, fmt)
    # 1 of 4 sector rows is 25 %, 1 of 5 or 6 intervals about 20 %
    md = load(root, max_reject_share=0.3 if kind.startswith(("sector", "universe")) else 0.05)
    dataset, line, column, value, reason = QUARANTINED[kind]
    source = f"{dataset}.{fmt}"
    assert md.rejected_rows.values.tolist() == [[dataset, source, line, column, value, reason]]
    assert_reconciles(md, root)
    base_md = base[0]
    if dataset == "universe":  # the other intervals load unchanged
        assert (
            md.universe["ticker"].tolist() == base_md.universe["ticker"].drop(index=2 if "end" in kind else []).tolist()
        )
    elif dataset == "prices":  # every other row loads unchanged
        lost = LOST_KEY.get(kind)
        expected = base_md.prices
        if lost:
            expected = expected[~((expected["date"] == pd.Timestamp(lost[0])) & (expected["ticker"] == lost[1]))]
        pd.testing.assert_frame_equal(md.prices, expected.reset_index(drop=True))
    else:
        assert md.sectors.set_index("ticker").loc["CCC", "sector"] == "Unknown"
        assert any("get 'Unknown': CCC" in n for n in md.notes)


@pytest.mark.parametrize("kind", ["non_numeric_price", "future_date"])
def test_quarantine_past_the_threshold_refuses_the_file(tmp_path, kind):
    with pytest.raises(RejectionThresholdExceeded, match=r"1 of \d+ rows rejected") as exc:
        load(corpus.build(tmp_path, kind), max_reject_share=0.0)
    assert exc.value.file == "prices.csv" and QUARANTINED[kind][4] in str(exc.value)


# ------------------------------------------------------------------------- legitimate, loads as is
def check_dates_out_of_order(md, base_md, root):
    assert md.rejected_rows.empty
    pd.testing.assert_frame_equal(md.prices, base_md.prices)  # sorted by (date, ticker), nothing lost
    assert md.prices["date"].is_monotonic_increasing


def check_split_jump(md, base_md, root):
    assert md.rejected_rows.empty and len(md.prices) == len(base_md.prices)
    flagged = split_like_jumps(md.prices)
    assert flagged[["date", "ticker"]].values.tolist() == [[pd.Timestamp("2020-01-09"), "BBB"]]
    assert flagged["ratio"].iloc[0] == pytest.approx(0.5, abs=0.01)


def _check_renamed(md, base_md, mapping):
    assert md.rejected_rows.empty
    for name in ("prices", "fundamentals", "sectors", "earnings_events"):
        got, expected = getattr(md, name), getattr(base_md, name)
        assert set(got["ticker"]) == set(mapping.values()), name  # byte for byte, nothing stripped or escaped
        renamed = expected.assign(ticker=expected["ticker"].map(mapping))
        sort = [c for c in ("date", "period_end", "announce_date") if c in got.columns]
        pd.testing.assert_frame_equal(
            got.sort_values(["ticker", *sort]).reset_index(drop=True),
            renamed.sort_values(["ticker", *sort]).reset_index(drop=True),
        )
    assert dict(zip(md.sectors["ticker"], md.sectors["sector"])) == {mapping[t]: s for t, s in corpus.SECTORS.items()}


def check_odd_tickers(md, base_md, root):
    _check_renamed(md, base_md, corpus.ODD_TICKERS)


def check_token_tickers(md, base_md, root):
    _check_renamed(md, base_md, corpus.TOKEN_TICKERS)  # 'NA', 'NULL' are symbols here, not missing


def check_ticker_gap(md, base_md, root):
    assert md.rejected_rows.empty
    ccc = md.prices.loc[md.prices["ticker"] == "CCC", "date"]
    assert list(ccc) == list(DAYS.difference(corpus.GAP_DAYS))  # before and after the gap, nothing inside
    assert keys(md.prices) == keys(base_md.prices) - {(d, "CCC") for d in corpus.GAP_DAYS}


def check_one_ticker(md, base_md, root):
    assert md.rejected_rows.empty and set(md.prices["ticker"]) == {"AAA"} and len(md.prices) == len(DAYS)
    assert md.sectors.values.tolist() == [["AAA", "Energy"]]
    ad = md.market_series["advance_decline"].dropna()
    assert len(ad) == len(DAYS) - 1 and ad.isin([-1.0, 0.0, 1.0]).all()  # one name: up, flat or down
    assert ValueFactors().compute(md.prices, md.fundamentals).loc["AAA", "value"] == 0.5  # a lone name is the median


def check_one_date(md, base_md, root):
    assert list(md.prices["date"].unique()) == [DAYS[0]] and len(md.prices) == 4
    # the market rows of the other 11 days fall in no daily partition: recorded, not silently unstored
    rejected = md.rejected_rows
    assert (rejected["dataset"] == "market_series").all() and (rejected["reason"] == NOT_A_TRADING_DAY).all()
    assert rejected["value"].tolist() == [f"{d:%Y-%m-%d}" for d in DAYS[1:]]
    assert list(md.market_series["date"]) == [DAYS[0]]
    assert md.market_series[["advance_decline", "pct_above_200sma"]].isna().all().all()  # no return: no breadth
    raw = ValueFactors().compute_raw(md.prices, md.fundamentals)
    assert list(raw.index) == TICKERS and np.isfinite(raw.to_numpy()).all()


def check_all_missing_fundamentals_column(md, base_md, root):
    assert md.rejected_rows.empty and len(md.fundamentals) == len(base_md.fundamentals)
    assert md.fundamentals["revenue"].dtype == "float64" and md.fundamentals["revenue"].isna().all()
    pd.testing.assert_frame_equal(md.fundamentals.drop(columns="revenue"), base_md.fundamentals.drop(columns="revenue"))
    snap = fundamentals_as_of(md.fundamentals, DAYS[-1])
    assert list(snap.index) == TICKERS and snap["revenue"].isna().all() and snap["eps"].notna().all()
    raw = ValueFactors().compute_raw(md.prices, md.fundamentals)
    assert raw["sales_yield"].isna().all() and np.isfinite(raw["earnings_yield"]).all()


def check_nonpositive_eps(md, base_md, root):
    assert md.rejected_rows.empty
    snap = fundamentals_as_of(md.fundamentals, DAYS[-1])
    assert snap.loc["AAA", "eps"] == 0.0 and snap.loc["BBB", "eps"] == -1.5
    raw = ValueFactors().compute_raw(md.prices, md.fundamentals)
    assert not np.isinf(raw.to_numpy()).any()
    close = md.prices[md.prices["date"] == DAYS[-1]].set_index("ticker")["close"]
    assert raw.loc["AAA", "earnings_yield"] == 0.0
    assert raw.loc["BBB", "earnings_yield"] == pytest.approx(-1.5 / close["BBB"])
    assert raw.loc["CCC", "earnings_yield"] == pytest.approx(3.1 / close["CCC"])
    snapshot = build_fundamentals_snapshot(md.fundamentals, DAYS[-1], close_at_asof=close)
    panel = md.prices.pivot(index="date", columns="ticker", values="close")
    pd.testing.assert_frame_equal(ValueFactors().compute_raw(panel, snapshot), raw)  # the snapshot path agrees
    scores = ValueFactors().compute(md.prices, md.fundamentals)["earnings_yield"]
    assert scores.idxmin() == "BBB" and scores.idxmax() == "DDD"  # the loss-maker ranks last, not cheapest


def check_period_end_after_prices(md, base_md, root):
    assert md.rejected_rows.empty and len(md.fundamentals) == len(base_md.fundamentals) + 1  # kept
    late = corpus.LATE_PERIOD
    assert md.fundamentals["period_end"].max() == late["period_end"] > DAYS[-1]
    # invisible on every price date and until the day before it is available
    seen = fundamentals_on_dates(md.fundamentals, DAYS)
    assert (seen["period_end"] < DAYS[0]).all() and len(seen) == len(DAYS) * len(TICKERS)
    before = fundamentals_as_of(md.fundamentals, late["available_date"] - pd.Timedelta(days=1))
    assert before.loc["AAA", "period_end"] == pd.Timestamp("2019-09-30")
    on = fundamentals_as_of(md.fundamentals, late["available_date"])
    assert on.loc["AAA", "period_end"] == late["period_end"] and on.loc["AAA", "revenue"] == 999.0
    pd.testing.assert_frame_equal(
        ValueFactors().compute_raw(md.prices, md.fundamentals),
        ValueFactors().compute_raw(base_md.prices, base_md.fundamentals),
    )


def check_vix_gaps(md, base_md, root):
    assert md.rejected_rows.empty and len(md.market_series) == len(DAYS)
    vix = md.market_series.set_index("date")["vix"]
    assert list(vix.index[vix.isna()]) == list(corpus.VIX_GAP_DAYS)  # stays NaN: not filled by the loader
    expected = base_md.market_series.set_index("date")["vix"]
    pd.testing.assert_series_equal(vix.dropna(), expected.drop(corpus.VIX_GAP_DAYS))
    other = [c for c in MARKET_SERIES_COLUMNS if c not in ("date", "vix")]
    pd.testing.assert_frame_equal(md.market_series[other], base_md.market_series[other])


def check_market_holidays_missing(md, base_md, root):
    assert md.rejected_rows.empty and len(md.prices) == len(base_md.prices)
    assert list(md.market_series["date"]) == list(DAYS.difference(corpus.HOLIDAYS))  # absent, not invented
    assert "market_series: 2 trading days of the prices have no market row (first 2020-01-09)." in md.notes
    expected = base_md.market_series[~base_md.market_series["date"].isin(corpus.HOLIDAYS)]
    pd.testing.assert_frame_equal(
        md.market_series.drop(columns=["advance_decline", "pct_above_200sma"]),
        expected.drop(columns=["advance_decline", "pct_above_200sma"]).reset_index(drop=True),
    )


def check_sector_missing(md, base_md, root):
    assert md.rejected_rows.empty
    assert dict(zip(md.sectors["ticker"], md.sectors["sector"])) == {**corpus.SECTORS, "DDD": "Unknown"}
    assert "sectors: 1 price tickers have no sector and get 'Unknown': DDD." in md.notes
    assert keys(md.prices) == keys(base_md.prices)  # the ticker is kept


def check_utc_offset_dates(md, base_md, root):
    assert md.rejected_rows.empty
    pd.testing.assert_frame_equal(md.market_series, base_md.market_series)  # local dates, no shift to UTC
    assert not any("no market row" in n for n in md.notes)


OPTIONAL = ["fundamentals", "sectors", "market_series", "earnings_events", "universe"]


def check_optional_files_missing(md, base_md, root):
    _check_only_prices(md, base_md)
    for stem in OPTIONAL:
        assert f"{stem}: no {stem} file (looked for {stem}.parquet|{stem}.csv|{stem}.csv.gz)" in " ".join(md.notes)


def check_optional_files_empty(md, base_md, root):
    _check_only_prices(md, base_md)
    for stem in OPTIONAL:
        name = f"{stem}.csv.gz" if stem == "market_series" else f"{stem}.csv"
        assert f"{stem}: {name} has no data rows" in " ".join(md.notes)


def _check_only_prices(md, base_md):
    assert md.rejected_rows.empty
    pd.testing.assert_frame_equal(md.prices, base_md.prices)
    for stem in ("fundamentals", "earnings_events", "universe"):
        assert getattr(md, stem).empty, stem
    assert list(md.fundamentals.columns) == list(base_md.fundamentals.columns)
    assert md.fundamentals.dtypes.equals(base_md.fundamentals.dtypes)
    assert list(md.universe.columns) == ["ticker", "start_date", "end_date"]
    assert md.sectors.values.tolist() == [[t, "Unknown"] for t in TICKERS]
    notes = " ".join(md.notes)
    for skipped in [
        "value, quality and growth factors",
        "no sector-relative scoring and no sector-rank features",
        "equal-weighted index of the universe",
        "no earnings events",
        "every priced ticker is a member",
    ]:
        assert skipped in notes
    # the index is the equal-weighted universe: 100 x cumulative product of 1 + mean daily return
    assert md.index_name == "equal_weighted"
    close = md.prices.pivot(index="date", columns="ticker", values="close")
    expected = 100.0 * (1.0 + close.pct_change(fill_method=None).mean(axis=1).fillna(0.0)).cumprod()
    np.testing.assert_allclose(md.market_series["sp500_close"], expected.to_numpy(), rtol=1e-12)
    assert md.market_series["sp500_close"].iloc[0] == 100.0 and list(md.market_series["date"]) == list(DAYS)
    assert md.market_series[["vix", "yield_10y", "hy_spread", "put_call_ratio"]].isna().all().all()
    pd.testing.assert_frame_equal(
        md.market_series[["advance_decline", "pct_above_200sma"]],
        base_md.market_series[["advance_decline", "pct_above_200sma"]],
    )


LOADS = {name.removeprefix("check_"): fn for name, fn in globals().items() if name.startswith("check_")}


@pytest.mark.parametrize(("kind", "fmt"), _cases(LOADS))
def test_legitimate_oddity_loads(tmp_path, base, kind, fmt):
    root = corpus.build(tmp_path, kind, fmt)
    md = load(root)
    assert_reconciles(md, root)
    assert list(md.prices.columns) == PRICE_COLUMNS and md.prices[["date", "ticker"]].notna().all().all()
    assert not md.prices.duplicated(["date", "ticker"]).any()
    LOADS[kind](md, base[0], root)


def test_timezone_aware_parquet_and_offset_strings_agree(tmp_path, base):
    """The same instants as tz-aware Parquet timestamps and as ISO strings with an offset."""
    files = corpus.base_files()
    market = files["market_series.csv"]
    files["market_series.csv"] = market.assign(date=market["date"].dt.tz_localize("Asia/Tokyo"))
    from_parquet = load(corpus.write(tmp_path / "pq", files, "parquet"))
    from_csv = load(corpus.build(tmp_path / "csv", "utc_offset_dates"))
    pd.testing.assert_frame_equal(from_parquet.market_series, from_csv.market_series)
    pd.testing.assert_frame_equal(from_csv.market_series, base[0].market_series)
