"""A generic-layout folder for the 13-year S&P 500 members price file of the shared data, without copying it.

``prices/sp500_members_2005_2017.csv.gz`` (the 611 stocks that were S&P 500 members at some time
in 2005-2017, 1,800,840 rows, split- and dividend-adjusted) is already in the generic price layout
(``date,ticker,open,high,low,close,volume``). ``prepare_sp500_members(shared_dir, out_dir)``
makes ``out_dir`` a folder ``load_generic_market`` reads (``AXION_DATA_DIR=out_dir``)::

    prices.csv.gz      link  -> <shared>/prices/sp500_members_2005_2017.csv.gz
    universe.csv       link  -> <shared>/universe/sp500_ticker_start_end.csv (membership intervals)
    sectors.csv        derived: GICS sector per price ticker from fundamentals/securities.csv, with
                       universe/constituents.csv as fallback (``real.resolve_sectors``); tickers in
                       neither are left out, so the loader gives them 'Unknown' and lists them
    market_series.csv  derived: S&P 500 close, VIX, FRED 3-month/2-year/10-year yields and the
                       high-yield spread on the price file's trading days, each day the latest
                       observation on or before it (``real_market.build_real_market_series``);
                       the breadth columns are left out for the loader to compute from the
                       prices among the members of each day, and the series the shared data lacks
                       (VIX3M, IG spread, put/call) are left out too (the loader notes them)

The shared files are only linked or read: nothing of them is copied (their licences forbid
redistribution, see ``../shared/data/README.md``); the derived files hold values computed from
them. ``out_dir`` may not lie inside the shared folder.

No fundamentals file: the shared annual fundamentals (``fundamentals/fundamentals.csv``) cover
fiscal 2012-2016 only, under half of this file's 2005-2017 span, and their per-share figures (EPS,
share counts) are as reported, not adjusted for the splits and dividends this file's prices are
adjusted for; the shared loader finds splits from the 5-year file's unadjusted price precision,
which this file does not have. Joined here they would make value, quality and growth scores wrong
before 2013 and inconsistent after, so those factors are missing (the loader notes it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from axion_pipeline.data.real import UNIVERSE_FILE, resolve_sectors
from axion_pipeline.data.real_market import build_real_market_series
from axion_pipeline.data.validation import concat_rejected

PRICE_FILE = Path("prices") / "sp500_members_2005_2017.csv.gz"
LINKS = {"prices.csv.gz": PRICE_FILE, "universe.csv": UNIVERSE_FILE}  # layout name -> shared file
DERIVED = ("sectors.csv", "market_series.csv")


@dataclass
class PreparedFolder:
    """What ``prepare_sp500_members`` wrote: the folder, its links and files, notes and the rows of
    the shared lookup files that were quarantined while deriving (file, row, column, reason)."""

    directory: Path
    links: dict[str, Path]
    derived: list[Path]
    notes: list[str] = field(default_factory=list)
    rejected_rows: pd.DataFrame | None = None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        if link.is_dir() and not link.is_symlink():
            raise IsADirectoryError(f"{link} is a directory; remove it or choose another output folder")
        link.unlink()
    link.symlink_to(target)


def prepare_sp500_members(
    shared_dir: str | Path, out_dir: str | Path, max_reject_share: float = 0.05, today=None
) -> PreparedFolder:
    """Write the generic-layout folder described in the module docstring into ``out_dir``
    (created when missing; earlier links and derived files of the same names are replaced)."""
    shared = Path(shared_dir).resolve()
    out = Path(out_dir).expanduser().resolve()
    for relative in LINKS.values():
        if not (shared / relative).is_file():
            raise FileNotFoundError(f"{shared / relative} not found: is {shared} the shared data folder?")
    if _inside(out, shared):
        raise ValueError(f"{out} lies inside the shared data folder {shared}: nothing may be written there")
    out.mkdir(parents=True, exist_ok=True)
    links = {}
    for name, relative in LINKS.items():
        _link(shared / relative, out / name)
        links[name] = shared / relative

    keys = pd.read_csv(shared / PRICE_FILE, usecols=["date", "ticker"], dtype=str)
    dates = pd.to_datetime(keys["date"], format="ISO8601", errors="coerce").dropna().dt.normalize()
    days = pd.DatetimeIndex(sorted(dates.unique()), name="date")
    tickers = sorted(keys["ticker"].dropna().str.strip().unique())

    sectors, rej_sectors, notes = resolve_sectors(shared, tickers, max_reject_share)
    known = sectors[sectors["sector"] != "Unknown"]
    known.to_csv(out / "sectors.csv", index=False)
    notes.append(f"sectors.csv: {len(known)} of the {len(tickers)} price tickers have a GICS sector.")

    market, rej_market, market_notes = build_real_market_series(shared, days, None, max_reject_share, today)
    market = market.loc[:, market.notna().any()]  # series the shared data lacks stay absent
    market.to_csv(out / "market_series.csv", index=False, date_format="%Y-%m-%d")
    notes += market_notes
    notes.append(
        f"market_series.csv: {len(market):,} trading days {days[0].date()} .. {days[-1].date()}, "
        f"columns {list(market.columns[1:])}."
    )
    notes.append(
        "no fundamentals.csv: the shared annual fundamentals cover fiscal 2012-2016 only and are not "
        "split-adjusted like these prices; value, quality and growth factors are missing."
    )
    return PreparedFolder(
        directory=out,
        links=links,
        derived=[out / name for name in DERIVED],
        notes=notes,
        rejected_rows=concat_rejected([rej_sectors, rej_market]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m axion_pipeline.data.sp500_members",
        description="Prepare a generic-layout folder (links and derived files, no copies) for the shared "
        "13-year S&P 500 members price file; then run with AXION_DATA_DIR=<out_dir>.",
    )
    parser.add_argument("shared_dir", help="the shared data folder (../shared/data)")
    parser.add_argument("out_dir", help="the folder to write (outside the shared folder)")
    args = parser.parse_args(argv)
    prepared = prepare_sp500_members(args.shared_dir, args.out_dir)
    print(f"prepared {prepared.directory}")
    for name, target in prepared.links.items():
        print(f"  {name} -> {target}")
    for path in prepared.derived:
        print(f"  {path.name} (derived)")
    for note in prepared.notes:
        print(f"  - {note}")
    rejected = prepared.rejected_rows
    if rejected is not None and len(rejected):
        counts = rejected.groupby(["source_file", "reason"]).size()
        for (source, reason), n in counts.items():
            print(f"  rejected while deriving: {source}: {reason} ({n})")
    print(f"load it with AXION_DATA_DIR={prepared.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
