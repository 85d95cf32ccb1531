"""File-level errors, row quarantine and canonical schemas of ``axion_pipeline.data.validation``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandera.errors import SchemaErrors

from axion_pipeline.data.contracts import PRICE_COLUMNS, REJECTED_COLUMNS
from axion_pipeline.data.validation import (
    PRICES_SCHEMA,
    UNKNOWN_RELEASE_TIME,
    DataValidationError,
    RejectionThresholdExceeded,
    read_table,
    validate_earnings,
    validate_fundamentals,
    validate_market_series,
    validate_prices,
    validate_sectors,
)

TODAY = pd.Timestamp("2024-06-28")
HEADER = ",".join(PRICE_COLUMNS)


def good_lines() -> list[str]:
    """3 tickers x 10 days of valid OHLCV rows (30 data lines, lines 2..31 of the file)."""
    days = pd.bdate_range("2024-01-02", periods=10)
    return [
        f"{d:%Y-%m-%d},{t},{10 + i:.2f},{11 + i:.2f},{9 + i:.2f},{10.5 + i:.2f},{1000 * (i + 1)}"
        for i, d in enumerate(days)
        for t in ("AAA", "BBB", "CCC")
    ]


def write(tmp_path, lines: list[str], name: str = "prices.csv", header: str = HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def load(tmp_path, lines, **kwargs):
    path = write(tmp_path, lines)
    raw = read_table(path, PRICE_COLUMNS, display_name="prices.csv")
    clean, rejected = validate_prices(raw, "prices.csv", kwargs.pop("max_reject_share", 1.0), today=TODAY, **kwargs)
    return raw, clean, rejected


# ------------------------------------------------------------------------------- file level
def test_empty_file_names_file_and_row(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("")
    with pytest.raises(DataValidationError, match=r"file prices\.csv, row 1: file is empty") as exc:
        read_table(path, PRICE_COLUMNS, display_name="prices.csv")
    assert exc.value.file == "prices.csv" and exc.value.row == 1


def test_header_only_names_row_2(tmp_path):
    with pytest.raises(DataValidationError, match="row 2: header only") as exc:
        read_table(write(tmp_path, []), PRICE_COLUMNS)
    assert exc.value.row == 2


@pytest.mark.parametrize(("sep", "label"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_wrong_delimiter_is_named(tmp_path, sep, label):
    lines = [line.replace(",", sep) for line in good_lines()]
    path = write(tmp_path, lines, header=HEADER.replace(",", sep))
    with pytest.raises(DataValidationError, match=f"wrong delimiter.*{label}") as exc:
        read_table(path, PRICE_COLUMNS)
    assert exc.value.row == 1 and exc.value.column == HEADER.replace(",", sep)


def test_missing_column_lists_expected_and_found(tmp_path):
    header = HEADER.replace(",volume", "")
    path = write(tmp_path, [line.rsplit(",", 1)[0] for line in good_lines()], header=header)
    with pytest.raises(DataValidationError) as exc:
        read_table(path, PRICE_COLUMNS)
    msg = str(exc.value)
    assert "missing required column(s) ['volume']" in msg and "expected" in msg and "found" in msg
    assert exc.value.column == "volume" and exc.value.row == 1


def test_renamed_column_is_hinted(tmp_path):
    path = write(tmp_path, good_lines(), header=HEADER.replace("close", "Close"))
    with pytest.raises(DataValidationError, match="'close' looks renamed to 'Close'"):
        read_table(path, PRICE_COLUMNS)


def test_ragged_row_names_its_line(tmp_path):
    lines = good_lines()
    lines[4] += ",extra"  # line 6 of the file
    with pytest.raises(DataValidationError, match="row 6") as exc:
        read_table(write(tmp_path, lines), PRICE_COLUMNS)
    assert exc.value.row == 6


# -------------------------------------------------------------------------------- quarantine
BAD_ROWS = [  # (field index to replace, new text, rejected column, reason)
    (0, "2024-13-45", "date", "unparseable date"),
    (0, "2030-01-02", "date", "date in the future"),
    (1, "", "ticker", "empty ticker"),
    (2, "", "open", "missing price"),
    (5, "abc", "close", "non-numeric price"),
    (4, "-1", "low", "non-positive price"),
    (3, "8.5", "high", "high < low"),
    (2, "50", "open", "open outside [low, high]"),
    (5, "1", "close", "close outside [low, high]"),
    (6, "-5", "volume", "negative volume"),
    (6, "lots", "volume", "non-numeric volume"),
]


@pytest.mark.parametrize(("field", "text", "column", "reason"), BAD_ROWS, ids=[b[3] for b in BAD_ROWS])
def test_each_bad_row_kind_is_quarantined(tmp_path, field, text, column, reason):
    lines = good_lines()
    cells = lines[7].split(",")  # line 9
    cells[field] = text
    lines[7] = ",".join(cells)
    raw, clean, rejected = load(tmp_path, lines)
    assert list(rejected.columns) == REJECTED_COLUMNS
    assert len(rejected) == 1 and len(clean) + len(rejected) == len(raw) == 30
    row = rejected.iloc[0]
    assert (row["dataset"], row["source_file"], row["row_number"]) == ("prices", "prices.csv", 9)
    assert (row["column"], row["reason"], row["value"]) == (column, reason, text)


def test_duplicate_keeps_first_and_rejects_later(tmp_path):
    lines = good_lines()
    lines.append(lines[3].replace(",1000", ",999"))  # same (date, ticker) as line 5, at line 32
    raw, clean, rejected = load(tmp_path, lines)
    assert rejected[["row_number", "column", "reason"]].values.tolist() == [[32, "date", "duplicate (date, ticker)"]]
    assert "first at row 5" in rejected["value"].iloc[0]
    assert len(clean) == 30 and not clean.duplicated(["date", "ticker"]).any()
    first = clean[(clean["date"] == pd.Timestamp("2024-01-03")) & (clean["ticker"] == "AAA")]
    assert first["volume"].tolist() == [2000.0]


def test_blank_line_keeps_line_numbers(tmp_path):
    lines = good_lines()
    lines.insert(2, "")  # line 4 blank: later rows keep their true line numbers
    lines[10] = lines[10].replace("2024", "20x4", 1)  # line 12
    raw, clean, rejected = load(tmp_path, lines)
    assert rejected[["row_number", "reason"]].values.tolist() == [[4, "blank line"], [12, "unparseable date"]]
    assert len(clean) + len(rejected) == len(raw) == 31


def test_source_column_names_are_reported(tmp_path):
    lines = good_lines()
    lines[0] = lines[0].replace("AAA", " ")
    path = write(tmp_path, lines, header=HEADER.replace("ticker", "Name"))
    raw = read_table(path, ["date", "Name"]).rename(columns={"Name": "ticker"})
    _, rejected = validate_prices(raw, "p.csv", 1.0, today=TODAY, source_columns={"ticker": "Name"})
    assert rejected[["column", "reason"]].values.tolist() == [["Name", "empty ticker"]]


def test_rejection_threshold_names_file_share_and_reasons(tmp_path):
    lines = good_lines()
    for i in range(0, 6):
        lines[i] = lines[i].rsplit(",", 1)[0] + ",-1"
    lines[6] = lines[6].replace("2024", "x", 1)
    with pytest.raises(RejectionThresholdExceeded) as exc:
        load(tmp_path, lines, max_reject_share=0.05)
    msg = str(exc.value)
    assert "prices.csv" in msg and "7 of 30 rows rejected (23.3%" in msg
    assert "negative volume (6)" in msg and "unparseable date (1)" in msg


def test_clean_prices_are_canonical_and_schema_checked(tmp_path):
    _, clean, _ = load(tmp_path, good_lines())
    assert list(clean.columns) == PRICE_COLUMNS
    assert clean["date"].dtype == "datetime64[ns]" and clean["ticker"].map(type).eq(str).all()
    assert clean.equals(clean.sort_values(["date", "ticker"]).reset_index(drop=True))
    broken = clean.copy()
    broken.loc[0, "high"] = broken.loc[0, "low"] - 1
    with pytest.raises(SchemaErrors, match="high >= low"):
        PRICES_SCHEMA.validate(broken, lazy=True)


def test_typed_input_as_from_parquet():
    raw = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02", "2024-01-02", None, "2024-01-03"]),
            "ticker": ["A", "B", "C", "A"],
            "open": [1.0, np.nan, 1.0, 1.0],
            "high": [2.0, 2.0, 2.0, 2.0],
            "low": [0.5, 0.5, 0.5, 0.5],
            "close": [1.5, 1.5, 1.5, np.inf],
            "volume": [10, 10, 10, 10],
        }
    )
    clean, rejected = validate_prices(raw, "prices.parquet", 1.0, today=TODAY)
    assert rejected["reason"].tolist() == ["missing price", "unparseable date", "non-numeric price"]
    assert rejected["row_number"].tolist() == [3, 4, 5] and clean["ticker"].tolist() == ["A"]


# ----------------------------------------------------------------------- other validators
def test_fundamentals_lag_and_rules():
    raw = pd.DataFrame(
        {
            "ticker": ["A", "A", "B", "B", "C"],
            "period_end": ["2023-12-31", "2022-12-31", "2023-12-31", "2023-12-31", "2023-06-30"],
            "available_date": ["", "2023-02-15", "2023-11-30", "", "2023-08-01"],
            "eps": ["1.5", "1.2", "2.0", "x", "1.0"],
            "shares_outstanding": ["10", "10", "10", "10", "-3"],
        }
    )
    clean, rejected = validate_fundamentals(raw, "f.csv", 1.0, reporting_lag_days=60, today=TODAY)
    assert rejected[["row_number", "column", "reason"]].values.tolist() == [
        [4, "available_date", "available_date before period_end"],
        [5, "eps", "non-numeric value"],
        [6, "shares_outstanding", "non-positive shares_outstanding"],
    ]
    a = clean[clean["ticker"] == "A"].set_index("period_end")["available_date"]
    assert a[pd.Timestamp("2023-12-31")] == pd.Timestamp("2024-02-29")  # period_end + 60 days
    assert a[pd.Timestamp("2022-12-31")] == pd.Timestamp("2023-02-15")
    assert (clean["period_type"] == "unknown").all() and clean["revenue"].isna().all()


def test_sectors_rules():
    raw = pd.DataFrame({"ticker": ["A", "", "B", "A"], "sector": ["Tech", "Energy", "NULL", "Energy"]})
    clean, rejected = validate_sectors(raw, "s.csv", 1.0)
    assert rejected["reason"].tolist() == ["empty ticker", "missing sector", "duplicate ticker"]
    assert clean.values.tolist() == [["A", "Tech"]]


def test_market_series_rules():
    raw = pd.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-03", "2024-01-03", "2024-01-04", "2024-01-05"],
            "sp500_close": ["4700", ".", "4710", "4720", "4730"],
            "vix": ["13", "14", "14", "-2", "15"],
            "advance_decline": ["0.1", "", "", "", "1.5"],
        }
    )
    clean, rejected = validate_market_series(raw, "m.csv", 1.0, today=TODAY)
    assert rejected["reason"].tolist() == ["duplicate date", "vix out of range", "advance_decline out of range"]
    assert clean["sp500_close"].isna().tolist() == [False, True]  # '.' is a missing value, kept


def test_earnings_surprise_and_release_time():
    raw = pd.DataFrame(
        {
            "ticker": ["A", "A", "B", "B", "C"],
            "announce_date": ["2024-01-20", "2024-04-20", "2024-01-25", "bad", "2024-02-01"],
            "eps_estimate": ["1.00", "0", "-0.50", "1", ""],
            "eps_actual": ["1.10", "0.1", "-0.40", "1", "2"],
            "release_time": ["post", "BMO", "weird", "pre", ""],
        }
    )
    clean, rejected = validate_earnings(raw, "e.csv", 1.0, today=TODAY)
    # 'weird' is neither pre nor post market: never read as unknown (it decides what the close knows)
    assert rejected[["row_number", "column", "value", "reason"]].values.tolist() == [
        [4, "release_time", "weird", UNKNOWN_RELEASE_TIME],
        [5, "announce_date", "bad", "unparseable announce date"],
    ]
    assert clean["surprise_pct"].round(6).tolist()[:1] == [0.1]
    assert clean["surprise_pct"].iloc[1:].isna().all()  # a zero estimate, no estimate
    assert clean["release_time"].tolist() == ["post", "pre", None]


# ------------------------------------------------------------------------------ property
ROW = st.tuples(
    st.sampled_from(["2024-01-02", "2024-01-03", "2024-13-01", "", "2031-01-01"]),
    st.sampled_from(["A", "B", ""]),
    st.sampled_from(["10", "-1", "x", ""]),
    st.sampled_from(["12", "9"]),
    st.sampled_from(["8", "11"]),
    st.sampled_from(["10", "13", "abc"]),
    st.sampled_from(["5", "-5", ""]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, min_size=1, max_size=25))
def test_rows_are_either_loaded_or_rejected_once(rows):
    raw = pd.DataFrame(rows, columns=PRICE_COLUMNS)
    clean, rejected = validate_prices(raw, "p.csv", 1.0, today=TODAY)
    assert len(clean) + len(rejected) == len(raw)
    assert rejected["row_number"].is_unique and set(rejected["row_number"]) <= set(range(2, len(raw) + 2))
    PRICES_SCHEMA.validate(clean)
