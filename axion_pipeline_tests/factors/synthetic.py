"""A small synthetic market in canonical form for the factor tests (deterministic per seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import FUNDAMENTAL_FIELDS

SECTORS = ["Tech", "Health", "Energy"]


def synthetic_market(
    n_tickers: int = 12, n_days: int = 420, end: str = "2026-02-06", seed: int = 0, report_lag_days: int = 45
) -> dict:
    """prices (long, canonical), close/volume (wide), fundamentals (long, quarterly TTM rows with
    available_date = period_end + lag), sectors (Series), sp500 (Series).

    One ticker (the last) has no fundamentals and one (the second to last) starts trading
    halfway through, so the tests see missing data of both kinds.
    """
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(end=end, periods=n_days)
    tickers = ["AAPL"] + [f"T{i:02d}" for i in range(1, n_tickers)]
    mkt = rng.normal(0.0004, 0.01, n_days)
    betas = rng.uniform(0.5, 1.5, n_tickers)
    ret = mkt[:, None] * betas + rng.normal(0.0002, 0.015, (n_days, n_tickers))
    close = 50.0 * np.exp(np.cumsum(np.log1p(ret), axis=0)) * rng.uniform(0.5, 2.0, n_tickers)
    close[: n_days // 2, -2] = np.nan
    volume = rng.lognormal(13.0, 0.4, (n_days, n_tickers))
    volume[np.isnan(close)] = np.nan
    close_w = pd.DataFrame(close, index=pd.DatetimeIndex(dates, name="date"), columns=pd.Index(tickers, name="ticker"))
    volume_w = pd.DataFrame(volume, index=close_w.index, columns=tickers)
    long = close_w.stack().rename("close").reset_index()
    long["volume"] = volume_w.stack().to_numpy()
    long["open"], long["high"], long["low"] = long["close"], long["close"] * 1.01, long["close"] * 0.99
    prices = long[["date", "ticker", "open", "high", "low", "close", "volume"]]
    sp500 = pd.Series(3000.0 * np.exp(np.cumsum(np.log1p(mkt))), index=close_w.index, name="sp500_close")

    rows = []
    period_ends = pd.date_range(end=dates[-1], periods=n_days // 63 + 10, freq="QE")
    for j, t in enumerate(tickers[:-1]):
        scale = rng.uniform(1e3, 1e4)
        level = rng.uniform(0.8, 1.2)
        shares = scale * rng.uniform(0.5, 2.0) / 10
        for pe in period_ends:
            level *= np.exp(rng.normal(0.015, 0.04))
            rev = scale * level
            row = {
                "ticker": t,
                "period_end": pe,
                "available_date": pe + pd.Timedelta(days=report_lag_days),
                "period_type": "quarterly",
                "revenue": rev,
                "gross_profit": rev * rng.uniform(0.3, 0.6),
                "operating_income": rev * rng.uniform(0.05, 0.3),
                "ebitda": rev * rng.uniform(0.1, 0.35),
                "net_income": rev * rng.uniform(-0.05, 0.2),
                "interest_expense": rev * rng.uniform(0.0, 0.03),
                "rnd_expense": rev * rng.uniform(0.0, 0.15),
                "operating_cash_flow": rev * rng.uniform(0.05, 0.25),
                "capital_expenditure": rev * rng.uniform(0.01, 0.08),
                "dividends_paid": rev * rng.uniform(0.0, 0.05),
                "total_assets": rev * rng.uniform(1.5, 3.0),
                "total_equity": rev * rng.uniform(0.3, 1.2),
                "total_debt": rev * rng.uniform(0.1, 1.0),
                "cash": rev * rng.uniform(0.05, 0.3),
                "shares_outstanding": shares,
            }
            row["free_cash_flow"] = row["operating_cash_flow"] - row["capital_expenditure"]
            row["eps"] = row["net_income"] / row["shares_outstanding"]
            row["forward_eps"] = row["eps"] * rng.uniform(0.9, 1.2) if j % 3 else np.nan
            rows.append(row)
    fundamentals = pd.DataFrame(rows)[["ticker", "period_end", "available_date", "period_type", *FUNDAMENTAL_FIELDS]]
    sectors = pd.Series([SECTORS[i % len(SECTORS)] for i in range(n_tickers)], index=tickers, name="sector")
    return {
        "prices": prices,
        "close": close_w,
        "volume": volume_w,
        "fundamentals": fundamentals,
        "sectors": sectors,
        "sp500": sp500,
        "dates": close_w.index,
        "tickers": tickers,
    }
