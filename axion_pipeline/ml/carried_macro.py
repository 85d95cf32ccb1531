"""The macro rows a ranking model carries, in memory and in its saved directory.

A ranking model trained with ``macro_data`` has the macro columns among its features; to score a
date ``t`` it needs the macro row as of ``t`` (the last row dated on or before it: the feature
engineer joins macro data backward only). ``TrainingPipeline`` hands the model the last
``MACRO_ROWS_KEPT`` rows (one trading year) of those columns; ``StockRankingModel.save`` writes
them as ``macro_data.json`` next to the members, listed with its SHA-256 in the manifest like every
artefact, so a loaded model scores exactly like the trained one on the dates it carries and the
caller passes ``macro_data=`` only for other dates (``MLPredictor`` says so in ``fallback_reason``).
A year keeps the file small (about 250 rows x a dozen columns, tens of kB) while covering the live
span and any re-scoring of the last year; older dates are what the caller's own history is for.

The file is JSON: format tag, column names, ISO dates and the values row by row, floats at full
precision (a round trip is exact) with ``NaN`` for missing values. Loading checks the structure
and refuses anything else; nothing is executed. Look-ahead cannot enter here: the rows are the
caller's macro data up to its last date, and the predictor refuses target dates after it.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

MACRO_FILE = "macro_data.json"
MACRO_FORMAT = "axion-macro-json"
MACRO_SCHEMA_VERSION = 1
MACRO_ROWS_KEPT = 252


def macro_frame(macro_data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``macro_data`` (dated by a ``date`` column or its index) as float64 on a
    sorted DatetimeIndex named ``date``; ValueError on missing columns or duplicate dates."""
    frame = macro_data.set_index("date") if "date" in macro_data.columns else macro_data
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"macro_data lacks the columns {missing}")
    dates = pd.DatetimeIndex(pd.to_datetime(frame.index))
    if dates.tz is not None or dates.has_duplicates:
        raise ValueError("macro_data needs unique timezone-naive dates")
    out = pd.DataFrame(
        frame[columns].to_numpy(dtype="float64"),
        index=pd.DatetimeIndex(dates.to_numpy(dtype="datetime64[ns]"), name="date"),
        columns=[str(c) for c in columns],
    )
    return out.sort_index()


def rows_to_carry(macro_data: pd.DataFrame, columns: list[str], rows: int = MACRO_ROWS_KEPT) -> pd.DataFrame:
    """The last ``rows`` dates of ``columns``: what a ranking model keeps and saves."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    return macro_frame(macro_data, columns).iloc[-rows:]


def macro_to_json(frame: pd.DataFrame) -> str:
    """The carried frame as the JSON text of ``MACRO_FILE``."""
    return json.dumps(
        {
            "format": MACRO_FORMAT,
            "schema_version": MACRO_SCHEMA_VERSION,
            "columns": [str(c) for c in frame.columns],
            "dates": [pd.Timestamp(d).isoformat() for d in frame.index],
            "values": frame.to_numpy(dtype="float64").tolist(),
        },
        separators=(",", ":"),
    )


def macro_from_json(text: str) -> pd.DataFrame:
    """Parse ``macro_to_json`` output; ValueError naming what is wrong with it."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from exc
    if not isinstance(record, dict) or record.get("format") != MACRO_FORMAT:
        raise ValueError(f"not an {MACRO_FORMAT} record")
    if record.get("schema_version") != MACRO_SCHEMA_VERSION:
        raise ValueError(f"schema_version {record.get('schema_version')!r}, expected {MACRO_SCHEMA_VERSION}")
    columns, dates, values = record.get("columns"), record.get("dates"), record.get("values")
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise ValueError("columns must be a non-empty list of names")
    if len(set(columns)) != len(columns):
        raise ValueError("columns holds duplicate names")
    if not isinstance(dates, list) or not dates or not all(isinstance(d, str) for d in dates):
        raise ValueError("dates must be a non-empty list of ISO dates")
    index = pd.DatetimeIndex(pd.to_datetime(dates, format="ISO8601"), name="date")
    if index.tz is not None or not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError("dates must be increasing, unique and timezone-naive")
    if not isinstance(values, list) or len(values) != len(dates):
        raise ValueError(f"values must hold one row per date ({len(dates)})")
    for i, row in enumerate(values):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ValueError(f"values[{i}] must hold {len(columns)} numbers")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row):
            raise ValueError(f"values[{i}] holds a non-number")
        if any(math.isinf(v) for v in row):
            raise ValueError(f"values[{i}] holds an infinite value")
    return pd.DataFrame(np.array(values, dtype="float64"), index=index.astype("datetime64[ns]"), columns=columns)
