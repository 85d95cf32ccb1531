"""Factor tear sheet: alphalens' core statistics computed on dense (date x ticker) arrays.

What: per-date Spearman IC, IC summary, quantile returns, top-minus-bottom spread, quantile
turnover and factor rank autocorrelation, numerically equal (to ~1e-15) to alphalens-reloaded's
``get_clean_factor_and_forward_returns(..., filter_zscore=None)`` followed by
``factor_information_coefficient``, ``mean_return_by_quantile``, ``quantile_turnover`` and
``factor_rank_autocorrelation``.

Why: alphalens loops over dates in Python (``groupby().apply``); here every statistic is a row-wise
operation on (date x ticker) arrays, about 20x faster, so a tear sheet can be an asset's metadata.

Sample, as alphalens builds it: a (date, ticker) row enters when the factor is finite and the
forward return exists at *every* horizon, so all horizons share one sample (the last ``max(h)``
dates drop out). Dates whose quantile edges are not unique (too many ties) are dropped, as
alphalens' ``quantize_factor`` with ``no_raise``. Dropped shares are reported in ``coverage`` and
more than ``max_loss`` raises, instead of vanishing silently.

Deliberate differences from alphalens:
- a ticker's last close is not carried past its last valid price (alphalens ffills it, inventing
  zero returns after a delisting); interior gaps are forward-filled as alphalens does;
- no z-score outlier filter (alphalens' default ``filter_zscore=20`` uses the whole sample's
  return distribution, a look-ahead);
- ``spread`` is top minus bottom; alphalens' ``compute_mean_returns_spread`` halves it;
- ``t_stat`` (IC summary and spread) and ``p_value`` (IC summary) use a Newey-West (Bartlett) standard error
  with ``h - 1`` lags: the h-day forward returns of consecutive dates overlap, so their ICs and
  spreads are autocorrelated and alphalens' i.i.d. t-test overstates significance (by up to
  about sqrt(h)). Two-sided p-value from Student t with n - 1 df, as
  ``axion_pipeline.ml.metrics.ic_summary``. alphalens' i.i.d. ``t_stat_iid`` (and
  ``p_value_iid``) are kept next to them; for h = 1 both are the same.

Look-ahead: ``forward_returns`` is the only place future prices enter, as labels by design.
Quantiles and ranks use only the date-``t`` cross-section; turnover and autocorrelation compare
``t`` with the previous date of the factor calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import average_ranks, rank_correlation_rows
from axion_pipeline.analytics.markdown import markdown_table
from axion_pipeline.ml.metrics import ic_summary

DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 21)
KEY_COLUMNS = ("date", "ticker")


def as_close_panel(prices: pd.DataFrame) -> pd.DataFrame:
    """Wide close panel (dates x tickers, sorted) from a long (date, ticker, close) frame or a panel."""
    if {"date", "ticker", "close"}.issubset(prices.columns):
        d_codes, dates = pd.factorize(pd.DatetimeIndex(prices["date"]), sort=True)
        t_codes, tickers = pd.factorize(prices["ticker"].astype(str), sort=True)
        if (d_codes < 0).any() or (t_codes < 0).any():
            raise ValueError("prices hold rows without date or ticker")
        if np.bincount(d_codes.astype(np.int64) * len(tickers) + t_codes).max(initial=0) > 1:
            raise ValueError("prices hold duplicate (date, ticker) rows")
        values = np.full((len(dates), len(tickers)), np.nan)
        values[d_codes, t_codes] = prices["close"].to_numpy(dtype="float64", na_value=np.nan)
        panel = pd.DataFrame(values, index=pd.DatetimeIndex(dates), columns=pd.Index(tickers))
    elif isinstance(prices.index, pd.DatetimeIndex):
        panel = prices.astype("float64").set_axis(prices.columns.astype(str), axis=1)
        panel = panel.sort_index().sort_index(axis=1)
    else:
        raise ValueError("prices must be a long (date, ticker, close) frame or a dates x tickers panel")
    if not panel.index.is_unique:
        raise ValueError("the close panel has duplicate dates")
    panel.index.name, panel.columns.name = "date", "ticker"
    return panel


def _filled_closes(panel: pd.DataFrame) -> np.ndarray:
    """Closes with interior gaps forward-filled (alphalens' ``prices.ffill()``), never past a
    ticker's last valid close (that would invent zero returns after a delisting)."""
    filled = panel.ffill().to_numpy(dtype="float64")
    filled[panel.bfill().isna().to_numpy()] = np.nan
    return filled


def _forward_return_arrays(filled: np.ndarray, horizons) -> dict[int, np.ndarray]:
    """(dates x tickers) returns from the close of row t to row t+h, NaN where unknown.

    Same arithmetic as alphalens (``p[t+h] / p[t] - 1``), hence identical bits.
    """
    out = {}
    for h in horizons:
        if int(h) != h or h < 1:
            raise ValueError(f"horizons must be positive integers, got {h!r}")
        fwd = np.full_like(filled, np.nan)
        if h < len(filled):
            fwd[:-h] = filled[h:] / filled[:-h] - 1
        out[int(h)] = fwd
    return out


def forward_returns(close_panel: pd.DataFrame, horizons=DEFAULT_HORIZONS) -> pd.DataFrame:
    """Long frame (date, ticker, fwd_{h}d ...): return from the close of t to the close h rows later.

    Uses future prices by design (these are labels). Rows at the end of the sample, where t+h is
    beyond the data, are kept with NaN labels; cells before a ticker's first or after its last
    valid close are left out (no position to hold).
    """
    panel = as_close_panel(close_panel)
    filled = _filled_closes(panel)
    arrays = _forward_return_arrays(filled, horizons)
    rows, cols = np.nonzero(~np.isnan(filled))
    frame = pd.DataFrame({"date": panel.index[rows], "ticker": panel.columns[cols].astype(str)})
    for h, arr in arrays.items():
        frame[f"fwd_{h}d"] = arr[rows, cols]
    return frame


def quantize(values: np.ndarray | pd.DataFrame, quantiles: int = 5):
    """Per-row quantile labels 1..q exactly as alphalens (``pd.qcut(x, q, labels=False) + 1``).

    Edges are numpy's linear-interpolation percentiles of each row's finite values (same
    arithmetic as ``Series.quantile``); a value goes to the first bin whose upper edge it does not
    exceed, the row minimum to bin 1. Rows whose edges are not unique get NaN throughout (what
    alphalens does with ``no_raise``). Returns the same type as ``values``.
    """
    if int(quantiles) != quantiles or quantiles < 2:
        raise ValueError("quantiles must be an integer >= 2")
    arr = np.asarray(values, dtype="float64")
    finite = np.isfinite(arr)
    x = np.where(finite, arr, np.nan)
    n = finite.sum(axis=1)
    srt = np.sort(np.where(finite, arr, np.inf), axis=1)  # non-finite last; SIMD sort needs no NaN
    q = np.true_divide(np.linspace(0, 1, quantiles + 1) * 100.0, 100)
    virtual = (n[:, None] - 1) * q[None, :]
    prev = np.floor(virtual)
    gamma = virtual - prev
    last = np.maximum(n - 1, 0)[:, None]
    lo = np.where(virtual >= n[:, None] - 1, last, np.maximum(prev, 0)).astype(np.intp)
    hi = np.where(virtual >= n[:, None] - 1, last, np.maximum(prev + 1, 0)).astype(np.intp)
    a, b = np.take_along_axis(srt, lo, axis=1), np.take_along_axis(srt, hi, axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf in rows without finite values (masked below)
        diff = b - a
        edges = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    row_ok = (n > 0) & np.all(edges[:, 1:] != edges[:, :-1], axis=1)
    ids = (edges[:, None, :] < x[:, :, None]).sum(axis=2).astype("float64")
    ids[x == edges[:, :1]] = 1
    labels = np.where(np.isfinite(x) & row_ok[:, None] & (ids >= 1) & (ids <= quantiles), ids, np.nan)
    if isinstance(values, pd.DataFrame):
        return pd.DataFrame(labels, index=values.index, columns=values.columns)
    return labels


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation per row over cells where both are present (pandas ``corrwith``)."""
    both = ~(np.isnan(x) | np.isnan(y))
    n = both.sum(axis=1).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(both, x, 0.0).sum(axis=1) / n
        ym = np.where(both, y, 0.0).sum(axis=1) / n
        dx = np.where(both, x - xm[:, None], 0.0)
        dy = np.where(both, y - ym[:, None], 0.0)
        sx = np.sqrt((dx * dx).sum(axis=1) / (n - 1))
        sy = np.sqrt((dy * dy).sum(axis=1) / (n - 1))
        out = (dx * dy).sum(axis=1) / ((n - 1) * sx * sy)
    out[n < 2] = np.nan
    return out


def _daily_quantile_means(ret: np.ndarray, labels: np.ndarray, quantiles: int):
    """(dates x quantiles) mean return of each quantile and (dates,) mean over the sample, NaN if empty."""
    rows, cols = np.nonzero(~np.isnan(labels))
    weights = ret[rows, cols]
    idx = rows * quantiles + labels[rows, cols].astype(np.intp) - 1
    size = labels.shape[0] * quantiles
    with np.errstate(invalid="ignore", divide="ignore"):
        by_q = np.bincount(idx, weights, size) / np.bincount(idx, minlength=size)
        day = np.bincount(rows, weights, labels.shape[0]) / np.bincount(rows, minlength=labels.shape[0])
    return by_q.reshape(-1, quantiles), day


def _mean_std_t(series: np.ndarray) -> tuple[float, float, float, int]:
    s = series[~np.isnan(series)]
    n = len(s)
    mean = float(s.mean()) if n else np.nan
    std = float(s.std(ddof=1)) if n > 1 else np.nan
    t = mean / (std / np.sqrt(n)) if n > 1 and std > 0 else np.nan
    return mean, std, t, n


@dataclass
class TearSheet:
    """Long tables of a factor tear sheet; ``horizon`` is in rows of the price calendar (days)."""

    ic: pd.DataFrame
    ic_summary: pd.DataFrame
    quantile_returns: pd.DataFrame
    spread: pd.DataFrame
    turnover: pd.DataFrame
    rank_autocorrelation: pd.DataFrame
    coverage: pd.DataFrame
    horizons: tuple[int, ...] = field(default=DEFAULT_HORIZONS)
    quantiles: int = 5

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """Every table by name, long and flat (storable as DuckDB tables)."""
        names = ["ic", "ic_summary", "quantile_returns", "spread", "turnover", "rank_autocorrelation", "coverage"]
        return {name: getattr(self, name).reset_index(drop=True) for name in names}

    def summary_markdown(self) -> str:
        """Compact markdown for Dagster metadata: IC statistics, spread, turnover, autocorrelation."""
        spread = self.spread[["factor", "horizon", "top_minus_bottom"]]
        top = self.turnover.loc[self.turnover["quantile"] == self.quantiles, ["factor", "turnover"]]
        table = (
            self.ic_summary.merge(spread, on=["factor", "horizon"], how="left")
            .merge(top.rename(columns={"turnover": "top_turnover"}), on="factor", how="left")
            .merge(self.rank_autocorrelation[["factor", "rank_autocorrelation"]], on="factor", how="left")
        )
        cols = {
            "factor": "factor",
            "horizon": "h",
            "ic_mean": "IC mean",
            "icir": "ICIR",
            "t_stat": "t (NW)",
            "hit_rate": "IC>0",
            "top_minus_bottom": "top-bottom",
            "top_turnover": f"Q{self.quantiles} turnover",
            "rank_autocorrelation": "rank autocorr",
            "n_dates": "dates",
        }
        table = table[list(cols)].rename(columns=cols)
        return markdown_table(table.columns, table.itertuples(index=False), _fmt)


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "n/a" if np.isnan(v) else f"{v:.4f}"
    return str(v)


def _factor_panel(factors: pd.DataFrame, panel: pd.DataFrame):
    """Row/column positions of factor rows in the price panel, and the factor-calendar rows."""
    d_codes, d_uni = pd.factorize(pd.DatetimeIndex(factors["date"]))
    t_codes, t_uni = pd.factorize(factors["ticker"].astype(str))
    d = np.append(panel.index.get_indexer(d_uni), -1)[d_codes]  # code -1 (NaT) maps to -1
    t = np.append(panel.columns.get_indexer(t_uni), -1)[t_codes]
    ok = (d >= 0) & (t >= 0)
    lin = d[ok].astype(np.int64) * panel.shape[1] + t[ok]
    if np.bincount(lin, minlength=1).max(initial=0) > 1:
        raise ValueError("factors hold duplicate (date, ticker) rows")
    date_rows = np.unique(d[ok])
    return ok, np.searchsorted(date_rows, d[ok]), t[ok], date_rows


def compute_tear_sheet(
    factors: pd.DataFrame,
    prices: pd.DataFrame,
    factor_columns: list[str] | None = None,
    horizons=DEFAULT_HORIZONS,
    quantiles: int = 5,
    max_loss: float = 0.35,
    on_excess_loss: str = "raise",
) -> TearSheet:
    """Tear sheet of each factor column (higher = better) against forward close-to-close returns.

    ``prices``: long (date, ticker, close) or a close panel. ``max_loss``: largest share of a
    factor's rows that may be dropped (non-finite, no forward return, non-unique quantile edges)
    before a ValueError, as alphalens' argument of that name. ``on_excess_loss="skip"`` leaves
    such a factor out of the statistics instead and marks it ``skipped`` in ``coverage`` with the
    reason, so one degenerate factor (e.g. mostly tied values) does not stop a whole tear sheet.
    """
    if on_excess_loss not in ("raise", "skip"):
        raise ValueError("on_excess_loss must be 'raise' or 'skip'")
    missing = set(KEY_COLUMNS) - set(factors.columns)
    if missing:
        raise ValueError(f"factors lack columns {sorted(missing)}")
    if factors.empty:
        raise ValueError("factors is empty: nothing to analyse (missing upstream partition?)")
    if factor_columns is None:
        factor_columns = [
            c for c in factors.columns if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(factors[c])
        ]
    if not factor_columns:
        raise ValueError("no factor columns to analyse")
    horizons = tuple(sorted({int(h) for h in horizons}))
    panel = as_close_panel(prices)
    fwd_all = _forward_return_arrays(_filled_closes(panel), horizons)
    ok, rows, cols, date_rows = _factor_panel(factors, panel)
    dates = panel.index[date_rows]
    fwd = {h: arr[date_rows] for h, arr in fwd_all.items()}
    has_fwd = np.logical_and.reduce([np.isfinite(a) for a in fwd.values()])

    parts: dict[str, list] = {k: [] for k in ("ic", "summ", "qret", "spread", "turn", "auto", "cov")}
    for name in factor_columns:
        values = np.full((len(date_rows), panel.shape[1]), np.nan)
        values[rows, cols] = factors[name].to_numpy(dtype="float64", na_value=np.nan)[ok]
        finite = np.isfinite(values)
        sample = finite & has_fwd
        labels = quantize(np.where(sample, values, np.nan), quantiles)
        used = ~np.isnan(labels)
        n_in = len(factors)
        cov = {
            "factor": name,
            "n_rows": n_in,
            "n_used": int(used.sum()),
            "loss_factor": 1 - finite.sum() / n_in,
            "loss_forward": (finite & ~has_fwd).sum() / n_in,
            "loss_binning": (sample & ~used).sum() / n_in,
        }
        cov["loss_total"] = 1 - cov["n_used"] / n_in
        cov["skipped"] = False
        parts["cov"].append(cov)
        if cov["loss_total"] > max_loss:
            reason = (
                f"factor {name!r}: {cov['loss_total']:.1%} of rows dropped (> max_loss {max_loss:.0%}): "
                f"{cov['loss_factor']:.1%} non-finite or without price, {cov['loss_forward']:.1%} "
                f"without forward return, {cov['loss_binning']:.1%} in binning"
            )
            if on_excess_loss == "raise":
                raise ValueError(reason)
            cov["skipped"] = True
            continue
        _one_factor(name, values, labels, used, fwd, dates, quantiles, parts)

    return TearSheet(
        ic=pd.concat(parts["ic"], ignore_index=True),
        ic_summary=pd.DataFrame(parts["summ"]),
        quantile_returns=pd.DataFrame(parts["qret"]),
        spread=pd.DataFrame(parts["spread"]),
        turnover=pd.DataFrame(parts["turn"]),
        rank_autocorrelation=pd.DataFrame(parts["auto"]),
        coverage=pd.DataFrame(parts["cov"]),
        horizons=horizons,
        quantiles=quantiles,
    )


def _one_factor(name, values, labels, used, fwd, dates, quantiles, parts) -> None:
    f_rank = average_ranks(values, used)
    live = used.any(axis=1)
    for h, ret in fwd.items():
        ic = rank_correlation_rows(f_rank, average_ranks(ret, used), used, one_pass=True)[live]
        parts["ic"].append(pd.DataFrame({"date": dates[live], "factor": name, "horizon": h, "ic": ic}))
        parts["summ"].append({"factor": name, "horizon": h, **_ic_summary(ic, h)})
        by_q, day = _daily_quantile_means(ret, labels, quantiles)
        for q in range(quantiles):
            d_mean, d_std, _, n_q = _mean_std_t(by_q[:, q] - day)
            parts["qret"].append(
                {
                    "factor": name,
                    "horizon": h,
                    "quantile": q + 1,
                    "mean_return": _mean_std_t(by_q[:, q])[0],
                    "mean_demeaned_return": d_mean,
                    "std_error": d_std / np.sqrt(n_q) if n_q > 1 else np.nan,
                    "n_dates": n_q,
                }
            )
        spread = by_q[:, -1] - by_q[:, 0]
        s_mean, s_std, s_t, s_n = _mean_std_t(spread)
        parts["spread"].append(
            {
                "factor": name,
                "horizon": h,
                "top_minus_bottom": s_mean,
                "std": s_std,
                "t_stat": _newey_west_t(spread, h)[0],
                "t_stat_iid": s_t,
                "n_dates": s_n,
            }
        )
    for q in range(1, quantiles + 1):
        member = labels == q
        count = member.sum(axis=1)
        new = (member[1:] & ~member[:-1]).sum(axis=1)
        defined = (count[1:] > 0) & (count[:-1] > 0)
        turnover = new[defined] / count[1:][defined]
        parts["turn"].append(
            {"factor": name, "quantile": q, "turnover": _mean_std_t(turnover)[0], "n_dates": int(defined.sum())}
        )
    auto = _row_pearson(f_rank[1:], f_rank[:-1])
    parts["auto"].append(
        {"factor": name, "rank_autocorrelation": _mean_std_t(auto)[0], "n_dates": int((~np.isnan(auto)).sum())}
    )


def _newey_west_t(series: np.ndarray, horizon: int) -> tuple[float, float]:
    """t-statistic of the mean of ``series`` (dates in order, NaN dropped) with a Newey-West error
    of ``horizon - 1`` lags, and its two-sided p-value (Student t, n - 1 df)."""
    summary = ic_summary(pd.Series(series[~np.isnan(series)]), newey_west_lags=int(horizon) - 1)
    return summary["ic_tstat"], summary["ic_pvalue"]


def _ic_summary(ic: np.ndarray, horizon: int) -> dict:
    """alphalens' information table (mean, std, ICIR, hit rate, i.i.d. t-test against 0 as
    ``t_stat_iid`` / ``p_value_iid``) with the Newey-West ``t_stat`` / ``p_value`` for h-day returns."""
    from scipy.special import stdtr

    mean, std, t, n = _mean_std_t(ic)
    t_nw, p_nw = _newey_west_t(ic, horizon)
    return {
        "ic_mean": mean,
        "ic_std": std,
        "icir": mean / std if std > 0 else np.nan,
        "t_stat": t_nw,
        "p_value": p_nw,
        "t_stat_iid": t,
        "p_value_iid": float(2 * stdtr(n - 1, -abs(t))) if np.isfinite(t) else np.nan,
        "n_dates": n,
        "hit_rate": float((ic[~np.isnan(ic)] > 0).mean()) if n else np.nan,
    }
