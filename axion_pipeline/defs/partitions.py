"""Trading-day partitions of the configured source, and the walk-forward fold partitions."""

from __future__ import annotations

from functools import lru_cache

import dagster as dg
import pandas as pd

from axion_pipeline.data.calendar import non_trading_weekdays, trading_calendar
from axion_pipeline.settings import get_settings

DATE_FMT = "%Y-%m-%d"


@lru_cache(maxsize=1)
def source_calendar() -> pd.DatetimeIndex:
    s = get_settings()
    return trading_calendar(s.data_dir, s.sim_start, s.sim_end)


def make_trading_day_partitions(calendar: pd.DatetimeIndex) -> dg.TimeWindowPartitionsDefinition:
    """Weekday partitions over the calendar's span, the source's holidays excluded."""
    if len(calendar) == 0:
        raise ValueError("the data source has no trading days: cannot build daily partitions")
    return dg.TimeWindowPartitionsDefinition(
        start=calendar[0].strftime(DATE_FMT),
        # a weekday partition's window runs to the next weekday (Friday's to Monday), so the
        # definition ends on the weekday after the last trading day
        end=(calendar[-1] + pd.offsets.BDay(1)).strftime(DATE_FMT),
        cron_schedule="0 0 * * 1-5",
        fmt=DATE_FMT,
        exclusions=[d.to_pydatetime() for d in non_trading_weekdays(calendar)],
    )


trading_days = make_trading_day_partitions(source_calendar())
