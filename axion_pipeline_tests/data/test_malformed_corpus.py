"""Malformed-input corpus, second part: dates, encodings, compression, numbers and tickers.

``test_bad_input.py`` holds the first corpus (one defect per case on the same small generic
folder). These cases add what a held-out run of malformed inputs found: each plants one defect
into ``corpus.base_files()`` and states the outcome, either

- a ``DataValidationError`` naming the file, the row (where there is one) and the column, with
  message fragments saying what was expected and what to do; for a defect in the price file the
  trading calendar (read before any data is loaded, to build the partitions) raises the same
  error, never a reader traceback; or
- the exact rows quarantined (dataset, row, column, the cell as written, reason), with notes
  where a mismatch loads but is worth saying, and ``read = loaded + rejected`` for every dataset,
  ``read`` counted from the file independently of the loader. The calendar then holds exactly
  the loaded price dates: it never accepts a date the loader rejects.

Decisions documented here (and in the README's Guarantees):

- a date is a whole ISO 8601 date, optionally with a time and a UTC offset; the date is taken as
  written (the local date), the time and offset are dropped, never applied; partial dates
  (``2014-03``, ``2014``), compact ``20200106``, impossible times are rejected, never completed;
- dates outside 1900-01-01 .. 2100-12-31 are rejected; a price date on a weekend or isolated from
  the rest of the history by more than 366 days (a stray 1970-01-01) is rejected, so the daily
  partitions span only the real history;
- numeric date columns (Parquet integers or floats: 20150209, epoch seconds, Excel serials) are
  ambiguous and refused as a whole; Parquet date and timestamp columns (also timezone-aware) load;
- a compressed file is read only when its name says so; a byte-order mark is dropped;
- numbers follow one decimal grammar: ``1,234.5``, ``Infinity`` are non-numeric, and the rejected
  value is the cell as written (``1e-320``, not a 324-digit decimal);
- a ticker with a line break or tab is rejected; tickers of other datasets that match no price
  ticker load with a note (letter-case near misses named); an unknown ``release_time`` and a
  surprise beyond 1000 (100,000 %) are rejected; market rows on days with no price are recorded
  as not storable, without counting against the file.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from axion_pipeline.data.calendar import trading_calendar
from axion_pipeline.data.generic import load_generic_market
from axion_pipeline.data.quality import reconciliation
from axion_pipeline.data.validation import (
    ISOLATED_DATE,
    NOT_A_TRADING_DAY,
    SURPRISE_OUT_OF_RANGE,
    UNKNOWN_RELEASE_TIME,
    WEEKEND_DATE,
    DataValidationError,
)
from axion_pipeline_tests.data import corpus
from axion_pipeline_tests.data.corpus import DAYS, TICKERS, TODAY, csv_text, price_line

Files = corpus.Files
N_PRICES = len(DAYS) * len(TICKERS)
APPENDED = N_PRICES + 2  # the line of a price row appended to the base file


# ------------------------------------------------------------------------------- defect helpers
def _price_text(files: Files) -> list[str]:
    return csv_text(files["prices.csv"]).splitlines()


def _set_price_cell(files: Files, day, ticker: str, column: str, cell: str) -> None:
    """Write ``cell`` verbatim into the price file at (day, ticker, column)."""
    lines = _price_text(files)
    line = price_line(day, ticker)
    cells = lines[line - 1].split(",")
    cells[corpus.base_prices().columns.get_loc(column)] = cell
    lines[line - 1] = ",".join(cells)
    files["prices.csv"] = "\n".join(lines) + "\n"


def _append_price(files: Files, date: str, ticker: str = "AAA") -> None:
    """A valid price row dated ``date`` (text, as written) at the end of the file."""
    files["prices.csv"] = csv_text(files["prices.csv"]) + f"{date},{ticker},20.0,20.5,19.5,20.1,1000\n"


def _price_dates_as(files: Files, render: Callable[[pd.Timestamp, int], str]) -> None:
    p = files["prices.csv"]
    files["prices.csv"] = p.assign(date=[render(d, i) for i, d in enumerate(p["date"])])


def _to_parquet(files: Files, name: str, frame: pd.DataFrame | pa.Table) -> None:
    del files[name]
    sink = io.BytesIO()
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, sink)
    files[name.replace(".csv", ".parquet")] = sink.getvalue()


# ------------------------------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    id: str
    plant: Callable[[Files], None]
    # file-level: (file, row, column, regex the message must match)
    error: tuple[str, int | None, str | None, str] | None = None
    # row-level: the exact rejected rows (dataset, row, column, value as written, reason)
    rejected: list[tuple[str, int, str, str, str]] = field(default_factory=list)
    notes: tuple[str, ...] = ()  # fragments the notes must contain
    check: Callable | None = None  # further assertions on the loaded MarketData


def _semicolons(files):
    files["prices.csv"] = csv_text(files["prices.csv"]).replace(",", ";")


def _upper_header(files):
    files["prices.csv"] = csv_text(files["prices.csv"].rename(columns=str.upper))


def _empty(files):
    files["prices.csv"] = b""


def _gzip_named_csv(files):
    files["prices.csv"] = gzip.compress(csv_text(files["prices.csv"]).encode(), mtime=0)


def _bzip2_named_csv(files):
    files["prices.csv"] = bz2.compress(csv_text(files["prices.csv"]).encode())


def _zip_named_csv(files):
    files["prices.csv"] = b"PK\x03\x04" + bytes(60)  # what an .xlsx workbook starts with


def _plain_named_gz(files):
    files["prices.csv.gz"] = csv_text(files.pop("prices.csv")).encode()


def _truncated_gz(files):
    whole = gzip.compress(csv_text(files.pop("prices.csv")).encode(), mtime=0)
    files["prices.csv.gz"] = whole[: len(whole) // 2]


def _utf16(files):
    files["prices.csv"] = csv_text(files["prices.csv"]).encode("utf-16")


def _integer_dates_parquet(files):
    p = files["prices.csv"]
    _to_parquet(files, "prices.csv", p.assign(date=p["date"].dt.strftime("%Y%m%d").astype("int64")))


def _epoch_dates_parquet(files):
    p = files["prices.csv"]
    _to_parquet(files, "prices.csv", p.assign(date=p["date"].astype("int64") // 10**9))


def _excel_serial_dates_parquet(files):
    p = files["prices.csv"]
    serial = (p["date"] - pd.Timestamp("1899-12-30")).dt.days.astype("float64")
    _to_parquet(files, "prices.csv", p.assign(date=serial))


def _integer_period_end_parquet(files):
    f = files["fundamentals.csv"]
    _to_parquet(files, "fundamentals.csv", f.assign(period_end=f["period_end"].dt.strftime("%Y%m%d").astype("int64")))


def _prices_directory(files):
    del files["prices.csv"]
    files["prices.csv/"] = None  # written as a directory


def _prices_link_loop(files):
    del files["prices.csv"]
    files["prices.csv@"] = "loop.csv"  # prices.csv -> loop.csv -> prices.csv
    files["loop.csv@"] = "prices.csv"


def _sunday_price(files):
    _append_price(files, "2020-01-05")


def _excel_zero_date(files):
    _append_price(files, "1899-12-29")


def _epoch_zero_date(files):
    _append_price(files, "1970-01-01")


def _partial_price_date(files):
    _set_price_cell(files, "2020-01-08", "BBB", "date", "2020-01")


def _compact_price_date(files):
    _set_price_cell(files, "2020-01-08", "CCC", "date", "20200108")


def _impossible_time(files):
    _set_price_cell(files, "2020-01-09", "DDD", "date", "2020-01-09T25:00:00")


def _offset_dates(files):
    _price_dates_as(files, lambda d, i: f"{d:%Y-%m-%d}T09:30:00+09:00")


def _mixed_offsets(files):
    zones = ["T00:00:00+09:00", "T23:59:00-05:00", "T12:00:00Z", " 16:00"]
    _price_dates_as(files, lambda d, i: f"{d:%Y-%m-%d}{zones[i % len(zones)]}")


def _tz_aware_parquet(files):
    p = files["prices.csv"]
    _to_parquet(files, "prices.csv", p.assign(date=p["date"].dt.tz_localize("America/New_York")))


def _date32_parquet(files):
    table = pa.Table.from_pandas(files["prices.csv"], preserve_index=False)
    table = table.set_column(0, "date", table.column("date").cast(pa.date32()))
    _to_parquet(files, "prices.csv", table)


def _bom_header(files):
    files["prices.csv"] = "\ufeff" + csv_text(files["prices.csv"])


def _partial_period_end(files):
    f = files["fundamentals.csv"]
    f["period_end"] = f["period_end"].dt.strftime("%Y-%m-%d").astype(object)
    f.loc[2, "period_end"] = "2019-06"  # BBB's June quarter: 2019-06-01 would make it available a month early


def _partial_available_date(files):
    f = files["fundamentals.csv"]
    f["available_date"] = f["available_date"].dt.strftime("%Y-%m-%d").astype(object)
    f.loc[5, "available_date"] = "2019-11"


def _partial_start_date(files):
    u = files["universe.csv"]
    u["start_date"] = u["start_date"].dt.strftime("%Y-%m-%d").astype(object)
    u.loc[0, "start_date"] = "2019"


def _unknown_release_time(files):
    files["earnings_events.csv"].loc[1, "release_time"] = "during"


def _tiny_estimate(files):
    e = files["earnings_events.csv"]
    e.loc[2, ["eps_estimate", "eps_actual"]] = [1e-13, 1.75]  # surprise 1.75e13


def _huge_supplied_surprise(files):
    e = files["earnings_events.csv"]
    e["surprise_pct"] = np.nan
    e.loc[3, ["eps_estimate", "surprise_pct"]] = [np.nan, 5e4]


def _newline_in_ticker(files):
    lines = _price_text(files)
    line = price_line("2020-01-10", "AAA")
    lines[line - 1] = lines[line - 1].replace("AAA", '"AA\nA"', 1)
    files["prices.csv"] = "\n".join(lines) + "\n"


def _tab_in_ticker(files):
    _set_price_cell(files, "2020-01-13", "BBB", "ticker", "B\tBB")


def _lower_case_fundamentals(files):
    f = files["fundamentals.csv"]
    f.loc[f["ticker"] == "CCC", "ticker"] = "ccc"


def _unpriced_earnings(files):
    files["earnings_events.csv"].loc[0, "ticker"] = "ZZZ"


def _denormal_open(files):
    _set_price_cell(files, "2020-01-14", "CCC", "open", "1e-320")


def _infinity_close(files):
    _set_price_cell(files, "2020-01-15", "DDD", "close", "Infinity")


def _thousands_separator(files):
    _set_price_cell(files, "2020-01-16", "AAA", "volume", '"1,234"')


def _saturday_market_row(files):
    m = files["market_series.csv"]
    files["market_series.csv"] = pd.concat([m, m.iloc[[2]].assign(date=pd.Timestamp("2020-01-04"))], ignore_index=True)


def _market_before_prices(files):
    m = files["market_series.csv"]
    before = m.iloc[:3].assign(date=pd.bdate_range("2019-12-27", periods=3))  # 27th, 30th, 31st December
    files["market_series.csv"] = pd.concat([before, m], ignore_index=True)


def _null_column_parquet(files):
    f = files["fundamentals.csv"]
    table = pa.Table.from_pandas(f.drop(columns="revenue"), preserve_index=False)
    table = table.append_column("revenue", pa.nulls(len(f)))  # an all-null column has Parquet type null
    _to_parquet(files, "fundamentals.csv", table)


def _loads_like_base(md):
    assert len(md.prices) == N_PRICES and list(md.prices["date"].unique()) == list(DAYS)


def _revenue_is_float(md):
    assert md.fundamentals["revenue"].dtype == "float64" and md.fundamentals["revenue"].isna().all()


def _ccc_keeps_its_fundamentals_unused(md):
    assert sorted(md.fundamentals["ticker"].unique()) == ["AAA", "BBB", "DDD", "ccc"]


PRICE_FILE_ERRORS = [
    Case(
        "semicolon_delimiter",
        _semicolons,
        ("prices.csv", 1, "date;ticker;open;high;low;close;volume", r"wrong delimiter.*semicolon.*comma-separated"),
    ),
    Case(
        "upper_case_header",
        _upper_header,
        ("prices.csv", 1, "date", r"'date' looks renamed to 'DATE'.*case- and space-sensitive: rename them"),
    ),
    Case("zero_byte_file", _empty, ("prices.csv", 1, None, r"file is empty \(no header line\)")),
    Case("gzip_named_csv", _gzip_named_csv, ("prices.csv", None, None, r"gzip-compressed.*name it prices\.csv\.gz")),
    Case("bzip2_named_csv", _bzip2_named_csv, ("prices.csv", None, None, r"bzip2-compressed.*decompress it")),
    Case("zip_named_csv", _zip_named_csv, ("prices.csv", None, None, r"a zip archive.*decompress it")),
    Case("plain_text_named_gz", _plain_named_gz, ("prices.csv.gz", None, None, r"cannot be read.*BadGzipFile")),
    Case("truncated_gzip", _truncated_gz, ("prices.csv.gz", None, None, r"cannot be read.*check that the file is")),
    Case("utf16_text", _utf16, ("prices.csv", 1, None, r"NUL byte \(the file starts like UTF-16 text\)")),
    Case(
        "integer_dates_parquet",
        _integer_dates_parquet,
        ("prices.parquet", 2, "date", r"dates stored as int64 numbers \(e\.g\. 20200102\).*never guessed.*ISO 8601"),
    ),
    Case(
        "epoch_dates_parquet", _epoch_dates_parquet, ("prices.parquet", 2, "date", r"int64 numbers \(e\.g\. 1577923200")
    ),
    Case(
        "excel_serial_parquet",
        _excel_serial_dates_parquet,
        ("prices.parquet", 2, "date", r"float64 numbers \(e\.g\. 43832"),
    ),
    Case("prices_directory", _prices_directory, ("prices.csv", None, None, r"is a directory, not a data file")),
    Case("prices_link_loop", _prices_link_loop, ("prices.csv", None, None, r"symbolic link loop")),
]
CASES = [
    *PRICE_FILE_ERRORS,
    Case(
        "integer_period_end_parquet",
        _integer_period_end_parquet,
        ("fundamentals.parquet", 2, "period_end", r"dates stored as int64 numbers \(e\.g\. 20190630\)"),
    ),
    Case("sunday_price", _sunday_price, rejected=[("prices", APPENDED, "date", "2020-01-05", WEEKEND_DATE)]),
    Case(
        "excel_zero_date",
        _excel_zero_date,
        rejected=[("prices", APPENDED, "date", "1899-12-29", "date outside 1900-01-01 .. 2100-12-31")],
    ),
    Case("epoch_zero_date", _epoch_zero_date, rejected=[("prices", APPENDED, "date", "1970-01-01", ISOLATED_DATE)]),
    Case(
        "partial_price_date",
        _partial_price_date,
        rejected=[
            (
                "prices",
                price_line("2020-01-08", "BBB"),
                "date",
                "2020-01",
                "partial date: year or month without a day, never completed",
            )
        ],
    ),
    Case(
        "compact_price_date",
        _compact_price_date,
        rejected=[("prices", price_line("2020-01-08", "CCC"), "date", "20200108", "unparseable date")],
    ),
    Case(
        "impossible_time",
        _impossible_time,
        rejected=[("prices", price_line("2020-01-09", "DDD"), "date", "2020-01-09T25:00:00", "unparseable date")],
    ),
    Case("offset_dates", _offset_dates, check=_loads_like_base),
    Case("mixed_offsets", _mixed_offsets, check=_loads_like_base),
    Case("tz_aware_parquet", _tz_aware_parquet, check=_loads_like_base),
    Case("date32_parquet", _date32_parquet, check=_loads_like_base),
    Case("bom_header", _bom_header, check=_loads_like_base),
    Case(
        "partial_period_end",
        _partial_period_end,
        rejected=[
            (
                "fundamentals",
                4,
                "period_end",
                "2019-06",
                "partial period_end: year or month without a day, never completed",
            )
        ],
    ),
    Case(
        "partial_available_date",
        _partial_available_date,
        rejected=[
            (
                "fundamentals",
                7,
                "available_date",
                "2019-11",
                "partial available_date: year or month without a day, never completed",
            )
        ],
    ),
    Case(
        "partial_start_date",
        _partial_start_date,
        rejected=[
            ("universe", 2, "start_date", "2019", "partial start_date: year or month without a day, never completed")
        ],
    ),
    Case(
        "unknown_release_time",
        _unknown_release_time,
        rejected=[("earnings_events", 3, "release_time", "during", UNKNOWN_RELEASE_TIME)],
    ),
    Case(
        "tiny_estimate_surprise",
        _tiny_estimate,
        rejected=[("earnings_events", 4, "eps_estimate", "1e-13", SURPRISE_OUT_OF_RANGE)],
    ),
    Case(
        "huge_supplied_surprise",
        _huge_supplied_surprise,
        rejected=[("earnings_events", 5, "surprise_pct", "50000.0", SURPRISE_OUT_OF_RANGE)],
    ),
    Case(
        "newline_in_ticker",
        _newline_in_ticker,
        rejected=[
            (
                "prices",
                price_line("2020-01-10", "AAA"),
                "ticker",
                "AA\nA",
                "control character (line break, tab) in ticker",
            )
        ],
    ),
    Case(
        "tab_in_ticker",
        _tab_in_ticker,
        rejected=[
            (
                "prices",
                price_line("2020-01-13", "BBB"),
                "ticker",
                "B\tBB",
                "control character (line break, tab) in ticker",
            )
        ],
    ),
    Case(
        "lower_case_fundamentals",
        _lower_case_fundamentals,
        notes=("fundamentals: 1 of the 4 tickers of fundamentals.csv match no price ticker", "ccc ~ CCC"),
        check=_ccc_keeps_its_fundamentals_unused,
    ),
    Case(
        "unpriced_earnings",
        _unpriced_earnings,
        notes=(
            "earnings_events: 1 of the 4 tickers of earnings_events.csv match no price ticker; their rows are "
            "loaded but unused: ZZZ.",
        ),
    ),
    Case(
        "denormal_open",
        _denormal_open,
        rejected=[("prices", price_line("2020-01-14", "CCC"), "open", "1e-320", "open outside [low, high]")],
    ),
    Case(
        "infinity_close",
        _infinity_close,
        rejected=[("prices", price_line("2020-01-15", "DDD"), "close", "Infinity", "non-numeric price")],
    ),
    Case(
        "thousands_separator",
        _thousands_separator,
        rejected=[("prices", price_line("2020-01-16", "AAA"), "volume", "1,234", "non-numeric volume")],
    ),
    Case(
        "saturday_market_row",
        _saturday_market_row,
        rejected=[("market_series", len(DAYS) + 2, "date", "2020-01-04", NOT_A_TRADING_DAY)],
        notes=("market_series: 1 rows of market_series.csv fall on no trading day of the prices",),
    ),
    Case(
        "market_before_prices",
        _market_before_prices,
        rejected=[
            ("market_series", line, "date", day, NOT_A_TRADING_DAY)
            for line, day in zip((2, 3, 4), ("2019-12-27", "2019-12-30", "2019-12-31"))
        ],
    ),
    Case("null_column_parquet", _null_column_parquet, check=_revenue_is_float),
]


# ------------------------------------------------------------------------------------ running
def write(root: Path, files: Files) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if name.endswith("/"):
            (root / name[:-1]).mkdir()
        elif name.endswith("@"):
            (root / name[:-1]).symlink_to(root / content)
        elif isinstance(content, pd.DataFrame):
            (root / name).write_text(csv_text(content), encoding="utf-8")
        elif isinstance(content, bytes):
            (root / name).write_bytes(content)
        else:
            (root / name).write_text(content, encoding="utf-8")
    return root


def records(root: Path, stem: str) -> int:
    """Data records of a dataset file, counted without the loader (the csv module: a quoted line
    break stays inside its record; blank lines count; Parquet: the footer's row count)."""
    for name in os.listdir(root):
        path = root / name
        if not name.startswith(f"{stem}.") or name.endswith("@") or not path.is_file():
            continue
        if name.endswith(".parquet"):
            return pq.read_metadata(path).num_rows
        data = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
        return len(list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))) - 1
    return 0


def build(tmp_path: Path, case: Case) -> Path:
    files = corpus.base_files()
    case.plant(files)
    return write(tmp_path / "data", files)


@pytest.mark.parametrize("case", [c for c in CASES if c.error], ids=lambda c: c.id)
def test_file_level_defect_names_file_row_and_column(tmp_path, case):
    root = build(tmp_path, case)
    file, row, column, pattern = case.error
    calls = [lambda: load_generic_market(root, today=TODAY)]
    if file.startswith("prices"):  # the calendar reads the price file first: the same error, no traceback
        calls.append(lambda: trading_calendar(str(root), "2020-01-01", "2020-12-31"))
    for call in calls:
        with pytest.raises(DataValidationError, match=pattern) as exc:
            call()
        err = exc.value
        assert (Path(err.file).name, err.row, err.column) == (file, row, column)
        assert str(err).startswith(f"file {err.file}")
        assert (row is None or f"row {row}" in str(err)) and (column is None or f"column {column!r}" in str(err))


@pytest.mark.parametrize("case", [c for c in CASES if not c.error], ids=lambda c: c.id)
def test_row_level_defect_is_quarantined_and_counts_reconcile(tmp_path, case):
    root = build(tmp_path, case)
    md = load_generic_market(root, today=TODAY, max_reject_share=0.3)
    got = [tuple(r) for r in md.rejected_rows[["dataset", "row_number", "column", "value", "reason"]].values.tolist()]
    assert got == case.rejected
    for fragment in case.notes:
        assert any(fragment in n for n in md.notes), (fragment, md.notes)
    rec = reconciliation(md).set_index("dataset")
    assert rec["reconciles"].all(), rec
    for ds in ("prices", "fundamentals", "market_series", "earnings_events", "universe"):
        assert rec.loc[ds, "read"] == records(root, ds) == rec.loc[ds, "loaded"] + rec.loc[ds, "rejected"], ds
    # the calendar (built before loading) holds exactly the days of the loaded prices
    calendar = trading_calendar(str(root), "2020-01-01", "2020-12-31")
    assert list(calendar) == sorted(md.prices["date"].unique())
    if case.check:
        case.check(md)


def test_corpus_size_and_ids_are_unique():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)
