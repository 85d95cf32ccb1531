"""``FactorEngineV2``: six category scores, regime-adaptive composite, for one date.

Inputs (as in the spec): ``prices`` dates x tickers of adjusted closes (canonical long prices are
accepted too); ``fundamentals`` tickers x fields, either raw fields (the contracts'
FUNDAMENTAL_FIELDS, plus ``_1y``/``_prev`` history fields as built by
``build_fundamentals_snapshot``) or spec-style precomputed ratios (pe_ratio, roe,
revenue_growth, ...; used where present), or canonical long fundamentals with available_date
(then every date sees exactly the filings available on it). Optional keywords: ``volume`` (dates
x tickers), ``sectors`` (Series ticker -> sector; else a ``sector`` column of the fundamentals),
``market_returns`` for beta (default: S&P 500 returns when given, else the equal-weighted mean
return of the universe). The universe at as_of is the set of tickers with a close on that date
that are index members then when ``membership`` intervals are given (ranks, sector ranks and the
composite among those; a member's raw factors still use its price history from before it joined).

One regime per date: the engine keeps the S&P 500 series it was last given (in the constructor or
any call) as ``sp500_prices`` and uses it in every later call that passes none, so
``compute_all_scores(..., sp500_prices=s)`` followed by ``get_factor_breakdown(ticker, prices,
fundamentals)`` detects the regime (and measures beta) on the same series and reports the same
regime and scores for the same date. Only an engine that was never given one detects the regime on
the equal-weighted universe index. Which series was used is in ``last_regime_source``,
``attrs["regime_source"]`` of the scores and ``breakdown["regime_source"]``: "sp500_prices" or
"equal_weight_universe".

Look-ahead: prices and the S&P 500 after ``as_of_date`` are dropped here, before anything is
computed; fundamentals rows (or snapshot rows) with available_date after a date are not used on it.
With a tickers x fields snapshot and the momentum overlay on, the category returns of earlier dates
are computed as if the snapshot had held on them (only the caller's data is used, nothing later
than as_of); pass long fundamentals for exact point-in-time history.
"""

from __future__ import annotations

import pandas as pd

from axion_pipeline.factor_engine.panel import EngineOptions, ScoredPanel, resolve_sectors, score
from axion_pipeline.factor_engine.regime import MarketRegime, RegimeDetector
from axion_pipeline.factor_engine.weights import CATEGORIES, AdaptiveWeightManager
from axion_pipeline.factors.panel import build_inputs
from axion_pipeline.factors.registry import FactorRegistry

V1_CATEGORIES = ["value", "momentum", "quality", "growth"]
REGIME_FROM_SP500 = "sp500_prices"
REGIME_FROM_UNIVERSE = "equal_weight_universe"


class FactorEngineV2:
    """Multi-factor scoring with regime-adaptive weights (see module docstring).

    After ``compute_all_scores``: ``last_regime`` (MarketRegime), ``last_weights`` (dict summing to
    1), ``last_as_of`` (Timestamp), ``last_regime_source`` (which index the regime came from) and
    ``last_panel`` (the full ``ScoredPanel``). ``sp500_prices``: the S&P 500 closes used when a
    call passes none (replaced by the series of any call that passes one; see the module docstring).
    """

    def __init__(
        self,
        use_adaptive_weights: bool = True,
        use_sector_relative: bool = True,
        use_momentum_overlay: bool = True,
        sector_blend: float = 0.5,
        min_sector_size: int = 3,
        n_quantiles: int = 5,
        registry: FactorRegistry | None = None,
        weight_manager: AdaptiveWeightManager | None = None,
        regime_detector: RegimeDetector | None = None,
        sp500_prices: pd.Series | None = None,
    ):
        self.use_adaptive_weights = use_adaptive_weights
        self.use_sector_relative = use_sector_relative
        self.use_momentum_overlay = use_momentum_overlay
        self.sector_blend = sector_blend
        self.min_sector_size = min_sector_size
        self.n_quantiles = n_quantiles
        self.registry = registry
        self.weight_manager = weight_manager
        self.regime_detector = regime_detector
        self.sp500_prices = sp500_prices
        self.last_regime_source: str | None = None
        self.last_regime: MarketRegime | None = None
        self.last_weights: dict[str, float] | None = None
        self.last_as_of: pd.Timestamp | None = None
        self.last_panel: ScoredPanel | None = None

    def _options(self) -> EngineOptions:
        return EngineOptions(
            use_adaptive_weights=self.use_adaptive_weights,
            use_sector_relative=self.use_sector_relative,
            use_momentum_overlay=self.use_momentum_overlay,
            sector_blend=self.sector_blend,
            min_sector_size=self.min_sector_size,
            n_quantiles=self.n_quantiles,
            registry=self.registry,
            weight_manager=self.weight_manager,
            regime_detector=self.regime_detector,
        )

    def _score(
        self,
        prices,
        fundamentals,
        sp500_prices,
        as_of_date,
        volume,
        sectors,
        market_returns,
        keep_sub_scores: bool,
        membership=None,
    ) -> ScoredPanel:
        if sp500_prices is not None:
            self.sp500_prices = sp500_prices
        sp500_prices = self.sp500_prices
        options = self._options()
        inputs = build_inputs(
            prices,
            fundamentals,
            as_of=as_of_date,
            volume=volume,
            market_returns=market_returns,
            sp500=sp500_prices,
            out_dates="all" if options.needs_history else "last",
            membership=membership,
        )
        scored = score(
            inputs,
            options,
            sp500=sp500_prices,
            sectors=resolve_sectors(sectors, fundamentals),
            keep_sub_scores=keep_sub_scores,
        )
        self.last_panel = scored
        self.last_as_of = inputs.out_dates[-1]
        self.last_regime = MarketRegime(scored.regimes.iloc[-1])
        self.last_weights = {c: float(w) for c, w in scored.weights.iloc[-1].items()}
        self.last_regime_source = REGIME_FROM_SP500 if sp500_prices is not None else REGIME_FROM_UNIVERSE
        return scored

    def compute_all_scores(
        self,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame | None = None,
        sp500_prices: pd.Series | None = None,
        as_of_date=None,
        *,
        volume: pd.DataFrame | None = None,
        sectors=None,
        market_returns: pd.Series | None = None,
        membership: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Scores at ``as_of_date`` (default: the last price date; a non-trading day means the last
        trading day before it), indexed by ticker: value, momentum, quality, growth, volatility,
        technical, composite (all percentile ranks in [0, 1], 1 best) and regime (string).
        ``membership``: index membership intervals; only members at as_of are scored.
        ``attrs["as_of_date"]`` holds the date scored, so the cross-section can be fed to
        ``FeatureEngineer.create_features`` as it is; ``attrs["regime_source"]`` names the index
        the regime was detected on. Without ``sp500_prices`` the series the engine was last given
        is used (module docstring)."""
        scored = self._score(
            prices,
            fundamentals,
            sp500_prices,
            as_of_date,
            volume,
            sectors,
            market_returns,
            keep_sub_scores=False,
            membership=membership,
        )
        out = self._last_row(scored)
        out.attrs["as_of_date"] = self.last_as_of
        out.attrs["regime_source"] = self.last_regime_source
        return out

    @staticmethod
    def _last_row(scored: ScoredPanel) -> pd.DataFrame:
        alive = scored.inputs.alive[-1]
        out = pd.DataFrame({c: scored.categories[c].iloc[-1] for c in CATEGORIES if c in scored.categories})
        out["composite"] = scored.composite.iloc[-1]
        out["regime"] = scored.regimes.iloc[-1]
        out = out.loc[alive]
        out.index.name = "ticker"
        return out

    def get_factor_breakdown(
        self,
        ticker: str,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame | None = None,
        sp500_prices: pd.Series | None = None,
        as_of_date=None,
        *,
        volume: pd.DataFrame | None = None,
        sectors=None,
        market_returns: pd.Series | None = None,
        membership: pd.DataFrame | None = None,
    ) -> dict:
        """One ticker at ``as_of_date``: ``category_scores`` {category: score},
        ``sub_factors`` {category: {name: {"raw": value, "score": percentile}}}, ``composite``,
        ``regime`` (string), ``regime_source`` ("sp500_prices" or "equal_weight_universe"),
        ``weights``, ``as_of``. Without ``sp500_prices`` the series the engine was last given is
        used, so the regime and scores equal those of ``compute_all_scores`` on the same data and
        date. KeyError when the ticker has no close then (or is not an index member then, given
        ``membership``)."""
        scored = self._score(
            prices,
            fundamentals,
            sp500_prices,
            as_of_date,
            volume,
            sectors,
            market_returns,
            keep_sub_scores=True,
            membership=membership,
        )
        row = self._last_row(scored)
        ticker = str(ticker)
        if ticker not in row.index:
            raise KeyError(f"{ticker!r} has no close on {self.last_as_of.date()} or is not a member then")
        subs: dict[str, dict[str, dict[str, float]]] = {}
        for name, cat in scored.factor_category.items():
            subs.setdefault(cat, {})[name] = {
                "raw": float(scored.raw[name][ticker].iloc[-1]),
                "score": float(scored.sub_scores[name][ticker].iloc[-1]),
            }
        return {
            "ticker": ticker,
            "as_of": self.last_as_of,
            "category_scores": {c: float(row.at[ticker, c]) for c in CATEGORIES if c in row.columns},
            "composite": float(row.at[ticker, "composite"]),
            "sub_factors": subs,
            "regime": str(row.at[ticker, "regime"]),
            "regime_source": self.last_regime_source,
            "weights": dict(self.last_weights),
        }

    def compute_v1_compatible_scores(
        self,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame | None = None,
        sp500_prices: pd.Series | None = None,
        as_of_date=None,
        **inputs,
    ) -> pd.DataFrame:
        """The v1 output: value, momentum, quality, growth scores per ticker (same scores as
        ``compute_all_scores``)."""
        scores = self.compute_all_scores(prices, fundamentals, sp500_prices, as_of_date, **inputs)
        return scores[V1_CATEGORIES]
