"""Evaluation of several ranking signals on the same (date, ticker) rows: IC statistics with honest
errors, quantile spread, a non-overlapping long-short book with turnover and costs, a paired test
of a model against baselines, and exposures to known characteristics.

Input: a long frame, one row per (``date``, ``ticker``), one column per signal (a score, higher =
better expected return; NaN allowed), the outcome ``fwd_return`` (the ``h``-day forward return from
the close of t to the close of t+h, NaN when unknown) and optionally ``fold``, one label per date
(e.g. the walk-forward test window). Non-finite scores and outcomes count as missing. Every
statistic is computed per date on a (dates x tickers) panel (no loop over tickers) and summarised
per fold and over all dates (fold ``"all"``; ``start`` and ``end`` are its first and last date). A
statistic without enough data is NaN.

Definitions (``h`` = ``horizon``, ``q`` = ``n_quantiles``):

- Sample of a date: the rows where both the score and the outcome are known (as alphalens and
  ``axion_pipeline.ml.metrics``). This conditions on a known outcome: a name that delists inside
  the window leaves the sample unless the caller fills its return.
- IC: Spearman rank correlation of score and outcome per date (average ranks); a date with fewer
  than 3 sample rows or a constant side has no IC. ``n_dates`` counts dates with an IC;
  ``ic_mean``, ``ic_std`` (ddof 1), ``icir`` = mean / std per date (not annualised), ``hit_rate`` =
  share of dates with IC > 0.
- ``ic_tstat_nw`` / ``ic_pvalue_nw``: mean IC over its Newey-West (Bartlett) standard error with
  ``h - 1`` lags, since consecutive dates' h-day returns overlap; two-sided p-value from Student t
  with n - 1 df (``axion_pipeline.ml.metrics.ic_summary``).
- ``ic_ci_low`` / ``ic_ci_high``: 95% percentile interval of the mean IC from a circular block
  bootstrap (Politis-Romano): the IC series in date order is wrapped into a circle, a resample
  concatenates ceil(n / b) blocks of b = ``block_length`` (default h) consecutive values starting
  at uniform random positions, truncated to n; ``n_bootstrap`` resamples from
  ``numpy.random.default_rng(seed)``, the same draws for every row of equal n. NaN when n < 2 b.
- Quantiles: within each date, rank the sample by score with ties broken by ticker (ascending),
  bucket = ceil(q rank / n) (1 = lowest score, q = highest), as ``ml.metrics.quantile_spread`` on
  rows sorted by (date, ticker). A date with fewer than q sample rows, or whose sample scores are
  all equal (no ranking: the buckets would be the ticker order), has no buckets.
  ``spread_mean``: mean over dates of [mean outcome of bucket q - mean outcome of bucket 1]; it
  uses every date, so its terms overlap like the ICs'.
- Long-short book: rebalanced on every h-th date of each fold, the first on the fold's first date
  (the schedule restarts in every fold). At a rebalance date t it holds the top bucket long and the
  bottom bucket short, equal-weighted, each leg summing to 1 in absolute value (weights
  +1/n_top and -1/n_bottom); its period return is mean outcome(top) - mean outcome(bottom), the
  h-day return of the book, so the periods do not overlap. A rebalance date without buckets is
  skipped (no period). ``n_periods``, ``ls_return_mean`` (per period), ``ls_return_ann`` = mean x
  252 / h, ``ls_sharpe_ann`` = mean / std (ddof 1) x sqrt(252 / h).
- ``turnover``: mean over periods of the one-way turnover 0.5 sum_i |w_t,i - w_prev,i| over both
  legs, from target weights to target weights (drift inside the period ignored). ``w_prev`` is the
  previous book of the same fold; the first book of a fold is built from zero (turnover 1.0). A
  full replacement of both legs is 2.0. ``ls_return_net_mean`` / ``ls_return_net_ann``: the same
  for period return - ``cost_per_turnover`` x turnover (default 10 bps per unit of one-way
  turnover, so rebuilding the whole book costs 20 bps). Fold ``"all"`` pools the periods of all
  folds, each fold with its own schedule.

Look-ahead cannot enter here except through the inputs: every statistic of date t compares the
score of t with the outcome the caller aligned to t. The caller must make sure scores use data up
to t only and that a model's training data ends h dates before its test fold starts (purge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.analytics.cross_section import average_ranks, rank_ic_rows
from axion_pipeline.analytics.markdown import markdown_table
from axion_pipeline.ml.metrics import ic_summary

ALL = "all"
PERIODS_PER_YEAR = 252
MIN_IC_OBS = 3

EVALUATION_COLUMNS = [
    "signal",
    "fold",
    "start",
    "end",
    "n_dates",
    "ic_mean",
    "ic_std",
    "icir",
    "hit_rate",
    "ic_tstat_nw",
    "ic_pvalue_nw",
    "ic_ci_low",
    "ic_ci_high",
    "spread_mean",
    "n_periods",
    "ls_return_mean",
    "ls_return_ann",
    "ls_sharpe_ann",
    "turnover",
    "ls_return_net_mean",
    "ls_return_net_ann",
]


@dataclass(frozen=True)
class _Layout:
    """Where each input row sits in the (dates x tickers) panel, and the fold of each date."""

    dates: pd.DatetimeIndex
    tickers: pd.Index
    rows: np.ndarray
    cols: np.ndarray
    fold_of_date: np.ndarray  # fold code per date (0 when there is no fold column)
    fold_labels: list

    def wide(self, values) -> np.ndarray:
        out = np.full((len(self.dates), len(self.tickers)), np.nan)
        v = np.asarray(values, dtype="float64")
        out[self.rows, self.cols] = np.where(np.isfinite(v), v, np.nan)
        return out

    def groups(self) -> list[tuple[object, np.ndarray]]:
        """(fold label, date positions) per fold in date order, then ("all", every date)."""
        out = [(label, np.flatnonzero(self.fold_of_date == k)) for k, label in enumerate(self.fold_labels)]
        if len(self.fold_labels) > 1 or self.fold_labels[0] != ALL:
            out.append((ALL, np.arange(len(self.dates))))
        return out


def _layout(frame: pd.DataFrame, columns: Sequence[str], fold_col: str | None) -> _Layout:
    missing = [c for c in ("date", "ticker", *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}")
    rows, dates = pd.factorize(pd.DatetimeIndex(frame["date"]), sort=True)
    cols, tickers = pd.factorize(frame["ticker"].astype(str), sort=True)
    if (rows < 0).any() or (cols < 0).any():
        raise ValueError("frame holds rows without date or ticker")
    if np.bincount(rows.astype(np.int64) * max(len(tickers), 1) + cols).max(initial=0) > 1:
        raise ValueError("frame holds duplicate (date, ticker) rows")
    if fold_col is None or fold_col not in frame.columns:
        return _Layout(pd.DatetimeIndex(dates), tickers, rows, cols, np.zeros(len(dates), dtype=np.int64), [ALL])
    labels = frame[fold_col]
    if labels.isna().any():
        raise ValueError(f"{fold_col!r} has missing labels")
    codes, uniques = pd.factorize(labels)
    fold_of_date = np.full(len(dates), -1, dtype=np.int64)
    fold_of_date[rows] = codes
    if (fold_of_date[rows] != codes).any():
        raise ValueError(f"{fold_col!r} must hold one label per date")
    first = np.full(len(uniques), len(dates))
    np.minimum.at(first, fold_of_date, np.arange(len(dates)))
    order = np.argsort(first, kind="stable")  # folds in date order
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return _Layout(pd.DatetimeIndex(dates), tickers, rows, cols, remap[fold_of_date], list(uniques[order]))


def _ic_rows(score: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    ic, n = rank_ic_rows(score, outcome)
    return np.where(n >= MIN_IC_OBS, ic, np.nan)


def block_bootstrap_ci(
    values, block_length: int, n_resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of ``values`` (in order, NaN dropped) from a circular block
    bootstrap with blocks of ``block_length`` consecutive values (see the module docstring); NaN
    when there are fewer than two blocks of data or no resamples."""
    x = np.asarray(values, dtype="float64")
    x = x[~np.isnan(x)]
    n, b = len(x), max(int(block_length), 1)
    if n < 2 or n < 2 * b or n_resamples < 1:
        return float("nan"), float("nan")
    k = -(-n // b)
    starts = np.random.default_rng(seed).integers(0, n, size=(int(n_resamples), k))
    lengths = np.full(k, b)
    lengths[-1] = n - (k - 1) * b
    circle = np.concatenate([[0.0], np.cumsum(np.concatenate([x, x]))])  # block sums by differences
    means = (circle[starts + lengths] - circle[starts]).sum(axis=1) / n
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _buckets(score: np.ndarray, outcome: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Bucket 1..q of every sample cell per date (0 outside the sample, on dates with < q rows and
    on dates where every sample score is the same)."""
    valid = ~np.isnan(score) & ~np.isnan(outcome)
    n = valid.sum(axis=1)
    high = np.where(valid, score, -np.inf).max(axis=1, initial=-np.inf)
    varies = high > np.where(valid, score, np.inf).min(axis=1, initial=np.inf)
    order = np.argsort(np.where(valid, score, np.inf), axis=1, kind="stable")  # ties: ticker order
    rank = np.empty(score.shape)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(1.0, score.shape[1] + 1.0), score.shape), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = rank / n[:, None]
    bucket = np.clip(np.ceil(pct * n_quantiles), 1, n_quantiles)
    keep = valid & ((n >= n_quantiles) & varies)[:, None]
    return np.where(keep, bucket, 0).astype(np.int64)


def _leg_means(outcome: np.ndarray, bucket: np.ndarray, n_quantiles: int) -> tuple[np.ndarray, np.ndarray]:
    top, bottom = bucket == n_quantiles, bucket == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        top_mean = np.where(top, outcome, 0.0).sum(axis=1) / top.sum(axis=1)
        bottom_mean = np.where(bottom, outcome, 0.0).sum(axis=1) / bottom.sum(axis=1)
    return top_mean, bottom_mean


def _book_periods(
    layout: _Layout, bucket: np.ndarray, spread: np.ndarray, horizon: int, n_quantiles: int
) -> pd.DataFrame:
    """One row per held period: date position, fold code, gross return, turnover."""
    parts = []
    for k in range(len(layout.fold_labels)):
        dates = np.flatnonzero(layout.fold_of_date == k)[::horizon]
        dates = dates[~np.isnan(spread[dates])]
        if len(dates) == 0:
            continue
        top, bottom = bucket[dates] == n_quantiles, bucket[dates] == 1
        weights = top / top.sum(axis=1, keepdims=True) - bottom / bottom.sum(axis=1, keepdims=True)
        previous = np.vstack([np.zeros((1, weights.shape[1])), weights[:-1]])  # the fold starts flat
        turnover = 0.5 * np.abs(weights - previous).sum(axis=1)
        parts.append(pd.DataFrame({"pos": dates, "fold": k, "gross": spread[dates], "turnover": turnover}))
    if not parts:
        return pd.DataFrame({"pos": [], "fold": [], "gross": [], "turnover": []})
    return pd.concat(parts, ignore_index=True)


def _mean(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    return float(x.mean()) if len(x) else float("nan")


def _sharpe(x: np.ndarray, horizon: int) -> float:
    if len(x) < 2:
        return float("nan")
    std = float(x.std(ddof=1))
    return float(x.mean() / std * np.sqrt(PERIODS_PER_YEAR / horizon)) if std > 0 else float("nan")


def _check(horizon: int, n_quantiles: int) -> None:
    if int(horizon) < 1 or int(n_quantiles) < 2:
        raise ValueError("horizon must be >= 1 and n_quantiles >= 2")


def evaluate_signals(
    frame: pd.DataFrame,
    signals: Sequence[str],
    outcome: str = "fwd_return",
    fold_col: str | None = "fold",
    horizon: int = 21,
    cost_per_turnover: float = 0.001,
    n_quantiles: int = 5,
    n_bootstrap: int = 2000,
    block_length: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (signal, fold) and (signal, "all"): IC statistics, bootstrap interval, quantile
    spread and the non-overlapping long-short book (``EVALUATION_COLUMNS``, defined in the module
    docstring). Without a ``fold_col`` column there is only the "all" row."""
    _check(horizon, n_quantiles)
    layout = _layout(frame, [*signals, outcome], fold_col)
    y = layout.wide(frame[outcome])
    block = horizon if block_length is None else int(block_length)
    out = []
    for name in signals:
        s = layout.wide(frame[name])
        ic = _ic_rows(s, y)
        bucket = _buckets(s, y, n_quantiles)
        top, bottom = _leg_means(y, bucket, n_quantiles)
        spread = top - bottom
        book = _book_periods(layout, bucket, spread, horizon, n_quantiles)
        for label, pos in layout.groups():
            summary = ic_summary(pd.Series(ic[pos]), newey_west_lags=horizon - 1)
            low, high = block_bootstrap_ci(ic[pos], block, n_bootstrap, seed)
            held = book if label == ALL else book[book["fold"] == layout.fold_labels.index(label)]
            gross = held["gross"].to_numpy(dtype="float64")
            net = gross - cost_per_turnover * held["turnover"].to_numpy(dtype="float64")
            per_year = PERIODS_PER_YEAR / horizon
            out.append(
                {
                    "signal": name,
                    "fold": label,
                    "start": layout.dates[pos[0]] if len(pos) else pd.NaT,
                    "end": layout.dates[pos[-1]] if len(pos) else pd.NaT,
                    "n_dates": int(summary["n_dates"]),
                    "ic_mean": summary["ic_mean"],
                    "ic_std": summary["ic_std"],
                    "icir": summary["icir"],
                    "hit_rate": summary["hit_rate"],
                    "ic_tstat_nw": summary["ic_tstat"],
                    "ic_pvalue_nw": summary["ic_pvalue"],
                    "ic_ci_low": low,
                    "ic_ci_high": high,
                    "spread_mean": _mean(spread[pos]),
                    "n_periods": len(gross),
                    "ls_return_mean": _mean(gross),
                    "ls_return_ann": _mean(gross) * per_year,
                    "ls_sharpe_ann": _sharpe(gross, horizon),
                    "turnover": _mean(held["turnover"].to_numpy(dtype="float64")),
                    "ls_return_net_mean": _mean(net),
                    "ls_return_net_ann": _mean(net) * per_year,
                }
            )
    return pd.DataFrame(out, columns=EVALUATION_COLUMNS)


def long_short_periods(
    frame: pd.DataFrame,
    signal: str,
    outcome: str = "fwd_return",
    fold_col: str | None = "fold",
    horizon: int = 21,
    cost_per_turnover: float = 0.001,
    n_quantiles: int = 5,
) -> pd.DataFrame:
    """The periods of ``signal``'s long-short book behind ``evaluate_signals``: rebalance ``date``,
    ``fold``, ``n_long``, ``n_short``, ``gross`` return, one-way ``turnover`` and ``net`` return."""
    _check(horizon, n_quantiles)
    layout = _layout(frame, [signal, outcome], fold_col)
    y, s = layout.wide(frame[outcome]), layout.wide(frame[signal])
    bucket = _buckets(s, y, n_quantiles)
    top, bottom = _leg_means(y, bucket, n_quantiles)
    book = _book_periods(layout, bucket, top - bottom, horizon, n_quantiles)
    pos = book["pos"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "date": layout.dates[pos],
            "fold": [layout.fold_labels[int(k)] for k in book["fold"]],
            "n_long": (bucket[pos] == n_quantiles).sum(axis=1),
            "n_short": (bucket[pos] == 1).sum(axis=1),
            "gross": book["gross"].to_numpy(dtype="float64"),
            "turnover": book["turnover"].to_numpy(dtype="float64"),
            "net": book["gross"].to_numpy(dtype="float64") - cost_per_turnover * book["turnover"].to_numpy(),
        }
    )


def ic_by_date(frame: pd.DataFrame, signals: Sequence[str], outcome: str = "fwd_return") -> pd.DataFrame:
    """Per-date rank IC of each signal (dates x signals), NaN where undefined."""
    layout = _layout(frame, [*signals, outcome], None)
    y = layout.wide(frame[outcome])
    data = {name: _ic_rows(layout.wide(frame[name]), y) for name in signals}
    return pd.DataFrame(data, index=layout.dates.rename("date"), columns=list(signals))


def paired_ic_test(
    frame: pd.DataFrame,
    model: str,
    baselines: Sequence[str],
    outcome: str = "fwd_return",
    fold_col: str | None = "fold",
    horizon: int = 21,
    same_rows: bool = False,
) -> pd.DataFrame:
    """Is ``model``'s IC higher than each baseline's? One row per baseline.

    d_t = IC_model,t - IC_baseline,t on the dates where both ICs exist: ``n_dates``,
    ``model_ic_mean`` and ``baseline_ic_mean`` on those dates, ``diff_mean``, ``diff_tstat_nw`` and
    two-sided ``diff_pvalue_nw`` (Newey-West, h - 1 lags, t with n - 1 df); ``fold_win_rate``: share
    of the ``n_folds`` folds with a common date where the model's mean IC over the fold's common
    dates beats (>) the baseline's. Each IC uses its own signal's sample; ``same_rows`` restricts
    both to the rows where both signals exist, so a coverage difference cannot drive the result.
    """
    layout = _layout(frame, [model, *baselines, outcome], fold_col)
    y = layout.wide(frame[outcome])
    m = layout.wide(frame[model])
    out = []
    for base in baselines:
        b = layout.wide(frame[base])
        if same_rows:
            both_rows = ~np.isnan(m) & ~np.isnan(b)
            ic_m, ic_b = _ic_rows(np.where(both_rows, m, np.nan), y), _ic_rows(np.where(both_rows, b, np.nan), y)
        else:
            ic_m, ic_b = _ic_rows(m, y), _ic_rows(b, y)
        common = ~np.isnan(ic_m) & ~np.isnan(ic_b)
        summary = ic_summary(pd.Series((ic_m - ic_b)[common]), newey_west_lags=horizon - 1)
        wins = []
        for k in range(len(layout.fold_labels)):
            in_fold = common & (layout.fold_of_date == k)
            if in_fold.any():
                wins.append(ic_m[in_fold].mean() > ic_b[in_fold].mean())
        out.append(
            {
                "model": model,
                "baseline": base,
                "n_dates": int(common.sum()),
                "model_ic_mean": _mean(ic_m[common]),
                "baseline_ic_mean": _mean(ic_b[common]),
                "diff_mean": summary["ic_mean"],
                "diff_tstat_nw": summary["ic_tstat"],
                "diff_pvalue_nw": summary["ic_pvalue"],
                "n_folds": len(wins),
                "fold_win_rate": float(np.mean(wins)) if wins else float("nan"),
            }
        )
    return pd.DataFrame(out)


def _sector_r2(score: np.ndarray, sector: np.ndarray, n_sectors: int) -> np.ndarray:
    """Per date: R^2 of the score's average rank regressed on sector dummies (between-sector sum of
    squares over total), among cells with a score and a sector; NaN with < 3 cells or equal ranks."""
    valid = ~np.isnan(score) & (sector >= 0)
    ranks = average_ranks(score, valid)
    n = valid.sum(axis=1).astype("float64")
    r = np.where(valid, ranks, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = r.sum(axis=1) / n
        total = (np.where(valid, r - mean[:, None], 0.0) ** 2).sum(axis=1)
        rows, cols = np.nonzero(valid)
        key = rows * n_sectors + sector[rows, cols]
        size = score.shape[0] * n_sectors
        g_sum = np.bincount(key, r[rows, cols], size).reshape(-1, n_sectors)
        g_n = np.bincount(key, minlength=size).reshape(-1, n_sectors)
        between = np.where(g_n > 0, g_sum**2 / np.where(g_n > 0, g_n, 1), 0.0).sum(axis=1) - n * mean**2
        r2 = np.clip(between / total, 0.0, 1.0)
    return np.where((n >= MIN_IC_OBS) & (total > 0), r2, np.nan)


def signal_exposures(
    frame: pd.DataFrame,
    signals: Sequence[str],
    characteristics: Sequence[str] = (),
    sector_col: str | None = None,
    fold_col: str | None = "fold",
) -> pd.DataFrame:
    """What a signal is made of: one row per (signal, fold) and (signal, "all").

    For each characteristic column (e.g. beta, volatility, momentum, size): the mean over dates of
    the per-date Spearman rank correlation of the score with it (dates with >= 3 common rows). With
    ``sector_col``: ``sector_r2``, the mean over dates of the cross-sectional R^2 of the score's rank
    on sector dummies (0 for a sector-neutral score, 1 for a pure sector bet; a random score gives
    about (G - 1) / (n - 1) with G sectors and n names). ``n_dates``: dates with a score.
    """
    extra = [sector_col] if sector_col else []
    layout = _layout(frame, [*signals, *characteristics, *extra], fold_col)
    chars = {c: layout.wide(frame[c]) for c in characteristics}
    sector = None
    if sector_col:
        codes, uniques = pd.factorize(frame[sector_col])
        sector = np.full((len(layout.dates), len(layout.tickers)), -1, dtype=np.int64)
        sector[layout.rows, layout.cols] = codes
    out = []
    for name in signals:
        s = layout.wide(frame[name])
        per_date = {c: _ic_rows(s, v) for c, v in chars.items()}
        if sector is not None:
            per_date["sector_r2"] = _sector_r2(s, sector, max(len(uniques), 1))
        has_score = ~np.isnan(s).all(axis=1)
        for label, pos in layout.groups():
            row = {"signal": name, "fold": label, "n_dates": int(has_score[pos].sum())}
            row.update({c: _mean(v[pos]) for c, v in per_date.items()})
            out.append(row)
    return pd.DataFrame(out)


def evaluation_markdown(table: pd.DataFrame, columns: Sequence[str] | None = None, digits: int = 4) -> str:
    """A markdown table of an evaluation (numbers to ``digits`` decimals, NaN as n/a)."""
    cols = list(columns) if columns is not None else [c for c in table.columns if c not in ("start", "end")]

    def cell(v) -> str:
        if isinstance(v, (float, np.floating)):
            return "n/a" if np.isnan(v) else f"{v:.{digits}f}"
        return str(v)

    return markdown_table(cols, table[cols].itertuples(index=False), cell)
