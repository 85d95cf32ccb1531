"""The trading calendar of the configured source, needed before any data is loaded.

Dagster builds its partitions definition when the code location loads, so the calendar must be
cheap: the generated market trades on weekdays; a real source's calendar is the set of dates in its
price file (only the date column is read, and the result is cached per process).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd


def price_file_for(data_dir: str | Path) -> tuple[Path, str]:
    """Return (path, date column) of the price file of a data folder, in either supported layout."""
    from axion_pipeline.data.generic import find_file
    from axion_pipeline.data.real_prices import PRICE_FILE
    from axion_pipeline.data.sources import detect_layout

    root = Path(data_dir)
    path = root / PRICE_FILE if detect_layout(root) == "shared" else find_file(root, "prices")
    return path, "date"


@lru_cache(maxsize=8)
def _calendar_from_file(path: str, column: str, mtime: float) -> tuple[pd.Timestamp, ...]:
    if path.endswith(".parquet"):
        dates = pd.read_parquet(path, columns=[column])[column]
    else:
        dates = pd.read_csv(path, usecols=[column])[column]
    parsed = pd.to_datetime(dates, errors="coerce", format="mixed").dropna().dt.normalize()
    today = pd.Timestamp.today().normalize()
    return tuple(sorted(d for d in parsed.unique() if d <= today))


def trading_calendar(data_dir: str | None, sim_start: str, sim_end: str) -> pd.DatetimeIndex:
    """Trading days of the source: weekdays for the generated market, the price file's dates otherwise.

    Unparseable and future dates are left out here; the loader quarantines those rows.
    """
    if data_dir is None:
        return pd.bdate_range(sim_start, sim_end)
    path, column = price_file_for(data_dir)
    return pd.DatetimeIndex(_calendar_from_file(str(path), column, path.stat().st_mtime))


def non_trading_weekdays(calendar: pd.DatetimeIndex) -> list[pd.Timestamp]:
    """Weekdays inside the calendar's span on which the source did not trade (holidays)."""
    if len(calendar) == 0:
        return []
    weekdays = pd.bdate_range(calendar[0], calendar[-1])
    return list(weekdays.difference(calendar))
