"""The shared real-data loader: synthetic folders in its layout (fast, always run) and the real files."""

from __future__ import annotations

import gzip
import time

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.breadth import breadth_from_prices
from axion_pipeline.data.contracts import EARNINGS_COLUMNS, FUNDAMENTAL_COLUMNS, MARKET_SERIES_COLUMNS, PRICE_COLUMNS
from axion_pipeline.data.quality import reconciliation
from axion_pipeline.data.real import load_gspc, load_real_market
from axion_pipeline.data.real_earnings import parse_fiscal_month, read_real_earnings
from axion_pipeline.data.real_fundamentals import NUMERIC_SOURCES, adjust_for_splits, read_real_fundamentals
from axion_pipeline.data.real_market import MARKET_FILES, read_series
from axion_pipeline.data.real_prices import detect_price_adjustments, ratio_label
from axion_pipeline.data.universe import is_member, members_per_date

TODAY = pd.Timestamp("2024-06-28")
DAYS = pd.bdate_range("2023-01-02", periods=160)


# ------------------------------------------------------------------------ synthetic builders
def traded_ohlc(rng, path: np.ndarray, subpenny: float = 0.2) -> np.ndarray:
    """OHLC around ``path`` in whole cents, except a ``subpenny`` share of days (sub-cent trades)."""
    close = path
    open_ = close * (1 + 0.004 * rng.standard_normal(len(path)))
    high = np.maximum(open_, close) * (1 + 0.004 * np.abs(rng.standard_normal(len(path))))
    low = np.minimum(open_, close) * (1 - 0.004 * np.abs(rng.standard_normal(len(path))))
    ohlc = np.column_stack([open_, high, low, close])
    sub = rng.random(len(path)) < subpenny
    ohlc = np.where(sub[:, None], np.round(ohlc, 4), np.round(ohlc, 2))
    ohlc[:, 1] = ohlc.max(axis=1)
    ohlc[:, 2] = ohlc.min(axis=1)
    return ohlc


def price_frame(ticker: str, ohlc: np.ndarray, days=DAYS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": days,
            "ticker": ticker,
            "open": ohlc[:, 0],
            "high": ohlc[:, 1],
            "low": ohlc[:, 2],
            "close": ohlc[:, 3],
            "volume": 1e6,
        }
    )


def split_ticker(rng, ticker: str, ratio: float, ex: int, level: float = 60.0, days=DAYS) -> pd.DataFrame:
    """Adjusted history of a ticker that split ``ratio``:1 on day ``ex`` (vendor-style adjustment)."""
    path = level * np.exp(np.cumsum(0.01 * rng.standard_normal(len(days))))
    scale = np.where(np.arange(len(days)) < ex, ratio, 1.0)[:, None]
    traded = traded_ohlc(rng, path * scale[:, 0])
    return price_frame(ticker, np.round(traded / scale, 4), days)


def plain_ticker(rng, ticker: str, level: float = 40.0, days=DAYS) -> pd.DataFrame:
    return price_frame(ticker, traded_ohlc(rng, level * np.exp(np.cumsum(0.01 * rng.standard_normal(len(days))))), days)


def fundamentals_row(ticker: str, period_end: str, net_income: float, eps: float, revenue: float = 1e9) -> dict:
    row = dict.fromkeys(NUMERIC_SOURCES, 1e6)
    row.update(
        {
            "Ticker Symbol": ticker,
            "Period Ending": period_end,
            "Net Income": net_income,
            "Earnings Per Share": eps,
            "Estimated Shares Outstanding": net_income / eps,
            "Total Revenue": revenue,
            "Capital Expenditures": -2e5,
        }
    )
    return row


def make_shared_layout(root, rng=None):
    """A small folder in the shared layout, with a 2:1 split (SPL) and a few damaged rows."""
    rng = rng or np.random.default_rng(3)
    prices = pd.concat([split_ticker(rng, "SPL", 2.0, 80), plain_ticker(rng, "AAA"), plain_ticker(rng, "BBB")])
    raw = prices.rename(columns={"ticker": "Name"})[["date", "open", "high", "low", "close", "volume", "Name"]]
    raw["date"] = raw["date"].dt.strftime("%Y-%m-%d")
    raw = raw.astype(object)
    raw.iloc[5, 1] = ""  # missing open, line 7
    raw = pd.concat([raw, raw.iloc[[200]]], ignore_index=True)  # duplicate of line 202, at the end
    for sub in ("prices", "fundamentals", "universe", "market", "earnings"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with gzip.open(root / "prices" / "all_stocks_5yr.csv.gz", "wt") as fh:
        raw.to_csv(fh, index=False)
    fund = pd.DataFrame(
        [
            fundamentals_row("SPL", "2022-12-31", 400.0, 4.0),
            fundamentals_row("SPL", "2023-06-30", 440.0, 2.2),
            fundamentals_row("AAA", "2022-12-31", 100.0, 1.0),
        ]
    )
    fund.insert(0, "", range(len(fund)))
    fund.to_csv(root / "fundamentals" / "fundamentals.csv", index=False)
    pd.DataFrame(
        {"Ticker symbol": ["AAA", "ZZZ"], "Security": ["A", "Z"], "GICS Sector": ["Energy", "Utilities"]}
    ).to_csv(root / "fundamentals" / "securities.csv", index=False)
    pd.DataFrame({"Symbol": ["BBB", "AAA"], "GICS Sector": ["Financials", "Materials"]}).to_csv(
        root / "universe" / "constituents.csv", index=False
    )
    cal = pd.bdate_range("2022-12-01", "2023-09-29")
    gspc = pd.DataFrame({"Date": cal.strftime("%Y-%m-%d"), "Close": np.linspace(3800, 4200, len(cal))})
    with gzip.open(root / "market" / "GSPC.csv.gz", "wt") as fh:
        gspc.to_csv(fh, index=False)
    pd.DataFrame({"DATE": cal.strftime("%Y-%m-%d"), "OPEN": 20.0, "CLOSE": np.linspace(15, 25, len(cal))}).to_csv(
        root / "market" / "vix-daily.csv", index=False
    )
    for spec in MARKET_FILES[2:]:
        values = pd.Series(np.round(np.linspace(1, 5, len(cal)), 3)).astype(str)
        values[cal == DAYS[10]] = "." if spec.column == "yield_10y" else ""  # a holiday cell
        pd.DataFrame(
            {
                spec.date: cal.strftime("%Y-%m-%d"),
                spec.value.lower() if spec.column == "hy_spread" else spec.value: values,
            }
        ).to_csv(root / spec.path, index=False)
    earnings = pd.DataFrame(
        {
            "symbol": ["SPL", "SPL", "AAA", "AAA", "BBB"],
            "date": ["1/24/23", "4/25/23", "2/2/23", "13/45/23", "5/1/23"],
            "qtr": ["22-Dec", "NULL", "Q4", "23-Mar", "23-Mar"],
            "eps_est": ["1.0", "0.5", "0", "1", "0.8"],
            "eps": ["1.1", "0.45", "0.1", "1", "0.9"],
            "release_time": ["post", "pre", "pre", "post", "post"],
            "surp": ["99", "99", "99", "99", "99"],
        }
    )
    with gzip.open(root / "earnings" / "earnings_latest.csv.gz", "wt") as fh:
        earnings.to_csv(fh, index=False)
    return root


# ------------------------------------------------------------------------------ split logic
@pytest.mark.parametrize(("ratio", "label"), [(2.0, "2:1"), (7.0, "7:1"), (1.5, "3:2"), (4.2, "21:5")])
def test_price_precision_reveals_split_ratio_and_date(ratio, label):
    rng = np.random.default_rng(int(ratio * 10))
    prices = pd.concat([split_ticker(rng, "SPL", ratio, 90), plain_ticker(rng, "AAA")])
    events = detect_price_adjustments(prices)
    assert events["ticker"].tolist() == ["SPL"]
    ev = events.iloc[0]
    assert ratio_label(ev["ratio"]) == label
    # the split lies between the last day seen on the old basis and the first seen on the new one
    assert ev["last_pre_date"] < DAYS[90] <= ev["ex_date"]
    assert ev["ex_date"] - ev["last_pre_date"] <= pd.Timedelta(days=10)


def test_no_split_found_in_plain_or_half_cent_histories():
    rng = np.random.default_rng(11)
    half_cents = plain_ticker(rng, "HLF")
    half = rng.random(len(DAYS)) < 0.5  # a spell of heavy half-cent trading looks like factor 2, never a split
    half[:60] = half[100:] = False
    half_cents.loc[half, ["open", "high", "low", "close"]] += 0.005
    prices = pd.concat([plain_ticker(rng, "AAA"), plain_ticker(rng, "BBB", level=900.0), half_cents])
    assert detect_price_adjustments(prices).empty


def test_adjust_for_splits_uses_filing_window_and_share_counts():
    events = pd.DataFrame(
        {
            "ticker": ["X", "Y"],
            "ex_date": pd.to_datetime(["2023-03-15", "2023-02-10"]),
            "last_pre_date": pd.to_datetime(["2023-03-14", "2023-02-09"]),
            "ratio": [2.0, 3.0],
            "days_before": [100, 100],
        }
    )
    fund = pd.DataFrame(
        {
            "ticker": ["X", "X", "Y", "Y"],
            "period_end": pd.to_datetime(["2021-12-31", "2022-12-31"] * 2),
            "eps": [2.0, 2.2, 3.0, 1.1],
            "shares_outstanding": [100.0, 100.0, 10.0, 30.0],
            "net_income": 1.0,
            "revenue": 1.0,
        }
    )
    prices = pd.DataFrame(columns=["ticker", "date", "close"]).astype({"date": "datetime64[ns]", "close": float})
    out, splits = adjust_for_splits(fund, events, prices)
    # X: ex-date 74 days after FY2022 end, both years report 100 shares -> FY2022 was filed pre-split too.
    assert out["eps"].tolist()[:2] == [1.0, 1.1] and out["shares_outstanding"].tolist()[:2] == [200.0, 200.0]
    # Y: ex-date 41 days after FY2022 end and FY2022 already shows 3x the shares -> restated, left alone.
    assert out["eps"].tolist()[2:] == [1.0, 1.1] and out["shares_outstanding"].tolist()[2:] == [30.0, 30.0]
    assert splits["ticker"].tolist() == ["X", "Y"] and splits["evidence"].eq("price precision").all()


def test_share_jump_needs_a_confirming_year():
    def fund(tickers_eps):
        rows = [
            {
                "ticker": t,
                "period_end": pd.Timestamp(f"{2013 + i}-12-31"),
                "eps": e,
                "net_income": 100.0,
                "revenue": 1000.0,
                "shares_outstanding": 100.0 / e,
            }
            for t, eps in tickers_eps
            for i, e in enumerate(eps)
        ]
        return pd.DataFrame(rows)

    empty = pd.DataFrame(columns=["ticker", "date", "close"]).astype({"date": "datetime64[ns]", "close": float})
    no_events = pd.DataFrame(columns=["ticker", "ex_date", "ratio"])
    out, splits = adjust_for_splits(fund([("K", [4.0, 1.0, 1.05]), ("U", [4.0, 1.0])]), no_events, empty)
    assert out.loc[out["ticker"] == "K", "eps"].tolist() == [1.0, 1.0, 1.05]  # 4:1 kept the next year
    assert out.loc[out["ticker"] == "U", "eps"].tolist() == [4.0, 1.0]  # unconfirmed: left as reported
    assert splits["ticker"].tolist() == ["K"]
    assert any("possible split U 4:1" in n for n in splits.attrs["possible"])


def test_fiscal_month_text():
    parsed = parse_fiscal_month(pd.Series(["12-Oct", "19-Feb", "NULL", "Q2", "", "2019-02"]))
    assert parsed.tolist()[:2] == [pd.Timestamp("2012-10-31"), pd.Timestamp("2019-02-28")]
    assert parsed.iloc[2:].isna().all()


# ----------------------------------------------------------------- synthetic shared layout
@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    root = make_shared_layout(tmp_path_factory.mktemp("shared"))
    return root, load_real_market(root, max_reject_share=0.25, today=TODAY)


def test_mini_layout_reconciles_and_quarantines(mini):
    _, md = mini
    assert md.source == "real"
    table = reconciliation(md)
    assert table["reconciles"].all(), table
    assert md.read_counts["prices"] == 3 * 160 + 1
    rej = md.rejected_rows.set_index("reason")
    assert rej.loc["missing price", "row_number"] == 7 and rej.loc["missing price", "column"] == "open"
    assert rej.loc["duplicate (date, ticker)", "row_number"] == 3 * 160 + 2
    assert rej.loc["unparseable announce date", "source_file"] == "earnings/earnings_latest.csv.gz"
    assert list(md.prices.columns) == PRICE_COLUMNS and list(md.fundamentals.columns) == FUNDAMENTAL_COLUMNS


def test_mini_layout_split_adjusts_eps_and_notes_it(mini):
    _, md = mini
    spl = md.fundamentals[md.fundamentals["ticker"] == "SPL"].set_index("period_end")
    assert spl.loc["2022-12-31", "eps"] == pytest.approx(2.0) and spl.loc["2022-12-31", "shares_outstanding"] == 200
    assert spl.loc["2023-06-30", "eps"] == pytest.approx(2.2)
    assert any(n.startswith("split SPL 2:1") for n in md.notes)
    assert (md.fundamentals["available_date"] == md.fundamentals["period_end"] + pd.Timedelta(days=90)).all()


def test_mini_layout_without_a_membership_file_has_everyone(mini):
    _, md = mini
    assert md.universe.empty and md.read_counts["universe"] == 0
    assert (
        "universe: no universe/sp500_ticker_start_end.csv: every priced ticker is a member on every date." in md.notes
    )


def test_mini_layout_reads_the_membership_file(tmp_path):
    root = make_shared_layout(tmp_path)
    pd.DataFrame(
        {"ticker": ["AAA", "BBB", "BBB"], "start_date": ["2000-01-03", "2023-03-01", "2023-02-01"], "end_date": ""}
    ).to_csv(root / "universe" / "sp500_ticker_start_end.csv", index=False)
    md = load_real_market(root, max_reject_share=0.4, today=TODAY)
    assert md.universe["ticker"].tolist() == ["AAA", "BBB"] and md.read_counts["universe"] == 3
    rej = md.rejected_rows[md.rejected_rows["dataset"] == "universe"]
    assert rej[["source_file", "row_number", "reason"]].values.tolist() == [
        ["universe/sp500_ticker_start_end.csv", 3, "overlapping interval"]
    ]
    assert reconciliation(md)["reconciles"].all()
    assert any("1 priced tickers are in no interval and never a member: SPL." in n for n in md.notes)
    breadth = breadth_from_prices(md.prices, membership=md.universe)
    pd.testing.assert_frame_equal(md.market_series[["date", "advance_decline", "pct_above_200sma"]], breadth)
    assert not breadth.equals(breadth_from_prices(md.prices))


def test_mini_layout_sectors_fallback_and_unknown(mini):
    _, md = mini
    assert dict(md.sectors.values.tolist()) == {"AAA": "Energy", "BBB": "Financials", "SPL": "Unknown"}
    assert any("get sector 'Unknown': SPL" in n for n in md.notes)


def test_mini_layout_market_series(mini):
    _, md = mini
    ms = md.market_series
    assert list(ms.columns) == MARKET_SERIES_COLUMNS and len(ms) == len(DAYS)
    assert ms[["vix_3m", "ig_spread", "put_call_ratio"]].isna().all().all()
    holiday = ms.set_index("date").loc[DAYS[10]]
    before = ms.set_index("date").loc[DAYS[9]]
    for col in ("yield_3m", "yield_2y", "yield_10y", "hy_spread"):  # empty / '.' cell: previous value carried
        assert holiday[col] == before[col]
    pd.testing.assert_frame_equal(
        ms[["date", "advance_decline", "pct_above_200sma"]].reset_index(drop=True), breadth_from_prices(md.prices)
    )


def test_mini_layout_damaged_earnings(mini):
    root, _ = mini
    earnings, rejected, n, notes = read_real_earnings(root, max_reject_share=0.25, today=TODAY)
    assert n == 5 and len(earnings) == 4 and rejected["row_number"].tolist() == [5]
    e = earnings.set_index(["ticker", "announce_date"])
    assert e.loc[("SPL", pd.Timestamp("2023-01-24")), "fiscal_quarter_end"] == pd.Timestamp("2022-12-31")
    assert e.loc[("SPL", pd.Timestamp("2023-01-24")), "surprise_pct"] == pytest.approx(0.1)
    assert pd.isna(e.loc[("SPL", pd.Timestamp("2023-04-25")), "fiscal_quarter_end"])  # NULL
    assert pd.isna(e.loc[("AAA", pd.Timestamp("2023-02-02")), "fiscal_quarter_end"])  # bare 'Q4'
    assert pd.isna(e.loc[("AAA", pd.Timestamp("2023-02-02")), "surprise_pct"])  # zero estimate
    assert list(earnings.columns) == EARNINGS_COLUMNS


# ---------------------------------------------------------------------------- real files
@pytest.fixture(scope="session")
def real_market(shared_data_dir):
    started = time.perf_counter()
    md = load_real_market(shared_data_dir)
    md.notes.append(f"test fixture load: {time.perf_counter() - started:.1f} s")
    return md


@pytest.mark.realdata
def test_real_counts_reconcile(real_market):
    md = real_market
    assert md.source == "real"
    assert md.read_counts == {
        "prices": 619_040,
        "fundamentals": 1_781,
        "sectors": 505,
        "market_series": 1_259,
        "earnings_events": 72_970,
        "universe": 1_230,
    }
    assert reconciliation(md)["reconciles"].all()
    rej = md.rejected_rows
    prices_rej = rej[rej["dataset"] == "prices"]
    assert prices_rej["reason"].value_counts()["missing price"] == 11  # the 27 NaN prices sit on 11 rows
    assert (
        prices_rej["reason"]
        .isin(["missing price", "high < low", "open outside [low, high]", "close outside [low, high]"])
        .all()
    )
    assert md.prices["ticker"].nunique() == 505 and not md.prices.duplicated(["date", "ticker"]).any()


@pytest.mark.realdata
def test_real_membership(real_market):
    """The 505 February-2018 members enter a cross-section only once they joined the index."""
    md = real_market
    u = md.universe
    assert len(u) == 1_230 and u["end_date"].isna().sum() == 503
    assert not md.rejected_rows["dataset"].eq("universe").any()
    per_date = members_per_date(md.prices, u)
    assert per_date.max() <= 505 and per_date.min() < 505  # later joiners are out of the early years
    # AAL (American Airlines) joined on 2015-03-23: out of the 2015-03-20 cross-section, in from 2015-03-23
    aal = md.prices[md.prices["ticker"] == "AAL"]
    member = is_member(aal["date"], aal["ticker"], u)
    assert not member[aal["date"].to_numpy() < np.datetime64("2015-03-23")].any()
    assert member[aal["date"].to_numpy() >= np.datetime64("2015-03-23")].all()
    breadth = breadth_from_prices(md.prices, membership=u)
    pd.testing.assert_frame_equal(md.market_series[["date", "advance_decline", "pct_above_200sma"]], breadth)


@pytest.mark.realdata
def test_real_fundamentals_mapping_and_lag(real_market):
    f = real_market.fundamentals
    assert len(f) == 1_781 and f["ticker"].nunique() == 448
    assert (f["period_type"] == "FY").all()
    assert (f["available_date"] - f["period_end"] == pd.Timedelta(days=90)).all()
    assert f["forward_eps"].isna().all() and f["dividends_paid"].isna().all()
    aapl = f[f["ticker"] == "AAPL"].set_index("period_end")
    assert aapl.loc["2013-09-28", "eps"] == pytest.approx(40.03 / 7, abs=0.005)
    assert aapl.loc["2014-09-27", "eps"] == pytest.approx(6.49)
    assert aapl.loc["2013-09-28", "revenue"] == 170_910_000_000
    assert any(n.startswith("split AAPL 7:1 (ex-date 2014-06-09") for n in real_market.notes)
    assert any(n.startswith("split NFLX 7:1 (ex-date 2015-07-15") for n in real_market.notes)


@pytest.mark.realdata
def test_real_sectors(real_market):
    s = real_market.sectors
    assert len(s) == 505 and s["ticker"].is_unique
    assert (s["sector"] != "Unknown").sum() == 495
    assert any("gave 474 of the 505 price tickers" in n for n in real_market.notes)
    assert any("10 tickers in neither file" in n for n in real_market.notes)


@pytest.mark.realdata
def test_real_market_series(real_market):
    ms = real_market.market_series
    assert len(ms) == 1_259 and ms["date"].equals(pd.Series(real_market.trading_days, name="date"))
    assert ms[["sp500_close", "vix", "yield_3m", "yield_2y", "yield_10y", "hy_spread"]].notna().all().all()
    assert ms[["vix_3m", "ig_spread", "put_call_ratio"]].isna().all().all()
    assert sum("is missing: the shared data has no" in n for n in real_market.notes) == 3
    day = ms.set_index("date").loc["2013-10-14"]  # Columbus Day: stocks open, Treasury market closed
    assert day["yield_10y"] == ms.set_index("date").loc["2013-10-11", "yield_10y"]


@pytest.mark.realdata
def test_real_earnings(real_market):
    e = real_market.earnings_events
    assert len(e) == 72_970 and e["ticker"].nunique() == 4_051
    assert e["fiscal_quarter_end"].isna().sum() == 695 + 968  # 'NULL' and year-less 'Q1'..'Q4'
    row = e[(e["ticker"] == "A") & (e["announce_date"] == "2012-11-19")].iloc[0]
    assert row["fiscal_quarter_end"] == pd.Timestamp("2012-10-31") and row["release_time"] == "post"
    assert row["surprise_pct"] == pytest.approx((0.84 - 0.8) / 0.8)


@pytest.mark.realdata
def test_real_gspc_and_vix_histories(shared_data_dir):
    gspc = load_gspc(shared_data_dir)
    assert len(gspc) == 24_114 and gspc.index.min() == pd.Timestamp("1927-12-30")
    assert gspc.loc["2008-10-01":"2008-12-31"].min() < 800  # the 2008 crash is there for regime tests
    vix, rejected, counts = read_series(shared_data_dir, MARKET_FILES[1])
    assert counts["read"] == 9_235 and len(vix) == 9_235 and rejected.empty


@pytest.mark.realdata
def test_real_fundamentals_reader_alone(shared_data_dir):
    fund, rejected, n, _ = read_real_fundamentals(shared_data_dir, reporting_lag_days=60)
    assert n == 1_781 and len(fund) + len(rejected) == n
    assert (fund["available_date"] - fund["period_end"] == pd.Timedelta(days=60)).all()
    assert fund.loc[fund["ticker"] == "AAPL", "eps"].max() == pytest.approx(40.03)  # as reported, pre-adjustment
