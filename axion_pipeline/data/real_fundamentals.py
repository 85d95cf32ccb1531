"""The shared annual 10-K file mapped onto the canonical fundamentals, point in time and split-adjusted.

``fundamentals/fundamentals.csv`` holds 78 columns of annual figures per (ticker, ``Period
Ending``). Mapping onto ``FUNDAMENTAL_FIELDS`` (flows are annual, i.e. trailing twelve months):

=====================  ==========================================================================
revenue                Total Revenue
gross_profit           Gross Profit
operating_income       Operating Income
ebitda                 Operating Income + Depreciation (the cash-flow D&A line)
net_income             Net Income
interest_expense       Interest Expense
rnd_expense            Research and Development (0 where the firm reports none)
operating_cash_flow    Net Cash Flow-Operating
capital_expenditure    -Capital Expenditures (reported as a negative cash flow)
free_cash_flow         operating_cash_flow - capital_expenditure
dividends_paid         missing: the file has no dividend line
total_assets           Total Assets
total_equity           Total Equity
total_debt             Long-Term Debt + Short-Term Debt / Current Portion of Long-Term Debt
cash                   Cash and Cash Equivalents
shares_outstanding     Estimated Shares Outstanding (= Net Income / EPS; missing where they disagree in sign)
eps                    Earnings Per Share
forward_eps            missing: no consensus estimates in the file
=====================  ==========================================================================

Point in time: the file has no filing date, so ``available_date = period_end + reporting_lag_days``
(default 90, the outer 10-K deadline). A shorter lag would let factors see a report before it was
public.

Splits: EPS and share counts are as reported in each year's 10-K, while the price file is
split-adjusted to February 2018, so a pre-split year shows an EPS several times too large for its
price (AAPL FY2013: 40.03, 5.72 after its 7:1 split). Two detectors:

1. Splits found in the price precision (``real_prices.detect_price_adjustments``), with ex-date
   and exact ratio. A row is on the pre-split basis when its 10-K was filed before the ex-date:
   certainly when the ex-date is more than 90 days after the period end; when it is within 90
   days, the row's implied share count decides (closer to the next year's count after
   multiplying by the ratio, or to the previous year's without), else a 60-day filing is assumed.
2. A share-count jump between consecutive fiscal years by a standard ratio (2, 3, 4, 5, 7, 8 or
   10, within 10%) that prices cannot explain (splits before the price file starts, ratios off
   the cent grid such as GOOGL's 2014 class-C dividend), while net income stays within a factor
   2 and revenue within 1.5, both EPS are at least 0.25 (cent rounding) and, where prices exist
   near both period ends, the P/E implied by the adjusted price jumps by that ratio too (a merger
   issuing shares moves the share count but not the P/E). It is applied only when the following
   year keeps the new share count (within 25%); a one-year jump is more often a data error (MHK
   FY2015 EPS 2.59) and is only reported as a "possible split". 3:2 is left to detector 1: a
   1.5x share count is as likely a merger.

Rows on the old basis get ``eps / ratio`` and ``shares_outstanding * ratio``; every adjustment is
listed in the returned split table and in ``MarketData.notes``. Limits: splits after the last
price date (the file's basis) need no adjustment and are not looked for; a split whose price
signature is hidden and whose share jump coincides with a large change in net income, revenue or
buybacks is missed; reverse splits are not handled. Only fields per share or per share count are
touched; totals (revenue, net income, ...) are unaffected by splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import FUNDAMENTAL_COLUMNS
from axion_pipeline.data.real_prices import ratio_label
from axion_pipeline.data.validation import (
    Quarantine,
    RejectionThresholdExceeded,
    concat_rejected,
    parse_numbers,
    read_table,
    validate_fundamentals,
)

FUNDAMENTALS_FILE = Path("fundamentals") / "fundamentals.csv"
DIRECT = {
    "revenue": "Total Revenue",
    "gross_profit": "Gross Profit",
    "operating_income": "Operating Income",
    "net_income": "Net Income",
    "interest_expense": "Interest Expense",
    "rnd_expense": "Research and Development",
    "operating_cash_flow": "Net Cash Flow-Operating",
    "total_assets": "Total Assets",
    "total_equity": "Total Equity",
    "cash": "Cash and Cash Equivalents",
    "eps": "Earnings Per Share",
}
DEPRECIATION, CAPEX, SHARES = "Depreciation", "Capital Expenditures", "Estimated Shares Outstanding"
DEBT = ["Long-Term Debt", "Short-Term Debt / Current Portion of Long-Term Debt"]
KEYS = {"ticker": "Ticker Symbol", "period_end": "Period Ending"}
NUMERIC_SOURCES = [*DIRECT.values(), DEPRECIATION, CAPEX, SHARES, *DEBT]

FILING_WINDOW = pd.Timedelta(days=90)
ASSUMED_FILING = pd.Timedelta(days=60)
STANDARD_RATIOS = np.array([2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 10.0])
SPLIT_COLUMNS = ["ticker", "ratio", "ex_date", "evidence", "adjusted_period_ends"]


def read_real_fundamentals(
    data_dir: str | Path, reporting_lag_days: int = 90, max_reject_share: float = 0.05, today=None
) -> tuple[pd.DataFrame, pd.DataFrame, int, list[str]]:
    """Return (canonical fundamentals as reported, rejected rows, rows read, notes)."""
    name = FUNDAMENTALS_FILE.as_posix()
    raw = read_table(
        Path(data_dir) / FUNDAMENTALS_FILE,
        [*KEYS.values(), *NUMERIC_SOURCES],
        display_name=name,
    )
    q = Quarantine(raw, "fundamentals", name)
    num = {}
    for col in NUMERIC_SOURCES:
        num[col], _, bad = parse_numbers(raw[col])
        q.reject(bad, col, "non-numeric value")
    shares = num[SHARES].where(num[SHARES] > 0)
    capex = -num[CAPEX]
    canon = pd.DataFrame(
        {
            "ticker": raw[KEYS["ticker"]],
            "period_end": raw[KEYS["period_end"]],
            "period_type": "FY",
            **{field: num[col] for field, col in DIRECT.items()},
            "ebitda": num["Operating Income"] + num[DEPRECIATION],
            "capital_expenditure": capex,
            "free_cash_flow": num["Net Cash Flow-Operating"] - capex,
            "total_debt": num[DEBT[0]] + num[DEBT[1]],
            "shares_outstanding": shares,
        }
    )
    keep = ~q.bad
    clean, rejected = validate_fundamentals(
        canon.loc[keep].reset_index(drop=True),
        name,
        1.0,
        reporting_lag_days=reporting_lag_days,
        today=today,
        source_columns={**KEYS, **DIRECT, "shares_outstanding": SHARES},
        row_numbers=q.lines[keep],
    )
    rejected = concat_rejected([q.rejected(), rejected]).sort_values("row_number", kind="stable")
    if len(raw) and len(rejected) / len(raw) > max_reject_share:
        raise RejectionThresholdExceeded(
            f"{len(rejected)} of {len(raw)} rows rejected (> {max_reject_share:.1%}); top reasons: "
            f"{rejected['reason'].value_counts().head(3).to_dict()}",
            file=name,
        )
    n_sign = int((num[SHARES].notna() & ~(num[SHARES] > 0)).sum())
    notes = [
        f"fundamentals: no filing date in {name}; available_date = period_end + {reporting_lag_days} days.",
        "fundamentals: dividends_paid and forward_eps are missing (not in the file); ebitda = Operating "
        "Income + Depreciation; total_debt = long-term + short-term debt; capital_expenditure = -Capital Expenditures.",
        f"fundamentals: eps missing in {int(clean['eps'].isna().sum())} of {len(clean)} rows; implied "
        f"shares_outstanding missing in {int(clean['shares_outstanding'].isna().sum())} rows "
        f"({n_sign} where Net Income and EPS disagree in sign).",
    ]
    return clean[FUNDAMENTAL_COLUMNS], rejected.reset_index(drop=True), len(raw), notes


def _price_at(prices: pd.DataFrame, keys: pd.DataFrame, tolerance_days: int = 45) -> pd.Series:
    """Adjusted close nearest to each (ticker, period_end), within ``tolerance_days``.

    Only the price *basis* matters for the P/E comparison of the share-jump check, so a close a
    few weeks after the period end (the file starts in February 2013) serves as well as one before.
    """
    left = keys[["ticker", "period_end"]].reset_index().sort_values("period_end")
    right = prices[["ticker", "date", "close"]].sort_values("date")
    merged = pd.merge_asof(
        left,
        right,
        left_on="period_end",
        right_on="date",
        by="ticker",
        direction="nearest",
        tolerance=pd.Timedelta(days=tolerance_days),
    )
    return merged.set_index("index")["close"].reindex(keys.index)


def _nearer(observed: float, ratio: float) -> bool:
    """True when ``observed`` is closer (in log terms) to ``ratio`` than to 1."""
    return bool(np.isfinite(observed) and observed > 0 and abs(np.log(observed / ratio)) < abs(np.log(observed)))


def _on_old_basis(rows: pd.DataFrame, pos: int, ex_date: pd.Timestamp, ratio: float) -> bool:
    """Whether row ``pos`` (sorted by period_end) reports EPS from before the split of ``ex_date``."""
    pe = rows["period_end"].iloc[pos]
    if pe >= ex_date:
        return False
    if ex_date > pe + FILING_WINDOW:
        return True
    shares = rows["shares_outstanding"].to_numpy()
    if np.isfinite(shares[pos]):
        later = [s for s in shares[pos + 1 :] if np.isfinite(s)]
        if later:
            return _nearer(later[0] / shares[pos], ratio)
        earlier = [s for s in shares[:pos] if np.isfinite(s)]
        if earlier:
            return not _nearer(shares[pos] / earlier[-1], ratio)
    return ex_date > pe + ASSUMED_FILING


def _price_split_factors(fund: pd.DataFrame, events: pd.DataFrame) -> tuple[pd.Series, list[dict]]:
    factor = pd.Series(1.0, index=fund.index)
    found = []
    for ev in events.itertuples(index=False):
        rows = fund[fund["ticker"] == ev.ticker].sort_values("period_end")
        old = [idx for pos, idx in enumerate(rows.index) if _on_old_basis(rows, pos, ev.ex_date, ev.ratio)]
        if old:
            factor.loc[old] *= ev.ratio
            found.append(
                {
                    "ticker": ev.ticker,
                    "ratio": ev.ratio,
                    "ex_date": ev.ex_date,
                    "evidence": "price precision",
                    "adjusted_period_ends": sorted(fund.loc[old, "period_end"]),
                }
            )
    return factor, found


def _share_jump_factors(fund: pd.DataFrame, prices: pd.DataFrame) -> tuple[pd.Series, list[dict], list[str]]:
    """Splits seen as a share-count jump; applied only when the next year confirms the new level."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _share_jumps(fund.sort_values(["ticker", "period_end"]).assign(price=_price_at(prices, fund)), fund)


def _share_jumps(f: pd.DataFrame, fund: pd.DataFrame) -> tuple[pd.Series, list[dict], list[str]]:
    g = f.groupby("ticker", sort=False)
    prev = g[["shares_outstanding", "net_income", "revenue", "eps", "price", "period_end"]].shift(1)
    nxt = g["shares_outstanding"].shift(-1)
    observed = f["shares_outstanding"] / prev["shares_outstanding"]
    logs = np.log(observed.to_numpy()[:, None] / STANDARD_RATIOS[None, :])
    ratio = pd.Series(STANDARD_RATIOS[np.nanargmin(np.nan_to_num(np.abs(logs), nan=np.inf), axis=1)], index=f.index)
    ni, rev = f["net_income"] / prev["net_income"], f["revenue"] / prev["revenue"]
    pe_jump = (f["price"] / f["eps"]) / (prev["price"] / prev["eps"])
    pe_ok = pe_jump.isna() | (np.abs(np.log(pe_jump / ratio)) < np.abs(np.log(pe_jump)))
    candidate = (
        (np.abs(np.log(observed / ratio)) <= np.log(1.1))
        & (prev["net_income"] > 0)
        & ni.between(0.5, 2)
        & (np.minimum(prev["eps"], f["eps"]) >= 0.25)
        & rev.between(2 / 3, 1.5)
        & pe_ok
    )
    confirmed = (nxt / f["shares_outstanding"]).between(0.8, 1.25)
    factor = pd.Series(1.0, index=fund.index)
    found, possible = [], []
    for i in f.index[candidate]:
        ticker, r, start, end = f.at[i, "ticker"], float(ratio[i]), prev.at[i, "period_end"], f.at[i, "period_end"]
        span = f"FY {start:%Y-%m-%d} and FY {end:%Y-%m-%d}"
        if not confirmed[i]:
            possible.append(
                f"possible split {ticker} {ratio_label(r)} (share count x{observed[i]:.2f} between "
                f"{span}) not applied: no later year confirms the new share count."
            )
            continue
        old = fund.index[(fund["ticker"] == ticker) & (fund["period_end"] <= start)]
        factor.loc[old] *= r
        found.append(
            {
                "ticker": ticker,
                "ratio": r,
                "ex_date": pd.NaT,
                "evidence": f"share count x{observed[i]:.2f} between {span}, kept the next year",
                "adjusted_period_ends": sorted(fund.loc[old, "period_end"]),
            }
        )
    return factor, found, possible


def adjust_for_splits(
    fund: pd.DataFrame, events: pd.DataFrame, prices: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Put as-reported EPS and share counts on the price file's split basis.

    ``events`` come from ``detect_price_adjustments``; ``prices`` (adjusted closes) serve the P/E
    check of the share-jump detector. Returns (adjusted fundamentals, one row per split applied).
    """
    out = fund.copy()
    f_price, found = _price_split_factors(out, events)
    out["eps"] = out["eps"] / f_price
    out["shares_outstanding"] = out["shares_outstanding"] * f_price
    f_jump, found_jump, possible = _share_jump_factors(out, prices)
    out["eps"] = out["eps"] / f_jump
    out["shares_outstanding"] = out["shares_outstanding"] * f_jump
    splits = pd.DataFrame(found + found_jump, columns=SPLIT_COLUMNS)
    splits.attrs["possible"] = possible
    return out, splits


def split_notes(splits: pd.DataFrame) -> list[str]:
    """One note per applied split, then the share jumps left unadjusted for lack of confirmation."""
    notes = []
    for s in splits.itertuples(index=False):
        when = f"ex-date {s.ex_date:%Y-%m-%d}, " if pd.notna(s.ex_date) else ""
        periods = ", ".join(f"{d:%Y-%m-%d}" for d in s.adjusted_period_ends)
        notes.append(
            f"split {s.ticker} {ratio_label(s.ratio)} ({when}evidence: {s.evidence}): eps divided "
            f"and shares_outstanding multiplied by {s.ratio:g} for FY rows ending {periods}."
        )
    return notes + list(splits.attrs.get("possible", []))
