"""What every column of the warehouse means, its type where the table's columns are fixed, and the
upstream columns it is computed from: the one registry behind the Dagster UI's column schemas and
column lineage (``axion_pipeline.defs.columns``).

- ``TABLES[table]``: the table's columns with (DuckDB type, description); ``fixed`` tables hold
  exactly these columns in this order whatever the data and run configuration (their schema is
  declared on the asset definition), the others may hold more, named by a rule;
- rules for generated names: the factor engine's sub-factors (their formula, from the factor
  registry), the feature columns of ``axion_pipeline.ml.features`` (its naming rules:
  ``<col>_rank``, ``<col>_sector_rank``, ``<a>_x_<b>``, ``<col>_lag{N}d``, ``<col>_mean_{N}d``,
  ``<col>_std_{N}d``, calendar, macro columns, ``<col>_x_<state>``), the regime classifier's
  ``prob_<regime>`` and the hyperparameter search's ``param_<name>``;
- ``LINEAGE[table][column]``: the upstream (table, column) pairs a column is a function of, for
  the clear cases only (a column computed from named columns); a model's output is not listed as
  derived from every feature it was given.

``describe`` returns None for a column the registry does not know: the schema then carries no
description, and a test over every stored table fails, so a new column cannot go undescribed.
Pure library: no Dagster import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from axion_pipeline.data.contracts import CATEGORIES, REGIMES
from axion_pipeline.ml.config import SCORE_BLEND_SIGNAL

TEXT, TIME, FLOAT, INT, BOOL = "VARCHAR", "TIMESTAMP_NS", "DOUBLE", "BIGINT", "BOOLEAN"


@dataclass(frozen=True)
class Table:
    """Columns (name -> (DuckDB type, description)); ``fixed``: the stored table has exactly these."""

    columns: dict[str, tuple[str, str]]
    fixed: bool = False
    rules: tuple[str, ...] = ()  # generated-name rules that apply: "factor", "feature", ...


DATE = (TIME, "Trading day the row is about (timezone-naive).")
TICKER = (TEXT, "Stock ticker.")
REGIME_NAMES = ", ".join(REGIMES)


def _weights(what: str) -> dict[str, tuple[str, str]]:
    return {
        f"weight_{c}": (FLOAT, f"Weight of the {c} category in the composite {what}; the six weights sum to 1.")
        for c in CATEGORIES
    }


# -- market ---------------------------------------------------------------------------------------
_FUNDAMENTALS = {
    "revenue": "Revenue, trailing twelve months.",
    "gross_profit": "Gross profit, trailing twelve months.",
    "operating_income": "Operating income (EBIT), trailing twelve months.",
    "ebitda": "EBITDA, trailing twelve months.",
    "net_income": "Net income, trailing twelve months.",
    "interest_expense": "Interest expense, trailing twelve months (positive number).",
    "rnd_expense": "Research and development expense, trailing twelve months.",
    "operating_cash_flow": "Operating cash flow, trailing twelve months.",
    "capital_expenditure": "Capital expenditure, trailing twelve months (positive number).",
    "free_cash_flow": "Free cash flow = operating_cash_flow - capital_expenditure, trailing twelve months.",
    "dividends_paid": "Total cash dividends paid, trailing twelve months (positive number).",
    "total_assets": "Total assets at period_end.",
    "total_equity": "Book equity at period_end.",
    "total_debt": "Total debt at period_end.",
    "cash": "Cash and equivalents at period_end.",
    "shares_outstanding": "Shares outstanding, split-adjusted to the price history.",
    "eps": "Diluted earnings per share, trailing twelve months, split-adjusted.",
    "forward_eps": "Consensus next-twelve-month EPS, split-adjusted; missing when the source lacks it.",
}
_MARKET_SERIES = {
    "sp500_close": "S&P 500 close; the equal-weighted index of the universe (100 x cumulative product of 1 + "
    "the members' mean daily return) when the source has no index series (the asset's metadata says so).",
    "vix": "CBOE VIX close (30-day implied volatility of the S&P 500, percent).",
    "vix_3m": "CBOE VIX3M close (3-month implied volatility, percent); missing when the source lacks it.",
    "yield_3m": "3-month Treasury yield, percent.",
    "yield_2y": "2-year Treasury yield, percent.",
    "yield_10y": "10-year Treasury yield, percent.",
    "hy_spread": "High-yield corporate option-adjusted spread, percent.",
    "ig_spread": "Investment-grade corporate spread, percent; missing when the source lacks it.",
    "advance_decline": "(advancers - decliners) / names traded that day, from the price panel.",
    "pct_above_200sma": "Share of names whose close is above their 200-day moving average.",
    "put_call_ratio": "Equity put/call volume ratio; missing when the source lacks it.",
}

MARKET = {
    "prices": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            "open": (FLOAT, "Opening price, split-adjusted."),
            "high": (FLOAT, "Highest price of the day, split-adjusted."),
            "low": (FLOAT, "Lowest price of the day, split-adjusted."),
            "close": (FLOAT, "Closing price, split-adjusted: every return and price factor is computed from it."),
            "volume": (FLOAT, "Shares traded, split-adjusted."),
        },
        fixed=True,
    ),
    "market_series": Table({"date": DATE, **{c: (FLOAT, d) for c, d in _MARKET_SERIES.items()}}, fixed=True),
    "fundamentals": Table(
        {
            "ticker": TICKER,
            "period_end": (TIME, "Last day of the fiscal period the figures are for."),
            "available_date": (
                TIME,
                "First trading day the figures may be used (point in time: a row is used for day t only when "
                "available_date <= t).",
            ),
            "period_type": (TEXT, "Reporting period of the filing: 'Q' quarterly, 'FY' annual, 'unknown'."),
            **{c: (FLOAT, d) for c, d in _FUNDAMENTALS.items()},
        },
        fixed=True,
    ),
    "sectors": Table(
        {"ticker": TICKER, "sector": (TEXT, "GICS sector; 'Unknown' where the source gives none.")}, fixed=True
    ),
    "earnings_events": Table(
        {
            "ticker": TICKER,
            "announce_date": (TIME, "Trading day of the earnings announcement."),
            "fiscal_quarter_end": (TIME, "Last day of the fiscal quarter announced."),
            "eps_estimate": (FLOAT, "Consensus EPS estimate before the announcement."),
            "eps_actual": (FLOAT, "Reported EPS."),
            "surprise_pct": (FLOAT, "Earnings surprise = (eps_actual - eps_estimate) / |eps_estimate|."),
            "release_time": (TEXT, "'pre' (before the open), 'post' (after the close) or missing."),
        },
        fixed=True,
    ),
    "universe": Table(
        {
            "ticker": TICKER,
            "start_date": (TIME, "First trading day as an index member (inclusive)."),
            "end_date": (TIME, "Last trading day as an index member (inclusive); missing while still a member."),
        },
        fixed=True,
    ),
    "rejected_rows": Table(
        {
            "dataset": (TEXT, "Dataset of the rejected row (prices, fundamentals, sectors, earnings, ...)."),
            "source_file": (TEXT, "File the row was read from."),
            "row_number": (INT, "Line number of the row in that file (the header is line 1)."),
            "column": (TEXT, "Column whose value failed validation."),
            "value": (TEXT, "The offending value, as text."),
            "reason": (TEXT, "Why the row was rejected."),
        },
        fixed=True,
    ),
    "source_notes": Table(
        {
            "dataset": (TEXT, "Dataset the note is about ('source' for the source as a whole)."),
            "kind": (TEXT, "'missing': an optional dataset the source lacks (and what is skipped); 'note' otherwise."),
            "note": (TEXT, "What the loader did: files missing, columns absent or ignored, rows not loaded."),
        },
        fixed=True,
    ),
    "true_regimes": Table(
        {"date": DATE, "regime": (TEXT, f"Regime the generated market planted on this day ({REGIME_NAMES}).")},
        fixed=True,
    ),
    "true_alpha": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            "expected_return": (FLOAT, "Planted expected next-day return known at this close (generated market)."),
            "true_value": (FLOAT, "Planted value exposure of the stock (generated market only)."),
            "true_quality": (FLOAT, "Planted quality exposure of the stock (generated market only)."),
            "true_momentum": (FLOAT, "Planted momentum state (z-score) of the stock on this day (generated market)."),
            "true_lowvol": (FLOAT, "Planted low-volatility exposure of the stock (generated market only)."),
            "true_growth": (FLOAT, "Planted growth exposure of the stock (generated market only)."),
            "true_beta": (FLOAT, "Planted market beta of the stock (generated market only)."),
        }
    ),
}

# -- factors --------------------------------------------------------------------------------------
_CATEGORY_RULE = (
    "percentile rank in [0, 1] (1 best) among the day's index members of the mean of its available sub-factor "
    "scores; with sector-relative scoring (the default) blended with the same rank within the sector"
)
_TEAR_SHEET_IC = "Spearman IC of the factor with the forward return over horizon days, per date"
FACTORS = {
    "factor_scores": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            **{c: (FLOAT, f"{c.capitalize()} category score: {_CATEGORY_RULE}.") for c in CATEGORIES},
            "composite": (
                FLOAT,
                "Regime-weighted composite: percentile rank in [0, 1] of sum_c weight_c x category_c / sum of the "
                "weights over the available categories (the rule score).",
            ),
            "regime": (TEXT, f"Market regime the rule detector saw on this day ({REGIME_NAMES}): sets the weights."),
            **_weights("on this day (regime weights tilted by the categories' trailing long-short returns)"),
        },
        rules=("factor",),
    ),
    "market_regime": Table(
        {
            "date": DATE,
            "regime": (TEXT, f"Rule-detected market regime ({REGIME_NAMES}) from the four indicators."),
            "sma_200": (FLOAT, "200-day simple moving average of the index close."),
            "sma_50": (FLOAT, "50-day simple moving average of the index close."),
            "drawdown": (FLOAT, "Index close / its trailing 252-day high - 1 (<= 0)."),
            "realized_vol_20d": (FLOAT, "Annualised 20-day realised volatility of the index's daily returns."),
            **_weights("in force on this day (from factor_scores)"),
        },
        fixed=True,
    ),
    "factor_tear_sheet": Table(
        {
            "factor": (TEXT, "Factor column of factor_scores (sub-factor, category or composite)."),
            "horizon": (INT, "Forward-return horizon in trading days (1, 5 or 21)."),
            "ic_mean": (FLOAT, f"Mean {_TEAR_SHEET_IC}."),
            "ic_std": (FLOAT, "Standard deviation of the daily IC."),
            "icir": (FLOAT, "ic_mean / ic_std (per date, not annualised)."),
            "t_stat": (FLOAT, "t-statistic of the mean IC, Newey-West standard error with horizon - 1 lags."),
            "p_value": (FLOAT, "Two-sided p-value of t_stat (Student t, n - 1 df)."),
            "t_stat_iid": (FLOAT, "alphalens' i.i.d. t-statistic of the mean IC (overstates overlapping horizons)."),
            "p_value_iid": (FLOAT, "Two-sided p-value of t_stat_iid."),
            "n_dates": (INT, "Dates with an IC."),
            "hit_rate": (FLOAT, "Share of dates with IC > 0."),
            "top_minus_bottom": (FLOAT, "Mean forward return of the top quintile minus the bottom quintile."),
            "top_quintile_turnover": (FLOAT, "Mean share of the top quintile's names not in it on the previous date."),
            "rank_autocorrelation": (
                FLOAT,
                "Mean Spearman correlation of the factor's ranks with the previous date's.",
            ),
            "autocorrelation_dates": (INT, "Dates with a rank autocorrelation."),
        },
        fixed=True,
    ),
    "factor_ic": Table(
        {
            "date": DATE,
            "factor": (TEXT, "Factor column of factor_scores (sub-factor, category or composite)."),
            "horizon": (INT, "Forward-return horizon in trading days (1, 5 or 21)."),
            "ic": (FLOAT, f"{_TEAR_SHEET_IC}: this date's cross-section."),
        },
        fixed=True,
    ),
    "factor_quantile_returns": Table(
        {
            "factor": (TEXT, "Factor column of factor_scores (sub-factor, category or composite)."),
            "horizon": (INT, "Forward-return horizon in trading days (1, 5 or 21)."),
            "quantile": (INT, "Factor quintile within each date (1 lowest score .. 5 highest)."),
            "mean_return": (FLOAT, "Mean forward return of the quintile over the dates."),
            "mean_demeaned_return": (FLOAT, "Mean forward return minus the date's mean over all quintiles."),
            "std_error": (FLOAT, "Standard error of mean_demeaned_return over the dates."),
            "n_dates": (INT, "Dates the quintile is defined on."),
        },
        fixed=True,
    ),
}

# -- features -------------------------------------------------------------------------------------
_REGIME_FEATURES = {
    "sp500_return_20d": "Index return over the last 20 trading days: close(t) / close(t-20) - 1.",
    "sp500_return_60d": "Index return over the last 60 trading days: close(t) / close(t-60) - 1.",
    "sp500_volatility_20d": "Sample std of the last 20 daily index returns x sqrt(252).",
    "vix_level": "VIX close (implied volatility, percent).",
    "vix_term_structure": "vix_3m / vix - 1: contango (> 0) in calm markets, backwardation in stress.",
    "yield_curve_10y_2y": "yield_10y - yield_2y, percentage points.",
    "credit_spread_hy_ig": "hy_spread - ig_spread, percentage points.",
    "advance_decline_10d": "Mean of advance_decline over the last 10 trading days.",
    "pct_above_200sma": "Share of names above their 200-day moving average (as in market_series).",
    "put_call_ratio": "Equity put/call ratio (as in market_series).",
}
FEATURES = {
    "features": Table({"date": DATE, "ticker": TICKER}, rules=("feature",)),
    "targets": Table(
        {
            "date": DATE,
            "label_date": (TIME, "Trading day the forward window closes (date + horizon): the target is known then."),
            "ticker": TICKER,
            "fwd_return": (FLOAT, "Return from the close of date to the close of label_date."),
            "label": (FLOAT, "Quintile of fwd_return among the date's index members (1 worst .. 5 best)."),
        },
        fixed=True,
    ),
    "regime_features": Table({"date": DATE, **{c: (FLOAT, d) for c, d in _REGIME_FEATURES.items()}}, fixed=True),
}

# -- training -------------------------------------------------------------------------------------
_FOLD = (TEXT, "Walk-forward fold whose test window the row is in (fold_0, fold_1, ...).")
_REPORT_FOLD = (TEXT, "Walk-forward fold, or 'all' for every fold's test rows pooled.")
_IC_STATS = {
    "ic_mean": (FLOAT, "Mean daily Spearman IC of the score with the forward return."),
    "ic_std": (FLOAT, "Standard deviation of the daily IC."),
    "icir": (FLOAT, "ic_mean / ic_std (per date, not annualised)."),
    "hit_rate": (FLOAT, "Share of dates with IC > 0."),
    "ic_tstat_nw": (FLOAT, "t-statistic of the mean IC, Newey-West standard error with horizon - 1 lags."),
    "ic_pvalue_nw": (FLOAT, "Two-sided p-value of ic_tstat_nw (Student t, n - 1 df)."),
    "ic_ci_low": (FLOAT, "Lower bound of the 95% block-bootstrap interval of the mean IC."),
    "ic_ci_high": (FLOAT, "Upper bound of the 95% block-bootstrap interval of the mean IC."),
}
_WINDOW = "of the model's training window (text, ISO date)"
TRAINING = {
    "ranking_validation": Table(
        {
            "fold": _FOLD,
            "val_start": (TIME, "First day of the fold's validation slice."),
            "val_end": (TIME, "Last day of the fold's validation slice."),
            "num_leaves": (INT, "Candidate tree size: LightGBM num_leaves (0: no curve for this fold)."),
            "min_child_samples": (INT, "LightGBM min_child_samples paired with this candidate size."),
            "rounds": (INT, "Boosting rounds at this checkpoint of the curve."),
            "validation_ic": (FLOAT, "Mean daily rank IC of the score on the validation slice after these rounds."),
            "n_dates": (INT, "Validation dates the IC is averaged over."),
        },
        fixed=True,
    ),
    "ranking_model": Table(
        {
            "fold": _FOLD,
            "date": DATE,
            "ticker": TICKER,
            "score": (
                FLOAT,
                "Out-of-sample ML score in [0, 1]: the equal average (MLConfig.score_blend_weight) of model_score's "
                "and residual reversal's percentiles within the date; model_score where the signal is missing "
                "or the weight is 0.",
            ),
            "model_score": (
                FLOAT,
                "The fold's LightGBM ensemble alone: (expected quintile - 1) / 4 from its class probabilities.",
            ),
            "rank": (FLOAT, "Percentile rank of score within the date (0 worst, 1 best)."),
            "predicted_quintile": (INT, "Most probable quintile (1 worst .. 5 best)."),
            "label": (FLOAT, "Realised quintile of the forward return (from targets)."),
            "fwd_return": (FLOAT, "Realised forward return over the label horizon (from targets)."),
        },
        fixed=True,
    ),
    "regime_model": Table(
        {
            "fold": _FOLD,
            "date": DATE,
            "regime": (TEXT, "Most probable regime."),
            "confidence": (FLOAT, "Probability of the most probable regime."),
            "label": (TEXT, "Regime the classifier was trained to predict: the planted one, else the rule detector's."),
            "true_regime": (TEXT, "Planted regime (generated market); missing on real data."),
            "rule_regime": (TEXT, "Rule detector's regime on the day (market_regime)."),
        },
        rules=("regime_probability",),
    ),
    "earnings_model": Table(
        {
            "fold": _FOLD,
            "ticker": TICKER,
            "announce_date": (TIME, "Trading day of the announcement."),
            "beat_probability": (FLOAT, "Out-of-sample probability that the reported EPS beats the estimate."),
            "predicted_surprise": (FLOAT, "Out-of-sample forecast of surprise_pct; missing when not predicted."),
            "surprise_status": (TEXT, "'predicted', or why predicted_surprise is missing."),
            "beat": (FLOAT, "Realised: 1 beat (surprise_pct > 0), 0 miss or in line, missing when unknown."),
            "surprise": (FLOAT, "Realised surprise_pct of the announcement."),
        },
        fixed=True,
    ),
    "factor_timing_model": Table(
        {
            "fold": _FOLD,
            "date": DATE,
            "factor": (TEXT, "Factor category."),
            "predicted_return": (FLOAT, "Ridge forecast of the category's forward long-short return."),
            "realized_return": (
                FLOAT,
                "Realised sum of the category's daily top-minus-bottom quintile returns over the horizon.",
            ),
            "weight": (FLOAT, "Category weight from the forecast (bounded; a day's weights sum to 1)."),
        },
        fixed=True,
    ),
    "walk_forward_report": Table(
        {
            "fold": _REPORT_FOLD,
            "test_start": (TIME, "First test day of the fold."),
            "test_end": (TIME, "Last test day of the fold."),
            **_IC_STATS,
            "n_ic_dates": (INT, "Dates with an IC."),
            "spread_mean": (FLOAT, "Mean forward return of the top score quintile minus the bottom quintile."),
            "accuracy": (FLOAT, "Share of rows whose predicted_quintile equals the realised label."),
            "n_rows": (INT, "Scored (date, ticker) rows."),
            "n_dates": (INT, "Scored dates."),
            "oracle_ic_mean": (
                FLOAT,
                "Mean IC of the planted expected_return (generated market); missing on real data.",
            ),
            "model_oracle_ratio": (FLOAT, "ic_mean / oracle_ic_mean: the share of the knowable signal captured."),
            "status": (TEXT, "'scored', or why the fold has no predictions."),
        },
        fixed=True,
    ),
    "alpha158_reference": Table(
        {
            "fold": _FOLD,
            "date": DATE,
            "ticker": TICKER,
            "score": (FLOAT, "Out-of-sample score of the Alpha158 + LightGBM reference fitted on the fold's window."),
        },
        fixed=True,
    ),
    "model_evaluation": Table(
        {
            "signal": (
                TEXT,
                "Signal evaluated: ml_score, model_alone, residual_reversal, composite, a category, a baseline or "
                "alpha158_reference.",
            ),
            "kind": (
                TEXT,
                "model, component (a part of the ML score: model_alone, residual_reversal), rules, category, "
                "baseline or reference.",
            ),
            "fold": _REPORT_FOLD,
            "start": (TIME, "First date of the fold's rows."),
            "end": (TIME, "Last date of the fold's rows."),
            "n_dates": (INT, "Dates with an IC."),
            **_IC_STATS,
            "spread_mean": (FLOAT, "Mean over dates of the top bucket's forward return minus the bottom bucket's."),
            "n_periods": (INT, "Non-overlapping holding periods of the long-short book."),
            "ls_return_mean": (FLOAT, "Mean period return of the long-short book (top bucket long, bottom short)."),
            "ls_return_ann": (FLOAT, "ls_return_mean x 252 / horizon."),
            "ls_sharpe_ann": (FLOAT, "Annualised Sharpe ratio of the book's period returns."),
            "turnover": (FLOAT, "Mean one-way turnover of the book per rebalance."),
            "ls_return_net_mean": (FLOAT, "ls_return_mean after cost_per_turnover x turnover."),
            "ls_return_net_ann": (FLOAT, "ls_return_net_mean x 252 / horizon."),
        },
        fixed=True,
    ),
    "model_vs_baselines": Table(
        {
            "model": (TEXT, "The model's signal (ml_score)."),
            "baseline": (TEXT, "Signal it is compared with."),
            "kind": (TEXT, "Kind of the compared signal: component, rules, category, baseline or reference."),
            "n_dates": (INT, "Dates where both signals have an IC."),
            "model_ic_mean": (FLOAT, "Mean IC of the model on those dates."),
            "baseline_ic_mean": (FLOAT, "Mean IC of the baseline on those dates."),
            "diff_mean": (FLOAT, "Mean of the daily IC difference model - baseline."),
            "diff_tstat_nw": (FLOAT, "Newey-West t-statistic of diff_mean (horizon - 1 lags)."),
            "diff_pvalue_nw": (FLOAT, "Two-sided p-value of diff_tstat_nw."),
            "n_folds": (INT, "Folds compared."),
            "fold_win_rate": (FLOAT, "Share of folds where the model's mean IC beats the baseline's."),
            "verdict": (TEXT, "beats, loses, no significant difference or undetermined (|t| against the threshold)."),
        },
        fixed=True,
    ),
    "model_exposures": Table(
        {
            "signal": (TEXT, "ml_score or composite."),
            "fold": _REPORT_FOLD,
            "n_dates": (INT, "Dates averaged over."),
            "beta": (FLOAT, "Mean daily rank correlation of the signal with the 252-day market beta."),
            "volatility": (FLOAT, "Mean daily rank correlation with the 60-day realised volatility."),
            "momentum": (FLOAT, "Mean daily rank correlation with 12-1 month momentum."),
            "size": (FLOAT, "Mean daily rank correlation with log 63-day dollar volume (a size proxy)."),
            "sector_r2": (FLOAT, "Mean daily R^2 of the signal on sector dummies."),
        },
        fixed=True,
    ),
    "production_models": Table(
        {
            "model_name": (TEXT, "ranking_model, regime_model, earnings_model or factor_timing_model."),
            "status": (TEXT, "'trained', or 'skipped: <reason>' (serving then uses the rules)."),
            "version": (TEXT, "Model store version; LATEST points at it."),
            "train_start": (TIME, "First day of the production training window."),
            "fit_end": (TIME, "Last day of the fitted rows (validation rows follow)."),
            "train_end": (TIME, "Last day of the production training window."),
            "production_cutoff": (TIME, "Last day production models may train on (live span start minus the gap)."),
            "live_start": (TIME, "First day of the live span, where every prediction is out of sample."),
            "trained_at": (TEXT, "When the model was trained (UTC, ISO 8601)."),
            "train_seconds": (FLOAT, "Training time in seconds."),
            "n_features": (FLOAT, "Features the model uses."),
            "metrics": (TEXT, "Training metrics, JSON."),
            "data_version": (TEXT, "Fingerprint of the training data."),
            "path": (TEXT, "Directory of the model in the model store."),
        },
        fixed=True,
    ),
    "drift_reference": Table({"date": DATE, "ticker": TICKER}, rules=("feature",)),
    "model_store": Table(
        {
            "model_name": (TEXT, "Model: ranking_model, regime_model, earnings_model or factor_timing_model."),
            "kind": (TEXT, "'fold' (walk-forward) or 'production'."),
            "version": (TEXT, "Fold key or production version."),
            "status": (TEXT, "'trained', or 'skipped: <reason>'."),
            "is_latest": (BOOL, "Whether production LATEST points at this version."),
            "model_type": (TEXT, "Model class stored."),
            "trained_at": (TEXT, "When the model was trained (UTC, ISO 8601)."),
            "train_start": (TEXT, f"First day {_WINDOW}."),
            "train_end": (TEXT, f"Last day {_WINDOW}."),
            "fit_start": (TEXT, "First day of the fitted rows (text, ISO date)."),
            "fit_end": (TEXT, "Last day of the fitted rows (text, ISO date)."),
            "test_start": (TEXT, "First day of the fold's test window (text, ISO date)."),
            "test_end": (TEXT, "Last day of the fold's test window (text, ISO date)."),
            "metrics": (TEXT, "Training and out-of-sample metrics, JSON."),
            "feature_names": (TEXT, "Features the model uses, JSON list."),
            "artifacts": (TEXT, "Artefact file -> SHA-256, JSON."),
            "path": (TEXT, "Directory of the model (or its skip record) in the model store."),
            "sha256": (TEXT, "SHA-256 of metadata.json, which pins every artefact's digest: identifies the model."),
            "verified": (BOOL, "Every artefact's SHA-256 matches metadata.json."),
            "error": (TEXT, "Why verification failed; missing when verified."),
            "model_text": (TEXT, "The artefacts as text (LightGBM model text, XGBoost and scikit-learn JSON)."),
        },
        fixed=True,
    ),
    "hyperparameter_search": Table(
        {
            "number": (INT, "Optuna trial number."),
            "state": (TEXT, "Trial state: COMPLETE, PRUNED or FAIL."),
            "value": (FLOAT, "Mean validation rank IC of the trial's parameters."),
            "duration_seconds": (FLOAT, "Trial run time in seconds."),
        },
        rules=("search_parameter",),
    ),
}

# -- inference and monitoring -----------------------------------------------------------------------
_SOURCE = (TEXT, "'ml' (the production model) or 'rules' (fallback when the model is unusable).")
SERVING = {
    "daily_predictions": Table(
        {
            "ticker": TICKER,
            "date": DATE,
            "score": (FLOAT, "Percentile of raw_score among the date's tickers (0 worst, 1 best)."),
            "raw_score": (
                FLOAT,
                "The ML score (the production model's score averaged with residual reversal, as the ranking "
                "model table's score), or the rule composite when source is 'rules'.",
            ),
            "rank": (INT, "Rank of raw_score within the date (1 = best)."),
            "source": _SOURCE,
            "fallback_reason": (TEXT, "Why the rules replaced the model; missing for model scores."),
            "model_score": (
                FLOAT,
                "The production ranking model's own score ((expected quintile - 1) / 4); missing for rules.",
            ),
            "model_version": (TEXT, "Production ranking model version used; missing without a model."),
        },
        fixed=True,
    ),
    "hybrid_scores": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            "rule_score": (FLOAT, "Rule composite of factor_scores."),
            "ml_score": (FLOAT, "ML score of daily_predictions (rows whose source is 'ml'); missing otherwise."),
            "ml_weight": (FLOAT, "Weight w of the ML score in this row's blend (0 while ML is off or missing)."),
            "blended": (FLOAT, "(1 - w) x rule_score + w x ml_score; the score present when only one is."),
            "hybrid_score": (FLOAT, "Percentile rank of blended within the date (0 worst, 1 best)."),
            "ml_active": (BOOL, "Whether the walk-forward IC gate let the ML score into the blend."),
        },
        fixed=True,
    ),
    "regime_predictions": Table(
        {
            "date": DATE,
            "regime": (TEXT, f"Predicted regime ({REGIME_NAMES}); the rule detector's when source is 'rules'."),
            "confidence": (FLOAT, "Probability of the predicted regime; missing for rule regimes."),
            "source": _SOURCE,
            "duration_days": (
                INT,
                "Consecutive trading days up to this one with the same predicted regime, at most 252 (a year).",
            ),
            "rule_regime": (TEXT, "Rule detector's regime on the day (market_regime)."),
        },
        rules=("regime_probability",),
    ),
    "earnings_predictions": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            "announce_date": (TIME, "The next trading day, when the company announces."),
            "eps_estimate": (FLOAT, "Consensus EPS estimate of the announcement."),
            "beat_probability": (FLOAT, "Probability that reported EPS beats the estimate, from data before it."),
            "predicted_surprise": (FLOAT, "Forecast surprise_pct; missing when the model has no surprise target."),
            "surprise_status": (TEXT, "'predicted', or why predicted_surprise is missing."),
            "confidence": (FLOAT, "|2 x beat_probability - 1|."),
        },
        fixed=True,
    ),
    "factor_weights": Table(
        {
            "date": DATE,
            "factor": (TEXT, "Factor category."),
            "weight": (
                FLOAT,
                "Category weight from the factor-timing model, or the rule weight when source is 'rules'.",
            ),
            "source": _SOURCE,
            "rule_weight": (FLOAT, "The regime rule weight of the category on the day (market_regime)."),
        },
        fixed=True,
    ),
    "model_health": Table(
        {
            "date": DATE,
            "model": (TEXT, "Model monitored (stock_ranking)."),
            "prediction_date": (TIME, "Day of the predictions whose labels matured on date (date - horizon)."),
            "ic": (FLOAT, "Rank IC of those predictions' scores with their realised forward returns."),
            "status": (TEXT, "healthy, degraded, critical, unknown (too few or insignificant ICs) or no model."),
            "current_ic": (FLOAT, "IC of the latest matured date."),
            "rolling_ic_3m": (FLOAT, "Mean IC over the label dates of the last 63 trading days up to this one."),
            "ic_trend": (FLOAT, "Least-squares slope of the IC per date over that window."),
            "ic_tstat_nw": (FLOAT, "Newey-West t of rolling_ic_3m (daily ICs of overlapping returns)."),
            "needs_retraining": (BOOL, "Critical, or degraded with a negative trend."),
            "reason": (TEXT, "Why the status is what it is."),
            "n_matured_dates": (
                INT,
                "Dates with a matured IC in that window (at most 63; fewer and the status is unknown).",
            ),
        },
        fixed=True,
    ),
    "drift_report": Table(
        {
            "index": (INT, "Position of the feature in its day's report, worst first (0: highest PSI)."),
            "feature": (TEXT, "Model feature compared (a column of features)."),
            "psi": (FLOAT, "Population Stability Index of the day's cross-section against drift_reference."),
            "status": (
                TEXT,
                "ok (< 0.10), warning, drift (>= 0.25), level_shift (a level training days had), "
                "coverage_change or missing.",
            ),
            "date": DATE,
            "overall_drift": (BOOL, "Whether the share of drifted features on the day exceeds the threshold."),
        }
    ),
    "shap_explanations": Table(
        {
            "date": DATE,
            "ticker": TICKER,
            "feature": (TEXT, "Feature with one of the ticker's largest SHAP contributions."),
            "value": (FLOAT, "The feature's value for the ticker on the day."),
            "contribution": (
                FLOAT,
                "SHAP contribution of the feature to the ranking model's own score (model_score of "
                "daily_predictions; the ML score averages it with residual reversal's percentile).",
            ),
            "rank": (INT, "Rank of |contribution| among the ticker's features (1 largest)."),
            "score": (FLOAT, "The ranking model's own score being explained (model_score, before the blend)."),
            "base_value": (
                FLOAT,
                "The explainer's expected score: base_value plus the contributions of every feature (not only "
                "the top ones stored) is score.",
            ),
        },
        fixed=True,
    ),
}

TABLES: dict[str, Table] = {**MARKET, **FACTORS, **FEATURES, **TRAINING, **SERVING}

# -- lineage --------------------------------------------------------------------------------------
_SERIES = "market_series"
LINEAGE: dict[str, dict[str, list[tuple[str, str]]]] = {
    "factor_scores": {"regime": [(_SERIES, "sp500_close")]},
    "market_regime": {
        **dict.fromkeys(["regime", "sma_200", "sma_50", "drawdown", "realized_vol_20d"], [(_SERIES, "sp500_close")]),
        **{f"weight_{c}": [("factor_scores", f"weight_{c}")] for c in CATEGORIES},
    },
    "regime_features": {
        "sp500_return_20d": [(_SERIES, "sp500_close")],
        "sp500_return_60d": [(_SERIES, "sp500_close")],
        "sp500_volatility_20d": [(_SERIES, "sp500_close")],
        "vix_level": [(_SERIES, "vix")],
        "vix_term_structure": [(_SERIES, "vix_3m"), (_SERIES, "vix")],
        "yield_curve_10y_2y": [(_SERIES, "yield_10y"), (_SERIES, "yield_2y")],
        "credit_spread_hy_ig": [(_SERIES, "hy_spread"), (_SERIES, "ig_spread")],
        "advance_decline_10d": [(_SERIES, "advance_decline")],
        "pct_above_200sma": [(_SERIES, "pct_above_200sma")],
        "put_call_ratio": [(_SERIES, "put_call_ratio")],
    },
    "targets": {"fwd_return": [("prices", "close")], "label": [("prices", "close")]},
    "ranking_model": {"label": [("targets", "label")], "fwd_return": [("targets", "fwd_return")]},
    "regime_model": {"rule_regime": [("market_regime", "regime")], "true_regime": [("true_regimes", "regime")]},
    "earnings_model": {
        "beat": [("earnings_events", "surprise_pct")],
        "surprise": [("earnings_events", "surprise_pct")],
    },
    "walk_forward_report": {
        **{c: [("ranking_model", "score"), ("ranking_model", "fwd_return")] for c in [*_IC_STATS, "spread_mean"]},
        "accuracy": [("ranking_model", "predicted_quintile"), ("ranking_model", "label")],
        "oracle_ic_mean": [("true_alpha", "expected_return"), ("ranking_model", "fwd_return")],
    },
    "hybrid_scores": {
        "rule_score": [("factor_scores", "composite")],
        "ml_score": [("daily_predictions", "score")],
        "blended": [("factor_scores", "composite"), ("daily_predictions", "score")],
        "hybrid_score": [("factor_scores", "composite"), ("daily_predictions", "score")],
    },
    "regime_predictions": {"rule_regime": [("market_regime", "regime")]},
    "earnings_predictions": {
        "announce_date": [("earnings_events", "announce_date")],
        "eps_estimate": [("earnings_events", "eps_estimate")],
    },
    "factor_weights": {"rule_weight": [("market_regime", f"weight_{c}") for c in CATEGORIES]},
    "model_health": {"ic": [("daily_predictions", "score"), ("targets", "fwd_return")]},
}


# -- generated names ------------------------------------------------------------------------------
@cache
def _sub_factors() -> dict[str, tuple[str, str]]:
    """Sub-factor column of factor_scores -> (category, raw formula), from the factor registry."""
    from axion_pipeline.factors.registry import create_default_registry

    out = {}
    for category, calculator in create_default_registry():
        for sub in calculator.sub_factors():
            direction = "" if sub.higher_is_better or "lower" in sub.formula else "; lower raw values rank higher"
            out[sub.name] = (category, f"{sub.formula}{direction}")
    return out


@cache
def _factor_gloss() -> dict[str, str]:
    """Factor column of factor_scores -> what it is, in a few words."""
    out = {name: f"{category} sub-factor: {formula}" for name, (category, formula) in _sub_factors().items()}
    out.update({c: f"the {c} category score" for c in CATEGORIES})
    out["composite"] = "the regime-weighted composite rule score"
    return out


def _sub_factor_description(name: str) -> str | None:
    if name not in _sub_factors():
        return None
    category, formula = _sub_factors()[name]
    return (
        f"{category.capitalize()} sub-factor score: percentile rank in [0, 1] (1 best) among the day's index "
        f"members of {formula}. Missing where its inputs are."
    )


def _gloss(name: str) -> str:
    """A factor or macro column named inside a feature name, with what it is."""
    if name in _REGIME_FEATURES:
        return f"regime_features.{name} ({_REGIME_FEATURES[name].rstrip('.')})"
    return f"factor_scores.{name} ({_factor_gloss()[name]})"


_SUFFIXES = [
    (re.compile(r"^(?P<col>.+)_sector_rank$"), "sector_rank"),
    (re.compile(r"^(?P<col>.+)_lag(?P<n>\d+)d$"), "lag"),
    (re.compile(r"^(?P<col>.+)_mean_(?P<n>\d+)d$"), "mean"),
    (re.compile(r"^(?P<col>.+)_std_(?P<n>\d+)d$"), "std"),
    (re.compile(r"^(?P<col>.+)_rank$"), "rank"),
]


def feature_column(name: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(description, upstream columns) of a feature column by the naming rules of
    ``axion_pipeline.ml.features``; None for a name no rule produces."""
    factors, macro = _factor_gloss(), _REGIME_FEATURES
    if name == "month_of_year":
        return "Calendar month of the date (1-12).", []
    if name == SCORE_BLEND_SIGNAL:
        return (
            "Residual reversal as a percentile in [0, 1] among the date's index members: minus the last 21 "
            "days' returns left after removing 5 principal components of 252 days of every ticker's returns, "
            "over their volatility (prices, axion_pipeline.factors.residual_reversal). Not a model input: "
            "the ML score averages the model's percentile with it (MLConfig.score_blend_weight).",
            [("prices", "close")],
        )
    if name == "quarter":
        return "Calendar quarter of the date (1-4).", []
    if name in macro:
        return f"Market state: regime_features.{name} as of the date ({macro[name].rstrip('.')}).", [
            ("regime_features", name)
        ]
    for pattern, kind in _SUFFIXES:
        match = pattern.match(name)
        if match is None or match["col"] not in factors:
            continue
        col, source = match["col"], [("factor_scores", match["col"])]
        if kind == "rank":
            return f"Percentile rank in [0, 1] among the date's index members of {_gloss(col)}.", source
        if kind == "sector_rank":
            return (
                f"Percentile rank in [0, 1] within the date's sector of {_gloss(col)}.",
                [*source, ("sectors", "sector")],
            )
        n = match["n"]
        if kind == "lag":
            return f"Value of {_gloss(col)} {n} trading days earlier (same ticker).", source
        stat = "mean" if kind == "mean" else "sample standard deviation"
        return f"Trailing {n}-day {stat} (including the date) of {_gloss(col)}.", source
    for left, right in _splits(name):
        if left in factors and right in factors:
            return (
                f"Product of the date's percentile ranks of factor_scores.{left} and factor_scores.{right}.",
                [("factor_scores", left), ("factor_scores", right)],
            )
        if left in factors and right in macro:
            return (
                f"Regime interaction: (percentile rank of factor_scores.{left} - 0.5) x {_gloss(right)} as of "
                "the date: whether the trait pays in this market state.",
                [("factor_scores", left), ("regime_features", right)],
            )
    return None


def _splits(name: str):
    """Every split of ``name`` at one ``_x_``."""
    for match in re.finditer("_x_", name):
        yield name[: match.start()], name[match.end() :]


def _rule(rule: str, table: str, column: str) -> tuple[str, list[tuple[str, str]]] | None:
    if rule == "factor":
        text = _sub_factor_description(column)
        return (text, []) if text else None
    if rule == "feature":
        found = feature_column(column)
        if found is None or table == "features":
            return found
        # drift_reference: a seeded sample of the production ranking model's training rows of features
        return f"features.{column} in the sampled training row: {found[0]}", [("features", column)]
    if rule == "regime_probability":
        regime = column.removeprefix("prob_")
        if column.startswith("prob_") and regime in REGIMES:
            return f"Probability of the {regime} regime from the GMM + random-forest classifier.", []
        return None
    if rule == "search_parameter" and column.startswith("param_"):
        return f"LightGBM parameter {column.removeprefix('param_')} of the trial.", []
    return None


# -- lookups --------------------------------------------------------------------------------------
def describe(table: str, column: str) -> str | None:
    """What ``column`` of ``table`` means; None when the registry does not know it."""
    spec = TABLES.get(table)
    if spec is None:
        return None
    if column in spec.columns:
        return spec.columns[column][1]
    for rule in spec.rules:
        found = _rule(rule, table, column)
        if found is not None:
            return found[0]
    return None


def sources(table: str, column: str) -> list[tuple[str, str]]:
    """The upstream (table, column) pairs ``column`` of ``table`` is computed from (empty when none is declared)."""
    declared = LINEAGE.get(table, {}).get(column)
    if declared is not None:
        return list(declared)
    spec = TABLES.get(table)
    if spec is None or column in spec.columns:
        return []
    for rule in spec.rules:
        found = _rule(rule, table, column)
        if found is not None:
            return found[1]
    return []


def fixed_columns(table: str) -> dict[str, str] | None:
    """Column -> DuckDB type of a table whose columns are fixed; None for the others."""
    spec = TABLES.get(table)
    if spec is None or not spec.fixed:
        return None
    return {name: dtype for name, (dtype, _) in spec.columns.items()}
