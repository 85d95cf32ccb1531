"""Scoring core shared by ``FactorEngineV2`` (one date) and ``compute_factor_panel`` (every date).

Per date t, over the names with a close at t (and, given membership intervals, that are index
members at t: every rank below, sector-relative and composite included, is among those names,
while raw factors read each name's whole price history, also from before it joined):

1. sub-factor raw values and percentile scores, category score = percentile rank of the mean of
   the available sub-factor scores (``axion_pipeline.factors``);
2. sector-relative (optional): ``category = rank((1 - b) x global + b x within_sector)`` with
   b = ``sector_blend`` (0.5), where global is the category score and within_sector is the
   percentile rank of the same combined sub-factor mean among the names of the sector (used
   only when the sector has >= ``min_sector_size`` scored names that day; else global alone);
3. regime: ``RegimeDetector.detect_series`` on the S&P 500 closes up to t, or, when none are
   given, on the equal-weighted universe index 100 x prod(1 + mean daily return of the members)
   (``axion_pipeline.data.breadth.equal_weight_index``);
4. weights: ``AdaptiveWeightManager.weights_series`` (regime weights tilted by the trailing
   top-minus-bottom quintile returns of each category, formed at t-1) or the registry's static
   default weights;
5. composite = percentile rank of sum_c w_c s_c / sum_c w_c over the available categories.

Both paths evaluate the same panel functions; the single-date path keeps the row at as_of. The
momentum overlay needs the category scores of every earlier date, so with it both paths score the
whole history from the first price date (that is why they agree to the last bit).
Look-ahead: prices and the S&P 500 are truncated at the last evaluated date, fundamentals enter
through available_date <= t, every window is trailing, long-short returns use scores of t-1, and
a name's membership on t decides only whether it is in the cross-section of t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from axion_pipeline.data.breadth import equal_weight_index
from axion_pipeline.factor_engine.regime import HIGH_WINDOW, LONG_WINDOW, MarketRegime, RegimeDetector
from axion_pipeline.factor_engine.weights import CATEGORIES, AdaptiveWeightManager, long_short_returns
from axion_pipeline.factors.momentum import YEAR
from axion_pipeline.factors.ops import percentile_rank, weighted_mean
from axion_pipeline.factors.panel import FactorInputs, _dated, build_inputs
from axion_pipeline.factors.registry import FactorRegistry, create_default_registry
from axion_pipeline.factors.volatility import BETA_WINDOW

# The longest trailing window of a score: 12-1 month momentum and the 52-week high (close[t-252]),
# the 252-day beta, the regime detector's 252-day high and 200-day average.
LONGEST_WINDOW = max(YEAR, BETA_WINDOW, HIGH_WINDOW, LONG_WINDOW)


def history_days_needed(weight_manager: AdaptiveWeightManager | None = None) -> int:
    """Trading days before a date that the date's scores depend on: the longest window, plus, with the
    momentum overlay, its ``lookback_days`` of category returns (the oldest, on t - lookback + 1, is
    formed on scores of t - lookback, which read closes back to t - lookback - 252).

    A run that loads at least this many days before its first date stores, for every date, what a
    run over the whole history stores (the RSI's exponential average aside: it moves at the 1e-8
    level). Fewer, and the overlay's oldest category returns come from scores missing their 252-day
    sub-factors, so the weights and the composite depend on where the loaded history starts.
    """
    manager = weight_manager if weight_manager is not None else AdaptiveWeightManager()
    return LONGEST_WINDOW + (manager.lookback_days if manager.use_momentum_overlay else 0)


@dataclass
class EngineOptions:
    use_adaptive_weights: bool = True
    use_sector_relative: bool = True
    use_momentum_overlay: bool = True
    sector_blend: float = 0.5
    min_sector_size: int = 3
    n_quantiles: int = 5
    registry: FactorRegistry | None = None
    weight_manager: AdaptiveWeightManager | None = None
    regime_detector: RegimeDetector | None = None

    def __post_init__(self):
        if not 0.0 <= self.sector_blend <= 1.0:
            raise ValueError(f"sector_blend must be in [0, 1], got {self.sector_blend}")

    def get_registry(self) -> FactorRegistry:
        return self.registry if self.registry is not None else create_default_registry()

    def get_manager(self) -> AdaptiveWeightManager:
        if self.weight_manager is not None:
            return self.weight_manager
        return AdaptiveWeightManager(use_momentum_overlay=self.use_momentum_overlay)

    @property
    def needs_history(self) -> bool:
        """The overlay needs category scores of every earlier date."""
        return self.use_adaptive_weights and self.get_manager().use_momentum_overlay


@dataclass
class ScoredPanel:
    """Everything computed for ``inputs.out_dates`` (panels are out_dates x tickers)."""

    inputs: FactorInputs
    raw: dict[str, pd.DataFrame]
    categories: dict[str, pd.DataFrame]
    composite: pd.DataFrame
    regimes: pd.Series
    weights: pd.DataFrame
    factor_category: dict[str, str]
    sub_scores: dict[str, pd.DataFrame] = field(default_factory=dict)


def resolve_sectors(sectors, fundamentals: pd.DataFrame | None) -> pd.Series | None:
    """ticker -> sector from ``sectors`` (Series, or frame with ticker/sector columns), else from a
    ``sector`` column of the fundamentals (the last row per ticker of long fundamentals)."""
    if sectors is None and fundamentals is not None and "sector" in fundamentals.columns:
        f = fundamentals
        if "ticker" in f.columns:
            f = f.drop_duplicates("ticker", keep="last").set_index("ticker")
        sectors = f["sector"]
    if sectors is None:
        return None
    if isinstance(sectors, pd.DataFrame):
        sectors = sectors.set_index("ticker")["sector"]
    s = pd.Series(sectors).dropna()
    s.index = s.index.astype(str)
    return s[~s.index.duplicated(keep="last")]


def sector_relative(
    global_score: pd.DataFrame, combined: pd.DataFrame, sectors: pd.Series, blend: float, min_size: int
) -> pd.DataFrame:
    """percentile_rank((1 - blend) x global + blend x within-sector rank of ``combined``)."""
    labels = sectors.reindex(combined.columns)
    values = combined.to_numpy(dtype="float64")
    glob = global_score.to_numpy(dtype="float64")
    within = np.full(values.shape, np.nan)
    for _, cols in labels.groupby(labels).groups.items():
        j = combined.columns.get_indexer(cols)
        sub = values[:, j]
        pct = percentile_rank(pd.DataFrame(sub)).to_numpy()
        big = (~np.isnan(sub)).sum(axis=1, keepdims=True) >= min_size
        within[:, j] = np.where(big, pct, np.nan)
    within = np.where(np.isnan(within), glob, within)
    blended = pd.DataFrame((1.0 - blend) * glob + blend * within, index=combined.index, columns=combined.columns)
    return percentile_rank(blended)


def regime_series(inputs: FactorInputs, sp500: pd.Series | None, detector: RegimeDetector) -> pd.Series:
    """Regime label (string) per out_date from the S&P 500 (or the equal-weighted index of the
    members) up to the last evaluated date; sideways before the series starts."""
    last = inputs.close.index[-1]
    if sp500 is not None:
        index = _dated(sp500).loc[:last].dropna()
    else:
        index = equal_weight_index(inputs.returns, inputs.members)
    if index.empty:
        labels = pd.Series(dtype=object)
    else:
        labels = detector.detect_series(index)["regime"]
    out = labels.reindex(inputs.out_dates, method="ffill") if len(labels) else pd.Series(index=inputs.out_dates)
    return out.fillna(MarketRegime.SIDEWAYS.value).astype(object).rename("regime")


def stack(panels: dict[str, pd.DataFrame], mask: np.ndarray | None = None) -> pd.DataFrame:
    """date, ticker and one column per panel (same shape), rows where ``mask`` (all when None)."""
    first = next(iter(panels.values()))
    n_d, n_t = first.shape
    keep = np.ones(n_d * n_t, dtype=bool) if mask is None else mask.ravel()
    block = np.empty((int(keep.sum()), len(panels)), order="F")
    for j, v in enumerate(panels.values()):
        block[:, j] = v.to_numpy(dtype="float64").ravel()[keep]
    values = pd.DataFrame(block, columns=list(panels), copy=False)
    ids = pd.DataFrame(
        {
            "date": np.repeat(first.index.to_numpy(), n_t)[keep],
            "ticker": np.tile(first.columns.to_numpy(dtype=object), n_d)[keep],
        }
    )
    return pd.concat([ids, values], axis=1, copy=False)


def category_weights(
    inputs: FactorInputs,
    categories: dict[str, pd.DataFrame],
    regimes: pd.Series,
    registry: FactorRegistry,
    options: EngineOptions,
) -> pd.DataFrame:
    """out_dates x categories weights (each row sums to 1)."""
    if not options.use_adaptive_weights:
        w = registry.get_default_weights()
        return pd.DataFrame([w] * len(regimes), index=regimes.index, columns=list(w))
    manager = options.get_manager()
    returns = None
    if manager.use_momentum_overlay:
        returns = long_short_returns(stack(categories), inputs.close, n_quantiles=options.n_quantiles)
    return manager.weights_series(regimes, returns)


def composite_score(categories: dict[str, pd.DataFrame], weights: pd.DataFrame) -> pd.DataFrame:
    """percentile rank of sum_c w_c s_c / sum_c w_c over the non-missing categories that have a
    weight; all NaN when none has."""
    weighted = [c for c in categories if c in weights.columns]
    if not weighted:
        first = next(iter(categories.values()))
        return pd.DataFrame(np.nan, index=first.index, columns=first.columns)
    return percentile_rank(
        weighted_mean({c: categories[c] for c in weighted}, {c: weights[c].to_numpy(dtype="float64") for c in weighted})
    )


def score(
    inputs: FactorInputs,
    options: EngineOptions,
    sp500: pd.Series | None = None,
    sectors: pd.Series | None = None,
    keep_sub_scores: bool = False,
) -> ScoredPanel:
    """Run steps 1-5 of the module docstring on ``inputs``."""
    registry = options.get_registry()
    raw, subs, categories, factor_category = {}, {}, {}, {}
    for cat, calc in registry:
        panel = calc.compute_panel(inputs)
        raw.update(panel.raw)
        factor_category.update(dict.fromkeys(panel.raw, cat))
        if keep_sub_scores:
            subs.update(panel.scores)
        if options.use_sector_relative and sectors is not None:
            categories[cat] = sector_relative(
                panel.category, panel.combined, sectors, options.sector_blend, options.min_sector_size
            )
        else:
            categories[cat] = panel.category
    regimes = regime_series(inputs, sp500, options.regime_detector or RegimeDetector())
    weights = category_weights(inputs, categories, regimes, registry, options)
    composite = composite_score(categories, weights)
    return ScoredPanel(
        inputs=inputs,
        raw=raw,
        categories=categories,
        composite=composite,
        regimes=regimes,
        weights=weights,
        factor_category=factor_category,
        sub_scores=subs,
    )


def to_long(scored: ScoredPanel, start=None, end=None) -> pd.DataFrame:
    """Canonical long frame: date, ticker, raw sub-factors, categories, composite, regime and
    weight_<category>, for the names in the cross-section (``FactorInputs.alive``) on dates in
    [start, end]."""
    inp = scored.inputs
    dates = inp.out_dates
    keep_dates = np.ones(len(dates), dtype=bool)
    if start is not None:
        keep_dates &= dates >= pd.Timestamp(start)
    if end is not None:
        keep_dates &= dates <= pd.Timestamp(end)
    mask = inp.alive & keep_dates[:, None]
    panels = {**scored.raw, **scored.categories, "composite": scored.composite}
    out = stack(panels, mask)
    row_date = np.repeat(np.arange(len(dates)), len(inp.tickers))[mask.ravel()]
    out["regime"] = scored.regimes.to_numpy(dtype=object)[row_date]
    for c in CATEGORIES:
        w = scored.weights[c].to_numpy(dtype="float64") if c in scored.weights.columns else np.zeros(len(dates))
        out[f"weight_{c}"] = w[row_date]
    out["date"] = pd.to_datetime(out["date"])
    out["ticker"] = out["ticker"].astype(str)
    return out


def compute_factor_panel(
    prices_long: pd.DataFrame,
    fundamentals_long: pd.DataFrame | None = None,
    sp500: pd.Series | None = None,
    start=None,
    end=None,
    sectors=None,
    *,
    use_adaptive_weights: bool = True,
    use_sector_relative: bool = True,
    use_momentum_overlay: bool = True,
    volume: pd.DataFrame | None = None,
    market_returns: pd.Series | None = None,
    sector_blend: float = 0.5,
    registry: FactorRegistry | None = None,
    weight_manager: AdaptiveWeightManager | None = None,
    regime_detector: RegimeDetector | None = None,
    membership: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Scores for every trading date in [start, end] in one vectorised pass (long frame, see
    ``to_long``). Equal to ``FactorEngineV2.compute_all_scores`` on each date given the same
    history.

    ``prices_long``: canonical long prices (close, volume) or a dates x tickers close panel;
    prices after ``end`` are dropped. Earlier history is used for lookbacks (and, with the
    momentum overlay, for the category returns). ``fundamentals_long``: canonical long
    fundamentals. ``sectors``: ticker -> sector for sector-relative scoring. ``membership``:
    index membership intervals (``ticker, start_date, end_date``); rows exist only for members
    then. None or an empty frame: every priced name is in every cross-section.
    """
    options = EngineOptions(
        use_adaptive_weights=use_adaptive_weights,
        use_sector_relative=use_sector_relative,
        use_momentum_overlay=use_momentum_overlay,
        sector_blend=sector_blend,
        registry=registry,
        weight_manager=weight_manager,
        regime_detector=regime_detector,
    )
    inputs = build_inputs(
        prices_long,
        fundamentals_long,
        as_of=end,
        volume=volume,
        market_returns=market_returns,
        sp500=sp500,
        out_dates="all",
        out_start=None if options.needs_history else start,
        membership=membership,
    )
    last = inputs.close.index[-1]
    if start is not None and pd.Timestamp(start) > last:
        raise ValueError(f"no trading dates in [{pd.Timestamp(start).date()}, {last.date()}]")
    scored = score(inputs, options, sp500=sp500, sectors=resolve_sectors(sectors, fundamentals_long))
    return to_long(scored, start, end)
