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
import gzip
import lzma
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
    PRICE_COLUMNS,
    REJECTED_COLUMNS,
    SECTOR_COLUMNS,
    UNIVERSE_COLUMNS,
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
    text_columns: Iterable[str] | None = None,
    display_name: str | None = None,
    allow_empty: bool = False,
    **read_kwargs,
) -> pd.DataFrame:
    """Read a CSV (optionally compressed) or Parquet file and run the file-level checks.

    ``text_columns`` (default: all) are read as text; other CSV columns are parsed as numbers by
    the C reader where every cell is numeric, and stay text otherwise, so the validators see the
    raw value of any bad cell. Only empty cells count as missing while reading; blank lines are
    kept as empty rows so row numbers stay line numbers.

    ``allow_empty`` (optional datasets): a file without any content, or a header without data
    rows, returns a frame with no rows (the header's columns, else ``required``) instead of
    raising; a header naming the wrong columns still raises.
    """
    path = Path(path)
    name = display_name or str(path)
    if not path.is_file():
        raise FileNotFoundError(f"file {name}: not found")
    if path.stat().st_size == 0:
        if allow_empty:
            return pd.DataFrame(columns=list(required))
        raise DataValidationError("file is empty (no header line)", file=name, row=1)
    if path.suffix == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except (pa_arrow.ArrowException, OSError) as exc:
            raise DataValidationError(f"not a readable Parquet file ({exc})", file=name) from None
    else:
        if path.suffix.lower() in PLAIN_TEXT_SUFFIXES and (line := _first_nul_line(path)) is not None:
            raise DataValidationError(
                f"the file contains a NUL byte{_binary_hint(path)}; the CSV reader would silently cut the cell there: "
                "save the file as UTF-8 CSV",
                file=name,
                row=line,
            )
        try:
            dtype = str if text_columns is None else dict.fromkeys(text_columns, str)
            frame = pd.read_csv(
                path, dtype=dtype, keep_default_na=False, na_values=[""], skip_blank_lines=False, **read_kwargs
            )
        except pd.errors.EmptyDataError:
            if allow_empty:
                return pd.DataFrame(columns=list(required))
            raise DataValidationError("file is empty (no header line)", file=name, row=1) from None
        except UnicodeDecodeError as exc:
            line, byte = _undecodable(path)
            raise DataValidationError(
                f"not UTF-8 text: byte {byte} cannot be decoded{_binary_hint(path)}; save the file as "
                f"UTF-8 CSV ({exc.reason})",
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
    frame.columns = [str(c).strip() for c in frame.columns]
    _check_unique_columns(list(frame.columns), name, mangled=path.suffix != ".parquet")
    check_columns(frame, required, name, allow_empty=allow_empty)
    return frame


PLAIN_TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt"})  # compressed files are not scanned for NUL bytes
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
        hint = f" ({'; '.join(hints)}; names are case- and space-sensitive)" if hints else ""
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


def is_missing(values: pd.Series) -> pd.Series:
    """True where a cell is empty, NaN or a missing-value token ('NA', 'NULL', '.', ...)."""
    if values.dtype.kind in "fiubM":
        return values.isna()
    arr = _arrow_text(values)
    if arr is None:
        arr = pa_arrow.array(text(values).to_numpy(dtype=object), type=pa_arrow.string())
    hit = pc.is_in(pc.utf8_lower(arr), value_set=_MISSING_ARRAY)
    return pd.Series(hit.to_numpy(zero_copy_only=False), index=values.index, dtype=bool)


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Return (float values, missing mask, non-numeric mask); infinities count as non-numeric."""
    missing = is_missing(values)
    if values.dtype.kind in "fiub":
        num = values.astype("float64")
        bad = pd.Series(False, index=values.index)
    else:
        num = pd.to_numeric(text(values).where(~missing), errors="coerce").astype("float64")
        bad = num.isna() & ~missing
    infinite = np.isinf(num)
    return num.where(~infinite), missing, bad | infinite


_UTC_OFFSET = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def parse_dates(values: pd.Series, fmt: str | None = None) -> pd.Series:
    """Timezone-naive, day-normalised datetimes; NaT where missing or unparseable.

    A timestamp with a UTC offset keeps its local date ('2020-01-06T00:00:00+09:00' is 2020-01-06,
    not the UTC 2020-01-05), the same as a timezone-aware Parquet column: the date is the trading
    day of the exchange that stamped it.
    """
    if values.dtype.kind == "M":
        out = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return out.astype("datetime64[ns]").dt.normalize()
    arr = _arrow_text(values)
    if arr is not None and len(arr) and pc.max(pc.utf8_length(arr)).as_py() > 16:  # room for a time and offset
        local = pc.replace_substring_regex(arr, pattern=_UTC_OFFSET, replacement=r"\1")
        values = pd.Series(local.to_numpy(zero_copy_only=False), index=values.index, dtype=object)
        values = values.mask(values == "")
    out = pd.to_datetime(values, format=fmt or "ISO8601", errors="coerce", utc=True)
    retry = out.isna() & values.notna()
    if retry.any():
        out.loc[retry] = pd.to_datetime(text(values[retry]), format=fmt or "ISO8601", errors="coerce", utc=True)
    return out.dt.tz_localize(None).astype("datetime64[ns]").dt.normalize()


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
        self._parts: list[pd.DataFrame] = []
        if len(raw.columns):
            blank = is_missing(raw.iloc[:, 0]).to_numpy()
            for col in raw.columns[1:]:
                rows = np.flatnonzero(blank)
                if rows.size:
                    blank[rows] = is_missing(raw[col].iloc[rows]).to_numpy()
            self.reject(blank, None, "blank line")

    def reject(self, mask, column: str | None, reason: str, values: pd.Series | None = None) -> None:
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if not new.any():
            return
        idx = np.flatnonzero(new)
        if values is None:
            values = text(self.raw[column].iloc[idx]) if column in self.raw.columns else pd.Series("", index=idx)
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
        n, k = len(self.raw), int(self.bad.sum())
        if n and k / n > max_reject_share:
            top = self.rejected()["reason"].value_counts().head(3)
            reasons = ", ".join(f"{r} ({c})" for r, c in top.items())
            raise RejectionThresholdExceeded(
                f"{k} of {n} rows rejected ({k / n:.1%} > max_reject_share {max_reject_share:.1%}); "
                f"top reasons: {reasons}",
                file=self.source_file,
            )


def empty_rejected() -> pd.DataFrame:
    """A rejected-rows frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row_number" else object) for c in REJECTED_COLUMNS})


def concat_rejected(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack rejected-row frames (skipping empty ones)."""
    parts = [f for f in frames if len(f)]
    return pd.concat(parts, ignore_index=True)[REJECTED_COLUMNS] if parts else empty_rejected()


def _require(raw: pd.DataFrame, required: Iterable[str], source_file: str, source_columns: Names) -> None:
    names = dict(source_columns or {})
    check_columns(raw.rename(columns=names), [names.get(c, c) for c in required], source_file)


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

    Rules, in order: blank line, empty ticker, unparseable date, future date, missing price,
    non-numeric price, non-positive price, high < low, open or close outside [low, high],
    non-numeric or negative volume (a missing volume is kept as NaN), duplicate (date, ticker).
    """
    _require(raw, PRICE_COLUMNS, source_file, source_columns)
    q = Quarantine(raw, "prices", source_file, source_columns, row_numbers)
    ticker = text(raw["ticker"])
    q.reject(ticker == "", "ticker", "empty ticker")
    date = parse_dates(raw["date"])
    q.reject(date.isna(), "date", "unparseable date")
    q.reject(date > _today(today), "date", "date in the future")
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
    empty ticker, unparseable or future period_end, unparseable available_date, available_date
    before period_end, non-numeric field, non-positive shares_outstanding, duplicate
    (ticker, period_end, available_date).
    """
    _require(raw, ["ticker", "period_end"], source_file, source_columns)
    q = Quarantine(raw, "fundamentals", source_file, source_columns, row_numbers)
    ticker = text(raw["ticker"])
    q.reject(ticker == "", "ticker", "empty ticker")
    period_end = parse_dates(raw["period_end"])
    q.reject(period_end.isna(), "period_end", "unparseable period_end")
    q.reject(period_end > _today(today), "period_end", "period_end in the future")
    lagged = period_end + pd.Timedelta(days=reporting_lag_days)
    if "available_date" in raw.columns:
        avail = parse_dates(raw["available_date"])
        q.reject(avail.isna() & ~is_missing(raw["available_date"]), "available_date", "unparseable available_date")
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
    ticker, sector = text(raw["ticker"]), text(raw["sector"])
    q.reject(ticker == "", "ticker", "empty ticker")
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
) -> Validated:
    """Quarantine bad rows of a daily market table (``date`` plus any ``MARKET_SERIES_COLUMNS``).

    Missing values are allowed (NaN); rejected: unparseable or future date, non-numeric value,
    value out of range (non-positive index level or VIX, breadth outside its bounds), duplicate
    date. Only the series columns present in ``raw`` are returned.
    """
    _require(raw, ["date"], source_file, source_columns)
    q = Quarantine(raw, dataset, source_file, source_columns, row_numbers)
    date = parse_dates(raw["date"])
    q.reject(date.isna(), "date", "unparseable date")
    q.reject(date > _today(today), "date", "date in the future")
    present = [c for c in MARKET_SERIES_COLUMNS[1:] if c in raw.columns]
    values = {c: _numeric(q, raw, c, "value") for c in present}
    for c, v in values.items():
        if c in _BOUNDS:
            q.reject(v.notna() & ~_BOUNDS[c](v), c, f"{c} out of range")
    q.duplicates(pd.DataFrame({"date": date}), "date", "duplicate date")
    return _finish(q, pd.DataFrame({"date": date, **values}), MARKET_SERIES_SCHEMA, max_reject_share, ["date"])


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
    ``release_time`` is normalised to 'pre'/'post' (else missing). Rejected: empty ticker,
    unparseable or future announce date, unparseable fiscal_quarter_end (empty is allowed),
    non-numeric EPS, duplicate (ticker, announce_date).
    """
    _require(raw, ["ticker", "announce_date"], source_file, source_columns)
    q = Quarantine(raw, "earnings_events", source_file, source_columns, row_numbers)
    ticker = text(raw["ticker"])
    q.reject(ticker == "", "ticker", "empty ticker")
    announce = parse_dates(raw["announce_date"], date_format)
    q.reject(announce.isna(), "announce_date", "unparseable announce date")
    q.reject(announce > _today(today), "announce_date", "announce date in the future")
    if "fiscal_quarter_end" in raw.columns:
        fqe = parse_dates(raw["fiscal_quarter_end"])
        q.reject(
            fqe.isna() & ~is_missing(raw["fiscal_quarter_end"]), "fiscal_quarter_end", "unparseable fiscal_quarter_end"
        )
    else:
        fqe = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    eps = {
        c: (_numeric(q, raw, c, "EPS") if c in raw.columns else pd.Series(np.nan, index=raw.index))
        for c in ("eps_estimate", "eps_actual")
    }
    est, act = eps["eps_estimate"], eps["eps_actual"]
    surprise = ((act - est) / est.abs()).where(est.ne(0) & est.notna() & act.notna())
    if "surprise_pct" in raw.columns:  # the supplied value wins; the computed one fills its gaps
        surprise = _numeric(q, raw, "surprise_pct", "surprise").fillna(surprise)
    release = (
        text(raw["release_time"]).str.lower().map(RELEASE_TIMES)
        if "release_time" in raw.columns
        else pd.Series(None, index=raw.index, dtype=object)
    )
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
    Rules, in order: blank line, empty ticker, unparseable or missing start_date, start_date in the
    future (a membership nobody could know yet), unparseable end_date, end_date before start_date,
    overlapping interval. Overlaps are rejected, not merged: two records claiming the same day
    for one ticker contradict each other, and which one is right is the file owner's call. In
    start-date order (file order among equal starts), an interval that starts on or before the end
    of any earlier interval of the same ticker is rejected, so the first interval of a chain of
    overlaps is kept; adjacent intervals (one ends on D, the next starts after D) are fine. An
    ``end_date`` after ``today`` is kept: it changes no membership on a day up to ``today``.
    """
    _require(raw, ["ticker", "start_date"], source_file, source_columns)
    q = Quarantine(raw, "universe", source_file, source_columns, row_numbers)
    ticker = text(raw["ticker"])
    q.reject(ticker == "", "ticker", "empty ticker")
    start = parse_dates(raw["start_date"])
    q.reject(start.isna(), "start_date", "unparseable start_date")
    q.reject(start > _today(today), "start_date", "start_date in the future")
    if "end_date" in raw.columns:
        end = parse_dates(raw["end_date"])
        q.reject(end.isna() & ~is_missing(raw["end_date"]), "end_date", "unparseable end_date")
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
