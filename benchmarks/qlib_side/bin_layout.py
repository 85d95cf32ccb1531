"""The 5-year price file in Qlib's binary layout, written here (numpy and pandas only, no Qlib).

Qlib's on-disk format (the layout ``scripts/dump_bin.py`` of microsoft/qlib writes and
``qlib.data.storage.file_storage`` reads), for daily data under ``<qlib_dir>``:

- ``calendars/day.txt``: every trading date of the file, ascending, one ``YYYY-MM-DD`` a line;
- ``instruments/all.txt``: one line per symbol, ``SYMBOL<tab>first date<tab>last date``;
- ``features/<symbol, lower case>/<field>.day.bin``: little-endian float32; the first value is
  the index in the calendar of the symbol's first date, then one value per calendar date from
  that date to the symbol's last date, NaN where the symbol has no row (a gap).

Symbols that are device names on Windows (``CON``, ``NUL``, ``COM1``...) get Qlib's ``_qlib_``
prefix on their folder (``qlib.utils.code_to_fname``); none of the 505 tickers is one.

The fields written for Alpha158: open, high, low, close, volume as in the file; ``vwap``, which
the file lacks, as the typical price (high + low + close) / 3 (the project's own Alpha158 uses
the same stand-in; Alpha158 reads vwap only in VWAP0); ``factor`` 1.0 on every row with a close
(the file is split-adjusted already and not dividend-adjusted, and Alpha158 never reads factor).

Rows are checked while converting (``read_price_csv``). An error names the file, the row (its line
number in the file, the header being line 1) and the column, and stops the conversion: a missing
column, a date that is not ``YYYY-MM-DD``, an empty symbol, text in a number column, a negative
or infinite price or volume, a second row for a (symbol, date). Empty number cells are kept as
NaN (Qlib's missing value) and counted in the conversion's notes, with high < low rows and
zero-volume rows (kept as they are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
FIELDS = (*PRICE_FIELDS, "vwap", "factor")
SYMBOL_COLUMN = "Name"
DATE_COLUMN = "date"
DAY_FORMAT = "%Y-%m-%d"
_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


class LayoutError(ValueError):
    """A row of the source file the converter refuses (the message names file, row and column)."""


@dataclass
class Conversion:
    """What ``convert`` wrote: symbols, calendar dates, rows, and notes on kept oddities."""

    symbols: int
    dates: int
    rows: int
    files: int
    notes: list[str] = field(default_factory=list)


def symbol_dir(symbol: str) -> str:
    """A symbol's folder under ``features/``: lower case, with Qlib's prefix for device names."""
    return ("_qlib_" + symbol if symbol.upper() in _DEVICE_NAMES else symbol).lower()


def _fail(path: Path, frame: pd.DataFrame, mask: np.ndarray, column: str, why: str) -> None:
    """Raise for the first row of ``mask`` (``frame`` keeps the file's order: row i is line i + 2)."""
    i = int(np.flatnonzero(mask)[0])
    value = frame[column].iloc[i]
    more = int(mask.sum()) - 1
    extra = f" ({more} more such row{'s' if more != 1 else ''})" if more else ""
    raise LayoutError(f"{path}: row {i + 2}, column {column!r}: {why} (value {value!r}){extra}")


def read_price_csv(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The price file as ``symbol, date, open, high, low, close, volume`` sorted by symbol and
    date, and notes on the empty cells and odd rows kept; refuses bad rows (module docstring)."""
    path = Path(path)
    raw = pd.read_csv(
        path,
        dtype={SYMBOL_COLUMN: str, DATE_COLUMN: str},
        keep_default_na=False,
        na_values=[""],
        skip_blank_lines=False,
    )
    missing = [c for c in (DATE_COLUMN, *PRICE_FIELDS, SYMBOL_COLUMN) if c not in raw.columns]
    if missing:
        raise LayoutError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; found {list(raw.columns)}")
    out = pd.DataFrame({"symbol": raw[SYMBOL_COLUMN].str.strip()})
    empty_symbol = out["symbol"].isna().to_numpy() | (out["symbol"] == "").to_numpy()
    if empty_symbol.any():
        _fail(path, raw, empty_symbol, SYMBOL_COLUMN, "empty symbol")
    out["date"] = pd.to_datetime(raw[DATE_COLUMN], format=DAY_FORMAT, errors="coerce")
    bad_date = out["date"].isna().to_numpy()
    if bad_date.any():
        _fail(path, raw, bad_date, DATE_COLUMN, f"not a date in {DAY_FORMAT} form")
    notes = []
    for column in PRICE_FIELDS:
        values = raw[column]
        numbers = pd.to_numeric(values, errors="coerce") if values.dtype == object else values
        numbers = numbers.astype("float64")
        text = (numbers.isna() & values.notna()).to_numpy()
        if text.any():
            _fail(path, raw, text, column, "not a number")
        arr = numbers.to_numpy()
        if np.isinf(arr).any():
            _fail(path, raw, np.isinf(arr), column, "infinite")
        negative = arr < 0
        if negative.any():
            _fail(path, raw, negative, column, "negative")
        n_empty = int(np.isnan(arr).sum())
        if n_empty:
            notes.append(f"{column}: {n_empty} empty cell(s) kept as NaN")
        out[column] = arr
    dup = out.duplicated(["symbol", "date"]).to_numpy()
    if dup.any():
        _fail(path, raw, dup, DATE_COLUMN, "second row for this symbol and date")
    inverted = int((out["high"] < out["low"]).sum())
    if inverted:
        notes.append(f"{inverted} row(s) with high < low kept")
    zero_volume = int((out["volume"] == 0).sum())
    if zero_volume:
        notes.append(f"{zero_volume} row(s) with zero volume kept")
    out = out.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)
    return out, notes


def add_derived_fields(prices: pd.DataFrame) -> pd.DataFrame:
    """``vwap`` = (high + low + close) / 3 and ``factor`` = 1 where close exists (module docstring)."""
    out = prices.copy()
    out["vwap"] = (out["high"] + out["low"] + out["close"]) / 3.0
    out["factor"] = np.where(out["close"].notna(), 1.0, np.nan)
    return out


def write_layout(frame: pd.DataFrame, qlib_dir: str | Path, fields: tuple[str, ...] = FIELDS) -> Conversion:
    """Write ``frame`` (``symbol``, ``date`` and the ``fields`` columns; one row per symbol and
    date) in Qlib's layout under ``qlib_dir``. The calendar is the union of the frame's dates."""
    qlib_dir = Path(qlib_dir)
    frame = frame.sort_values(["symbol", "date"], kind="stable")
    dates = pd.DatetimeIndex(frame["date"])
    calendar = dates.unique().sort_values()
    positions = calendar.get_indexer(dates)
    (qlib_dir / "calendars").mkdir(parents=True, exist_ok=True)
    (qlib_dir / "instruments").mkdir(parents=True, exist_ok=True)
    (qlib_dir / "calendars" / "day.txt").write_text("".join(f"{d:{DAY_FORMAT}}\n" for d in calendar))
    symbols = frame["symbol"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, symbols[1:] != symbols[:-1], True]) if len(symbols) else np.array([0])
    values = {f: frame[f].to_numpy(dtype="float64") for f in fields}
    lines, files = [], 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        symbol, pos = str(symbols[lo]), positions[lo:hi]
        start, end = int(pos[0]), int(pos[-1])
        lines.append(f"{symbol.upper()}\t{calendar[start]:{DAY_FORMAT}}\t{calendar[end]:{DAY_FORMAT}}\n")
        folder = qlib_dir / "features" / symbol_dir(symbol)
        folder.mkdir(parents=True, exist_ok=True)
        for f in fields:
            out = np.full(end - start + 2, np.nan, dtype="<f4")
            out[0] = start
            out[pos - start + 1] = values[f][lo:hi]
            out.tofile(folder / f"{f.lower()}.day.bin")
            files += 1
    (qlib_dir / "instruments" / "all.txt").write_text("".join(lines))
    return Conversion(len(lines), len(calendar), len(frame), files)


def convert(csv_path: str | Path, qlib_dir: str | Path) -> Conversion:
    """The price file (``date,open,high,low,close,volume,Name``) into Qlib's layout: read and check
    the rows, add vwap and factor, write every field (module docstring)."""
    prices, notes = read_price_csv(csv_path)
    result = write_layout(add_derived_fields(prices), qlib_dir)
    result.notes = notes
    return result


def read_field(qlib_dir: str | Path, symbol: str, field: str) -> pd.Series:
    """One field of one symbol read back from the layout, indexed by its calendar dates."""
    qlib_dir = Path(qlib_dir)
    calendar = pd.to_datetime((qlib_dir / "calendars" / "day.txt").read_text().split())
    data = np.fromfile(qlib_dir / "features" / symbol_dir(symbol) / f"{field.lower()}.day.bin", dtype="<f4")
    start = int(data[0])
    return pd.Series(data[1:], index=calendar[start : start + len(data) - 1], name=field)
