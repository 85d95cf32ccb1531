"""Bring your own data: the generic folder layout and its loader (``MarketData`` source "generic").

Layout
------
Point ``AXION_DATA_DIR`` at a folder holding one file per dataset, Parquet, CSV or gzipped CSV
(``<stem>.parquet``, ``<stem>.csv``, ``<stem>.csv.gz``, the first found in that order is used).
A file may be a symbolic link (it is followed; a link loop, a dangling link or a directory is an
error naming the file), so a layout can point at shared files without copying them::

    my_data/
      prices.csv            required  date, ticker, open, high, low, close, volume
      fundamentals.csv      optional  ticker, period_end
                                      [available_date, period_type, revenue, gross_profit,
                                       operating_income, ebitda, net_income, interest_expense,
                                       rnd_expense, operating_cash_flow, capital_expenditure,
                                       free_cash_flow, dividends_paid, total_assets, total_equity,
                                       total_debt, cash, shares_outstanding, eps, forward_eps]
      sectors.csv           optional  ticker, sector
      market_series.csv     optional  date, sp500_close
                                      [vix, vix_3m, yield_3m, yield_2y, yield_10y, hy_spread,
                                       ig_spread, advance_decline, pct_above_200sma, put_call_ratio]
      earnings_events.csv   optional  ticker, announce_date
                                      [fiscal_quarter_end, eps_estimate, eps_actual, surprise_pct,
                                       release_time]
      universe.csv          optional  ticker, start_date [, end_date]

Only prices are required. An optional file that is missing, has no content or has a header but
no data rows gives an empty dataset and a note naming the file and what is skipped for want of it
(``SKIPPED``); everything computable without it is still computed. A file that is present and
corrupt (wrong delimiter, missing column, bad bytes, ...) fails loudly with file, row and column.

Format: CSV is comma-separated UTF-8 with a header line (a byte-order mark is dropped); a
``.csv.gz`` is gzip-compressed, and compressed bytes under another name are refused, never
guessed. Dates are whole ISO 8601 dates (``2024-01-31``; a time and UTC offset may follow: the
date is kept as written, the time and offset dropped, so nothing is shifted); partial dates
(``2024-01``, ``2024``), compact ``20240131`` and other formats such as ``01/31/2024`` are
rejected, never completed or guessed, and so are dates outside 1900-01-01 .. 2100-12-31. Price
dates must also be weekdays, and a price date more than 366 days from the rest of the history is
rejected as isolated (the daily partitions span the history; a stray 1970-01-01 would stretch
them over decades). Decimals use '.' with no thousands separator; a missing value is an empty
cell (``NA``, ``NULL``, ``NaN`` and ``.`` are read as missing too); infinities are rejected.
Tickers are compared exactly (``aapl`` is not ``AAPL``: a note names such near misses) and may
not contain a line break or tab. Parquet files use the same column names, dates as date or
timestamp columns (timezone-aware ones keep their local date) or ISO strings; a numeric date
column (``20240131``, epoch seconds, spreadsheet serials) is ambiguous and refused. Column names
are case-sensitive; extra columns are ignored (and listed in the notes).

Meaning:

- prices: one row per trading day and ticker, split-adjusted (dividend adjustment optional);
  volume in shares. The trading calendar is the set of price dates.
- fundamentals: one row per reported period (or restatement). Flow fields are trailing twelve
  months; per-share fields and ``shares_outstanding`` are split-adjusted to the price basis;
  ``capital_expenditure``, ``interest_expense`` and ``dividends_paid`` are positive amounts.
  A row with no figure at all apart from its keys (an empty filler row, which some public files
  hold by the thousand) is not loaded: it goes to ``rejected_rows`` with that reason (not counted
  against ``max_reject_share``), since as a ticker's latest report it would blank its fundamentals.
  ``available_date`` is the day the figures became public (filing date). Absent or empty, it is
  ``period_end + reporting_lag_days`` (default 90), the conservative choice; an available_date
  before period_end is rejected. Absent field columns are delivered as missing values, never
  invented; ``period_type`` defaults to 'unknown' ('FY', 'Q' are typical). Without the file the
  value, quality and growth factors (and momentum's revision sub-factors) are missing.
- sectors: one sector per ticker; price tickers without one get 'Unknown' (listed in the notes).
  Without the file every ticker is 'Unknown', which the factor and feature stages read as "no
  sector information" (no sector-relative blend, no sector-rank features).
- market_series: one row per trading day, levels in index points, yields and spreads in percent,
  ``advance_decline`` in [-1, 1], ``pct_above_200sma`` in [0, 1]. Absent optional columns are
  missing values (noted); absent breadth columns are computed from the prices. Empty cells (a VIX
  gap) stay missing: nothing is forward-filled or interpolated here. Price dates without a market
  row stay absent (counted in the notes), never invented. Without the file, ``sp500_close`` is
  the equal-weighted index of the universe (100 x cumulative product of 1 + the mean daily return
  of the members, ``axion_pipeline.data.breadth.equal_weight_index``) on every price date and
  ``MarketData.index_name`` is "equal_weighted": it is not the S&P 500. Breadth is computed from
  the prices; VIX, yields, spreads and put/call are missing, and so are the regime features built
  on them.
- earnings_events: ``release_time`` is 'pre' or 'post' market (bmo/amc, before/after,
  pre-market/post-market are read as such; any other value rejects the row, empty means
  unknown); ``surprise_pct`` is a fraction ((actual - estimate) / |estimate|: 0.05 is a 5% beat).
  A supplied value is kept: EPS files round to cents, so the value recomputed from them is coarse
  (a 0.01 estimate turns a 2-cent miss into -200%); the recomputed value fills only the rows
  without one. A note counts supplied values that differ from the recomputed ones by more than
  0.05 (and those with the opposite sign), and says so when the supplied values look like percent
  (about 100 times the recomputed ones). A surprise beyond +-1000 (100,000 %) rejects the row.
- universe: index membership intervals, both ends inclusive, ``end_date`` empty while still a
  member, several intervals per ticker allowed (rules: ``validate_universe``). A ticker enters a
  date's cross-sections (factor ranks, composite, target quintiles, features, training) only while
  a member; a priced ticker in no interval never does. Without the file every priced ticker is a
  member on every price date.

Validation and reconciliation are those of ``axion_pipeline.data.validation``: bad rows go to
``rejected_rows`` with file, line, column, the cell as written and reason, and
``read_counts[ds] == loaded + rejected`` for every dataset. A market row on a day that is not a
trading day of the prices is recorded there too (no daily partition could store it), without
counting against ``max_reject_share``. Fundamentals, earnings and membership tickers that match no
price ticker are loaded and named in a note. For sectors the records are the price tickers plus rejected sector rows; a
market series derived from the prices counts its trading days as records, like the shared
layout's lookups; a missing file counts 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from axion_pipeline.data.breadth import breadth_from_prices, equal_weight_index_from_prices
from axion_pipeline.data.contracts import (
    EARNINGS_COLUMNS,
    EQUAL_WEIGHTED,
    FUNDAMENTAL_COLUMNS,
    FUNDAMENTAL_FIELDS,
    MARKET_SERIES_COLUMNS,
    PRICE_COLUMNS,
    REJECTED_COLUMNS,
    SECTOR_COLUMNS,
    UNKNOWN_SECTOR,
    MarketData,
    empty_universe,
)
from axion_pipeline.data.quality import unmatched_tickers_note
from axion_pipeline.data.universe import membership_notes
from axion_pipeline.data.validation import (
    NOT_A_TRADING_DAY,
    DataValidationError,
    calendar_days,
    concat_rejected,
    empty_rejected,
    is_missing,
    read_table,
    validate_earnings,
    validate_fundamentals,
    validate_market_series,
    validate_prices,
    validate_sectors,
    validate_universe,
)

DATASETS = {  # file stem: (required columns, optional columns)
    "prices": (PRICE_COLUMNS, []),
    "fundamentals": (["ticker", "period_end"], ["available_date", "period_type", *FUNDAMENTAL_FIELDS]),
    "sectors": (SECTOR_COLUMNS, []),
    "market_series": (["date", "sp500_close"], MARKET_SERIES_COLUMNS[2:]),
    "earnings_events": (
        ["ticker", "announce_date"],
        ["fiscal_quarter_end", "eps_estimate", "eps_actual", "surprise_pct", "release_time"],
    ),
    "universe": (["ticker", "start_date"], ["end_date"]),
}
SUFFIXES = (".parquet", ".csv", ".csv.gz")  # in order of preference
REQUIRED_FILES = ["prices"]
# What an optional dataset's absence costs (the note of a missing or empty file).
SKIPPED = {
    "fundamentals": "the value, quality and growth factors and the fundamental sub-factors of momentum "
    "(earnings and revenue momentum) are missing",
    "sectors": "every ticker gets sector 'Unknown': no sector-relative scoring and no sector-rank features",
    "market_series": "sp500_close is the equal-weighted index of the universe (100 x cumulative product of "
    "1 + the mean daily return of the members), NOT the S&P 500; breadth is computed from the prices; VIX, "
    "yields, spreads and put/call are missing, and so are the regime features built on them",
    "earnings_events": "the dataset is empty (no earnings events for the earnings model)",
    "universe": "every priced ticker is a member on every price date",
}


def find_file(directory: str | Path, stem: str) -> Path | None:
    """``<stem>.parquet``, else ``<stem>.csv``, else ``<stem>.csv.gz`` in ``directory``; None when
    none exists. A symbolic link is followed; a link loop, a dangling link or a directory under
    the name raises ``DataValidationError`` naming it (silently skipping it would load another
    file, or none, without saying why)."""
    for suffix in SUFFIXES:
        path = Path(directory) / f"{stem}{suffix}"
        if not (path.is_symlink() or path.exists()):
            continue
        try:
            target = path.resolve(strict=True)
        except RuntimeError:  # Python 3.11 reports a loop this way
            raise DataValidationError("symbolic link loop: the link never reaches a file", file=str(path)) from None
        except OSError as exc:
            raise DataValidationError(
                f"symbolic link to {Path(path).readlink()} which cannot be opened ({exc.strerror})", file=str(path)
            ) from None
        if target.is_dir():
            raise DataValidationError(
                f"is a directory{f' (through the link to {target})' if path.is_symlink() else ''}, not a data file",
                file=str(path),
            )
        if not target.is_file():
            raise DataValidationError(f"is not a regular file ({target})", file=str(path))
        return path
    return None


def is_generic_layout(directory: str | Path) -> bool:
    return find_file(directory, "prices") is not None


def looked_for(stem: str) -> str:
    return "|".join(f"{stem}{suffix}" for suffix in SUFFIXES)


def _read(path: Path, stem: str, notes: list[str]) -> pd.DataFrame:
    required, optional = DATASETS[stem]
    raw = read_table(path, required, display_name=path.name, allow_empty=stem not in REQUIRED_FILES)
    extra = [c for c in raw.columns if c not in required and c not in optional]
    if extra:
        notes.append(f"{stem}: {path.name} columns ignored: {extra}.")
    return raw[[c for c in raw.columns if c not in extra]]


def _sectors_for(
    raw: pd.DataFrame, name: str, tickers: list[str], max_reject_share: float, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean, rejected = validate_sectors(raw, name, max_reject_share)
    known = clean[clean["ticker"].isin(tickers)]
    unused = len(clean) - len(known)
    missing = sorted(set(tickers) - set(known["ticker"]))
    if unused:
        notes.append(f"sectors: {unused} rows of {name} name tickers without prices and are not used.")
    if missing:
        notes.append(
            f"sectors: {len(missing)} price tickers have no sector and get '{UNKNOWN_SECTOR}': "
            f"{', '.join(missing[:50])}{' ...' if len(missing) > 50 else ''}."
        )
    return _with_unknown(known, missing), rejected


def _with_unknown(known: pd.DataFrame, missing: list[str]) -> pd.DataFrame:
    out = pd.concat([known, pd.DataFrame({"ticker": missing, "sector": UNKNOWN_SECTOR})], ignore_index=True)
    return out.sort_values("ticker").reset_index(drop=True)[SECTOR_COLUMNS].astype(object)


def _market(
    raw: pd.DataFrame,
    name: str,
    prices: pd.DataFrame,
    membership: pd.DataFrame,
    max_reject_share: float,
    today,
    notes: list[str],
    trading_days: pd.DatetimeIndex,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    clean, rejected = validate_market_series(raw, name, max_reject_share, today=today, trading_days=trading_days)
    breadth_cols = ["advance_decline", "pct_above_200sma"]
    absent = [c for c in MARKET_SERIES_COLUMNS[1:] if c not in clean.columns]
    if any(c in absent for c in breadth_cols):
        breadth = breadth_from_prices(prices, membership=membership)[
            ["date", *[c for c in breadth_cols if c in absent]]
        ]
        clean = clean.merge(breadth, on="date", how="left")
        notes.append(f"market_series: {[c for c in breadth_cols if c in absent]} computed from the prices.")
    for column in absent:
        if column not in breadth_cols:
            clean[column] = float("nan")
            notes.append(f"market_series: {column} is absent from {name}; delivered as missing values.")
    uncovered = pd.DatetimeIndex(prices["date"].unique()).difference(pd.DatetimeIndex(clean["date"]))
    if len(uncovered):
        notes.append(
            f"market_series: {len(uncovered)} trading days of the prices have no market row "
            f"(first {uncovered[0]:%Y-%m-%d})."
        )
    return clean[MARKET_SERIES_COLUMNS], rejected


def equal_weighted_market(prices: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """``MARKET_SERIES_COLUMNS`` on every price date without a market file: the equal-weighted
    index of the members as ``sp500_close``, breadth from the prices, every other series missing."""
    out = equal_weight_index_from_prices(prices, membership)
    out = out.merge(breadth_from_prices(prices, membership=membership), on="date", how="left")
    for column in MARKET_SERIES_COLUMNS[1:]:
        if column not in out.columns:
            out[column] = float("nan")
    return out[MARKET_SERIES_COLUMNS]


FILLER_REASON = (
    "no figure apart from the keys (an empty filler row): not loaded, as the ticker's latest report it would "
    "blank its fundamentals"
)
# supplied and recomputed surprises further apart than this are counted in the note
SURPRISE_TOLERANCE = 0.05


def split_filler_rows(raw: pd.DataFrame, name: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Fundamentals rows with a ticker or period_end but every figure column empty (``FILLER_REASON``):
    returns (the other rows, their line numbers, the filler rows as rejected rows). Blank lines are
    left to the validator."""
    fields = [c for c in FUNDAMENTAL_FIELDS if c in raw.columns]
    empty = np.ones(len(raw), dtype=bool)
    for column in fields:
        empty &= is_missing(raw[column]).to_numpy()
    keyed = ~(is_missing(raw["ticker"]) & is_missing(raw["period_end"])).to_numpy()
    filler = empty & keyed
    lines = np.arange(len(raw)) + 2  # the validator's numbering: the header is line 1
    rejected = pd.DataFrame(
        {
            "dataset": "fundamentals",
            "source_file": name,
            "row_number": lines[filler],
            "column": "",
            "value": (raw["ticker"].astype(str) + " " + raw["period_end"].astype(str)).to_numpy()[filler],
            "reason": FILLER_REASON,
        },
        columns=REJECTED_COLUMNS,
    )
    return raw.loc[~filler].reset_index(drop=True), lines[~filler], rejected


def surprise_notes(raw: pd.DataFrame, clean: pd.DataFrame, name: str) -> list[str]:
    """What happened to a supplied ``surprise_pct`` (``validate_earnings`` keeps it): how many rows
    had one, how many differ from (actual - estimate) / |estimate| and how, how many were filled."""
    if "surprise_pct" not in raw.columns or clean.empty:
        return []
    est, act, kept = clean["eps_estimate"], clean["eps_actual"], clean["surprise_pct"]
    computed = ((act - est) / est.abs()).where(est.ne(0))
    both = kept.notna() & computed.notna()
    differ = both & (kept - computed).abs().gt(SURPRISE_TOLERANCE)
    flipped = both & computed.ne(0) & (np.sign(kept) != np.sign(computed))
    without = int(is_missing(raw["surprise_pct"]).sum())
    if not differ.any() and not without:
        return []
    text = (
        f"earnings_events: surprise_pct of {name} is kept as supplied in its {len(raw) - without} rows with a value; "
        f"{int(differ.sum())} of them differ by more than {SURPRISE_TOLERANCE} from (eps_actual - eps_estimate) / "
        f"|eps_estimate| ({int(flipped.sum())} with the opposite sign): EPS rounded to cents make that recomputed "
        f"value coarse for small estimates; {without} rows without a supplied value get the recomputed one where "
        "both EPS exist."
    )
    sizable = both & computed.abs().ge(0.01)
    ratio = (kept[sizable] / computed[sizable]).median() if sizable.any() else np.nan
    if 50 <= ratio <= 200:
        text += (
            f" The supplied values are about {ratio:.0f} times the recomputed ones: they look like percent, while "
            "surprise_pct is a fraction (0.05 = 5%); fix the file (they are used as given)."
        )
    return [text]


def _empty(columns: list[str], types: dict) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "float64")) for c in columns})


def _empty_earnings() -> pd.DataFrame:
    types = {"announce_date": "datetime64[ns]", "fiscal_quarter_end": "datetime64[ns]"}
    return _empty(EARNINGS_COLUMNS, {"ticker": object, "release_time": object, **types})


def _empty_fundamentals() -> pd.DataFrame:
    types = {"ticker": object, "period_type": object}
    return _empty(FUNDAMENTAL_COLUMNS, {**types, "period_end": "datetime64[ns]", "available_date": "datetime64[ns]"})


def _unmatched(dataset: str, source_file: str, frame: pd.DataFrame, tickers: list[str]) -> list[str]:
    note = unmatched_tickers_note(dataset, source_file, frame["ticker"], tickers)
    return [note] if note else []


def _link_note(path: Path) -> list[str]:
    return [f"{path.name} is a link to {path.resolve()}."] if path.is_symlink() else []


def load_generic_market(
    directory: str | Path, reporting_lag_days: int = 90, max_reject_share: float = 0.05, today=None
) -> MarketData:
    """Load a folder in the generic layout (module docstring) into validated canonical frames."""
    root = Path(directory)
    paths = {stem: find_file(root, stem) for stem in DATASETS}
    missing = [s for s in REQUIRED_FILES if paths[s] is None]
    if missing:
        raise FileNotFoundError(
            f"{root}: generic layout incomplete, missing {', '.join(looked_for(s) for s in missing)}"
        )
    notes: list[str] = []
    missing: dict[str, str] = {}
    raws: dict[str, pd.DataFrame] = {}
    name: dict[str, str] = {}
    for stem, path in paths.items():
        if path is None:
            if stem not in REQUIRED_FILES:
                missing[stem] = f"{stem}: no {stem} file (looked for {looked_for(stem)}); {SKIPPED[stem]}."
                notes.append(missing[stem])
            continue
        notes += _link_note(path)
        raw = _read(path, stem, notes)
        if len(raw) == 0:
            missing[stem] = f"{stem}: {path.name} has no data rows; {SKIPPED[stem]}."
            notes.append(missing[stem])
            continue
        raws[stem], name[stem] = raw, path.name
    prices, rej_prices = validate_prices(raws["prices"], name["prices"], max_reject_share, today=today)
    tickers = sorted(prices["ticker"].unique())
    read_counts = {"prices": len(raws["prices"])}
    rejected = {"prices": rej_prices}

    if "universe" in raws:
        universe, rej = validate_universe(raws["universe"], name["universe"], max_reject_share, today=today)
        notes += membership_notes(prices, universe, name["universe"])
        notes += _unmatched("universe", name["universe"], universe, tickers)
        rejected["universe"] = rej
    else:
        universe = empty_universe()
    read_counts["universe"] = len(raws.get("universe", ()))

    if "fundamentals" in raws:
        f_raw = raws["fundamentals"]
        absent = [c for c in FUNDAMENTAL_FIELDS if c not in f_raw.columns]
        if absent:
            notes.append(f"fundamentals: columns absent from {name['fundamentals']}, delivered as missing: {absent}.")
        read_counts["fundamentals"] = len(f_raw)
        f_raw, lines, filler = split_filler_rows(f_raw, name["fundamentals"])
        if len(filler):
            first = filler.iloc[0]
            notes.append(
                f"fundamentals: {len(filler)} rows of {name['fundamentals']} hold no figure apart from the keys "
                f"(empty filler rows, first at line {first['row_number']}: {first['value']}): not loaded, they are "
                "in rejected_rows; as a ticker's latest report they would blank its fundamentals."
            )
        lag_rows = (
            len(f_raw) if "available_date" not in f_raw.columns else int(is_missing(f_raw["available_date"]).sum())
        )
        if lag_rows:
            notes.append(
                f"fundamentals: {lag_rows} rows without available_date use period_end + {reporting_lag_days} days."
            )
        fund, rej = validate_fundamentals(
            f_raw,
            name["fundamentals"],
            max_reject_share,
            reporting_lag_days=reporting_lag_days,
            today=today,
            row_numbers=lines,
        )
        rejected["fundamentals"] = concat_rejected([filler, rej]).sort_values("row_number", kind="stable")
        notes += _unmatched("fundamentals", name["fundamentals"], fund, tickers)
    else:
        fund = _empty_fundamentals()
        read_counts["fundamentals"] = 0

    if "sectors" in raws:
        sectors, rejected["sectors"] = _sectors_for(raws["sectors"], name["sectors"], tickers, max_reject_share, notes)
    else:
        sectors = _with_unknown(pd.DataFrame(columns=SECTOR_COLUMNS), tickers)
    read_counts["sectors"] = len(sectors) + len(rejected.get("sectors", ()))

    index_name = "sp500"
    if "market_series" in raws:
        days = calendar_days(raws["prices"], name["prices"], today=today)
        market, rejected["market_series"] = _market(
            raws["market_series"], name["market_series"], prices, universe, max_reject_share, today, notes, days
        )
        outside = int((rejected["market_series"]["reason"] == NOT_A_TRADING_DAY).sum())
        if outside:
            notes.append(
                f"market_series: {outside} rows of {name['market_series']} fall on no trading day of the prices "
                "and are in rejected_rows (not counted as errors)."
            )
        read_counts["market_series"] = len(raws["market_series"])
    else:
        market, index_name = equal_weighted_market(prices, universe), EQUAL_WEIGHTED
        read_counts["market_series"] = len(market)

    if "earnings_events" in raws:
        earnings, rejected["earnings_events"] = validate_earnings(
            raws["earnings_events"], name["earnings_events"], max_reject_share, today=today
        )
        notes += _unmatched("earnings_events", name["earnings_events"], earnings, tickers)
        notes += surprise_notes(raws["earnings_events"], earnings, name["earnings_events"])
    else:
        earnings = _empty_earnings()
    read_counts["earnings_events"] = len(raws.get("earnings_events", ()))

    order = ["prices", "fundamentals", "sectors", "market_series", "earnings_events", "universe"]
    return MarketData(
        prices=prices,
        fundamentals=fund,
        sectors=sectors,
        market_series=market,
        earnings_events=earnings,
        rejected_rows=concat_rejected(rejected.get(ds, empty_rejected()) for ds in order),
        universe=universe,
        read_counts={ds: read_counts[ds] for ds in order},
        notes=notes,
        source="generic",
        index_name=index_name,
        missing=missing,
    )
