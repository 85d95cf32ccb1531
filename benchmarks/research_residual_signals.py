"""Do factor-model residual momentum and reversal rank the 13-year members better than the raw signals?
Judged on the walk-forward validation slices only.

Run: ``.venv/bin/python benchmarks/research_residual_signals.py`` (a few minutes; reads
``../shared/data``: the 13-year members file, its membership intervals and the Fama-French daily
factors, which this project does not load anywhere else).

Why: on the 13-year file the ranking model's validation IC sits near 0.011 whatever its objective,
size, blend or history (BENCHMARKS.md), and its score is largely a volatility bet whose sign flips
between windows. Residual momentum (Blitz, Huij and Martens 2011: the 12-1 month sum of residual
returns of a factor regression over its volatility) is reported to keep momentum's premium with about
half the exposure to the market and factor swings that crash raw momentum, as in 2009. If residual
signals carry information the raw ones lack on these validation slices, they are candidate features
for the ranking model and the composite; if not, that lever is closed without a test window read.

Signals on date t (every input dated <= t; betas from the 252 daily returns up to t, with intercept;
residual e_d = (r_d - rf_d) - b . f_d, no intercept, so the sum keeps the name's own drift):

- ``momentum_12_1``: close[t-21] / close[t-252] - 1 (the product's baseline);
- ``reversal_1m``: -(close[t] / close[t-21] - 1);
- ``resid_mom_capm`` / ``resid_mom_ff3``: mean / std of e over t-251 .. t-21, factors = the market
  (Mkt-RF) / Mkt-RF, SMB, HML;
- ``resid_rev_capm`` / ``resid_rev_ff3``: -sum of e over t-20 .. t divided by the std of e over
  the 252 days;
- ``low_vol_60d``: -std of daily returns over 60 days (the product's baseline).

Outcome: the raw 21-day forward return close[t+21] / close[t] - 1, ranked among the index members of
t (the evaluation's definition). Dates: the validation slices (val_start .. train_end) of the
benchmark's 38 sliding windows; no test window date is used unless it is another window's
validation date, as in every walk-forward.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import REPO  # noqa: F401  (puts the repository on sys.path)
from bench_model_quality import HORIZON, LIVE, WARMUP, load

SHARED = REPO.parent / "shared" / "data"
BETA_DAYS, SKIP, MOM_DAYS, REV_DAYS, VOL_DAYS = 252, 21, 252, 21, 60
FF5 = ["Mkt-RF", "SMB", "HML", "RMW", "CMA"]
PCA_FACTORS = (1, 3, 5, 10)


def fama_french(path: Path) -> pd.DataFrame:
    """Daily factor returns as decimals, indexed by date: only rows whose first field is YYYYMMDD."""
    rows = []
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = [f.strip() for f in line.split(",")]
        if fields and len(fields[0]) == 8 and fields[0].isdigit():
            rows.append(fields)
    header = next(
        [f.strip() for f in line.split(",")]
        for line in path.read_text(encoding="latin-1").splitlines()
        if line.strip().startswith(",Mkt-RF") or line.strip().startswith(",Mom")
    )
    frame = pd.DataFrame(rows, columns=["date", *header[1:]])
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame.set_index("date").astype(float) / 100.0


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` rows (NaN counted as 0; the count is kept separately), per column."""
    c = np.cumsum(np.nan_to_num(x), axis=0)
    out = c.copy()
    out[window:] = c[window:] - c[:-window]
    return out


def lagged(x: np.ndarray, lag: int) -> np.ndarray:
    out = np.full_like(x, np.nan)
    out[lag:] = x[:-lag]
    return out


def signals(close: pd.DataFrame, factors: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every signal of the module docstring as a dates x tickers array."""
    c = close.to_numpy(float)
    r = np.full_like(c, np.nan)
    r[1:] = c[1:] / c[:-1] - 1.0
    f = factors.reindex(close.index)
    rf = f["RF"].to_numpy(float)[:, None]
    y = r - rf
    mask = np.isfinite(y) & np.isfinite(f[FF5].to_numpy(float)).all(axis=1)[:, None]
    y = np.where(mask, y, np.nan)
    out = {
        "momentum_12_1": lagged(c, SKIP) / lagged(c, MOM_DAYS) - 1.0,
        "reversal_1m": -(c / lagged(c, REV_DAYS) - 1.0),
    }
    n60 = rolling_sum(np.isfinite(r).astype(float), VOL_DAYS)
    s1, s2 = rolling_sum(r, VOL_DAYS), rolling_sum(np.where(np.isfinite(r), r * r, np.nan), VOL_DAYS)
    with np.errstate(invalid="ignore", divide="ignore"):
        var60 = (s2 - s1 * s1 / n60) / (n60 - 1)
    out["low_vol_60d"] = np.where(n60 >= 50, -np.sqrt(var60), np.nan)
    for name, cols in (("capm", ["Mkt-RF"]), ("ff3", ["Mkt-RF", "SMB", "HML"]), ("ff5", FF5)):
        out.update(residual_signals(y, mask, f[cols].to_numpy(float), name))
    out.update(pca_residual_reversal(r, PCA_FACTORS))
    return out


def pca_residual_reversal(r: np.ndarray, ks: tuple[int, ...]) -> dict[str, np.ndarray]:
    """-sum of the last 21 days' residuals over their 252-day std, residuals of each name's returns
    projected off the top k principal components of the trailing 252 x names return matrix (names
    with at least 240 returns in it; missing returns as 0). Prices only: no factor file needed."""
    out = {f"resid_rev_pca{k}": np.full(r.shape, np.nan) for k in ks}
    for t in range(BETA_DAYS, len(r)):
        block = r[t - BETA_DAYS + 1 : t + 1]
        names = np.flatnonzero(np.isfinite(block).sum(axis=0) >= 240)
        if len(names) < 2 * max(ks):
            continue
        R = np.nan_to_num(block[:, names])
        R = R - R.mean(axis=0)
        U = np.linalg.svd(R, full_matrices=False)[0]
        for k in ks:
            E = R - U[:, :k] @ (U[:, :k].T @ R)
            out[f"resid_rev_pca{k}"][t, names] = -E[-REV_DAYS:].sum(axis=0) / E.std(axis=0, ddof=1)
    return out


def residual_signals(y: np.ndarray, mask: np.ndarray, F: np.ndarray, name: str) -> dict[str, np.ndarray]:
    """Residual momentum and reversal of one factor set (see the module docstring)."""
    k = F.shape[1]
    m = mask.astype(float)
    Fm = [np.where(mask, F[:, [j]], 0.0) for j in range(k)]  # factor j on the name's valid days
    ym = np.where(mask, y, 0.0)

    def sums(window: int):
        n = rolling_sum(m, window)
        sf = [rolling_sum(Fm[j], window) for j in range(k)]
        sff = [[rolling_sum(Fm[i] * Fm[j], window) for j in range(k)] for i in range(k)]
        sy = rolling_sum(ym, window)
        syy = rolling_sum(ym * ym, window)
        syf = [rolling_sum(ym * Fm[j], window) for j in range(k)]
        return n, sf, sff, sy, syy, syf

    n, sf, sff, sy, syy, syf = sums(BETA_DAYS)
    # normal equations of y = a + b . f, per (date, name)
    A = np.empty((*y.shape, k + 1, k + 1))
    rhs = np.empty((*y.shape, k + 1))
    A[..., 0, 0], rhs[..., 0] = n, sy
    for i in range(k):
        A[..., 0, i + 1] = A[..., i + 1, 0] = sf[i]
        rhs[..., i + 1] = syf[i]
        for j in range(k):
            A[..., i + 1, j + 1] = sff[i][j]
    ok = n >= 200
    A[~ok] = np.eye(k + 1)
    rhs[~ok] = 0.0
    b = np.linalg.solve(A, rhs[..., None])[..., 0][..., 1:]  # slopes only

    def residual_moments(window_sums):
        wn, wsf, wsff, wsy, wsyy, wsyf = window_sums
        se = wsy - sum(b[..., j] * wsf[j] for j in range(k))
        see = wsyy - 2 * sum(b[..., j] * wsyf[j] for j in range(k))
        see = see + sum(b[..., i] * b[..., j] * wsff[i][j] for i in range(k) for j in range(k))
        return wn, se, see

    def std(wn, se, see):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(np.maximum(see - se * se / wn, 0.0) / (wn - 1))

    # momentum window t-251 .. t-21: the 252-day sums minus the last 21 days'
    full = residual_moments((n, sf, sff, sy, syy, syf))
    last = residual_moments(sums(SKIP))
    wn, se, see = (a - c for a, c in zip(full, last))
    with np.errstate(invalid="ignore", divide="ignore"):
        mom = (se / wn) / std(wn, se, see)
        rev = -last[1] / std(*full)
    return {
        f"resid_mom_{name}": np.where(ok & (wn >= 180), mom, np.nan),
        f"resid_rev_{name}": np.where(ok & (last[0] >= 15), rev, np.nan),
    }


def main(argv: list[str] | None = None) -> int:
    from axion_pipeline.analytics.cross_section import rank_ic_rows
    from axion_pipeline.ml import metrics as M
    from axion_pipeline.ml.datasets import plan_walk_forward

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO.parent / "bench_quality")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data, wf = load("real13", args.workdir)
    prices = data.prices
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    dates, tickers = close.index, close.columns
    ff = fama_french(SHARED / "fama_french" / "F-F_Research_Data_5_Factors_2x3_daily.CSV")
    missing = dates.difference(ff.index)
    print(f"{len(dates)} dates x {len(tickers)} tickers; Fama-French misses {len(missing)} price dates")
    member = np.zeros(close.shape, dtype=bool)
    pos = {t: i for i, t in enumerate(tickers)}
    for row in data.universe.itertuples(index=False):
        if row.ticker in pos:
            end = row.end_date if pd.notna(row.end_date) else dates[-1]
            member[(dates >= row.start_date) & (dates <= end), pos[row.ticker]] = True
    c = close.to_numpy(float)
    fwd = np.full_like(c, np.nan)
    fwd[:-HORIZON] = c[HORIZON:] / c[:-HORIZON] - 1.0
    sig = signals(close, ff)
    plan = plan_walk_forward(dates, wf, horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE)
    windows = [w for w in plan.windows if w.has_validation]
    rows = []
    for w in windows:
        idx = np.flatnonzero((dates >= w.val_start) & (dates <= w.train_end))
        for name, s in sig.items():
            valid = member[idx] & np.isfinite(fwd[idx]) & np.isfinite(s[idx])
            ic, used = rank_ic_rows(s[idx], fwd[idx], valid)
            for d, v, u in zip(dates[idx], ic, used):
                rows.append((w.key, d, name, v, u))
    frame = pd.DataFrame(rows, columns=["window", "date", "signal", "ic", "names"])
    print(f"{len(windows)} validation slices, {frame['date'].nunique()} dates; {time.perf_counter() - started:.0f} s\n")
    print("| signal | mean IC | NW t (20 lags) | slices IC > 0 | vs raw counterpart (paired) | t |")
    print("|---|---|---|---|---|---|")
    wide = frame.pivot_table(index="date", columns="signal", values="ic")
    by_slice = frame.groupby(["signal", "window"])["ic"].mean().unstack(0)
    counterpart = {"resid_mom": "momentum_12_1", "resid_rev": "reversal_1m"}
    for name in sig:
        s = wide[name].dropna()
        summary = M.ic_summary(s, newey_west_lags=20)
        paired, pt = "", ""
        base = next((v for k, v in counterpart.items() if name.startswith(k)), None)
        if base:
            d = (wide[name] - wide[base]).dropna()
            ds = M.ic_summary(d, newey_west_lags=20)
            paired, pt = f"{ds['ic_mean']:+.4f}", f"{ds['ic_tstat']:.2f}"
        share = float((by_slice[name] > 0).mean())
        print(f"| {name} | {summary['ic_mean']:.4f} | {summary['ic_tstat']:.2f} | {share:.2f} | {paired} | {pt} |")
    # picking among signals is itself a choice made on these slices: score it one slice ahead
    keys = [w.key for w in windows]
    for family, members in (("every signal", list(sig)), ("principal components", [n for n in sig if "pca" in n])):
        picked = {}
        for k in range(1, len(keys)):
            best = by_slice.loc[keys[:k], members].mean().idxmax()
            picked[keys[k]] = (best, by_slice.loc[keys[k], best])
        ics = np.array([v for _, v in picked.values()])
        names = pd.Series([n for n, _ in picked.values()]).value_counts().to_dict()
        print(
            f"next slice, best of {family} on the slices before: mean IC {ics.mean():.4f}, "
            f"NW t (lag 1) {ics.mean() / M.newey_west_se(ics, 1):.2f}, slices > 0 {(ics > 0).mean():.2f}; "
            f"picked {names}"
        )
    print(f"\ncorrelation of daily ICs:\n{wide.corr().round(2).to_string()}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
