"""``HybridScorer``: blend rule-based composite scores with ML ranking scores, with an IC kill switch.

Both inputs are percentile scores in [0, 1] (1 best): the factor engine's ``composite`` and the
ML model's ``predict_rank`` (or ``MLPredictor.predict_rankings()["score"]``). Per ticker

    blended = (1 - w) * rule + w * ml,   w = ml_weight while ML is active, else 0,

and the blend is re-ranked to a percentile in [0, 1] (0 worst, 1 best) within each date (the whole
frame when the index has no ``date`` level). A ticker missing one of the two scores keeps the
other one as its blend (missing ML -> its rule score; missing rule while ML is active -> its ML
score); a ticker with neither, or with only an ML score while ML is inactive, is left out.

Kill switch with hysteresis (``update_ml_performance``): when ``fallback_to_rules`` is on, a
realised IC below ``min_ic_for_ml`` deactivates ML; it is re-activated only by an IC of at least
``min_ic_for_ml + reactivation_margin``. The margin keeps an IC hovering around the threshold
from flipping the blend on and off every update. A NaN IC (no realised outcome yet) is recorded
and changes nothing. When the IC comes with a t-statistic (e.g. the walk-forward report's
Newey-West t of the mean out-of-sample IC), ML is also off while that t is below
``min_tstat_for_ml`` (a NaN t counts as below: no evidence of skill); ``gate_failures`` names the
conditions that keep it off.

Look-ahead: the blend uses only the two scores given. The IC fed to ``update_ml_performance`` must
be realised (forward returns of past predictions, known at the update date), never the IC of the
period being scored.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.config import HybridScoringConfig


def _check_scores(scores: pd.Series, name: str) -> pd.Series:
    if not isinstance(scores, pd.Series):
        raise TypeError(
            f"{name} must be a pandas Series indexed by ticker (or (date, ticker)), got {type(scores).__name__}"
        )
    if scores.index.has_duplicates:
        raise ValueError(f"{name} has duplicate index labels, e.g. {scores.index[scores.index.duplicated()][0]!r}")
    values = pd.to_numeric(scores, errors="raise").astype(float)
    finite = values.dropna()
    if ((finite < 0) | (finite > 1)).any():
        raise ValueError(f"{name} must be percentile scores in [0, 1]; got range [{finite.min()}, {finite.max()}]")
    return values


def _on_symbol(scores: pd.Series, name: str) -> pd.Series:
    """Scores indexed by ticker: a (date, ticker) series must hold one date, which is dropped."""
    if scores.index.nlevels == 1:
        return scores
    if scores.index.nlevels != 2:
        raise ValueError(f"{name} must be indexed by ticker or (date, ticker), got {scores.index.nlevels} levels")
    dates = scores.index.get_level_values(0).unique()
    if len(dates) > 1:
        raise ValueError(
            f"{name} spans {len(dates)} dates while the other scores are one cross-section indexed by "
            "ticker: pass the scores of one date, or both indexed by (date, ticker)"
        )
    return scores.droplevel(0)


class HybridScorer:
    """Blends rule and ML scores; switches ML off and on from realised ICs (module docstring)."""

    def __init__(self, config: HybridScoringConfig | None = None):
        self.config = config if config is not None else HybridScoringConfig()
        if not 0.0 <= self.config.ml_weight <= 1.0:
            raise ValueError(f"ml_weight must be in [0, 1], got {self.config.ml_weight}")
        if self.config.reactivation_margin < 0:
            raise ValueError(f"reactivation_margin must be >= 0, got {self.config.reactivation_margin}")
        self._ml_active = True
        self.history: list[dict[str, Any]] = []

    @property
    def ml_active(self) -> bool:
        return self._ml_active

    @property
    def effective_ml_weight(self) -> float:
        """The w used in the blend now: ``ml_weight`` while ML is active, else 0."""
        return float(self.config.ml_weight) if self._ml_active else 0.0

    def compute_hybrid_scores(self, rule_scores: pd.Series, ml_scores: pd.Series) -> pd.DataFrame:
        """Blend aligned on the index (tickers, or (date, ticker)); returns one row per scored ticker.

        A (date, ticker) side of a single date is aligned with a ticker-indexed side on the ticker
        (e.g. ``compute_all_scores()["composite"]`` with ``predict_rank`` of that date's features).

        Columns: ``rule_score``, ``ml_score`` (NaN where missing), ``ml_weight`` (w applied to the
        row: 0 where the ML score is missing or ML is inactive), ``blended`` and ``hybrid_score``
        (the percentile of ``blended`` within its date: 0 worst, 1 best).
        """
        rule = _check_scores(rule_scores, "rule_scores")
        ml = _check_scores(ml_scores, "ml_scores")
        if rule.index.nlevels != ml.index.nlevels:
            rule, ml = _on_symbol(rule, "rule_scores"), _on_symbol(ml, "ml_scores")
        w = self.effective_ml_weight
        index = rule.index.union(ml.index, sort=False) if w > 0 else rule.index
        out = pd.DataFrame({"rule_score": rule.reindex(index), "ml_score": ml.reindex(index)}, index=index)
        has_rule, has_ml = out["rule_score"].notna(), out["ml_score"].notna()
        out["ml_weight"] = np.where(has_ml, np.where(has_rule, w, 1.0 if w > 0 else 0.0), 0.0)
        out["blended"] = np.where(
            has_rule & has_ml,
            (1.0 - w) * out["rule_score"].fillna(0.0) + w * out["ml_score"].fillna(0.0),
            np.where(has_rule, out["rule_score"], out["ml_score"]),
        )
        out = out[has_rule | (has_ml & (w > 0))]
        out["hybrid_score"] = M.percentile_rank_by_date(out["blended"], M.date_labels(out.index))
        return out

    def compute_hybrid_score_single(self, rule_score: float, ml_score: float | None) -> float:
        """(1 - w) * rule + w * ml for one ticker (no cross-section to re-rank); a missing ML score
        (None or NaN) returns the rule score."""
        rule = float(rule_score)
        if ml_score is None or math.isnan(float(ml_score)):
            return rule
        w = self.effective_ml_weight
        return (1.0 - w) * rule + w * float(ml_score)

    def gate_failures(self, ic: float, tstat: float | None = None) -> list[str]:
        """The conditions ``(ic, tstat)`` fail, which keep ML off (or turn it off): the IC below
        ``min_ic_for_ml`` (plus ``reactivation_margin`` while ML is off), the t-statistic, when
        given, below ``min_tstat_for_ml``. Empty when both pass; a NaN IC fails nothing (ignored)."""
        cfg = self.config
        value = float(ic) if ic is not None else float("nan")
        failures: list[str] = []
        if math.isnan(value):
            return failures
        needed = cfg.min_ic_for_ml + (0.0 if self._ml_active else cfg.reactivation_margin)
        if value < needed:
            margin = "" if self._ml_active else f" + reactivation_margin {cfg.reactivation_margin:g}"
            failures.append(f"IC {value:.4f} < min_ic_for_ml {cfg.min_ic_for_ml:g}{margin}")
        if tstat is not None and not float(tstat) >= cfg.min_tstat_for_ml:
            failures.append(f"t-statistic {float(tstat):.2f} < min_tstat_for_ml {cfg.min_tstat_for_ml:g}")
        return failures

    def update_ml_performance(self, ic: float, tstat: float | None = None) -> bool:
        """Record a realised IC (and optionally its t-statistic) and apply the kill switch; returns
        whether ML is active afterwards."""
        cfg = self.config
        value = float(ic) if ic is not None else float("nan")
        before = self._ml_active
        failures = self.gate_failures(value, tstat)
        event = "unchanged"
        if math.isnan(value):
            event = "ignored_nan"
        elif not cfg.fallback_to_rules:
            self._ml_active, event = True, "unchanged" if before else "reactivated"
        elif before and failures:
            self._ml_active, event = False, "deactivated"
        elif not before and not failures:
            self._ml_active, event = True, "reactivated"
        self.history.append(
            {
                "timestamp": datetime.now(UTC).isoformat(),
                "ic": value,
                "tstat": float("nan") if tstat is None else float(tstat),
                "ml_active_before": before,
                "ml_active": self._ml_active,
                "event": event,
            }
        )
        return self._ml_active

    def history_frame(self) -> pd.DataFrame:
        """The updates so far, one row each (timestamp, ic, tstat, ml_active_before, ml_active, event)."""
        columns = ["timestamp", "ic", "tstat", "ml_active_before", "ml_active", "event"]
        return pd.DataFrame(self.history, columns=columns)
