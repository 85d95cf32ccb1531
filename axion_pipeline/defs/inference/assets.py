"""Daily inference assets: ranking predictions, hybrid scores, regime, earnings and factor weights.

They run on the live span (trading days after the production models' training window), where
every prediction is out of sample. ``make run`` materializes that span; the daily schedule adds
the newest day.
"""

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.defs.common import (
    add_metadata,
    frame_metadata,
    lookback,
    markdown_table,
    only,
    require_rows,
    window,
)
from axion_pipeline.defs.config import HybridSettings
from axion_pipeline.defs.factors.assets import WEIGHT_COLUMNS
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore
from axion_pipeline.ml.config import REGIME_DURATION_CAP

GROUP = "inference"


def load_production(model_store: ModelStore):
    """``name -> (model, version)`` loader over the model store's production LATEST pointers."""
    return lambda name: (model_store.load_production(name), model_store.production_version(name))


def walk_forward_skill(walk_forward_report: pd.DataFrame) -> tuple[float, float]:
    """The overall (fold "all") out-of-sample IC of the walk-forward report, 0 when undefined, and
    its Newey-West t-statistic, NaN when undefined or absent."""
    overall = walk_forward_report.loc[walk_forward_report["fold"] == "all"]
    ic = overall["ic_mean"].dropna()
    tstat = overall["ic_tstat_nw"].dropna() if "ic_tstat_nw" in overall else pd.Series(dtype="float64")
    return float(ic.iloc[0]) if len(ic) else 0.0, float(tstat.iloc[0]) if len(tstat) else float("nan")


def model_status_metadata(predictor, name: str) -> dict:
    status = predictor.get_model_status()[name]
    return {
        "model_status": status["status"],
        "model_version": status["version"] or "none",
        "fallback": status["fallback"] or "none",
        "status_detail": str(status["detail"])[:300],
    }


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    @project.live_asset(
        GROUP,
        kinds={"lightgbm", "duckdb"},
        ins={"features": dg.AssetIn(), "factor_scores": only("date", "ticker", "composite")},
    )
    def daily_predictions(
        context: dg.AssetExecutionContext, model_store: ModelStore, features: pd.DataFrame, factor_scores: pd.DataFrame
    ) -> pd.DataFrame:
        """Production ML score (0-1) and rank per (date, ticker): the ranking model's score averaged with residual
        reversal (both percentiles, the weight stored with the model), the model's own in model_score; rule
        composite when the model is unusable."""
        from axion_pipeline.ml.feature_inputs import from_long
        from axion_pipeline.ml.serving import production_predictor, rank_dates

        start, end = window(context)
        require_rows(features, "features", start, end)
        predictor = production_predictor(load_production(model_store), names=("ranking",))
        rules = factor_scores.set_index(["date", "ticker"])["composite"]
        out = rank_dates(predictor, from_long(features), rules)
        out["model_version"] = predictor.get_model_status()["ranking"]["version"]
        add_metadata(
            context,
            {
                **frame_metadata(out),
                **model_status_metadata(predictor, "ranking"),
                "share_from_rules": float((out["source"] == "rules").mean()),
            },
        )
        return out

    @project.live_asset(
        GROUP,
        ins={
            "daily_predictions": only("date", "ticker", "score", "source"),
            "factor_scores": only("date", "ticker", "composite"),
            "walk_forward_report": dg.AssetIn(),
        },
    )
    def hybrid_scores(
        context: dg.AssetExecutionContext,
        config: HybridSettings,
        daily_predictions: pd.DataFrame,
        factor_scores: pd.DataFrame,
        walk_forward_report: pd.DataFrame,
    ) -> pd.DataFrame:
        """Blend of the rule composite and the ML score per (date, ticker), re-ranked to [0, 1] within each date."""
        from axion_pipeline.ml.config import HybridScoringConfig
        from axion_pipeline.ml.hybrid import HybridScorer
        from axion_pipeline.ml.serving import hybrid_by_date

        start, end = window(context)
        require_rows(daily_predictions, "daily_predictions", start, end)
        scorer = HybridScorer(config.to_library(HybridScoringConfig))
        # the production model's expected skill is its walk-forward OOS IC and that IC's Newey-West t; an
        # undefined IC (e.g. constant scores) demonstrates no skill and counts as 0, an undefined t fails the gate
        oos_ic, oos_t = walk_forward_skill(walk_forward_report)
        failures = scorer.gate_failures(oos_ic, oos_t)
        scorer.update_ml_performance(oos_ic, oos_t)
        gate = "; ".join(failures) or "passed: the OOS IC and its Newey-West t reach the minimums"
        if failures and scorer.ml_active:
            gate = f"fallback_to_rules is off, ML stays on although {gate}"
        ml = daily_predictions.loc[daily_predictions["source"] == "ml"].set_index(["date", "ticker"])["score"]
        out = hybrid_by_date(scorer, factor_scores.set_index(["date", "ticker"])["composite"], ml)
        out["ml_active"] = scorer.ml_active
        add_metadata(
            context,
            {
                **frame_metadata(out),
                "ml_active": scorer.ml_active,
                "ml_gate": gate,
                "walk_forward_oos_ic": oos_ic,
                "walk_forward_oos_ic_tstat_nw": oos_t if np.isfinite(oos_t) else None,
                "ml_weight": scorer.effective_ml_weight,
            },
        )
        return out

    @project.live_asset(
        GROUP,
        kinds={"scikitlearn", "duckdb"},
        ins={
            # the days before the window count duration_days up to its cap, the same in a one-day run
            "regime_features": lookback(REGIME_DURATION_CAP - 1),
            "market_regime": lookback(REGIME_DURATION_CAP - 1, ["date", "regime"]),
        },
    )
    def regime_predictions(
        context: dg.AssetExecutionContext,
        model_store: ModelStore,
        regime_features: pd.DataFrame,
        market_regime: pd.DataFrame,
    ) -> pd.DataFrame:
        """Regime probabilities (bull, bear, sideways, crisis) per day from the production classifier, next to the rule
        regime."""
        from axion_pipeline.ml.serving import production_predictor
        from axion_pipeline.ml.serving import regime_predictions as predict

        start, end = window(context)
        require_rows(regime_features, "regime_features", start, end)
        predictor = production_predictor(load_production(model_store), names=("regime",))
        model = predictor.usable("regime")
        out = predict(model, regime_features, market_regime.set_index("date")["regime"], start=start)
        add_metadata(
            context,
            {
                **frame_metadata(out, key_column=None),
                **model_status_metadata(predictor, "regime"),
                "agreement_with_rule_detector": float((out["regime"] == out["rule_regime"]).mean()),
            },
        )
        return out

    @project.live_asset(GROUP, kinds={"xgboost", "duckdb"}, ins={"prices": lookback(80, ["date", "ticker", "close"])})
    def earnings_predictions(
        context: dg.AssetExecutionContext,
        model_store: ModelStore,
        earnings_events: pd.DataFrame,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame,
    ) -> pd.DataFrame:
        """Beat probability, predicted surprise and surprise status of next-day announcements, from data up to today."""
        from axion_pipeline.ml.serving import earnings_prediction_rows, production_predictor, upcoming_earnings

        start, end = window(context)
        predictor = production_predictor(load_production(model_store), names=("earnings",))
        upcoming = upcoming_earnings(earnings_events, project.calendar, start, end)
        out = earnings_prediction_rows(predictor.usable("earnings"), upcoming, prices, fundamentals)
        add_metadata(
            context,
            {**frame_metadata(out), **model_status_metadata(predictor, "earnings"), "announcements": len(upcoming)},
        )
        return out

    @project.live_asset(
        GROUP,
        kinds={"scikitlearn", "duckdb"},
        ins={"regime_features": dg.AssetIn(), "market_regime": only("date", *WEIGHT_COLUMNS)},
    )
    def factor_weights(
        context: dg.AssetExecutionContext,
        model_store: ModelStore,
        regime_features: pd.DataFrame,
        market_regime: pd.DataFrame,
    ) -> pd.DataFrame:
        """Category weights per day from the factor-timing model, next to the regime rule weights."""
        from axion_pipeline.ml.serving import factor_weight_rows, production_predictor

        start, end = window(context)
        require_rows(regime_features, "regime_features", start, end)
        predictor = production_predictor(load_production(model_store), names=("factor_timing",))
        out = factor_weight_rows(predictor.usable("factor_timing"), regime_features, market_regime.set_index("date"))
        last = out.loc[out["date"] == out["date"].max(), ["factor", "weight", "rule_weight"]]
        add_metadata(
            context,
            {
                **frame_metadata(out, key_column=None),
                **model_status_metadata(predictor, "factor_timing"),
                "latest_weights": markdown_table(last),
            },
        )
        return out

    return [daily_predictions, hybrid_scores, regime_predictions, earnings_predictions, factor_weights]
