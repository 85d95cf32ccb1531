"""Quarterly earnings announcements from the shared (spreadsheet-damaged) export.

``earnings/earnings_latest.csv.gz`` has ``symbol,date,qtr,eps_est,eps,release_time,surp``:

- ``date`` is the announcement date as m/d/yy (``11/19/12``);
- ``qtr`` was a fiscal month that a spreadsheet turned into text: ``12-Oct`` means October 2012,
  so ``fiscal_quarter_end`` is the last day of that month. It is ``NULL`` in 695 rows and a bare
  ``Q1``..``Q4`` without a year in others; both give NaT (the year or month would be a guess);
- ``surp`` is not a relative surprise: it is ``eps - eps_est`` in dollars (0.84 - 0.80 = 0.04 in
  every row), so ``surprise_pct = (eps - eps_est) / |eps_est|`` is computed where the estimate is
  non-zero and ``surp`` is not used;
- ``release_time`` is ``pre`` or ``post`` market.

Every row is kept (all tickers, also those outside the price file) except rows the validator
quarantines (unparseable announce date, empty symbol, ...), so the counts reconcile. Point in time:
an announcement is known from its ``announce_date`` (after the close when ``release_time`` is
'post', so a same-day feature must wait for the next session).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from axion_pipeline.data.validation import read_table, text, validate_earnings

EARNINGS_FILE = Path("earnings") / "earnings_latest.csv.gz"
SOURCE_COLUMNS = {
    "ticker": "symbol",
    "announce_date": "date",
    "fiscal_quarter_end": "qtr",
    "eps_estimate": "eps_est",
    "eps_actual": "eps",
}


def parse_fiscal_month(values: pd.Series) -> pd.Series:
    """'12-Oct' -> 2012-10-31 (month end); anything else -> NaT."""
    label = text(values)
    month = pd.to_datetime(label.where(label.str.fullmatch(r"\d{2}-[A-Za-z]{3}")), format="%y-%b", errors="coerce")
    return (month + pd.offsets.MonthEnd(0)).astype("datetime64[ns]")


def read_real_earnings(
    data_dir: str | Path, max_reject_share: float = 0.05, today=None
) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
    """Return (``EARNINGS_COLUMNS`` frame, rejected rows, rows read, notes)."""
    name = EARNINGS_FILE.as_posix()
    raw = read_table(
        Path(data_dir) / EARNINGS_FILE, ["symbol", "date", "qtr", "eps_est", "eps", "release_time"], display_name=name
    )
    qtr = text(raw["qtr"])
    frame = pd.DataFrame(
        {
            "ticker": raw["symbol"],
            "announce_date": raw["date"],
            "fiscal_quarter_end": parse_fiscal_month(qtr),
            "eps_estimate": raw["eps_est"],
            "eps_actual": raw["eps"],
            "release_time": raw["release_time"],
        }
    )
    clean, rejected = validate_earnings(
        frame, name, max_reject_share, today=today, date_format="%m/%d/%y", source_columns=SOURCE_COLUMNS
    )
    null_q = int(qtr.str.upper().isin(["", "NULL"]).sum())
    bare_q = int(qtr.str.fullmatch(r"Q[1-4]").sum())
    other = int(frame["fiscal_quarter_end"].isna().sum()) - null_q - bare_q
    notes = [
        f"earnings_events: {name} 'qtr' text like '12-Oct' read as the month end of Oct 2012; "
        f"fiscal_quarter_end is NaT for {null_q} empty/NULL, {bare_q} year-less 'Q1'..'Q4' and {other} other labels.",
        "earnings_events: surprise_pct computed as (eps - eps_est) / |eps_est| where eps_est != 0; the file's "
        "'surp' column is not used: it is eps - eps_est in dollars, not a fraction; "
        f"{int(clean['surprise_pct'].isna().sum())} rows have no surprise.",
    ]
    return clean, rejected, len(raw), notes
