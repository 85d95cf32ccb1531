"""Validation of raw input tables: file-level errors, row-level quarantine, canonical schemas.

File-level problems (empty file, header only, wrong delimiter, missing, renamed or duplicated
column, ragged rows, unterminated quotes, text that is not UTF-8, NUL bytes, an unreadable Parquet
file) raise :class:`DataValidationError` naming the file, the 1-based line (header = line 1) and
the column. Row-level problems never raise: the row moves to a *rejected* frame
(``REJECTED_COLUMNS``: line, offending column, raw text, reason; the first rule a row breaks), so
``len(clean) + len(rejected) == len(raw)`` always. Past ``max_reject_share`` rejected rows,
:class:`RejectionThresholdExceeded` refuses the mostly broken file.

Row ``i`` (0-based) of ``raw`` is line ``i + 2`` (``read_table`` keeps blank lines as empty rows
for that reason; Parquet records are numbered alike); a loader validating a subset of a file
passes the subset's line numbers as ``row_numbers``.

Clean frames are checked with pandera schemas (types, ranges, unique keys); a failure there is a
bug of the quarantine rules. Look-ahead: rows dated after ``today`` are quarantined, and so are
fundamentals whose ``available_date`` precedes their ``period_end``.
"""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import lzma
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
import pyarrow.parquet as pa_parquet
from pandera.errors import SchemaErrors

from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
    PRICE_COLUMNS,
    REJECTED_COLUMNS,
    SECTOR_COLUMNS,
    UNIVERSE_COLUMNS,
    empty_rejected,
)

Names = Mapping[str, str] | None  # canonical column -> column name in the source file
Validated = tuple[pd.DataFrame, pd.DataFrame]  # (clean canonical frame, rejected rows)

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", ".", "#n/a"})
_MISSING_ARRAY = pa_arrow.array(sorted(MISSING_TOKENS))
DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


class DataValidationError(ValueError):
    """A file cannot be loaded; the message names the file, row (line) and column."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None, column: str | None = None):
        where = [
            p
            for p in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if p
        ]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.file, self.row, self.column, self.detail = file, row, column, message


class RejectionThresholdExceeded(DataValidationError):
    """More rows were quarantined than the allowed share: the file is probably broken."""


# ---------------------------------------------------------------------------------- file level
def read_table(
    path: str | Path,
    required: Iterable[str],
    *,
    display_name: str | None = None,
    allow_empty: bool = False,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file and run the file-level checks.

    Every CSV cell is read as text (UTF-8, a leading byte-order mark dropped), so the validators
    parse numbers and dates by the project's rules and a rejected row records the cell exactly as
    written. Only empty cells count as missing while reading; blank lines are kept as empty rows
    so row numbers stay line numbers (a record whose quoted cell holds a line break spans two
    lines: rows are numbered by record). A compressed file is read only when its name says so
    (``.gz``); gzip, bzip2, xz, zstd or zip bytes under a plain name are refused, never guessed.

    ``columns``: read only these columns (the header is still checked for ``required``), for a
    caller that needs one column of a large file (the trading calendar).

    ``allow_empty`` (optional datasets): a file without any content, or a header without data
    rows, returns a frame with no rows (the header's columns, else ``required``) instead of
    raising; a header naming the wrong columns still raises.
    """
    path = Path(path)
    name = display_name or str(path)
    if path.is_dir():
        raise DataValidationError("is a directory, not a data file", file=name)
    if not path.is_file():
        raise FileNotFoundError(f"file {name}: not found")
    if path.stat().st_size == 0:
        if allow_empty:
            return pd.DataFrame(columns=list(required))
        raise DataValidationError("file is empty (no header line)", file=name, row=1)
    if path.suffix == ".parquet":
        frame = _read_parquet(path, name, required, columns)
    else:
        frame = _read_csv(path, name, required, columns, allow_empty)
        if frame is None:
            return pd.DataFrame(columns=list(required))
    frame.columns = [str(c).strip() for c in frame.columns]
    if columns is None:
        _check_unique_columns(list(frame.columns), name, mangled=path.suffix != ".parquet")
        check_columns(frame, required, name, allow_empty=allow_empty)
    elif len(frame) == 0 and not allow_empty:
        raise DataValidationError("header only: the file has no data rows", file=name, row=2)
    return frame


def _read_parquet(path: Path, name: str, required: Iterable[str], columns: Iterable[str] | None) -> pd.DataFrame:
    try:
        if columns is not None:
            header = pd.DataFrame(columns=pa_parquet.read_schema(path).names)
            _check_header(header, name, required, mangled=False)
            return pd.read_parquet(path, columns=list(columns))
        return pd.read_parquet(path)
    except (pa_arrow.ArrowException, OSError, ValueError) as exc:
        raise DataValidationError(f"not a readable Parquet file ({exc})", file=name) from None


def _read_csv(
    path: Path, name: str, required: Iterable[str], columns: Iterable[str] | None, allow_empty: bool
) -> pd.DataFrame | None:
    """The CSV as text, or None for an empty optional file; every reader error becomes a
    ``DataValidationError`` naming the file (and the line where the reader says which)."""
    kind = _compression_of(path)
    if kind and path.suffix.lower() != COMPRESSED_SUFFIXES.get(kind):
        fix = (
            f"name it {path.name}.gz"
            if kind == "gzip-compressed"
            else f"decompress it to plain UTF-8 CSV (or gzip it as {path.name}.gz)"
        )
        raise DataValidationError(
            f"the file is {kind} but its name ends in {path.suffix or '(no extension)'!r}: a file is read as "
            f"compressed only when its name says so; {fix}",
            file=name,
        )
    if path.suffix.lower() in PLAIN_TEXT_SUFFIXES and (line := _first_nul_line(path)) is not None:
        raise DataValidationError(
            f"the file contains a NUL byte{_binary_hint(path)}; the CSV reader would silently cut the cell there: "
            "save the file as UTF-8 CSV",
            file=name,
            row=line,
        )
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is dropped instead of sticking to the first column name
    options = dict(dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False, encoding="utf-8-sig")
    try:
        if columns is not None:
            _check_header(pd.read_csv(path, nrows=0, **options), name, required, mangled=True)
            options["usecols"] = lambda c: str(c).strip() in set(columns)
        return pd.read_csv(path, **options)
    except DataValidationError:  # the header check of a column subset (a ValueError too)
        raise
    except pd.errors.EmptyDataError:
        if allow_empty:
            return None
        raise DataValidationError("file is empty (no header line)", file=name, row=1) from None
    except UnicodeDecodeError as exc:
        line, byte = _undecodable(path)
        raise DataValidationError(
            f"not UTF-8 text: byte {byte} cannot be decoded{_binary_hint(path)}; save the file as UTF-8 CSV "
            f"({exc.reason})",
            file=name,
            row=line,
        ) from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+), saw (\d+)", str(exc))
        quote = re.search(r"inside string starting at row (\d+)", str(exc))
        if quote:  # pandas counts rows from 0 at the header
            raise DataValidationError(
                f"unterminated quoted field ({exc})", file=name, row=int(quote.group(1)) + 1
            ) from None
        raise DataValidationError(
            f"malformed row, wrong number of fields ({exc})", file=name, row=int(m.group(1)) if m else None
        ) from None
    except (OSError, EOFError, ValueError) as exc:  # a damaged archive (bad gzip header, truncated stream)
        raise DataValidationError(
            f"cannot be read as {'compressed ' if kind else ''}CSV ({type(exc).__name__}: {exc}); "
            "check that the file is complete and what its name says it is",
            file=name,
        ) from None


def _check_header(header: pd.DataFrame, name: str, required: Iterable[str], *, mangled: bool) -> None:
    header.columns = [str(c).strip() for c in header.columns]
    _check_unique_columns(list(header.columns), name, mangled=mangled)
    check_columns(header, required, name, allow_empty=True)


PLAIN_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})  # compressed files are not scanned for NUL bytes
# what the first bytes of a compressed file say, and the suffix under which it is read as such
_COMPRESSION_MAGIC = {
    b"\x1f\x8b": "gzip-compressed",
    b"BZh": "bzip2-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"PK\x03\x04": "a zip archive",
}
COMPRESSED_SUFFIXES = {"gzip-compressed": ".gz", "bzip2-compressed": ".bz2", "xz-compressed": ".xz"}


def _compression_of(path: Path) -> str | None:
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((kind for magic, kind in _COMPRESSION_MAGIC.items() if head.startswith(magic)), None)


_MAGIC = {
    b"\x1f\x8b": "gzip-compressed data",
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook?)",
    b"PAR1": "a Parquet file",
    b"\xff\xfe": "UTF-16 text",
    b"\xfe\xff": "UTF-16 text",
}


def _binary_hint(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
    kind = next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)
    return f" (the file starts like {kind})" if kind else ""


def _first_nul_line(path: Path) -> int | None:
    """1-based line of the first NUL byte of an uncompressed file, or None (pandas' C reader
    silently ends a cell at a NUL, so 'AA\\0PL' would load as ticker 'AA')."""
    line = 1
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            pos = chunk.find(b"\x00")
            if pos >= 0:
                return line + chunk.count(b"\n", 0, pos)
            line += chunk.count(b"\n")
    return None


def _undecodable(path: Path) -> tuple[int | None, str]:
    """(1-based line, hex) of the first byte that is not UTF-8, read again on this error path only."""
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, f"0x{data[exc.start]:02x}"
    except OSError:
        pass
    return None, "?"


def _check_unique_columns(columns: list[str], source_file: str, *, mangled: bool) -> None:
    """Raise for a column name that appears twice (after stripping spaces): which copy holds the
    data is ambiguous. ``mangled``: the CSV reader has renamed a second 'x' to 'x.1'."""
    for i, c in enumerate(columns):
        base = re.fullmatch(r"(.+)\.\d+", c) if mangled else None
        dup = c if c in columns[:i] else (base.group(1) if base and base.group(1) in columns[:i] else None)
        if dup:
            raise DataValidationError(
                f"duplicate column {dup!r} in the header: which copy holds the data is ambiguous",
                file=source_file,
                row=1,
                column=dup,
            )


def check_columns(frame: pd.DataFrame, required: Iterable[str], source_file: str, *, allow_empty: bool = False) -> None:
    """Raise for no columns, a wrong delimiter, missing/renamed columns, or (unless ``allow_empty``)
    no data rows."""
    required = list(required)
    found = [str(c) for c in frame.columns]
    if not found:
        raise DataValidationError("file is empty (no header line)", file=source_file, row=1)
    if len(found) == 1 and len(required) > 1:
        for sep, label in DELIMITERS.items():
            if sep in found[0]:
                raise DataValidationError(
                    f"wrong delimiter: the header is one column {found[0]!r} containing {label} "
                    f"({sep!r}) separators; expected a comma-separated file with columns {required}",
                    file=source_file,
                    row=1,
                    column=found[0],
                )
    missing = [c for c in required if c not in found]
    if missing:
        norm = {_norm(c): c for c in found}
        hints = [f"{c!r} looks renamed to {norm[_norm(c)]!r}" for c in missing if _norm(c) in norm]
        hint = f" ({'; '.join(hints)}; names are case- and space-sensitive: rename them in the header)" if hints else ""
        raise DataValidationError(
            f"missing required column(s) {missing}{hint}; expected {required}, found {found}",
            file=source_file,
            row=1,
            column=missing[0],
        )
    if len(frame) == 0 and not allow_empty:
        raise DataValidationError("header only: the file has no data rows", file=source_file, row=2)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


# ----------------------------------------------------------------------------------- parsing
def _arrow_text(values: pd.Series):
    """Stripped text as a pyarrow array (nulls as ''), or None when the cells are not all strings."""
    try:
        arr = pa_arrow.array(values.to_numpy(dtype=object), type=pa_arrow.string(), from_pandas=True)
    except (pa_arrow.ArrowInvalid, pa_arrow.ArrowTypeError):
        return None
    return pc.fill_null(pc.utf8_trim_whitespace(arr), "")


def text(values: pd.Series) -> pd.Series:
    """Stripped text with missing values as ''; floats without a spurious '.0' (-1.0 -> '-1')."""
    if values.dtype.kind in "OSU" or isinstance(values.dtype, pd.StringDtype):
        arr = _arrow_text(values)
        if arr is not None:
            return pd.Series(arr.to_numpy(zero_copy_only=False), index=values.index, dtype=object)
    if values.dtype.kind == "f":
        return values.map(lambda x: "" if pd.isna(x) else np.format_float_positional(x, trim="-")).astype(object)
    return values.where(values.notna(), "").astype(str).str.strip()


def raw_text(values: pd.Series) -> pd.Series:
    """Each cell as the source holds it, for a rejected row's ``value``: text exactly as written
    (CSV cells, Parquet strings; nothing stripped or re-formatted), a typed Parquet number in its
    shortest round-trip form ('1e-320', 'inf', '-1.0'), a timestamp in ISO 8601; '' where missing."""
    kind = values.dtype.kind
    if kind == "f":
        return values.map(lambda x: "" if pd.isna(x) else repr(float(x))).astype(object)
    if kind == "M":
        return values.map(_iso).astype(object)
    return values.map(lambda x: "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)).astype(object)


def _iso(value) -> str:
    if pd.isna(value):
        return ""
    stamp = pd.Timestamp(value)
    return str(stamp.date()) if stamp == stamp.normalize() and stamp.tz is None else stamp.isoformat()


def is_missing(values: pd.Series) -> pd.Series:
    """True where a cell is empty, NaN or a missing-value token ('NA', 'NULL', '.', ...)."""
    if values.dtype.kind in "fiubM":
        return values.isna()
    arr = _arrow_text(values)
    if arr is None:
        arr = pa_arrow.array(text(values).to_numpy(dtype=object), type=pa_arrow.string())
    hit = pc.is_in(pc.utf8_lower(arr), value_set=_MISSING_ARRAY)
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


# a decimal number as written in a CSV cell: 12, -0.5, .5, 1e-3 (no thousands separators, no 0x, no words)
_NUMBER = r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return (float values, missing mask, non-numeric mask); infinities ('inf', 'Infinity', 1e400)
    count as non-numeric. Text is parsed by one decimal grammar (``_NUMBER``), the same for every file."""
    missing = is_missing(values)
    if values.dtype.kind in "fiub":
        num = values.astype("float64")
        bad = pd.Series(False, index=values.index)
    else:
        arr = _arrow_text(values)
        if arr is None:
            arr = pa_arrow.array(text(values).to_numpy(dtype=object), type=pa_arrow.string())
        ok = pc.match_substring_regex(arr, _NUMBER)
        parsed = pc.cast(pc.if_else(ok, arr, pa_arrow.scalar(None, pa_arrow.string())), pa_arrow.float64())
        num = pd.Series(parsed.to_numpy(zero_copy_only=False), index=values.index, dtype="float64")
        bad = pd.Series(pc.invert(ok).to_numpy(zero_copy_only=False), index=values.index, dtype=bool) & ~missing
    infinite = np.isinf(num)
    return num.where(~infinite), missing, bad | infinite


# Dates. Text must be a whole ISO 8601 calendar date, optionally with a time and a UTC offset:
# 2024-01-31, 2024-01-31T15:30, 2024-01-31 15:30:00.5+09:00, 2024-01-31T00:00Z. The date is taken as
# written (the local date of whoever stamped it); the time and offset are dropped, never applied, so
# no date is shifted. Partial dates (2024-01, 2024) are never completed to a day; compact forms
# (20240131), week and ordinal dates are not accepted.
DATE_MIN, DATE_MAX = pd.Timestamp("1900-01-01"), pd.Timestamp("2100-12-31")
DATE_RANGE = f"{DATE_MIN:%Y-%m-%d} .. {DATE_MAX:%Y-%m-%d}"
_OFFSET = r"(?:\s*(?:Z|[+-](?:0\d|1[0-4])(?::?[0-5]\d)?))?"
_TIME = r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d+)?)?" + _OFFSET + ")?"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}" + _TIME + "$"
_PARTIAL_DATE = r"^\d{4}(?:-\d{2})?$"


class ParsedDates(NamedTuple):
    dates: pd.Series  # datetime64[ns], timezone-naive, midnight; NaT where not a usable date
    partial: pd.Series  # a year or year-month without a day
    out_of_range: pd.Series  # a well-formed date outside DATE_MIN .. DATE_MAX


def classify_dates(values: pd.Series, fmt: str | None = None) -> ParsedDates:
    """Parse a date column strictly (see ``_ISO_DATE``; ``fmt``: an explicit strptime format
    instead, for a source known to write e.g. '%m/%d/%y').

    Timezone-aware timestamps (Parquet, or text with an offset) keep their local date:
    '2020-01-06T00:00:00+09:00' is 2020-01-06, not the UTC 2020-01-05. Numbers are never dates
    (see ``_dates``, which refuses a numeric date column)."""
    index = values.index
    no = pd.Series(False, index=index)
    if values.dtype.kind == "M":
        local = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        dates = local.astype("datetime64[ns]").dt.normalize()
        outside = (dates < DATE_MIN) | (dates > DATE_MAX)
        return ParsedDates(dates.where(~outside), no, outside)
    if values.dtype.kind in "iufb":
        return ParsedDates(pd.Series(pd.NaT, index=index, dtype="datetime64[ns]"), no, no)
    arr = _arrow_text(values)
    if arr is None:  # Python date/datetime objects (a Parquet date32 column) or mixed cells
        arr = pa_arrow.array([_cell_text(v) for v in values.to_numpy(dtype=object)], type=pa_arrow.string())
    if fmt is not None:
        cells = pd.Series(arr.to_numpy(zero_copy_only=False), index=index, dtype=object)
        dates = pd.to_datetime(cells.mask(cells == ""), format=fmt, errors="coerce").dt.normalize()
        outside = (dates < DATE_MIN) | (dates > DATE_MAX)
        return ParsedDates(dates.where(~outside).astype("datetime64[ns]"), no, outside)
    full = pc.match_substring_regex(arr, _ISO_DATE)
    partial = pd.Series(pc.match_substring_regex(arr, _PARTIAL_DATE).to_numpy(zero_copy_only=False), index=index)
    day = pc.if_else(full, pc.utf8_slice_codeunits(arr, 0, 10), pa_arrow.scalar(None, pa_arrow.string()))
    year = pc.cast(pc.utf8_slice_codeunits(day, 0, 4), pa_arrow.int64())
    outside = pc.fill_null(pc.or_(pc.less(year, DATE_MIN.year), pc.greater(year, DATE_MAX.year)), False)
    day = pc.if_else(outside, pa_arrow.scalar(None, pa_arrow.string()), day)
    cells = pd.Series(day.to_numpy(zero_copy_only=False), index=index, dtype=object)
    dates = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
    return ParsedDates(dates, partial, pd.Series(outside.to_numpy(zero_copy_only=False), index=index))


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat()  # the local date and time; an offset, if any, follows and is dropped
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def parse_dates(values: pd.Series, fmt: str | None = None) -> pd.Series:
    """Timezone-naive, day-normalised datetimes; NaT where missing, unparseable, partial or out of
    range (``classify_dates``)."""
    return classify_dates(values, fmt).dates


def _today(today) -> pd.Timestamp:
    return (pd.Timestamp.today() if today is None else pd.Timestamp(today)).normalize()


# -------------------------------------------------------------------------------- quarantine
class Quarantine:
    """Collects rejected rows (one record per row, first failing rule) for one raw table."""

    def __init__(
        self, raw: pd.DataFrame, dataset: str, source_file: str, source_columns: Names = None, row_numbers=None
    ):
        self.raw, self.dataset, self.source_file = raw, dataset, source_file
        self.names = dict(source_columns or {})
        self.lines = np.arange(len(raw)) + 2 if row_numbers is None else np.asarray(row_numbers, dtype="int64")
        self.bad = np.zeros(len(raw), dtype=bool)
        self.unused = np.zeros(len(raw), dtype=bool)  # valid rows set aside (not counted by ``enforce``)
        self._parts: list[pd.DataFrame] = []
        if len(raw.columns):
            blank = is_missing(raw.iloc[:, 0]).to_numpy()
            for col in raw.columns[1:]:
                rows = np.flatnonzero(blank)
                if rows.size:
                    blank[rows] = is_missing(raw[col].iloc[rows]).to_numpy()
            self.reject(blank, None, "blank line")

    def reject(
        self, mask, column: str | None, reason: str, values: pd.Series | None = None, *, broken: bool = True
    ) -> None:
        """Record the rows of ``mask`` not rejected yet under ``reason``. ``broken=False``: a valid
        row the dataset cannot store (recorded all the same, but not counted against the file by
        ``enforce``)."""
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if not new.any():
            return
        if not broken:
            self.unused |= new
        idx = np.flatnonzero(new)
        if values is None:
            values = raw_text(self.raw[column].iloc[idx]) if column in self.raw.columns else pd.Series("", index=idx)
        else:
            values = values.iloc[idx]
        self._parts.append(
            pd.DataFrame(
                {
                    "dataset": self.dataset,
                    "source_file": self.source_file,
                    "row_number": self.lines[idx],
                    "column": self.names.get(column, column) if column else "",
                    "value": values.astype(str).to_numpy(),
                    "reason": reason,
                }
            )
        )
        self.bad |= new

    def duplicates(self, keys: pd.DataFrame, column: str, reason: str) -> None:
        """Reject later copies of a key among rows still valid; the first valid one is kept."""
        ok = np.flatnonzero(~self.bad)
        sub = keys.iloc[ok].reset_index(drop=True)
        dup = sub.duplicated(keep="first").to_numpy()
        if dup.any():
            group = sub.groupby(list(sub.columns), sort=False).ngroup()
            first = pd.Series(self.lines[ok]).groupby(group).transform("min")
            shown = sub[dup].apply(lambda c: c.dt.strftime("%Y-%m-%d") if c.dtype.kind == "M" else c.astype(str))
            values = pd.Series("", index=range(len(keys)), dtype=object)
            values.iloc[ok[dup]] = [f"{k} (first at row {r})" for k, r in zip(shown.agg(" ".join, axis=1), first[dup])]
            self.reject(np.isin(np.arange(len(keys)), ok[dup]), column, reason, values=values)

    def rejected(self) -> pd.DataFrame:
        if not self._parts:
            return empty_rejected()
        out = pd.concat(self._parts, ignore_index=True).sort_values("row_number", kind="stable")
        return out.reset_index(drop=True)[REJECTED_COLUMNS]

    def enforce(self, max_reject_share: float) -> None:
        n, k = len(self.raw), int((self.bad & ~self.unused).sum())
        if n and k / n > max_reject_share:
            rejected = self.rejected()
            top = rejected.loc[~rejected["row_number"].isin(self.lines[self.unused]), "reason"].value_counts().head(3)
            reasons = ", ".join(f"{r} ({c})" for r, c in top.items())
            raise RejectionThresholdExceeded(
                f"{k} of {n} rows rejected ({k / n:.1%} > max_reject_share {max_reject_share:.1%}); "
                f"top reasons: {reasons}",
                file=self.source_file,
            )


def concat_rejected(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack rejected-row frames (skipping empty ones)."""
    parts = [f for f in frames if len(f)]
    return pd.concat(parts, ignore_index=True)[REJECTED_COLUMNS] if parts else empty_rejected()


def _require(raw: pd.DataFrame, required: Iterable[str], source_file: str, source_columns: Names) -> None:
    names = dict(source_columns or {})
    check_columns(raw.rename(columns=names), [names.get(c, c) for c in required], source_file)


def _dates(
    q: Quarantine,
    raw: pd.DataFrame,
    column: str,
    label: str,
    *,
    today=None,
    fmt: str | None = None,
    optional: bool = False,
    future: bool = True,
) -> pd.Series:
    """Parse ``raw[column]`` (``classify_dates``) and quarantine, in this order: a partial date, a
    date outside ``DATE_RANGE``, an unparseable one (a missing one too, unless ``optional``), one
    after ``today`` (unless ``future`` is allowed). A numeric column is refused as a whole
    (``DataValidationError``): 20150209 could be a day or seconds since 1970, and is never guessed."""
    values = raw[column]
    missing = is_missing(values)
    if values.dtype.kind in "iufb" and not missing.all():
        first = int(np.flatnonzero(~missing.to_numpy())[0])
        raise DataValidationError(
            f"dates stored as {values.dtype} numbers (e.g. {raw_text(values.iloc[[first]]).iloc[0]}): ambiguous "
            "(YYYYMMDD? days, seconds or milliseconds since 1970?) and never guessed; store the column as a "
            "Parquet date or timestamp, or as ISO 8601 text (YYYY-MM-DD)",
            file=q.source_file,
            row=int(q.lines[first]),
            column=q.names.get(column, column),
        )
    parsed = classify_dates(values, fmt)
    present = ~missing if optional else pd.Series(True, index=values.index)
    q.reject(parsed.partial, column, f"partial {label}: year or month without a day, never completed")
    q.reject(parsed.out_of_range, column, f"{label} outside {DATE_RANGE}")
    q.reject(parsed.dates.isna() & present, column, f"unparseable {label}")
    if future:
        q.reject(parsed.dates > _today(today), column, f"{label} in the future")
    return parsed.dates


# Price dates define the daily partitions (Monday-Friday, the source's holidays excluded), so a row
# no partition could store is quarantined rather than loaded: a weekend date, or a date so far from
# the rest of the history (a stray 1970-01-01, a typo'd year) that its partitions would span decades
# of excluded weekdays. The main history is the run of dates without a gap over MAX_GAP_DAYS calendar
# days holding the most rows (the latest among equals); rows of every other run are isolated.
MAX_GAP_DAYS = 366
WEEKEND_DATE = "weekend date: the trading-day partitions are Monday to Friday"
ISOLATED_DATE = f"isolated date: over {MAX_GAP_DAYS} days from the rest of the price history"


def isolated_dates(dates: pd.Series) -> np.ndarray:
    """True for rows whose date lies outside the main run of the history (see ``MAX_GAP_DAYS``); NaT rows False."""
    counts = dates.dropna().value_counts().sort_index()
    if len(counts) < 2:
        return np.zeros(len(dates), dtype=bool)
    gaps = np.diff(counts.index.to_numpy()) > np.timedelta64(MAX_GAP_DAYS, "D")
    run = np.r_[0, np.cumsum(gaps)]
    rows = np.bincount(run, weights=counts.to_numpy())
    main = len(rows) - 1 - int(np.argmax(rows[::-1]))
    return dates.isin(counts.index[run != main]).to_numpy()


def price_dates(q: Quarantine, raw: pd.DataFrame, *, today=None, column: str = "date") -> pd.Series:
    """The date rules of a price row (``_dates``, then weekend, then isolated date), shared by the
    loader and the trading calendar so the two never disagree about a date."""
    date = _dates(q, raw, column, "date", today=today)
    weekend = (date.dt.dayofweek >= 5).to_numpy()
    q.reject(weekend, column, WEEKEND_DATE)
    usable = date.notna().to_numpy() & (date <= _today(today)).to_numpy() & ~weekend
    q.reject(isolated_dates(date.where(usable)), column, ISOLATED_DATE)
    return date


def calendar_days(raw: pd.DataFrame, source_file: str, *, today=None) -> pd.DatetimeIndex:
    """The trading days a price table defines: the distinct dates of rows passing ``price_dates``
    (a numeric date column raises ``DataValidationError``, as in the loader)."""
    dates = raw[["date"]]
    q = Quarantine(dates, "prices", source_file)
    parsed = price_dates(q, dates, today=today)
    return pd.DatetimeIndex(np.sort(parsed[~q.bad].unique()))


_CONTROL = r"[\x00-\x1f\x7f]"


def _tickers(q: Quarantine, raw: pd.DataFrame, column: str = "ticker") -> pd.Series:
    """Stripped tickers; quarantines an empty one and one holding a control character (a line
    break or tab inside a quoted cell would otherwise become a new ticker)."""
    ticker = text(raw[column])
    q.reject(ticker == "", column, "empty ticker")
    q.reject(ticker.str.contains(_CONTROL, regex=True), column, "control character (line break, tab) in ticker")
    return ticker


def _numeric(q: Quarantine, raw: pd.DataFrame, column: str, kind: str, *, required: bool = False) -> pd.Series:
    num, missing, bad = parse_numbers(raw[column])
    if required:
        q.reject(missing, column, f"missing {kind}")
    q.reject(bad, column, f"non-numeric {kind}")
    return num


def _finish(
    q: Quarantine, clean: pd.DataFrame, schema: pa.DataFrameSchema, max_reject_share: float, sort_by: list[str]
) -> Validated:
    q.enforce(max_reject_share)
    clean = clean.loc[~q.bad].sort_values(sort_by, kind="stable").reset_index(drop=True)
    try:
        clean = schema.validate(clean, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases[["column", "check", "failure_case"]].head(5).to_dict("records")
        raise DataValidationError(f"clean rows break the {schema.name} schema: {cases}", file=q.source_file) from None
    return clean, q.rejected()


# ------------------------------------------------------------------------------------ schemas
_POS = pa.Check.gt(0)
_TICKER = pa.Column(object, pa.Check.str_length(min_value=1))  # object dtype: no per-cell type scan
_DATE = pa.Column("datetime64[ns]")
PRICES_SCHEMA = pa.DataFrameSchema(
    {
        "date": _DATE,
        "ticker": _TICKER,
        "open": pa.Column(float, _POS),
        "high": pa.Column(float, _POS),
        "low": pa.Column(float, _POS),
        "close": pa.Column(float, _POS),
        "volume": pa.Column(float, pa.Check.ge(0), nullable=True),
    },
    checks=[
        pa.Check(lambda d: d["high"] >= d["low"], name="high >= low"),
        pa.Check(lambda d: d["open"].between(d["low"], d["high"]), name="open in [low, high]"),
        pa.Check(lambda d: d["close"].between(d["low"], d["high"]), name="close in [low, high]"),
    ],
    unique=["date", "ticker"],
    strict=True,
    name="prices",
)
FUNDAMENTALS_SCHEMA = pa.DataFrameSchema(
    {
        "ticker": _TICKER,
        "period_end": _DATE,
        "available_date": _DATE,
        "period_type": pa.Column(object, pa.Check.str_length(min_value=1)),
        **{f: pa.Column(float, nullable=True) for f in FUNDAMENTAL_FIELDS},
        "shares_outstanding": pa.Column(float, pa.Check.gt(0), nullable=True),
    },
    checks=[pa.Check(lambda d: d["available_date"] >= d["period_end"], name="available after period end")],
    unique=["ticker", "period_end", "available_date"],
    strict=True,
    name="fundamentals",
)
SECTORS_SCHEMA = pa.DataFrameSchema(
    {"ticker": _TICKER, "sector": pa.Column(object, pa.Check.str_length(min_value=1))},
    unique=["ticker"],
    strict=True,
    name="sectors",
)
_BOUNDS = {
    "advance_decline": lambda v: v.between(-1, 1),
    "pct_above_200sma": lambda v: v.between(0, 1),
    "put_call_ratio": lambda v: v >= 0,
    "sp500_close": lambda v: v > 0,
    "vix": lambda v: v > 0,
    "vix_3m": lambda v: v > 0,
}
MARKET_SERIES_SCHEMA = pa.DataFrameSchema(
    {
        "date": _DATE,
        **{
            c: pa.Column(
                float,
                [pa.Check(_BOUNDS[c], name=f"{c} in range")] if c in _BOUNDS else [],
                nullable=True,
                required=False,
            )
            for c in MARKET_SERIES_COLUMNS[1:]
        },
    },
    unique=["date"],
    strict=True,
    name="market_series",
)
UNIVERSE_SCHEMA = pa.DataFrameSchema(
    {
        "ticker": _TICKER,
        "start_date": _DATE,
        "end_date": pa.Column("datetime64[ns]", nullable=True),
    },
    checks=[pa.Check(lambda d: d["end_date"].isna() | (d["end_date"] >= d["start_date"]), name="end >= start")],
    unique=["ticker", "start_date"],
    strict=True,
    name="universe",
)
EARNINGS_SCHEMA = pa.DataFrameSchema(
    {
        "ticker": _TICKER,
        "announce_date": _DATE,
        "fiscal_quarter_end": pa.Column("datetime64[ns]", nullable=True),
        "eps_estimate": pa.Column(float, nullable=True),
        "eps_actual": pa.Column(float, nullable=True),
        "surprise_pct": pa.Column(float, nullable=True),
        "release_time": pa.Column(object, pa.Check.isin(["pre", "post"]), nullable=True),
    },
    unique=["ticker", "announce_date"],
    strict=True,
    name="earnings_events",
)


# --------------------------------------------------------------------------------- validators
def validate_prices(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    today=None,
    source_columns: Names = None,
    row_numbers=None,
) -> Validated:
    """Quarantine bad OHLCV rows; return (clean ``PRICE_COLUMNS`` frame, rejected rows).

    Rules, in order: blank line, empty ticker, control character in ticker, partial date, date
    outside ``DATE_RANGE``, unparseable date, future date, weekend date, isolated date
    (``price_dates``), missing price, non-numeric price, non-positive price, high < low, open or
    close outside [low, high], non-numeric or negative volume (a missing volume is kept as NaN),
    duplicate (date, ticker).
    """
    _require(raw, PRICE_COLUMNS, source_file, source_columns)
    q = Quarantine(raw, "prices", source_file, source_columns, row_numbers)
    ticker = _tickers(q, raw)
    date = price_dates(q, raw, today=today)
    px = {c: _numeric(q, raw, c, "price", required=True) for c in ("open", "high", "low", "close")}
    for c, v in px.items():
        q.reject(v <= 0, c, "non-positive price")
    q.reject(px["high"] < px["low"], "high", "high < low")
    for c in ("open", "close"):
        q.reject((px[c] < px["low"]) | (px[c] > px["high"]), c, f"{c} outside [low, high]")
    volume = _numeric(q, raw, "volume", "volume")
    q.reject(volume < 0, "volume", "negative volume")
    q.duplicates(pd.DataFrame({"date": date, "ticker": ticker}), "date", "duplicate (date, ticker)")
    clean = pd.DataFrame({"date": date, "ticker": ticker, **px, "volume": volume})
    return _finish(q, clean, PRICES_SCHEMA, max_reject_share, ["date", "ticker"])


def validate_fundamentals(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    reporting_lag_days: int = 90,
    today=None,
    source_columns: Names = None,
    row_numbers=None,
) -> Validated:
    """Quarantine bad fundamentals rows; return (clean ``FUNDAMENTAL_COLUMNS`` frame, rejected).

    Absent field columns become NaN; an absent or empty ``available_date`` becomes
    ``period_end + reporting_lag_days``; absent ``period_type`` becomes 'unknown'. Rejected:
    empty ticker or one with a control character, partial, out-of-range, unparseable or future
    period_end (a ``2014-03`` is never read as 2014-03-01: that would make the figures available
    a month early), partial, out-of-range or unparseable available_date, available_date before
    period_end, non-numeric field, non-positive shares_outstanding, duplicate (ticker, period_end,
    available_date).
    """
    _require(raw, ["ticker", "period_end"], source_file, source_columns)
    q = Quarantine(raw, "fundamentals", source_file, source_columns, row_numbers)
    ticker = _tickers(q, raw)
    period_end = _dates(q, raw, "period_end", "period_end", today=today)
    lagged = period_end + pd.Timedelta(days=reporting_lag_days)
    if "available_date" in raw.columns:
        avail = _dates(q, raw, "available_date", "available_date", optional=True, future=False)
        q.reject(avail < period_end, "available_date", "available_date before period_end")
        avail = avail.fillna(lagged)
    else:
        avail = lagged
    fields = {
        f: (_numeric(q, raw, f, "value") if f in raw.columns else pd.Series(np.nan, index=raw.index))
        for f in FUNDAMENTAL_FIELDS
    }
    q.reject(fields["shares_outstanding"] <= 0, "shares_outstanding", "non-positive shares_outstanding")
    ptype = text(raw["period_type"]) if "period_type" in raw.columns else pd.Series("", index=raw.index)
    q.duplicates(
        pd.DataFrame({"ticker": ticker, "period_end": period_end, "available_date": avail}),
        "period_end",
        "duplicate (ticker, period_end, available_date)",
    )
    clean = pd.DataFrame(
        {
            "ticker": ticker,
            "period_end": period_end,
            "available_date": avail,
            "period_type": ptype.replace("", "unknown"),
            **fields,
        }
    )
    return _finish(q, clean, FUNDAMENTALS_SCHEMA, max_reject_share, ["ticker", "period_end", "available_date"])


def validate_sectors(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    source_columns: Names = None,
    row_numbers=None,
) -> Validated:
    """Quarantine rows with an empty ticker or sector and later duplicates of a ticker."""
    _require(raw, SECTOR_COLUMNS, source_file, source_columns)
    q = Quarantine(raw, "sectors", source_file, source_columns, row_numbers)
    ticker, sector = _tickers(q, raw), text(raw["sector"])
    q.reject(is_missing(raw["sector"]), "sector", "missing sector")
    q.duplicates(pd.DataFrame({"ticker": ticker}), "ticker", "duplicate ticker")
    return _finish(q, pd.DataFrame({"ticker": ticker, "sector": sector}), SECTORS_SCHEMA, max_reject_share, ["ticker"])


def validate_market_series(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    today=None,
    source_columns: Names = None,
    dataset: str = "market_series",
    row_numbers=None,
    trading_days: pd.DatetimeIndex | None = None,
) -> Validated:
    """Quarantine bad rows of a daily market table (``date`` plus any ``MARKET_SERIES_COLUMNS``).

    Missing values are allowed (NaN); rejected: partial, out-of-range, unparseable or future date, non-numeric value,
    value out of range (non-positive index level or VIX, breadth outside its bounds), duplicate
    date, and, given ``trading_days`` (the price calendar), a date that is not one of them: the
    market series is stored in the price partitions, so such a row could never be stored (it is
    recorded as ``NOT_A_TRADING_DAY`` but not counted against ``max_reject_share``: a market file
    longer than the price history is not broken). Only the series columns present in ``raw`` are
    returned.
    """
    _require(raw, ["date"], source_file, source_columns)
    q = Quarantine(raw, dataset, source_file, source_columns, row_numbers)
    date = _dates(q, raw, "date", "date", today=today)
    present = [c for c in MARKET_SERIES_COLUMNS[1:] if c in raw.columns]
    values = {c: _numeric(q, raw, c, "value") for c in present}
    for c, v in values.items():
        if c in _BOUNDS:
            q.reject(v.notna() & ~_BOUNDS[c](v), c, f"{c} out of range")
    q.duplicates(pd.DataFrame({"date": date}), "date", "duplicate date")
    if trading_days is not None:
        q.reject(~date.isin(trading_days), "date", NOT_A_TRADING_DAY, broken=False)
    return _finish(q, pd.DataFrame({"date": date, **values}), MARKET_SERIES_SCHEMA, max_reject_share, ["date"])


NOT_A_TRADING_DAY = "not a trading day of the price file: no daily partition stores it"


RELEASE_TIMES = {
    "pre": "pre",
    "bmo": "pre",
    "before": "pre",
    "pre-market": "pre",
    "premarket": "pre",
    "post": "post",
    "amc": "post",
    "after": "post",
    "post-market": "post",
    "postmarket": "post",
}


# |surprise| above this (100,000 %) is a data error: with estimates quoted in whole cents it needs
# an actual a thousand times the estimate (the largest in the shared 2012-2018 file is 987, an
# estimate of one cent); a near-zero estimate such as 1e-13 would otherwise give 1.75e13.
MAX_ABS_SURPRISE = 1000.0
SURPRISE_OUT_OF_RANGE = f"surprise out of range (|surprise_pct| > {MAX_ABS_SURPRISE:g})"
UNKNOWN_RELEASE_TIME = "unknown release_time (expected pre/post, bmo/amc, before/after, pre-market/post-market)"


def validate_earnings(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    today=None,
    date_format: str | None = None,
    source_columns: Names = None,
    row_numbers=None,
) -> Validated:
    """Quarantine bad earnings announcements; return (clean ``EARNINGS_COLUMNS`` frame, rejected).

    ``surprise_pct`` (a fraction: 0.05 is 5%) is the supplied value where the file has one: it is
    computed from unrounded figures, while EPS files round to cents (a 0.01 estimate turns a 2-cent
    miss into -200%); (actual - estimate) / |estimate| fills only the rows without one, where both
    EPS exist and the estimate is non-zero.
    ``release_time`` is normalised to 'pre'/'post' (``RELEASE_TIMES`` lists the accepted spellings;
    empty means unknown). Rejected: empty ticker or one with a control character, partial,
    out-of-range, unparseable or future announce date, partial, out-of-range or unparseable
    fiscal_quarter_end (empty is allowed), non-numeric EPS or surprise, a surprise beyond
    ``MAX_ABS_SURPRISE`` (the column blamed is eps_estimate when the surprise was computed), a
    release_time outside ``RELEASE_TIMES`` (it decides whether the announcement is known at that
    day's close, so it is never read as unknown), duplicate (ticker, announce_date).
    """
    _require(raw, ["ticker", "announce_date"], source_file, source_columns)
    q = Quarantine(raw, "earnings_events", source_file, source_columns, row_numbers)
    ticker = _tickers(q, raw)
    announce = _dates(q, raw, "announce_date", "announce date", today=today, fmt=date_format)
    if "fiscal_quarter_end" in raw.columns:
        fqe = _dates(q, raw, "fiscal_quarter_end", "fiscal_quarter_end", optional=True, future=False)
    else:
        fqe = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    eps = {
        c: (_numeric(q, raw, c, "EPS") if c in raw.columns else pd.Series(np.nan, index=raw.index))
        for c in ("eps_estimate", "eps_actual")
    }
    est, act = eps["eps_estimate"], eps["eps_actual"]
    surprise = ((act - est) / est.abs()).where(est.ne(0) & est.notna() & act.notna())
    computed = surprise.notna()
    if "surprise_pct" in raw.columns:  # the supplied value wins; the computed one fills its gaps
        supplied = _numeric(q, raw, "surprise_pct", "surprise")
        computed = supplied.isna() & computed
        surprise = supplied.fillna(surprise)
    beyond = surprise.abs() > MAX_ABS_SURPRISE
    q.reject(beyond & computed, "eps_estimate", SURPRISE_OUT_OF_RANGE)
    q.reject(beyond & ~computed, "surprise_pct", SURPRISE_OUT_OF_RANGE)
    if "release_time" in raw.columns:
        release = text(raw["release_time"]).str.lower().map(RELEASE_TIMES)
        q.reject(release.isna() & ~is_missing(raw["release_time"]), "release_time", UNKNOWN_RELEASE_TIME)
    else:
        release = pd.Series(None, index=raw.index, dtype=object)
    q.duplicates(
        pd.DataFrame({"ticker": ticker, "announce_date": announce}),
        "announce_date",
        "duplicate (ticker, announce_date)",
    )
    clean = pd.DataFrame(
        {
            "ticker": ticker,
            "announce_date": announce,
            "fiscal_quarter_end": fqe,
            "eps_estimate": est,
            "eps_actual": act,
            "surprise_pct": surprise,
            "release_time": release.astype(object).where(release.notna(), None),
        }
    )
    return _finish(q, clean[EARNINGS_COLUMNS], EARNINGS_SCHEMA, max_reject_share, ["ticker", "announce_date"])


def validate_universe(
    raw: pd.DataFrame,
    source_file: str,
    max_reject_share: float = 0.05,
    *,
    today=None,
    source_columns: Names = None,
    row_numbers=None,
) -> Validated:
    """Quarantine bad membership intervals; return (clean ``UNIVERSE_COLUMNS`` frame, rejected rows).

    ``start_date`` and ``end_date`` are inclusive; an empty ``end_date`` means still a member.
    Rules, in order: blank line, empty ticker or one with a control character, partial,
    out-of-range, unparseable or missing start_date, start_date in the future (a membership nobody
    could know yet), partial, out-of-range or unparseable end_date, end_date before start_date,
    overlapping interval. Overlaps are rejected, not merged: two records claiming the same day
    for one ticker contradict each other, and which one is right is the file owner's call. In
    start-date order (file order among equal starts), an interval that starts on or before the end
    of any earlier interval of the same ticker is rejected, so the first interval of a chain of
    overlaps is kept; adjacent intervals (one ends on D, the next starts after D) are fine. An
    ``end_date`` after ``today`` is kept: it changes no membership on a day up to ``today``.
    """
    _require(raw, ["ticker", "start_date"], source_file, source_columns)
    q = Quarantine(raw, "universe", source_file, source_columns, row_numbers)
    ticker = _tickers(q, raw)
    start = _dates(q, raw, "start_date", "start_date", today=today)
    if "end_date" in raw.columns:
        end = _dates(q, raw, "end_date", "end_date", optional=True, future=False)
        q.reject(end < start, "end_date", "end_date before start_date")
    else:
        end = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    _reject_overlaps(q, ticker, start, end)
    clean = pd.DataFrame({"ticker": ticker, "start_date": start, "end_date": end})[UNIVERSE_COLUMNS]
    return _finish(q, clean, UNIVERSE_SCHEMA, max_reject_share, ["ticker", "start_date"])


def _reject_overlaps(q: Quarantine, ticker: pd.Series, start: pd.Series, end: pd.Series) -> None:
    """Reject intervals starting on or before the latest end of the ticker's earlier intervals."""
    ok = np.flatnonzero(~q.bad)
    if ok.size < 2:
        return
    open_end = np.iinfo("int64").max  # an open interval runs forever
    frame = pd.DataFrame(
        {
            "ticker": ticker.to_numpy()[ok],
            "start": start.to_numpy()[ok].astype("int64"),
            "end": np.where(end.isna().to_numpy()[ok], open_end, end.to_numpy()[ok].astype("int64")),
            "line": q.lines[ok],
            "pos": ok,
        }
    ).sort_values(["ticker", "start", "line"], kind="stable")
    group = frame["ticker"]
    latest_end = frame.groupby("ticker", sort=False)["end"].cummax()
    first = np.iinfo("int64").min  # no earlier interval
    prev_end = latest_end.groupby(group).shift(1, fill_value=first)  # latest end of the earlier intervals
    # the line of the interval that set that latest end (the first one to reach it)
    record = (prev_end == first) | (frame["end"] > prev_end)
    prev_line = frame["line"].where(record).groupby(group).ffill().groupby(group).shift(1)
    overlap = (frame["start"] <= prev_end).to_numpy()
    if not overlap.any():
        return
    hits = frame.loc[overlap]
    shown_end = ["open" if e == open_end else str(pd.Timestamp(int(e)).date()) for e in prev_end[overlap]]
    values = pd.Series("", index=range(len(q.raw)), dtype=object)
    values.iloc[hits["pos"].to_numpy()] = [
        f"{t} from {pd.Timestamp(int(s)).date()} (the interval at row {int(r)} runs to {e})"
        for t, s, r, e in zip(hits["ticker"], hits["start"], prev_line[overlap], shown_end)
    ]
    mask = np.zeros(len(q.raw), dtype=bool)
    mask[hits["pos"].to_numpy()] = True
    q.reject(mask, "start_date", "overlapping interval", values=values)
