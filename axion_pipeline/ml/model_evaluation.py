"""The ranking model's out-of-sample scores next to every signal it should beat, on the same rows.

Rows: exactly the (fold, date, ticker) rows the walk-forward ranking model scored on its test
windows (``ml_score``), with their realised ``fwd_return`` (the label horizon's forward return).
Signals on those rows, higher = better expected return:

- ``ml_score``: the ML score (kind ``model``): the ranking model averaged with residual reversal
  (``MLConfig.score_blend_weight``);
- its two parts (``component``): ``model_alone``, the ranking model's own score (the predictions'
  ``model_score``, when they have it), and ``residual_reversal``
  (``axion_pipeline.factors.residual_reversal`` on every ticker's closes), so the blend is judged
  against each of its halves;
- ``composite`` and the six categories (``CATEGORIES``) of the factor engine (``rules``, ``category``);
- ``momentum_12_1``, ``reversal_1m``, ``low_vol_60d`` from ``axion_pipeline.ml.baselines``
  (``baseline``), computed on the whole price history so the test dates have their lookback;
- ``alpha158_reference``: Qlib's Alpha158 + LightGBM recipe fitted on the same windows
  (``reference``), when given.

``evaluate_model`` runs ``axion_pipeline.analytics.signal_evaluation`` on them: per fold and
overall IC statistics with Newey-West t and block-bootstrap interval, quantile spread and the
non-overlapping long-short book gross and net of ``cost_per_turnover``; the paired Newey-West test
of ``ml_score`` against every other signal, each with a verdict (``loses`` at t <= -t*, ``beats``
at t >= t*, else ``no significant difference``; ``undetermined`` when the t is undefined); and the
exposures of ``ml_score`` and ``composite`` to beta (``beta_252d``), volatility (60-day realised
volatility, the negative of ``low_vol_60d``), momentum (``momentum_12_1``), size
(``log_dollar_volume_63d``) and sector (R^2 of the score on sector dummies).

Look-ahead: the model's scores come from windows purged by the label horizon (the fold plan);
every baseline and characteristic at t uses prices up to t; factor scores are point in time. The
forward returns are the outcome only. A signal missing on a row leaves it out of that signal's
sample, and the paired test (``same_rows``) compares two signals on the rows where both exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.ml.base import InsufficientDataError
from axion_pipeline.ml.config import ModelEvaluationConfig

ML_SCORE = "ml_score"
COMPOSITE = "composite"
REFERENCE = "alpha158_reference"
BASELINES = ("momentum_12_1", "reversal_1m", "low_vol_60d")
MODEL_ALONE, RESIDUAL_REVERSAL = "model_alone", "residual_reversal"
# exposure name -> the column it is measured on
CHARACTERISTICS = {
    "beta": "beta_252d",
    "volatility": "realized_vol_60d",
    "momentum": "momentum_12_1",
    "size": "log_dollar_volume_63d",
}
EXPOSED = (ML_SCORE, COMPOSITE)
LOSES, BEATS, TIE, UNDETERMINED = "loses", "beats", "no significant difference", "undetermined"


def signal_kinds(include_reference: bool = True) -> dict[str, str]:
    """Every evaluated signal -> its kind, in the order the tables list them."""
    kinds = {ML_SCORE: "model", MODEL_ALONE: "component", RESIDUAL_REVERSAL: "component", COMPOSITE: "rules"}
    kinds.update(dict.fromkeys(CATEGORIES, "category"))
    kinds.update(dict.fromkeys(BASELINES, "baseline"))
    if include_reference:
        kinds[REFERENCE] = "reference"
    return kinds


def evaluation_frame(
    predictions: pd.DataFrame,
    factor_scores: pd.DataFrame,
    prices: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    sectors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per scored (fold, date, ticker) of ``predictions`` (fold, date, ticker, score,
    fwd_return), sorted by (date, ticker): ``fold``, ``fwd_return``, every signal of
    ``signal_kinds`` (the reference only when ``reference`` has rows: fold, date, ticker, score),
    the characteristics' columns and ``sector`` (from ``sectors``: ticker, sector). ``prices``
    (date, ticker, close, volume) should reach back a year before the first test date."""
    from axion_pipeline.factors.residual_reversal import residual_reversal
    from axion_pipeline.ml.baselines import baseline_scores

    keys = ["date", "ticker"]
    scored = ["score", "model_score"] if "model_score" in predictions.columns else ["score"]
    rows = predictions[["fold", *keys, *scored, "fwd_return"]].rename(
        columns={"score": ML_SCORE, "model_score": MODEL_ALONE}
    )
    rows = rows.assign(date=pd.to_datetime(rows["date"]), ticker=rows["ticker"].astype(str))
    rows = rows.sort_values(keys, ignore_index=True)
    dates = rows["date"].unique()
    close = prices.pivot(index="date", columns="ticker", values="close").sort_index()
    close.index, close.columns = pd.to_datetime(close.index), close.columns.astype(str)
    residual = residual_reversal(close, pd.DatetimeIndex(dates).intersection(close.index))
    residual = residual.stack().rename(RESIDUAL_REVERSAL).rename_axis(keys).reset_index()

    def on_rows(frame: pd.DataFrame, columns: list[str], on: list[str] = keys) -> pd.DataFrame:
        part = frame.loc[pd.to_datetime(frame["date"]).isin(dates), [*on, *columns]]  # the test dates only
        part = part.assign(date=pd.to_datetime(part["date"]), ticker=part["ticker"].astype(str))
        return rows[on].merge(part, on=on, how="left", validate="many_to_one")[columns]

    scores = on_rows(factor_scores, [COMPOSITE, *CATEGORIES])
    base = baseline_scores(prices[["date", "ticker", "close", "volume"]])
    base["realized_vol_60d"] = -base["low_vol_60d"]
    characteristics = [c for c in CHARACTERISTICS.values() if c not in BASELINES]
    base = on_rows(base, [*BASELINES, *characteristics])
    parts = [rows, on_rows(residual, [RESIDUAL_REVERSAL]), scores, base]
    if reference is not None and len(reference):
        ref = on_rows(reference.rename(columns={"score": REFERENCE}), [REFERENCE], ["fold", *keys])
        parts.append(ref)
    out = pd.concat(parts, axis=1)
    if sectors is not None:
        out["sector"] = out["ticker"].map(sectors.set_index("ticker")["sector"].astype(str))
    return out


@dataclass
class ModelEvaluation:
    """The tables of ``evaluate_model``; ``ic`` is the per-date IC of every signal (dates x signals)."""

    evaluation: pd.DataFrame
    paired: pd.DataFrame
    exposures: pd.DataFrame
    ic: pd.DataFrame
    horizon: int
    config: ModelEvaluationConfig

    def overall(self) -> pd.DataFrame:
        """The evaluation over all folds, one row per signal."""
        return self.evaluation.loc[self.evaluation["fold"] == "all"].reset_index(drop=True)

    def verdicts(self, verdict: str) -> list[str]:
        """The signals whose paired test against ``ml_score`` has this verdict."""
        return self.paired.loc[self.paired["verdict"] == verdict, "baseline"].tolist()

    def best_baseline(self) -> str | None:
        """The one-factor baseline with the highest overall mean IC (None when none has one)."""
        overall = self.overall().set_index("signal")["ic_mean"].reindex(list(BASELINES)).dropna()
        return str(overall.idxmax()) if len(overall) else None


def verdict(tstat: float, threshold: float) -> str:
    """``loses`` / ``beats`` / ``no significant difference`` for a paired t of model minus signal."""
    if not np.isfinite(tstat):
        return UNDETERMINED
    return LOSES if tstat <= -threshold else BEATS if tstat >= threshold else TIE


def evaluate_model(frame: pd.DataFrame, horizon: int, config: ModelEvaluationConfig | None = None) -> ModelEvaluation:
    """Evaluation, paired tests and exposures of the signals of ``evaluation_frame`` (module
    docstring). Raises ``InsufficientDataError`` when no row has both a model score and a
    forward return."""
    from axion_pipeline.analytics.signal_evaluation import (
        evaluate_signals,
        ic_by_date,
        paired_ic_test,
        signal_exposures,
    )

    config = config or ModelEvaluationConfig()
    known = frame[ML_SCORE].notna() & frame["fwd_return"].notna()
    if not known.any():
        raise InsufficientDataError("no out-of-sample row has both a model score and a realised forward return")
    kinds = {name: kind for name, kind in signal_kinds().items() if name in frame.columns}
    signals = list(kinds)
    evaluation = evaluate_signals(
        frame,
        signals,
        horizon=horizon,
        cost_per_turnover=config.cost_per_turnover,
        n_quantiles=config.n_quantiles,
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
    )
    evaluation.insert(1, "kind", evaluation["signal"].map(kinds))
    paired = paired_ic_test(frame, ML_SCORE, signals[1:], horizon=horizon, same_rows=config.same_rows)
    paired.insert(2, "kind", paired["baseline"].map(kinds))
    paired["verdict"] = [verdict(t, config.significant_tstat) for t in paired["diff_tstat_nw"]]
    exposures = signal_exposures(
        frame,
        list(EXPOSED),
        characteristics=list(CHARACTERISTICS.values()),
        sector_col="sector" if "sector" in frame.columns else None,
    )
    exposures = exposures.rename(columns={column: name for name, column in CHARACTERISTICS.items()})
    return ModelEvaluation(evaluation, paired, exposures, ic_by_date(frame, signals), horizon, config)
