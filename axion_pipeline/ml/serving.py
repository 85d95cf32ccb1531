"""Daily serving over whole date ranges: the batch counterparts of ``MLPredictor``'s single-date calls.

The Dagster inference assets call these with the warehouse's long tables. Every function keeps
the point-in-time rule of its inputs: rows for date ``t`` use features, scores and market data of
``t`` (or earlier) only, and the production models were trained on data ending before the live span.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml.config import REGIME_DURATION_CAP
from axion_pipeline.ml.predictor import MLPredictor

PRODUCTION_NAMES = {
    "ranking": "ranking_model",
    "regime": "regime_model",
    "earnings": "earnings_model",
    "factor_timing": "factor_timing_model",
}
LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError)


def production_predictor(load: Callable[[str], tuple[Any, str | None]], names=tuple(PRODUCTION_NAMES)) -> MLPredictor:
    """An ``MLPredictor`` holding the production models ``load(store_name) -> (model, version)``
    returns; a model that fails to load (missing, tampered, corrupt) is recorded as an error and
    its predictions fall back to rules."""
    predictor = MLPredictor(cache_size=0)
    for name in names:
        try:
            model, version = load(PRODUCTION_NAMES[name])
        except LOAD_ERRORS as exc:
            predictor.set_load_error(name, f"{type(exc).__name__}: {exc}")
        else:
            predictor.set_loaded(name, model, version)
    return predictor


def explain_rankings(predictor: MLPredictor, features: pd.DataFrame, top_k: int) -> tuple[pd.DataFrame | None, dict]:
    """Top-``top_k`` SHAP contributions per (date, ticker) of the production ranking model.

    ``features``: the (date, symbol) feature frame. Returns (explanations, info); explanations is
    None when there is nothing to explain: no usable model (missing, skipped, refused on load), a
    model whose features the frame lacks (it was trained on another feature set), or an
    explanation that fails the way a prediction would (the same errors ``MLPredictor`` falls back
    on). ``info["reason"]`` then says why; otherwise ``info`` holds the method and the latest
    day's full contributions (``wide``). Predictions fall back to the rules in all these cases, so
    no explanation is the correct output, not an error."""
    from axion_pipeline.ml.explain import ModelExplainer
    from axion_pipeline.ml.predictor import PREDICTION_ERRORS

    model = predictor.usable("ranking")
    if model is None:
        return None, {"reason": str(predictor.get_model_status()["ranking"]["detail"])}
    missing = [f for f in model.feature_names if f not in features.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return None, {
            "reason": f"the model's features are not in the feature table ({len(missing)} missing: {shown}); "
            "rebuild the features or retrain the production model"
        }
    X = features[model.feature_names]
    explainer = ModelExplainer()
    try:
        out = explainer.explain_batch(model, X, top_k=top_k).rename(columns={"symbol": "ticker"})
        last_day = X.loc[X.index.get_level_values(0) == X.index.get_level_values(0).max()]
        wide, _, _, method = explainer.contributions(model, last_day)
    except PREDICTION_ERRORS as exc:
        return None, {"reason": f"explanation failed: {type(exc).__name__}: {exc}"}
    return out, {"method": method, "wide": wide}


def rank_dates(predictor: MLPredictor, features: pd.DataFrame, rule_scores: pd.Series) -> pd.DataFrame:
    """Ranking scores for every date of ``features`` ((date, symbol) frame of the model's inputs).

    ``rule_scores``: (date, symbol) composite scores, the fallback. Columns: date, ticker, score
    (0-1 percentile), raw_score, rank, source, fallback_reason.
    """
    frames = []
    dates = pd.DatetimeIndex(features.index.get_level_values(0).unique()).sort_values()
    rule_dates = pd.to_datetime(rule_scores.index.get_level_values(0))
    for t in dates:
        rules = rule_scores[rule_dates == t].droplevel(0)
        out = predictor.predict_rankings(features, t, rule_scores=rules)
        frames.append(out)
    out = pd.concat(frames) if frames else pd.DataFrame()
    out = out.rename_axis("ticker").reset_index() if "ticker" not in out.columns else out.reset_index(drop=True)
    out["date"] = pd.to_datetime(out["date"])
    return out


def hybrid_by_date(scorer, rule_scores: pd.Series, ml_scores: pd.Series) -> pd.DataFrame:
    """``HybridScorer.compute_hybrid_scores`` on (date, ticker) series, re-ranked within each date."""
    out = scorer.compute_hybrid_scores(rule_scores, ml_scores)
    return out.reset_index().rename(columns={"level_0": "date", "level_1": "ticker", "symbol": "ticker"})


def regime_predictions(
    model, regime_features: pd.DataFrame, rule_regimes: pd.Series, start=None, max_duration: int = REGIME_DURATION_CAP
) -> pd.DataFrame:
    """Regime probabilities per date from the production classifier; the rule detector's regime
    (and NaN probabilities) when the model is unavailable. ``duration_days`` counts consecutive
    trailing dates with the same predicted regime, at most ``max_duration``.

    ``regime_features`` may start before ``start``: those dates (``max_duration - 1`` of them make
    the count exact up to the cap) are predicted for the count only, and only dates on or after
    ``start`` are returned. Each date's prediction reads that date's features alone.
    """
    if max_duration < 1:
        raise ValueError(f"max_duration must be >= 1, got {max_duration}")
    X = regime_features.set_index("date").sort_index()
    if model is not None:
        out = model.predict(X).reset_index().rename(columns={"index": "date"})
        out["source"] = "ml"
    else:
        out = pd.DataFrame(
            {
                "date": X.index,
                "regime": rule_regimes.reindex(X.index).to_numpy(),
                "confidence": np.nan,
                "source": "rules",
            }
        )
    change = out["regime"].ne(out["regime"].shift()).cumsum()
    out["duration_days"] = (out.groupby(change).cumcount() + 1).clip(upper=max_duration)
    out["rule_regime"] = rule_regimes.reindex(pd.DatetimeIndex(out["date"])).to_numpy()
    if start is not None:
        out = out.loc[pd.DatetimeIndex(out["date"]) >= pd.Timestamp(start)].reset_index(drop=True)
    return out


def upcoming_earnings(earnings_events: pd.DataFrame, calendar: pd.DatetimeIndex, start, end) -> pd.DataFrame:
    """Events announced on the trading day after each date ``t`` in [start, end), tagged with ``t``.

    Predicting at the close of ``t`` an announcement on ``t+1`` uses only data before ``t+1``,
    which is what the earnings features are built from: no look-ahead.
    """
    days = calendar[(calendar >= pd.Timestamp(start)) & (calendar < pd.Timestamp(end))]
    nxt = pd.Series(calendar[1:], index=calendar[:-1])
    events = earnings_events.assign(announce_date=pd.to_datetime(earnings_events["announce_date"]))
    wanted = pd.DataFrame({"date": days, "announce_date": nxt.reindex(days).to_numpy()}).dropna()
    return wanted.merge(events, on="announce_date", how="inner")


EARNINGS_PREDICTION_COLUMNS = [
    "date",
    "ticker",
    "announce_date",
    "eps_estimate",
    "beat_probability",
    "predicted_surprise",
    "surprise_status",
    "confidence",
]


def earnings_prediction_rows(
    model, upcoming: pd.DataFrame, prices: pd.DataFrame, fundamentals: pd.DataFrame
) -> pd.DataFrame:
    """One row per upcoming announcement (``upcoming_earnings``): beat_probability,
    predicted_surprise, surprise_status ("predicted", or why predicted_surprise is NaN: the model
    was trained without a surprise target) and confidence = |2p - 1|. Empty, with these columns,
    when nothing is announced or there is no model (earnings have no rule-based fallback).
    Features use prices and fundamentals known before each announce_date only."""
    if upcoming.empty or model is None:
        empty = pd.DataFrame(columns=EARNINGS_PREDICTION_COLUMNS)
        return empty.astype({"date": "datetime64[ns]", "announce_date": "datetime64[ns]"})
    from axion_pipeline.ml.earnings_features import build_earnings_features

    X, _, _ = build_earnings_features(upcoming.drop(columns="date"), prices, fundamentals)
    preds = model.predict(X).reset_index()
    out = upcoming[["date", "ticker", "announce_date", "eps_estimate"]].merge(
        preds, on=["ticker", "announce_date"], how="left"
    )
    out["confidence"] = (2 * out["beat_probability"] - 1).abs()
    return out[EARNINGS_PREDICTION_COLUMNS]


def factor_weight_rows(model, regime_features: pd.DataFrame, rule_weights: pd.DataFrame) -> pd.DataFrame:
    """Long rows (date, factor, weight, source, rule_weight): the timing model's weights per date,
    or the regime rule weights when the model is unavailable."""
    rows = []
    X = regime_features.set_index("date").sort_index()
    for t in X.index:
        rule = rule_weights.loc[t] if t in rule_weights.index else pd.Series(dtype=float)
        if model is not None:
            weights, source = model.get_factor_weights(X.loc[[t]]), "ml"
        else:
            weights, source = {k.removeprefix("weight_"): float(v) for k, v in rule.items()}, "rules"
        for factor, weight in weights.items():
            rows.append(
                {
                    "date": t,
                    "factor": factor,
                    "weight": float(weight),
                    "source": source,
                    "rule_weight": float(rule.get(f"weight_{factor}", np.nan)),
                }
            )
    return pd.DataFrame(rows, columns=["date", "factor", "weight", "source", "rule_weight"])


def realized_health(predictions: pd.DataFrame, targets: pd.DataFrame, dates, config=None) -> pd.DataFrame:
    """Model health per date ``T``: the rank IC of the predictions made at ``T - h`` whose labels
    matured at ``T`` (targets partitioned by label_date), and the health status over the ICs of the
    last ``rolling_window_days`` label dates up to ``T``. Nothing uses a label before it matured.
    Predictions whose ``source`` is the rule fallback (no usable model that day) are not the model's
    and are left out.

    The window counts label dates (the trading days of ``targets`` and ``dates``), not recorded ICs,
    and ``targets`` may start up to that many days before ``dates``: so a one-day run that loads the
    window stores what a range run stored for the day.
    """
    from axion_pipeline.ml import metrics as M
    from axion_pipeline.ml.config import MonitoringConfig
    from axion_pipeline.ml.monitoring import DEFAULT_MODEL, health_status

    config = config if config is not None else MonitoringConfig()
    if "source" in predictions.columns:
        predictions = predictions.loc[predictions["source"] == "ml"]
    matured = targets.dropna(subset=["fwd_return"]).merge(
        predictions[["date", "ticker", "score"]], on=["date", "ticker"], how="inner"
    )
    run_dates = pd.DatetimeIndex(sorted(pd.to_datetime(pd.Index(dates).unique())))
    grid = run_dates.union(pd.DatetimeIndex(pd.to_datetime(targets["label_date"].unique())))
    sizes = matured.groupby("label_date")["date"].agg(["size", "first"])
    prediction_dates = sizes.loc[sizes["size"] > 2, "first"].reindex(grid)
    daily = M.per_date_ic(matured["score"], matured["fwd_return"], matured["label_date"])
    ic = pd.Series(daily.to_numpy(float), index=pd.DatetimeIndex(daily.index)).reindex(grid)
    window = config.rolling_window_days
    rows = []
    for T in run_dates:
        upto = ic.loc[:T]
        status = health_status(upto.iloc[-window:] if window > 0 else upto, config, DEFAULT_MODEL)
        rows.append(
            {
                "date": T,
                "model": "stock_ranking",
                "prediction_date": prediction_dates[T],
                "ic": ic[T],
                "status": status.status,
                "current_ic": status.current_ic,
                "rolling_ic_3m": status.rolling_ic_3m,
                "ic_trend": status.ic_trend,
                "ic_tstat_nw": status.ic_tstat_nw,
                "needs_retraining": bool(status.needs_retraining),
                "reason": "; ".join(status.reasons),
                "n_matured_dates": status.n_observations,
            }
        )
    return pd.DataFrame(rows)


def date_level_columns(reference: pd.DataFrame) -> list[str]:
    """Columns with one value per date (macro, calendar): a single day's cross-section of such a
    column is a point mass, so its per-day PSI would be meaningless; they drift over time and are
    watched through the regime features instead."""
    columns = [c for c in reference.columns if c not in ("date", "ticker")]
    floats = [c for c in columns if reference[c].dtype == "float64"]
    others = [c for c in columns if c not in floats]
    constant = set(_constant_per_date(reference, floats)) if floats else set()
    if others:
        per_date = reference.groupby("date")[others].nunique(dropna=False).max()
        constant |= {c for c in others if per_date.get(c, 0) <= 1}
    return [c for c in columns if c in constant]


def _constant_per_date(reference: pd.DataFrame, columns: list[str]) -> list[str]:
    """The float ``columns`` with one value (NaN counting as a value) on every date: what
    ``groupby("date")[columns].nunique(dropna=False).max() <= 1`` says, in one sort instead of a
    hash table per date and column."""
    dated = reference.loc[reference["date"].notna()]
    order = np.argsort(dated["date"].to_numpy(), kind="stable")
    days = dated["date"].to_numpy()[order]
    values = dated[columns].to_numpy(dtype="float64")[order]
    same_day = days[1:] == days[:-1]
    later, earlier = values[1:][same_day], values[:-1][same_day]
    equal = (later == earlier) | (np.isnan(later) & np.isnan(earlier))
    return [c for c, ok in zip(columns, equal.all(axis=0)) if ok]


def drift_rows(detector, reference: pd.DataFrame, features: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """PSI of each cross-sectional feature per date against the reference sample: long rows (date,
    feature, psi, status; "coverage_change" where the feature's missing share moved, "level_shift"
    where the day sits on a level the reference's own dates had (``ml.drift``); neither counts as
    drift) and the last date's report summary (``date_level`` lists the excluded date-level
    columns)."""
    from axion_pipeline.ml.drift import date_levels

    skipped = date_level_columns(reference)
    columns = [c for c in reference.columns if c not in ("date", "ticker", *skipped)]
    levels = date_levels(reference[columns], reference["date"]) if "date" in reference.columns else None
    rows, last = [], {}
    for t, day in features.groupby("date"):
        report = detector.check_feature_drift(reference[columns], day.reindex(columns=columns), levels=levels)
        frame = report.to_frame().reset_index(drop=False)  # "index": the feature's place, worst first
        rows.append(frame.assign(date=t, overall_drift=bool(report.overall_drift)))
        last = {
            "date": str(pd.Timestamp(t).date()),
            "overall_drift": bool(report.overall_drift),
            "drifted_features": list(report.drifted_features)[:20],
            "coverage_changes": list(report.coverage_changes)[:20],
            "level_shifts": list(report.level_shifts)[:20],
            "psi": report.psi_scores,
            "date_level": skipped,
        }
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return out, last
