"""Bad-input corpus: a small valid generic-layout dataset and one-defect variants of it.

``base_files()`` is a valid folder (see ``axion_pipeline.data.generic``) as ``file name -> content``:
4 tickers x 12 trading days of prices (2020-01-02 .. 2020-01-17), two quarterly fundamentals rows
per ticker, sectors, market series without the breadth columns (the loader computes them),
earnings events and membership intervals (every ticker a member over the whole span, DDD through
two adjacent intervals). Every case in ``CASES`` copies it and plants exactly one defect; ``build(root,
kind)`` writes the result. Nothing binary is committed: Parquet and garbage bytes are generated
into ``tmp_path`` by the tests.

Prices are written in (date, ticker) order, so the price of ``(day, ticker)`` is on line
``price_line(day, ticker)`` of ``prices.csv`` (header = line 1).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import FUNDAMENTAL_COLUMNS, FUNDAMENTAL_FIELDS

TODAY = pd.Timestamp("2024-06-28")  # the loader's cut-off for "future" rows in every test
DAYS = pd.bdate_range("2020-01-02", periods=12)  # no holiday in this span
TICKERS = ["AAA", "BBB", "CCC", "DDD"]
SECTORS = {"AAA": "Energy", "BBB": "Financials", "CCC": "Utilities", "DDD": "Industrials"}
ODD_TICKERS = {"AAA": "O'REILLY", "BBB": "A;B", "CCC": "ÄBC", "DDD": "X'); DROP TABLE prices; --"}
TOKEN_TICKERS = {"AAA": "NA", "BBB": "NULL", "CCC": "NAN", "DDD": "NONE"}  # real symbols, not missing values

Content = pd.DataFrame | str | bytes
Files = dict[str, Content]


# ------------------------------------------------------------------------------ valid dataset
def base_prices() -> pd.DataFrame:
    rows = []
    for d, day in enumerate(DAYS):
        for t, ticker in enumerate(TICKERS):
            close = round(20.0 + 10 * t + 0.25 * d + (0.1 if (d + t) % 3 == 0 else -0.1), 2)
            rows.append(
                {
                    "date": day,
                    "ticker": ticker,
                    "open": round(close - 0.05, 2),
                    "high": round(close + 0.4, 2),
                    "low": round(close - 0.4, 2),
                    "close": close,
                    "volume": 1000 * (t + 1) + 10 * d,
                }
            )
    return pd.DataFrame(rows)


def base_fundamentals() -> pd.DataFrame:
    rows = []
    for t, ticker in enumerate(TICKERS):
        for k, (end, avail) in enumerate([("2019-06-30", "2019-08-14"), ("2019-09-30", "2019-11-13")]):
            values = {f: float(100 * (t + 1) + 10 * k + i) for i, f in enumerate(FUNDAMENTAL_FIELDS)}
            values.update(shares_outstanding=1000.0 * (t + 1), eps=1.0 + t + 0.1 * k, forward_eps=1.2 + t)
            rows.append(
                {
                    "ticker": ticker,
                    "period_end": pd.Timestamp(end),
                    "available_date": pd.Timestamp(avail),
                    "period_type": "Q",
                    **values,
                }
            )
    return pd.DataFrame(rows)[FUNDAMENTAL_COLUMNS]


def base_sectors() -> pd.DataFrame:
    return pd.DataFrame({"ticker": TICKERS, "sector": [SECTORS[t] for t in TICKERS]})


def base_market() -> pd.DataFrame:
    n = len(DAYS)
    i = np.arange(n)
    return pd.DataFrame(
        {
            "date": DAYS,
            "sp500_close": 3200.0 + 5 * i,
            "vix": 14.0 + 0.1 * i,
            "vix_3m": 16.0 + 0.1 * i,
            "yield_3m": np.full(n, 1.55),
            "yield_2y": np.full(n, 1.58),
            "yield_10y": 1.9 - 0.01 * i,
            "hy_spread": np.full(n, 3.6),
            "ig_spread": np.full(n, 1.1),
            "put_call_ratio": 0.9 + 0.01 * i,
        }
    )


def base_earnings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": TICKERS,
            "announce_date": pd.to_datetime(["2020-01-14", "2020-01-15", "2020-01-16", "2020-01-16"]),
            "fiscal_quarter_end": pd.Timestamp("2019-12-31"),
            "eps_estimate": [1.0, 2.0, 3.0, 4.0],
            "eps_actual": [1.1, 1.9, 3.0, 4.4],
            "release_time": ["pre", "post", "post", "pre"],
        }
    )


def base_universe() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": ["AAA", "BBB", "CCC", "DDD", "DDD"],
            "start_date": pd.to_datetime(["2019-01-02", "2019-01-02", "2019-01-02", "2018-01-02", "2019-07-01"]),
            "end_date": pd.to_datetime([None, None, None, "2019-06-28", None]),
        }
    )


def base_files() -> Files:
    return {
        "prices.csv": base_prices(),
        "fundamentals.csv": base_fundamentals(),
        "sectors.csv": base_sectors(),
        "market_series.csv": base_market(),
        "earnings_events.csv": base_earnings(),
        "universe.csv": base_universe(),
    }


def price_line(day, ticker: str) -> int:
    """Line of ``(day, ticker)`` in the base ``prices.csv`` (header = line 1)."""
    return DAYS.get_loc(pd.Timestamp(day)) * len(TICKERS) + TICKERS.index(ticker) + 2


# ------------------------------------------------------------------------------------ writing
def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")


def write(root: Path, files: Files, fmt: str = "csv") -> Path:
    """Write ``files`` into ``root``; with ``fmt="parquet"`` frames go to ``<stem>.parquet``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        if isinstance(content, pd.DataFrame):
            if fmt == "parquet":
                content.to_parquet(path.with_suffix(".parquet"), index=False)
            else:
                path.write_text(csv_text(content), encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def _rename_tickers(files: Files, mapping: dict[str, str]) -> None:
    for name in ("prices.csv", "fundamentals.csv", "sectors.csv", "earnings_events.csv", "universe.csv"):
        files[name]["ticker"] = files[name]["ticker"].map(mapping)


def _set_price(files: Files, day, ticker: str, **values) -> None:
    p = files["prices.csv"]
    row = (p["date"] == pd.Timestamp(day)) & (p["ticker"] == ticker)
    assert row.sum() == 1
    for column, value in values.items():
        if isinstance(value, str):
            p[column] = p[column].astype(object)  # text in a numeric column
        p.loc[row, column] = value


# ------------------------------------------------------------------------------------ defects
def empty_file(files):
    files["prices.csv"] = ""


def header_only(files):
    files["prices.csv"] = csv_text(files["prices.csv"].iloc[:0])


def missing_column(files):
    files["prices.csv"] = files["prices.csv"].drop(columns="volume")


def renamed_column(files):
    files["market_series.csv"] = files["market_series.csv"].rename(columns={"sp500_close": "SP500 Close"})


def wrong_delimiter(files):
    files["sectors.csv"] = csv_text(files["sectors.csv"]).replace(",", ";")


def non_numeric_price(files):
    _set_price(files, "2020-01-07", "BBB", close="2O.5")  # letter O for a zero


def negative_price(files):
    _set_price(files, "2020-01-08", "CCC", low=-1.0)


def zero_price(files):
    _set_price(files, "2020-01-09", "AAA", open=0.0)


def high_below_low(files):
    p = files["prices.csv"]
    row = (p["date"] == pd.Timestamp("2020-01-10")) & (p["ticker"] == "DDD")
    p.loc[row, ["high", "low"]] = p.loc[row, ["low", "high"]].to_numpy()


def duplicate_key(files):
    p = files["prices.csv"]
    copy = p[(p["date"] == pd.Timestamp("2020-01-06")) & (p["ticker"] == "BBB")]
    copy = copy.assign(close=copy["close"] + 0.1)  # a conflicting second quote for the same key
    files["prices.csv"] = pd.concat([p, copy], ignore_index=True)  # appended: the last line of the file


def dates_out_of_order(files):
    files["prices.csv"] = files["prices.csv"].sample(frac=1.0, random_state=7).reset_index(drop=True)


def mixed_date_formats(files):
    text = csv_text(files["prices.csv"]).splitlines()
    line = price_line("2020-01-03", "CCC")
    assert text[line - 1].startswith("2020-01-03,CCC,")
    text[line - 1] = text[line - 1].replace("2020-01-03", "01/03/2020", 1)
    files["prices.csv"] = "\n".join(text) + "\n"


def future_date(files):
    p = files["prices.csv"]
    row = p.iloc[[-1]].assign(date=pd.Timestamp("2031-01-02"))
    files["prices.csv"] = pd.concat([p, row], ignore_index=True)


def split_jump(files):
    p = files["prices.csv"]
    after = (p["ticker"] == "BBB") & (p["date"] >= pd.Timestamp("2020-01-09"))
    p.loc[after, ["open", "high", "low", "close"]] = (p.loc[after, ["open", "high", "low", "close"]] / 2).round(3)


def odd_tickers(files):
    _rename_tickers(files, ODD_TICKERS)


def token_tickers(files):
    _rename_tickers(files, TOKEN_TICKERS)


GAP_DAYS = DAYS[4:8]  # 2020-01-08 .. 2020-01-13


def ticker_gap(files):
    p = files["prices.csv"]
    files["prices.csv"] = p[~((p["ticker"] == "CCC") & p["date"].isin(GAP_DAYS))].reset_index(drop=True)


def one_ticker(files):
    for name in ("prices.csv", "fundamentals.csv", "sectors.csv", "earnings_events.csv"):
        files[name] = files[name][files[name]["ticker"] == "AAA"].reset_index(drop=True)


def one_date(files):
    p = files["prices.csv"]
    files["prices.csv"] = p[p["date"] == DAYS[0]].reset_index(drop=True)


def all_missing_fundamentals_column(files):
    files["fundamentals.csv"]["revenue"] = np.nan


def nonpositive_eps(files):
    f = files["fundamentals.csv"]
    latest = f["period_end"] == pd.Timestamp("2019-09-30")
    f.loc[latest & (f["ticker"] == "AAA"), "eps"] = 0.0
    f.loc[latest & (f["ticker"] == "BBB"), "eps"] = -1.5
    f.loc[latest & f["ticker"].isin(["AAA", "BBB"]), "forward_eps"] = np.nan  # earnings yield from TTM EPS


LATE_PERIOD = {"period_end": pd.Timestamp("2020-03-31"), "available_date": pd.Timestamp("2020-05-12")}


def period_end_after_prices(files):
    f = files["fundamentals.csv"]
    late = f[f["ticker"] == "AAA"].iloc[[-1]].assign(**LATE_PERIOD, revenue=999.0)
    files["fundamentals.csv"] = pd.concat([f, late], ignore_index=True)


VIX_GAP_DAYS = DAYS[[3, 4, 9]]


def vix_gaps(files):
    m = files["market_series.csv"]
    m.loc[m["date"].isin(VIX_GAP_DAYS), "vix"] = np.nan


HOLIDAYS = DAYS[[5, 10]]  # 2020-01-09 and 2020-01-16 have prices but no market row


def market_holidays_missing(files):
    m = files["market_series.csv"]
    files["market_series.csv"] = m[~m["date"].isin(HOLIDAYS)].reset_index(drop=True)


def sector_missing(files):
    s = files["sectors.csv"]
    files["sectors.csv"] = s[s["ticker"] != "DDD"].reset_index(drop=True)


# Defects beyond the required list, found while building the corpus.
def not_utf8(files):
    files["prices.csv"] = csv_text(files["prices.csv"]).replace("DDD", "ÄBC").encode("latin-1")


def binary_as_csv(files):
    files["prices.csv"] = gzip.compress(csv_text(files["prices.csv"]).encode(), mtime=0)


def corrupt_parquet(files):
    del files["prices.csv"]
    files["prices.parquet"] = b"PAR1" + bytes(range(256)) + b"PAR1"


def nul_byte(files):
    text = csv_text(files["prices.csv"]).splitlines()
    line = price_line("2020-01-06", "CCC")
    text[line - 1] = text[line - 1].replace("CCC", "CC\x00C", 1)
    files["prices.csv"] = "\n".join(text) + "\n"


def duplicate_header(files):
    p = files["prices.csv"]
    files["prices.csv"] = pd.concat([p, (p["close"] * 2).rename("close")], axis=1)  # a second 'close' column


def ragged_row(files):
    text = csv_text(files["prices.csv"]).splitlines()
    line = price_line("2020-01-13", "AAA")
    text[line - 1] += ",999"
    files["prices.csv"] = "\n".join(text) + "\n"


def unterminated_quote(files):
    text = csv_text(files["prices.csv"]).splitlines()
    line = price_line("2020-01-14", "BBB")
    text[line - 1] = text[line - 1].replace("BBB", '"BBB', 1)
    files["prices.csv"] = "\n".join(text) + "\n"


def blank_lines(files):
    text = csv_text(files["prices.csv"]).splitlines()
    text.insert(price_line("2020-01-07", "AAA") - 1, "")  # between 2020-01-06 DDD and 2020-01-07 AAA
    files["prices.csv"] = "\n".join(text) + "\n"


TZ_OFFSET = "+09:00"  # a Tokyo export: local midnight is 15:00 UTC of the day before


def utc_offset_dates(files):
    m = files["market_series.csv"]
    stamps = m["date"].dt.strftime("%Y-%m-%dT00:00:00") + TZ_OFFSET
    files["market_series.csv"] = m.assign(date=stamps)


def sector_blank(files):
    files["sectors.csv"].loc[files["sectors.csv"]["ticker"] == "CCC", "sector"] = ""


def universe_overlap(files):
    u = files["universe.csv"]
    files["universe.csv"] = pd.concat([u, u.iloc[[1]].assign(start_date=pd.Timestamp("2019-12-02"))], ignore_index=True)


def universe_end_before_start(files):
    files["universe.csv"].loc[2, "end_date"] = pd.Timestamp("2018-12-31")


def universe_missing_column(files):
    files["universe.csv"] = files["universe.csv"].rename(columns={"start_date": "start"})


OPTIONAL_FILES = ["fundamentals.csv", "sectors.csv", "market_series.csv", "earnings_events.csv", "universe.csv"]


def optional_files_missing(files):
    for name in OPTIONAL_FILES:
        del files[name]


def optional_files_empty(files):
    """Header only (fundamentals, earnings), no bytes at all (sectors, universe), header only and
    gzipped (market series)."""
    for name in ("fundamentals.csv", "earnings_events.csv"):
        files[name] = csv_text(files[name].iloc[:0])
    files["sectors.csv"] = ""
    files["universe.csv"] = ""
    files["market_series.csv.gz"] = gzip.compress(csv_text(files.pop("market_series.csv").iloc[:0]).encode())


@dataclass(frozen=True)
class Case:
    kind: str
    file: str  # the file holding the defect
    plant: Callable[[Files], None]
    parquet: bool = False  # the defect survives a Parquet round trip (frames only)


CASES: dict[str, Case] = {
    c.kind: c
    for c in [
        Case("empty_file", "prices.csv", empty_file),
        Case("header_only", "prices.csv", header_only),
        Case("missing_column", "prices.csv", missing_column, parquet=True),
        Case("renamed_column", "market_series.csv", renamed_column, parquet=True),
        Case("wrong_delimiter", "sectors.csv", wrong_delimiter),
        Case("non_numeric_price", "prices.csv", non_numeric_price),
        Case("negative_price", "prices.csv", negative_price, parquet=True),
        Case("zero_price", "prices.csv", zero_price, parquet=True),
        Case("high_below_low", "prices.csv", high_below_low, parquet=True),
        Case("duplicate_key", "prices.csv", duplicate_key, parquet=True),
        Case("dates_out_of_order", "prices.csv", dates_out_of_order, parquet=True),
        Case("mixed_date_formats", "prices.csv", mixed_date_formats),
        Case("future_date", "prices.csv", future_date, parquet=True),
        Case("split_jump", "prices.csv", split_jump, parquet=True),
        Case("odd_tickers", "prices.csv", odd_tickers, parquet=True),
        Case("token_tickers", "prices.csv", token_tickers, parquet=True),
        Case("ticker_gap", "prices.csv", ticker_gap, parquet=True),
        Case("one_ticker", "prices.csv", one_ticker, parquet=True),
        Case("one_date", "prices.csv", one_date, parquet=True),
        Case("all_missing_fundamentals_column", "fundamentals.csv", all_missing_fundamentals_column, parquet=True),
        Case("nonpositive_eps", "fundamentals.csv", nonpositive_eps, parquet=True),
        Case("period_end_after_prices", "fundamentals.csv", period_end_after_prices, parquet=True),
        Case("vix_gaps", "market_series.csv", vix_gaps, parquet=True),
        Case("market_holidays_missing", "market_series.csv", market_holidays_missing, parquet=True),
        Case("sector_missing", "sectors.csv", sector_missing, parquet=True),
        Case("sector_blank", "sectors.csv", sector_blank),
        Case("not_utf8", "prices.csv", not_utf8),
        Case("binary_as_csv", "prices.csv", binary_as_csv),
        Case("corrupt_parquet", "prices.parquet", corrupt_parquet),
        Case("nul_byte", "prices.csv", nul_byte),
        Case("duplicate_header", "prices.csv", duplicate_header),
        Case("ragged_row", "prices.csv", ragged_row),
        Case("unterminated_quote", "prices.csv", unterminated_quote),
        Case("blank_lines", "prices.csv", blank_lines),
        Case("utc_offset_dates", "market_series.csv", utc_offset_dates),
        Case("universe_overlap", "universe.csv", universe_overlap),
        Case("universe_end_before_start", "universe.csv", universe_end_before_start),
        Case("universe_missing_column", "universe.csv", universe_missing_column, parquet=True),
        Case("optional_files_missing", "prices.csv", optional_files_missing, parquet=True),
        Case("optional_files_empty", "fundamentals.csv", optional_files_empty),
    ]
}


def build(root: Path, kind: str, fmt: str = "csv") -> Path:
    """Write the base dataset with the defect ``kind`` planted into ``root``."""
    files = base_files()
    CASES[kind].plant(files)
    return write(root, files, fmt)
