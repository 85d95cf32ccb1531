"""Regime-dependent factor-category weights with an optional momentum overlay.

Base weights depend on the market regime (bull: momentum and growth, bear: quality and low
volatility, crisis: quality first, sideways: near neutral). The overlay tilts them toward
categories whose daily long-short (top minus bottom quantile) returns were positive over a trailing
window.

Point in time: the long-short return of day ``t`` is the close ``t-1`` -> close ``t`` return of
portfolios formed on scores of ``t-1``, so it is known at the close of ``t`` and may be used for
the weights of ``t``. Look-ahead would enter if ``category_returns`` passed to ``get_weights``
held rows after the as-of date (the caller truncates) or if scores of ``t`` were used to form the
portfolio earning the return of ``t`` (``long_short_returns`` lags them one day).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from axion_pipeline.factor_engine.regime import MarketRegime

CATEGORIES = ["value", "momentum", "quality", "growth", "volatility", "technical"]

DEFAULT_WEIGHTS: dict[str, float] = {c: 1.0 / len(CATEGORIES) for c in CATEGORIES}

REGIME_WEIGHTS: dict[MarketRegime, dict[str, float]] = {
    MarketRegime.BULL: {
        "value": 0.12,
        "momentum": 0.26,
        "quality": 0.14,
        "growth": 0.24,
        "volatility": 0.08,
        "technical": 0.16,
    },
    MarketRegime.BEAR: {
        "value": 0.16,
        "momentum": 0.10,
        "quality": 0.28,
        "growth": 0.08,
        "volatility": 0.26,
        "technical": 0.12,
    },
    MarketRegime.SIDEWAYS: {
        "value": 0.20,
        "momentum": 0.15,
        "quality": 0.18,
        "growth": 0.15,
        "volatility": 0.16,
        "technical": 0.16,
    },
    MarketRegime.CRISIS: {
        "value": 0.10,
        "momentum": 0.06,
        "quality": 0.36,
        "growth": 0.04,
        "volatility": 0.32,
        "technical": 0.12,
    },
}


def _as_regime(regime: MarketRegime | str) -> MarketRegime:
    try:
        return MarketRegime(regime)
    except ValueError:
        raise ValueError(f"unknown regime {regime!r}; expected one of {[r.value for r in MarketRegime]}") from None


def _floor_and_normalise(w: np.ndarray, min_weight: float) -> np.ndarray:
    """Rows of positive weights -> rows summing to 1 with every entry >= ``min_weight``.

    Solves ``w_i = max(min_weight, c * v_i)`` with ``sum_i w_i = 1`` per row: entries that would fall
    under the floor are pinned to it and the others rescaled proportionally (at most k passes).
    """
    w = np.atleast_2d(np.asarray(w, dtype="float64"))
    floored = np.zeros(w.shape, dtype=bool)
    for _ in range(w.shape[1] + 1):
        free_sum = np.where(floored, 0.0, w).sum(axis=1, keepdims=True)
        scale = (1.0 - min_weight * floored.sum(axis=1, keepdims=True)) / free_sum
        out = np.where(floored, min_weight, w * scale)
        new = floored | (out < min_weight)
        if (new == floored).all():
            return out
        floored = new
    raise AssertionError("floor projection did not converge")  # unreachable: the floored set only grows


def _tilt_scores(mean: np.ndarray, std: np.ndarray, n: np.ndarray) -> np.ndarray:
    """tanh of the t-statistic of the trailing mean, in [-1, 1]; 0 with fewer than 2 observations."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (std / np.sqrt(n))
        t = np.where(std == 0.0, np.sign(mean) * np.inf, t)
    t = np.where((n < 2) | np.isnan(mean) | (mean == 0.0), 0.0, t)
    return np.tanh(t)


class AdaptiveWeightManager:
    """Category weights for a regime, tilted by recent long-short category returns.

    Overlay: weight_c = regime_weight_c * exp(overlay_strength * tanh(t_c)), where t_c is the
    t-statistic (mean / (std / sqrt(n))) of the category's daily long-short returns over the last
    ``lookback_days`` rows. A category with positive trailing returns is tilted up by at most
    ``exp(overlay_strength)``, one with negative returns down by as much; a category absent from
    ``category_returns`` or with fewer than 2 returns in the window is not tilted. Weights are then
    floored at ``min_weight`` and renormalised to sum to 1.
    """

    def __init__(
        self,
        use_momentum_overlay: bool = True,
        overlay_strength: float = 0.5,
        lookback_days: int = 63,
        min_weight: float = 0.02,
    ):
        if overlay_strength < 0:
            raise ValueError(f"overlay_strength must be >= 0, got {overlay_strength}")
        if lookback_days < 2:
            raise ValueError(f"lookback_days must be >= 2, got {lookback_days}")
        if not 0.0 <= min_weight < 1.0 / len(CATEGORIES):
            raise ValueError(f"min_weight must be in [0, 1/{len(CATEGORIES)}), got {min_weight}")
        self.use_momentum_overlay = use_momentum_overlay
        self.overlay_strength = overlay_strength
        self.lookback_days = lookback_days
        self.min_weight = min_weight

    def _multipliers(self, mean: np.ndarray, std: np.ndarray, n: np.ndarray) -> np.ndarray:
        return np.exp(self.overlay_strength * _tilt_scores(mean, std, n))

    def _overlay_columns(self, category_returns: pd.DataFrame) -> list[str]:
        return [c for c in CATEGORIES if c in category_returns.columns]

    def get_weights(self, regime: MarketRegime | str, category_returns: pd.DataFrame | None = None) -> dict[str, float]:
        """Weights per category (sum 1, each >= ``min_weight``) for ``regime``.

        ``category_returns`` (dates x categories, daily long-short returns) must hold only returns
        known at the as-of date; its last ``lookback_days`` rows drive the overlay.
        """
        base = np.array([REGIME_WEIGHTS[_as_regime(regime)][c] for c in CATEGORIES])
        mult = np.ones(len(CATEGORIES))
        if self.use_momentum_overlay and category_returns is not None:
            window = category_returns.sort_index().tail(self.lookback_days)
            for c in self._overlay_columns(category_returns):
                x = window[c].dropna().to_numpy(dtype="float64")
                if len(x) >= 2:
                    m, sd, n = np.array([x.mean()]), np.array([x.std(ddof=1)]), np.array([len(x)])
                    mult[CATEGORIES.index(c)] = self._multipliers(m, sd, n)[0]
        w = _floor_and_normalise(base * mult, self.min_weight)[0]
        return {c: float(v) for c, v in zip(CATEGORIES, w)}

    def weights_series(self, regimes: pd.Series, category_returns: pd.DataFrame | None = None) -> pd.DataFrame:
        """Weights for every date of ``regimes`` (date x categories), vectorised.

        Row ``t`` equals ``get_weights(regimes[t], category_returns.loc[:t])``: the overlay uses the
        returns of the last ``lookback_days`` rows dated on or before ``t``.
        """
        if regimes.index.has_duplicates:
            raise ValueError("regimes has duplicated dates")
        base = np.array([[REGIME_WEIGHTS[_as_regime(r)][c] for c in CATEGORIES] for r in regimes])
        base = base.reshape(len(regimes), len(CATEGORIES))
        mult = np.ones_like(base)
        if self.use_momentum_overlay and category_returns is not None and len(regimes):
            if not regimes.index.is_monotonic_increasing:
                raise ValueError("regimes must be sorted by date")
            cols = self._overlay_columns(category_returns)
            r = category_returns.sort_index()[cols].astype("float64")
            roll = r.rolling(self.lookback_days, min_periods=1)
            stats = [
                s.reindex(regimes.index, method="ffill").to_numpy()
                for s in (roll.mean(), roll.std(ddof=1), roll.count())
            ]
            n = np.nan_to_num(stats[2], nan=0.0)
            tilted = self._multipliers(stats[0], stats[1], n)
            for j, c in enumerate(cols):
                mult[:, CATEGORIES.index(c)] = tilted[:, j]
        w = _floor_and_normalise(base * mult, self.min_weight) if len(regimes) else base
        out = pd.DataFrame(w, index=regimes.index, columns=CATEGORIES)
        out.index.name = "date"
        return out


def long_short_returns(
    category_scores_long: pd.DataFrame, close_panel: pd.DataFrame, n_quantiles: int = 5
) -> pd.DataFrame:
    """Daily top-minus-bottom quantile return per category (dates of ``close_panel`` x categories).

    The portfolio earning the close ``t-1`` -> close ``t`` return is formed on the scores dated at
    the previous row ``t-1`` of ``close_panel`` (dates x tickers), never on scores of ``t``. Among
    the N names with both a score at ``t-1`` and a return at ``t``, ranked with average ranks, the
    bottom quantile holds those whose rank from the bottom is <= N / n_quantiles and the top those
    whose rank from the top is, so both legs have floor(N / n_quantiles) names without ties and
    negating the scores negates the result. Each leg is equally weighted. NaN when N < n_quantiles
    or a leg is empty (e.g. all scores tied), and on the first date.
    ``category_scores_long`` has columns ``date``, ``ticker`` and one column per category present.
    """
    missing = {"date", "ticker"} - set(category_scores_long.columns)
    if missing:
        raise ValueError(f"category_scores_long lacks columns {sorted(missing)}")
    cats = [c for c in CATEGORIES if c in category_scores_long.columns]
    if not cats:
        raise ValueError(f"category_scores_long has none of the category columns {CATEGORIES}")
    if category_scores_long.duplicated(["date", "ticker"]).any():
        raise ValueError("category_scores_long has duplicated (date, ticker) rows")
    if n_quantiles < 2:
        raise ValueError(f"n_quantiles must be >= 2, got {n_quantiles}")
    close = close_panel.copy()
    close.index = pd.DatetimeIndex(pd.to_datetime(close.index))
    close = close.sort_index()
    ret = close.pct_change(fill_method=None)
    # scatter the long scores onto the panel grid; rows off the grid (date or ticker absent) drop out
    row = close.index.get_indexer(pd.to_datetime(category_scores_long["date"]))
    col = close.columns.get_indexer(category_scores_long["ticker"])
    on_grid = (row >= 0) & (col >= 0)
    row, col = row[on_grid], col[on_grid]
    out = {}
    for c in cats:
        wide = np.full(close.shape, np.nan)
        wide[row, col] = category_scores_long[c].to_numpy(dtype="float64")[on_grid]
        prev = pd.DataFrame(wide, index=close.index, columns=close.columns).shift(1)
        valid = prev.notna() & ret.notna()
        n = valid.sum(axis=1)
        rank = prev.where(valid).rank(axis=1, method="average")
        rank_from_top = rank.rsub(n + 1, axis=0)
        bottom = rank.mul(n_quantiles).le(n, axis=0)
        top = rank_from_top.mul(n_quantiles).le(n, axis=0)
        ls = ret.where(top).mean(axis=1) - ret.where(bottom).mean(axis=1)
        out[c] = ls.where(n >= n_quantiles)
    result = pd.DataFrame(out, index=close.index)
    result.index.name = "date"
    return result
