"""The trading calendar of the configured source, needed before any data is loaded.

Dagster builds its partitions definition when the code location loads, so the calendar must be
cheap: the generated market trades on weekdays; a real source's calendar is the set of dates in
its price file that pass the loader's date rules (``validation.price_dates``: a whole ISO 8601
date between 1900 and 2100, not in the future, a weekday, not isolated from the rest of the
history). Only the date column is parsed, through the loader's own reader (``read_table``), so a
malformed file fails here with the loader's ``DataValidationError`` naming the file, row and
column, never with a reader traceback. The result is cached per process.

The calendar and the loader agree on every date: a row the loader rejects for its date is not a
trading day here, and every loaded row falls on a trading day. A day whose rows are all rejected
for other reasons (every price missing, say) stays a trading day without prices; its partition
then fails naming the day.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd


def price_file_for(data_dir: str | Path) -> tuple[Path, list[str], str]:
    """Return (path, required columns, name used in messages) of the price file of a data
    folder, in either supported layout."""
    from axion_pipeline.data.contracts import PRICE_COLUMNS
    from axion_pipeline.data.generic import find_file
    from axion_pipeline.data.real_prices import PRICE_FILE, SOURCE_HEADER
    from axion_pipeline.data.sources import detect_layout

    root = Path(data_dir)
    if detect_layout(root) == "shared":
        return root / PRICE_FILE, SOURCE_HEADER, PRICE_FILE.as_posix()
    path = find_file(root, "prices")
    return path, PRICE_COLUMNS, path.name


@lru_cache(maxsize=8)
def _calendar_from_file(
    path: str, required: tuple[str, ...], name: str, mtime_ns: int, size: int, today: pd.Timestamp
) -> tuple[pd.Timestamp, ...]:
    from axion_pipeline.data.validation import calendar_days, read_table

    raw = read_table(path, required, display_name=name, columns=["date"])
    return tuple(calendar_days(raw, name, today=today))


def trading_calendar(data_dir: str | None, sim_start: str, sim_end: str) -> pd.DatetimeIndex:
    """Trading days of the source: weekdays for the generated market, the price file's valid
    dates otherwise (module docstring)."""
    if data_dir is None:
        return pd.bdate_range(sim_start, sim_end)
    path, required, name = price_file_for(data_dir)
    stat = path.stat()
    today = pd.Timestamp.today().normalize()
    return pd.DatetimeIndex(
        _calendar_from_file(str(path), tuple(required), name, stat.st_mtime_ns, stat.st_size, today)
    )


def non_trading_weekdays(calendar: pd.DatetimeIndex) -> list[pd.Timestamp]:
    """Weekdays inside the calendar's span on which the source did not trade (holidays)."""
    if len(calendar) == 0:
        return []
    weekdays = pd.bdate_range(calendar[0], calendar[-1])
    return list(weekdays.difference(calendar))
