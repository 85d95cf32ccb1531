"""Typed configuration of the ML stack: ``MLConfig`` and its sub-configs.

Every default of the project is declared here, once: the spec's API (``TrainingPipeline`` and the
model classes) and the Dagster assets use the same values. Customise by passing sub-configs, e.g.
``MLConfig(ranking=RankingModelConfig(n_estimators=1000))``; the Dagster layer's run configs are
generated from these dataclasses (``axion_pipeline.defs.config``), so a field added here appears in
the launchpad with the same default. The Alpha158 reference's ``Alpha158ReferenceConfig`` sits with
Qlib's constants it defaults to, in ``axion_pipeline.ml.alpha158``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from axion_pipeline.data.contracts import CATEGORIES, REGIMES

# Trading days of the forward return behind the ranking labels (and the factor-timing targets).
# The walk-forward gap must be at least this long, or training labels would overlap test returns.
FORWARD_DAYS = 21
# ``duration_days`` of the regime predictions counts back at most this many trading days (a year), so
# that it is a function of a fixed trailing window: a one-day run that loads the days before it
# stores what a range run stored.
REGIME_DURATION_CAP = 252
# The features column the ranking score is averaged with (``MLConfig.score_blend_weight``): residual
# reversal (``axion_pipeline.factors.residual_reversal``) as a percentile among the date's rows.
SCORE_BLEND_SIGNAL = "residual_reversal"
ROUND_SELECTIONS = ("validation_ic", "early_stopping", "fixed")

# Sub-factors of the factor engine that enter the ranking features as cross-sectional ranks only
# (``FeatureConfig.rank_only_columns``): the firm traits behind the planted and real premia
# (cheapness, profitability and accruals, leverage, market beta and volatility, growth) are
# blurred in the category averages (the value category mixes cheapness with low growth), and
# the sub-factor ranks keep them apart. Short-term reversal and 12-1 momentum are base columns.
# The price-volume sub-factors (returns over 3 and 6 months, RSI, MACD, distance to the moving
# average, Bollinger position, volume trend, downside risk, illiquidity) give the model the price
# horizons every market has, whether or not fundamentals exist; the composite's rank lets it lean
# on the rule score where that ranks well.
SUB_FACTOR_RANK_COLUMNS = [
    "earnings_yield",
    "book_to_market",
    "sales_yield",
    "dividend_yield",
    "cash_flow_yield",
    "roic",
    "cash_flow_to_assets",
    "accruals",
    "debt_equity",
    "interest_coverage",
    "revenue_growth",
    "gross_profit_growth",
    "forward_eps_growth",
    "beta",
    "realized_vol",
    "idiosyncratic_vol",
    "high_52w_proximity",
    "max_drawdown",
    "ret_3m",
    "ret_6m_1m",
    "rsi",
    "macd",
    "price_vs_sma",
    "bollinger_bands",
    "volume_trend",
    "downside_beta",
    "downside_vol",
    "amihud_illiquidity",
    "composite",
]
# Market-state columns of the regime features with a natural zero that flips with the regime:
# trailing index return (bull > 0 > bear), VIX term structure (contango in calm markets,
# backwardation in stress) and the 10y-2y slope (steep in expansions, flat or inverted in stress).
REGIME_STATE_COLUMNS = ["sp500_return_60d", "vix_term_structure", "yield_curve_10y_2y"]


@dataclass
class FeatureConfig:
    """How ``FeatureEngineer`` builds features and selects among them.

    ``create_features`` / ``create_features_panel`` build every column (lags, rolling windows,
    ranks, interactions, calendar); ``max_features`` and ``collinearity_threshold`` apply in
    ``fit_selection`` (fitted on training rows only, so test rows never shape the selection) and
    ``transform_selection``, which ``TrainingPipeline`` and ``ml.training`` call for every model.
    """

    # ``max_features`` 200 keeps every column the collinearity filter passes (about 107 of 154 on
    # the generated market, measured before ``step_columns`` dropped 6 stds): the sub-factor ranks
    # are the columns a smaller cap would cut first.
    max_features: int = 200
    collinearity_threshold: float = 0.95
    lag_periods: list[int] = field(default_factory=lambda: [5, 10, 21])
    rolling_windows: list[int] = field(default_factory=lambda: [5, 21, 63])
    # Base columns built from quarterly fundamentals only (quality, growth): step functions, flat
    # between filings (87% and 83% of a ticker's days unchanged on the generated market). They get
    # a rolling mean but no ``<col>_std_{N}d``: the std of a step function is 0 unless a filing fell
    # inside the window, a reporting-calendar flag rather than a trait, and its per-day
    # cross-section (all zeros between seasons, none after) drifted on 95-100% of days (PSI 2-7).
    step_columns: list[str] = field(default_factory=lambda: ["quality", "growth"])
    include_sector_ranks: bool = True
    include_interactions: bool = True
    # Interaction terms are built between these base columns (those present in the data).
    interaction_columns: list[str] = field(default_factory=lambda: list(CATEGORIES))
    include_calendar: bool = True
    # Valid values a rolling window needs for a mean/std; None = the full window.
    rolling_min_periods: int | None = None
    # Rows (evenly spaced, deterministic) used to estimate correlations in fit_selection.
    selection_max_rows: int = 10_000
    # Input columns that only get ``<col>_rank`` (no sector rank, lag or rolling statistic).
    rank_only_columns: list[str] = field(default_factory=lambda: list(SUB_FACTOR_RANK_COLUMNS))
    # Regime interactions ``<col>_x_<state>`` = (rank of col - 0.5) x the date's market-state
    # value, for the columns (base or rank-only) and macro columns present: factor premia change
    # sign with the regime, and one product lets a shallow tree express "this trait pays in this
    # state" with one split instead of two.
    include_regime_interactions: bool = True
    regime_interaction_columns: list[str] = field(default_factory=lambda: [*CATEGORIES, "beta"])
    regime_state_columns: list[str] = field(default_factory=lambda: list(REGIME_STATE_COLUMNS))

    @property
    def history_days(self) -> int:
        """Dates of history before ``t`` that the features of ``t`` read: the longest lag, or the
        longest rolling window minus one (the window ends at ``t``)."""
        return max([0, *self.lag_periods, *(w - 1 for w in self.rolling_windows)])

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RankingModelConfig:
    """LightGBM quintile classifier ensemble.

    The number of boosting rounds is chosen on the validation slice by the per-date rank IC of the
    score with the forward return (``round_selection="validation_ic"``: a LightGBM eval metric on
    the validation rows, stopped after ``early_stopping_rounds`` rounds without improvement and kept
    at the best round, at most ``n_estimators``; the first member chooses and the others take its
    rounds; the IC curve is recorded every ``ic_checkpoint_rounds``), then the members are refitted
    on the fitted and validation rows together with that many rounds (``refit_on_validation``), so
    the most recent labelled dates are part of the model. ``"early_stopping"`` stops on the validation
    multiclass log loss after ``early_stopping_rounds`` rounds without improvement; ``"fixed"``
    always fits ``n_estimators``. ``candidate_num_leaves`` / ``candidate_min_child_samples``
    (pairs) are the tree sizes the training module (``axion_pipeline.ml.training``) compares on
    validation curves before the final fit (empty: ``num_leaves`` / ``min_child_samples`` only);
    there, each candidate is fitted to ``n_estimators`` rounds, and the size and a round count up
    to ``n_estimators`` are chosen by the mean validation IC over the window's own and earlier
    validation slices; the final fit adds the validation slice sampled like the fitted rows.
    ``n_estimators`` 600 at learning rate 0.05: on the 13-year real file a pooled choice over at
    most 300 rounds settled on 300, the edge of its grid."""

    n_estimators: int = 600
    max_depth: int = -1
    learning_rate: float = 0.05
    n_ensemble: int = 2
    num_quintiles: int = 5
    num_leaves: int = 15
    min_child_samples: int = 300
    subsample: float = 0.8
    colsample_bytree: float = 0.5
    reg_lambda: float = 10.0
    early_stopping_rounds: int = 50
    round_selection: str = "validation_ic"
    ic_checkpoint_rounds: int = 10
    refit_on_validation: bool = True
    candidate_num_leaves: list[int] = field(default_factory=lambda: [3, 15, 63])
    candidate_min_child_samples: list[int] = field(default_factory=lambda: [1000, 300, 100])
    n_jobs: int = 2
    random_state: int = 42
    # Used only when lightgbm cannot be imported: "gradient_boosting" (GradientBoostingClassifier,
    # as the spec names) or "hist_gradient_boosting" (much faster on large panels, handles NaN).
    fallback_estimator: str = "gradient_boosting"

    def __post_init__(self) -> None:
        if self.round_selection not in ROUND_SELECTIONS:
            raise ValueError(f"round_selection must be one of {ROUND_SELECTIONS}, got {self.round_selection!r}")
        if len(self.candidate_num_leaves) != len(self.candidate_min_child_samples):
            raise ValueError("candidate_num_leaves and candidate_min_child_samples are pairs: give as many of each")

    def candidates(self) -> list[RankingModelConfig]:
        """One config per candidate tree size (itself when there are none), each without candidates."""
        pairs = list(zip(self.candidate_num_leaves, self.candidate_min_child_samples))
        pairs = pairs or [(self.num_leaves, self.min_child_samples)]
        return [
            replace(
                self,
                num_leaves=int(leaves),
                min_child_samples=int(child),
                candidate_num_leaves=[],
                candidate_min_child_samples=[],
            )
            for leaves, child in pairs
        ]

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RegimeModelConfig:
    n_components: int = 4
    covariance_type: str = "full"
    rf_n_estimators: int = 200
    rf_max_depth: int = 8
    regimes: list[str] = field(default_factory=lambda: list(REGIMES))
    random_state: int = 42
    holdout_fraction: float = 0.2  # last share of rows (time order) used for the reported metrics
    n_jobs: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EarningsModelConfig:
    n_estimators: int = 300
    max_depth: int = 4
    learning_rate: float = 0.05
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    random_state: int = 42
    holdout_fraction: float = 0.2  # last share of announcement dates used for the reported metrics
    # Calendar days the last close before an announcement may be old and still feed its features.
    max_price_staleness_days: int = 10
    # XGBoost threads. One is fastest for event-sized data: OpenMP threads spin-wait, and on a
    # busy 2-core machine 2 threads measured 20x slower than 1.
    n_jobs: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FactorTimingConfig:
    factors: list[str] = field(default_factory=lambda: list(CATEGORIES))
    forward_days: int = FORWARD_DAYS
    min_weight: float = 0.05
    max_weight: float = 0.40
    alpha: float = 1.0  # ridge penalty
    random_state: int = 42
    holdout_fraction: float = 0.2  # last share of dates used for the reported metrics
    # Weights are proportional to exp(tilt_strength * z), z = predicted return / its training std.
    tilt_strength: float = 1.0
    # Quantiles of the daily long-short portfolios whose returns are the timing targets.
    n_quantiles: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class WalkForwardConfig:
    """Fold layout in trading days. ``expanding``: every training window starts at the first date
    and grows (``train_size`` is then the first fold's minimum), since factor premia shift with the
    regime and a 2-year window holds few regime spells; False slides a fixed window."""

    n_splits: int = 5
    train_size: int = 504  # trading days
    test_size: int = 63  # trading days
    gap: int = FORWARD_DAYS  # trading days between the last training date and the first test date
    embargo: int = 0
    expanding: bool = True
    # Dates at the end of each training window held out (after a further ``gap``) for early
    # stopping; 0 trains on the whole window without early stopping.
    validation_size: int = 63

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MonitoringConfig:
    psi_warning: float = 0.10
    psi_critical: float = 0.25
    psi_bins: int = 10
    drift_share_threshold: float = 0.20  # share of drifted features that makes overall drift
    # A feature whose share of missing values moved by more than this is a coverage change, not
    # drift (``ml.drift``): reported, never counted towards overall drift or retraining.
    coverage_change_threshold: float = 0.10
    min_ic_healthy: float = 0.02
    rolling_window_days: int = 63
    retrain_ic_threshold: float = 0.0
    # Share substituted for an empty PSI bin before the logarithm.
    psi_epsilon: float = 1e-4
    # Current values per PSI bin at least (fewer bins for a small cross-section): two samples of one
    # distribution differ by about (bins - 1) / n in PSI by chance (``ml.drift``).
    psi_min_per_bin: int = 20
    # Recorded dates with an IC needed before the health status is anything but "unknown": three
    # non-overlapping periods of the label's horizon (63 daily ICs of 21-day returns are about three
    # independent observations, fewer say next to nothing).
    min_ic_observations: int = 3 * FORWARD_DAYS
    # Daily ICs of h-day returns overlap by h - 1 days: the health t-statistic is Newey-West with
    # that many lags.
    overlap_days: int = FORWARD_DAYS
    # "healthy" also needs the rolling IC's Newey-West t at least this high; a positive mean that
    # cannot be told from zero is "unknown" (the walk-forward gate of the hybrid asks the same).
    min_tstat_healthy: float = 2.0
    # Rows of the production model's training features kept (seeded sample) as the drift reference.
    reference_rows: int = 20_000

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class HybridScoringConfig:
    ml_weight: float = 0.30
    min_ic_for_ml: float = 0.03
    fallback_to_rules: bool = True
    # ML is re-activated only once its IC is back above min_ic_for_ml + reactivation_margin.
    reactivation_margin: float = 0.01
    # When the IC comes with a t-statistic (the walk-forward report's Newey-West t of the mean OOS
    # IC), ML is active only if that t is at least this too: a high mean IC over few, overlapping
    # 21-day periods can be luck.
    min_tstat_for_ml: float = 2.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ModelEvaluationConfig:
    """How the ranking model's out-of-sample scores are compared with the rules and baselines
    (``axion_pipeline.ml.model_evaluation``); the horizon is the label's (``forward_days``)."""

    # Cost charged per unit of one-way turnover of the long-short book: 10 bps, so rebuilding the
    # whole book (both legs, turnover 2) costs 20 bps.
    cost_per_turnover: float = 0.001
    n_quantiles: int = 5
    # Resamples of the circular block bootstrap of the mean IC (blocks of horizon-many dates).
    n_bootstrap: int = 2000
    seed: int = 0
    # A paired Newey-West t of the model's IC minus a signal's at or below -this is a loss, at or
    # above +this a win; in between the data cannot tell them apart.
    significant_tstat: float = 2.0
    # The paired test compares both signals on the rows where both exist, so a coverage difference
    # (a young ticker without 12-month momentum) cannot decide it.
    same_rows: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class MLConfig:
    model_dir: str = "models/"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    ranking: RankingModelConfig = field(default_factory=RankingModelConfig)
    regime: RegimeModelConfig = field(default_factory=RegimeModelConfig)
    earnings: EarningsModelConfig = field(default_factory=EarningsModelConfig)
    factor_timing: FactorTimingConfig = field(default_factory=FactorTimingConfig)
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    monitoring: MonitoringConfig = field(default_factory=MonitoringConfig)
    hybrid: HybridScoringConfig = field(default_factory=HybridScoringConfig)
    forward_days: int = FORWARD_DAYS
    # The ranking model fits every n-th trading day of its window (validation and test: every
    # day): 21-day labels overlap, so consecutive days add little but cost.
    sample_every_n_days: int = 5
    # The ranking model's labels are quintiles of the forward return with these exposures (feature
    # columns) and, when ``neutralize_label_sectors``, the sector regressed out per date
    # (``axion_pipeline.ml.neutralize``); empty and False: quintiles of the raw return.
    neutralize_label_exposures: list[str] = field(default_factory=lambda: ["beta_rank", "realized_vol_rank"])
    neutralize_label_sectors: bool = True
    # The ranking score is (1 - w) x the model's percentile + w x the percentile of
    # ``SCORE_BLEND_SIGNAL`` within each date, the model's alone where the signal is missing (0: the
    # model alone). 0.5, the equal average, was fixed before any test window was read; on the 13-year
    # file's validation slices it scored 0.0172 (Newey-West t 2.98) against 0.0108 for the model
    # alone, with the model's own round choice (BENCHMARKS.md, "Residual reversal").
    score_blend_weight: float = 0.5
    # Walk-forward plan of ``TrainingPipeline`` (as of the Dagster folds): the first
    # ``warmup_days`` dates of the data are left out of every window (factor scores need a year of
    # prices), the last ``live_days`` are never in a fold (at least ``forward_days`` are kept out).
    warmup_days: int = 0
    live_days: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_blend_weight <= 1.0:
            raise ValueError(f"score_blend_weight must be in [0, 1], got {self.score_blend_weight}")

    def to_dict(self) -> dict:
        return asdict(self)
