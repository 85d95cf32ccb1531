"""Per-announcement features for the earnings beat/miss model, from information known beforehand.

One row per earnings event (ticker, announce_date). Features:

- prior surprises of the same ticker (events with an earlier announce_date): last surprise, mean
  of the last 2 and 4, their std, share of beats among the last 4, the signed streak of
  consecutive beats (+k) or misses (-k), and the number of earlier events;
- estimate revision: the current consensus estimate against the previous event's estimate and
  against the previous event's actual (the estimate is published before the announcement);
- price momentum (21- and 63-trading-day returns) and annualised volatility (21, 63 days) of the
  ticker up to the last close strictly before the announcement date (none older than
  ``max_price_staleness_days``), so a pre-market release's own reaction is never seen;
- fundamentals trend: TTM revenue growth year on year and against the previous period, using only
  fundamentals rows whose ``available_date`` is strictly before the announcement date;
- calendar: days from fiscal quarter end to the announcement, and whether it is a pre-market release.

Ratios whose denominator can be near zero (surprises, revisions) are clipped to [-1, 1].
Where look-ahead could enter, and why it does not: the event's own ``eps_actual`` and
``surprise_pct`` are only used for the labels; every other input is filtered to strictly before
``announce_date`` (earlier events, earlier closes, fundamentals available earlier).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLIP = 1.0
YEAR_LAG_DAYS = 330  # a period at least this much older than the latest counts as "a year ago"
FEATURE_COLUMNS = [
    "surprise_last",
    "surprise_mean_2",
    "surprise_mean_4",
    "surprise_std_4",
    "beat_rate_4",
    "beat_streak",
    "n_prior_events",
    "estimate_revision",
    "estimate_vs_prev_actual",
    "momentum_21d",
    "momentum_63d",
    "volatility_21d",
    "volatility_63d",
    "revenue_growth_yoy",
    "revenue_growth_qoq",
    "report_lag_days",
    "release_pre",
]


def _events(earnings_events: pd.DataFrame) -> pd.DataFrame:
    need = {"ticker", "announce_date", "eps_estimate", "eps_actual"}
    missing = need - set(earnings_events.columns)
    if missing:
        raise ValueError(f"earnings_events lacks columns {sorted(missing)}")
    ev = earnings_events.copy()
    ev["ticker"] = ev["ticker"].astype(str)
    ev["announce_date"] = pd.to_datetime(ev["announce_date"])
    for col in ("fiscal_quarter_end", "surprise_pct", "release_time"):
        if col not in ev:
            ev[col] = np.nan
    ev["fiscal_quarter_end"] = pd.to_datetime(ev["fiscal_quarter_end"])
    est = ev["eps_estimate"].astype(float)
    computed = (ev["eps_actual"].astype(float) - est) / est.abs().where(est != 0)
    ev["surprise_pct"] = ev["surprise_pct"].astype(float).fillna(computed)
    ev = ev.dropna(subset=["announce_date"]).drop_duplicates()
    dup = ev.duplicated(["ticker", "announce_date"], keep=False)
    if dup.any():
        first = ev.loc[dup, ["ticker", "announce_date"]].iloc[0].tolist()
        raise ValueError(f"{int(dup.sum())} conflicting events share (ticker, announce_date), e.g. {first}")
    return ev.sort_values(["ticker", "announce_date"], kind="mergesort").reset_index(drop=True)


def _surprise_history(ev: pd.DataFrame) -> pd.DataFrame:
    s = ev["surprise_pct"].clip(-CLIP, CLIP)
    by = ev["ticker"]
    lags = pd.concat({k: s.groupby(by).shift(k) for k in range(1, 5)}, axis=1)
    out = pd.DataFrame(index=ev.index)
    out["surprise_last"] = lags[1]
    out["surprise_mean_2"] = lags[[1, 2]].mean(axis=1)
    out["surprise_mean_4"] = lags.mean(axis=1)
    out["surprise_std_4"] = lags.std(axis=1)
    out["beat_rate_4"] = (lags > 0).astype(float).where(lags.notna()).mean(axis=1)
    sign = np.sign(s)  # NaN for an unknown surprise, which breaks a streak
    run = (sign != sign.groupby(by).shift()).groupby(by).cumsum()
    streak = (sign.groupby([by, run]).cumcount() + 1) * sign.fillna(0)
    out["beat_streak"] = streak.groupby(by).shift(1)
    out["n_prior_events"] = ev.groupby("ticker").cumcount().astype(float)
    est = ev["eps_estimate"].astype(float)
    prev_est = est.groupby(by).shift(1)
    prev_act = ev["eps_actual"].astype(float).groupby(by).shift(1)
    out["estimate_revision"] = ((est - prev_est) / prev_est.abs().where(prev_est != 0)).clip(-CLIP, CLIP)
    out["estimate_vs_prev_actual"] = ((est - prev_act) / prev_act.abs().where(prev_act != 0)).clip(-CLIP, CLIP)
    return out


def _price_features(ev: pd.DataFrame, prices_long: pd.DataFrame, staleness_days: int) -> pd.DataFrame:
    missing = {"date", "ticker", "close"} - set(prices_long.columns)
    if missing:
        raise ValueError(f"prices_long lacks columns {sorted(missing)}")
    px = prices_long[["date", "ticker", "close"]].copy()
    px["ticker"] = px["ticker"].astype(str)
    px["date"] = pd.to_datetime(px["date"])
    px = px.dropna().sort_values(["ticker", "date"], kind="mergesort").reset_index(drop=True)
    close = px.groupby("ticker")["close"]
    ret = close.pct_change(fill_method=None)
    feats = px[["date", "ticker"]].copy()
    for n in (21, 63):
        feats[f"momentum_{n}d"] = px["close"] / close.shift(n) - 1.0
        feats[f"volatility_{n}d"] = ret.groupby(px["ticker"]).rolling(n, min_periods=n).std().droplevel(0) * np.sqrt(
            252
        )
    left = ev[["ticker", "announce_date"]].reset_index().sort_values("announce_date", kind="mergesort")
    merged = pd.merge_asof(
        left,
        feats.sort_values("date", kind="mergesort"),
        left_on="announce_date",
        right_on="date",
        by="ticker",
        direction="backward",
        allow_exact_matches=False,
        tolerance=pd.Timedelta(days=staleness_days),
    )
    cols = ["momentum_21d", "momentum_63d", "volatility_21d", "volatility_63d"]
    return merged.set_index("index")[cols].reindex(ev.index)


def _fundamental_trend(ev: pd.DataFrame, fundamentals_long: pd.DataFrame | None) -> pd.DataFrame:
    out = pd.DataFrame(np.nan, index=ev.index, columns=["revenue_growth_yoy", "revenue_growth_qoq"])
    if fundamentals_long is None or fundamentals_long.empty:
        return out
    missing = {"ticker", "period_end", "available_date", "revenue"} - set(fundamentals_long.columns)
    if missing:
        raise ValueError(f"fundamentals_long lacks columns {sorted(missing)}")
    f = fundamentals_long[["ticker", "period_end", "available_date", "revenue"]].copy()
    f["ticker"] = f["ticker"].astype(str)
    f = f.dropna(subset=["period_end", "available_date"])
    groups = dict(tuple(f.groupby("ticker")))
    year = np.timedelta64(YEAR_LAG_DAYS, "D")
    dates = ev["announce_date"].to_numpy()
    result = out.to_numpy()
    for ticker, rows in ev.groupby("ticker").indices.items():
        g = groups.get(ticker)
        if g is None:
            continue
        avail = pd.to_datetime(g["available_date"]).to_numpy()
        period = pd.to_datetime(g["period_end"]).to_numpy()
        revenue = g["revenue"].to_numpy(dtype=float)
        for pos in rows:
            known = avail < dates[pos]
            if not known.any():
                continue

            def latest(mask: np.ndarray, period=period, revenue=revenue, avail=avail) -> float:
                """Revenue of the latest period in ``mask``, as last restated before the event."""
                if not mask.any():
                    return np.nan
                p = period[mask].max()
                cand = np.flatnonzero(mask & (period == p))
                return revenue[cand[np.argmax(avail[cand])]]

            p_last = period[known].max()
            now = latest(known)
            for j, prior in enumerate((latest(known & (period <= p_last - year)), latest(known & (period < p_last)))):
                if np.isfinite(now) and np.isfinite(prior) and prior > 0:
                    result[pos, j] = now / prior - 1.0
    return pd.DataFrame(result, index=ev.index, columns=out.columns)


def build_earnings_features(
    earnings_events: pd.DataFrame,
    prices_long: pd.DataFrame,
    fundamentals_long: pd.DataFrame | None = None,
    max_price_staleness_days: int = 10,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Features ``X``, beat label ``y_beat`` (1.0 beat, 0.0 miss or in line, NaN when the actual is
    not yet known, e.g. an upcoming announcement) and the surprise (``surprise_pct``, NaN when
    unknown) per event, indexed by (ticker, announce_date) and ordered by announce_date.
    """
    ev = _events(earnings_events)
    X = pd.concat(
        [
            _surprise_history(ev),
            _price_features(ev, prices_long, max_price_staleness_days),
            _fundamental_trend(ev, fundamentals_long),
        ],
        axis=1,
    )
    X["report_lag_days"] = (ev["announce_date"] - ev["fiscal_quarter_end"]).dt.days.astype(float)
    release = ev["release_time"].astype(object).where(ev["release_time"].notna())
    X["release_pre"] = release.map({"pre": 1.0, "post": 0.0}).astype(float)
    surprise = ev["surprise_pct"].astype(float)
    y_beat = (surprise > 0).astype(float).where(surprise.notna())
    index = pd.MultiIndex.from_arrays([ev["ticker"], ev["announce_date"]], names=["ticker", "announce_date"])
    order = np.lexsort((ev["ticker"].to_numpy(), ev["announce_date"].to_numpy()))
    X = X[FEATURE_COLUMNS].set_axis(index).iloc[order]
    return X, y_beat.set_axis(index).iloc[order].rename("beat"), surprise.set_axis(index).iloc[order].rename("surprise")
