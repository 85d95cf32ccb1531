"""Rule-based market regime detection on the S&P 500 close series.

Four indicators, all trailing (the value for date ``t`` uses closes up to and including ``t``):
the 200- and 50-day simple moving averages, the drawdown from the trailing 252-day high, and the
annualised 20-day realised volatility of simple daily returns. Look-ahead could only enter through
a centred or forward window; none is used, and ``detect(as_of=t)`` truncates the series at ``t``
before computing anything.

On the real ^GSPC series (1927-2023) the defaults give every day of October 2008 as crisis and
every day of 2013 as bull (tested in ``axion_pipeline_tests/factor_engine/test_regime.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

import numpy as np
import pandas as pd

LONG_WINDOW = 200  # trend average, also the minimum history for a verdict
SHORT_WINDOW = 50
HIGH_WINDOW = 252  # trailing high for the drawdown
VOL_WINDOW = 20
TRADING_DAYS_PER_YEAR = 252
INDICATOR_COLUMNS = ["sma_200", "sma_50", "drawdown", "realized_vol_20d"]


class MarketRegime(str, Enum):  # noqa: UP042 - StrEnum would change str(regime), which callers print
    BULL = "bull"
    BEAR = "bear"
    SIDEWAYS = "sideways"
    CRISIS = "crisis"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RegimeThresholds:
    """Cut-offs of the rules; drawdowns and bands are fractions, volatilities annualised.

    - ``crisis_vol`` 0.40: 20-day vol above 40% is crisis on its own (reached in 1987, 2008, 2020).
    - ``crisis_drawdown`` -0.20 with ``crisis_drawdown_vol`` 0.30: a bear-market-deep drawdown
      with elevated vol is crisis too.
    - ``bear_drawdown`` -0.10: a correction-deep drawdown below the 200-day average is bear.
    - ``bull_max_drawdown`` -0.10: bull needs a drawdown shallower than this.
    - ``trend_band`` 0.01 and ``cross_band`` 0.005: the close must be more than 1% away from the
      200-day average (and the 50-day more than 0.5% away from it) to count as above or below,
      so that a trendless series oscillating around its average stays sideways instead of
      flipping between bull and bear.
    """

    crisis_vol: float = 0.40
    crisis_drawdown: float = -0.20
    crisis_drawdown_vol: float = 0.30
    bear_drawdown: float = -0.10
    bull_max_drawdown: float = -0.10
    trend_band: float = 0.01
    cross_band: float = 0.005

    def __post_init__(self) -> None:
        for name in ("crisis_drawdown", "bear_drawdown", "bull_max_drawdown"):
            if not -1.0 < getattr(self, name) < 0.0:
                raise ValueError(f"{name} must be in (-1, 0), got {getattr(self, name)}")
        for name in ("crisis_vol", "crisis_drawdown_vol"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("trend_band", "cross_band"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def _prepare(sp500: pd.Series) -> pd.Series:
    """Sorted closes on a DatetimeIndex without missing values; refuse duplicates and closes <= 0."""
    s = pd.Series(sp500).astype("float64")
    if not isinstance(s.index, pd.DatetimeIndex):
        s.index = pd.DatetimeIndex(pd.to_datetime(s.index))
    s = s.dropna()
    if not s.index.is_monotonic_increasing:
        s = s.sort_index()
    if s.index.has_duplicates:
        raise ValueError("sp500 has duplicated dates")
    if (s <= 0).any():
        raise ValueError("sp500 closes must be positive")
    return s


def _indicators(close: pd.Series) -> pd.DataFrame:
    """Trailing indicators per date; NaN where a window is not yet full (drawdown needs 1 close)."""
    vol = close.pct_change().rolling(VOL_WINDOW, min_periods=VOL_WINDOW).std()
    out = pd.DataFrame(
        {
            "sma_200": close.rolling(LONG_WINDOW, min_periods=LONG_WINDOW).mean(),
            "sma_50": close.rolling(SHORT_WINDOW, min_periods=SHORT_WINDOW).mean(),
            "drawdown": close / close.rolling(HIGH_WINDOW, min_periods=1).max() - 1.0,
            "realized_vol_20d": vol * np.sqrt(TRADING_DAYS_PER_YEAR),
        },
        index=close.index,
    )
    out.index.name = "date"
    return out


class RegimeDetector:
    """Classifies each day as crisis, bear, bull or sideways, rules checked in that order.

    - CRISIS: vol > ``crisis_vol``, or drawdown <= ``crisis_drawdown`` with vol > ``crisis_drawdown_vol``.
    - BEAR: close below the 200-day average and (drawdown <= ``bear_drawdown`` or 50-day below 200-day).
    - BULL: close above the 200-day average, 50-day above 200-day, drawdown > ``bull_max_drawdown``.
    - SIDEWAYS: otherwise, and whenever fewer than 200 closes are available.

    "Above"/"below" include the bands of ``RegimeThresholds``.
    """

    def __init__(self, thresholds: RegimeThresholds | None = None):
        self.thresholds = thresholds if thresholds is not None else RegimeThresholds()

    def _classify(self, close: float, sma_200: float, sma_50: float, drawdown: float, vol: float) -> MarketRegime:
        """Scalar form of the rules (``detect_series`` applies the same rules vectorised)."""
        t = self.thresholds
        if np.isnan(sma_200):
            return MarketRegime.SIDEWAYS
        if vol > t.crisis_vol or (drawdown <= t.crisis_drawdown and vol > t.crisis_drawdown_vol):
            return MarketRegime.CRISIS
        below = close < sma_200 * (1.0 - t.trend_band)
        if below and (drawdown <= t.bear_drawdown or sma_50 < sma_200 * (1.0 - t.cross_band)):
            return MarketRegime.BEAR
        above = close > sma_200 * (1.0 + t.trend_band)
        if above and sma_50 > sma_200 * (1.0 + t.cross_band) and drawdown > t.bull_max_drawdown:
            return MarketRegime.BULL
        return MarketRegime.SIDEWAYS

    def inputs_as_of(self, sp500: pd.Series, as_of: date | pd.Timestamp | str | None = None) -> dict:
        """Indicators and regime on the last trading day <= ``as_of`` (all data when None), for reports.

        ``as_of`` is the last date used (None when no close is on or before ``as_of``);
        ``sufficient_history`` is False when fewer than 200 closes exist, and the regime is then
        sideways.
        """
        close = _prepare(sp500)
        if as_of is not None:
            close = close.loc[: pd.Timestamp(as_of)]
        n = len(close)
        if n == 0:
            row = dict.fromkeys(["close", *INDICATOR_COLUMNS], float("nan"))
            last_date = None
        else:
            ind = _indicators(close).iloc[-1]
            row = {"close": float(close.iloc[-1]), **{c: float(ind[c]) for c in INDICATOR_COLUMNS}}
            last_date = close.index[-1]
        regime = (
            self._classify(row["close"], row["sma_200"], row["sma_50"], row["drawdown"], row["realized_vol_20d"])
            if n >= LONG_WINDOW
            else MarketRegime.SIDEWAYS
        )
        return {
            "as_of": last_date,
            "n_observations": n,
            "sufficient_history": n >= LONG_WINDOW,
            **row,
            "regime": regime.value,
        }

    def detect(self, sp500: pd.Series, as_of: date | pd.Timestamp | str | None = None) -> MarketRegime:
        """Regime on the last trading day <= ``as_of`` using only closes up to it.

        Returns SIDEWAYS when fewer than 200 closes are available (no 200-day average yet).
        """
        return MarketRegime(self.inputs_as_of(sp500, as_of)["regime"])

    def detect_series(self, sp500: pd.Series) -> pd.DataFrame:
        """Regime and indicators for every date, equal to ``detect(sp500, as_of=date)`` per date.

        Columns: ``regime`` (string values of ``MarketRegime``), ``sma_200``, ``sma_50``,
        ``drawdown``, ``realized_vol_20d``; indexed by ``date``.
        """
        close = _prepare(sp500)
        ind = _indicators(close)
        t = self.thresholds
        sma200, sma50, dd, vol = (ind[c].to_numpy() for c in INDICATOR_COLUMNS)
        c = close.to_numpy()
        with np.errstate(invalid="ignore"):
            crisis = (vol > t.crisis_vol) | ((dd <= t.crisis_drawdown) & (vol > t.crisis_drawdown_vol))
            below = c < sma200 * (1.0 - t.trend_band)
            bear = below & ((dd <= t.bear_drawdown) | (sma50 < sma200 * (1.0 - t.cross_band)))
            above = c > sma200 * (1.0 + t.trend_band)
            bull = above & (sma50 > sma200 * (1.0 + t.cross_band)) & (dd > t.bull_max_drawdown)
        regime = np.select(
            [np.isnan(sma200), crisis, bear, bull],
            [MarketRegime.SIDEWAYS.value, MarketRegime.CRISIS.value, MarketRegime.BEAR.value, MarketRegime.BULL.value],
            default=MarketRegime.SIDEWAYS.value,
        )
        out = ind.copy()
        out.insert(0, "regime", pd.Series(regime, index=ind.index, dtype=object))
        return out


def _labels(s: pd.Series, name: str) -> pd.Series:
    """String regime labels (enum members become their value); unknown labels are an error."""
    if s.index.has_duplicates:
        raise ValueError(f"{name} has duplicated dates")
    out = s.dropna().map(lambda v: v.value if isinstance(v, MarketRegime) else str(v))
    unknown = set(out.unique()) - {r.value for r in MarketRegime}
    if unknown:
        raise ValueError(f"{name} holds unknown regimes: {sorted(unknown)}")
    return out


def regime_agreement(detected: pd.Series, truth: pd.Series) -> dict:
    """Agreement of detected regimes with true (e.g. planted) ones on their common dates.

    Returns ``n_days``, ``accuracy``, ``recall`` (per true regime: share of its days detected as
    it; NaN when the regime never occurs in ``truth``) and ``confusion_matrix`` as
    ``{true_regime: {detected_regime: days}}`` over all four regimes.
    """
    d = _labels(detected, "detected")
    t = _labels(truth, "truth")
    common = d.index.intersection(t.index)
    if len(common) == 0:
        raise ValueError("detected and truth share no dates")
    d, t = d.loc[common], t.loc[common]
    names = [r.value for r in MarketRegime]
    counts = pd.crosstab(t, d).reindex(index=names, columns=names, fill_value=0)
    confusion = {tr: {dr: int(counts.loc[tr, dr]) for dr in names} for tr in names}
    recall = {}
    for r in names:
        n_true = int(counts.loc[r].sum())
        recall[r] = confusion[r][r] / n_true if n_true else float("nan")
    return {
        "n_days": int(len(common)),
        "accuracy": float((d == t).mean()),
        "recall": recall,
        "confusion_matrix": confusion,
    }
