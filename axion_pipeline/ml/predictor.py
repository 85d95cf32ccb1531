"""``MLPredictor``: daily inference with caching, model status and a rule-based fallback.

Models come from ``set_models`` (in memory) or ``load_from_directory`` (the LATEST version of each
model, by the rules of ``TrainingPipeline.load_models``; a missing or corrupt/tampered model is
recorded in the status, never raised). A model is usable when it is present, fitted and not deactivated
(``deactivate``, e.g. by the hybrid scorer's IC kill switch); otherwise, and when its prediction
fails on the given inputs (the error is logged and kept in the status), the predictor falls back:

- rankings: rule-based scores, taken from (in this order) the ``rule_scores`` argument, the
  ``rule_scorer`` set with ``set_models`` (a callable ``(raw_data, target_date) -> Series``), a
  ``composite`` column of ``raw_data`` on the target date (``raw_data`` is then the factor
  engine's output), or ``FactorEngineV2().compute_all_scores(prices, fundamentals, sp500_prices,
  as_of_date=target_date)["composite"]`` when ``prices`` are passed (the ``rule_scorer`` is used
  as the engine when it is one, i.e. has ``compute_all_scores``). Without any of these it
  raises ``ModelUnavailableError``: it never returns zeros;
- regime: the rule-based ``RegimeDetector`` on the S&P 500 close in ``market_data``
  (confidence NaN: rules have no probability);
- factor-timing weights: ``AdaptiveWeightManager`` weights (no overlay) of the predicted regime;
- earnings: no rule exists, so ``ModelUnavailableError``.

Output of ``predict_rankings``, indexed by symbol: date, score (percentile of raw_score in the
date's cross-section: 0 worst, 1 best, what ``HybridScorer`` takes), raw_score (the ML score or
the rule score), rank (1 = best), source ("ml" or "rules"), fallback_reason (None for ML; else why
rules replaced the model, also in ``attrs["fallback_reason"]``), so a fallback shows in the result
itself, not only in a log line; with ML scores also model_score (the model's expected-quintile
score). The ML score is the model's score averaged with the signal of its ``score_blend``
metadata (set by ``train_ranking``: ``MLConfig.score_blend_weight``) when ``raw_data`` is the
features table holding that column, the model's score alone otherwise.

Macro features: a model trained by ``TrainingPipeline`` with ``macro_data`` carries the last year
of those columns (``model.macro_data``, saved and loaded with the model, see
``axion_pipeline.ml.carried_macro``) and their names (``metadata.extra["macro_columns"]``);
``predict_rankings`` uses them unless given ``macro_data=``, and fails (-> fallback, with the
reason) when the target date lies outside the carried rows or the model carries none (saved
before macro rows were kept).

Results are cached (LRU, ``cache_size`` entries) by (method, model fingerprint and state, date,
SHA-256 of every input); ``cache_info()`` gives hits and misses. The fingerprint hashes the
model's metadata (trained_at, data version, ...), so retraining or reloading invalidates entries.

Look-ahead: ranking features for ``target_date`` are built by ``FeatureEngineer.create_features``,
which drops every row after it; ``raw_data`` that already holds the model's feature columns is
used as is (its rows on the target date), so it must have been built point in time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.base import ModelLoadError
from axion_pipeline.ml.config import FeatureConfig
from axion_pipeline.ml.features import FeatureEngineer
from axion_pipeline.ml.model_store import data_fingerprint, load_latest

if TYPE_CHECKING:  # the regime module imports scikit-learn; keep this module cheap to import
    from axion_pipeline.ml.regime import RegimePrediction

logger = logging.getLogger(__name__)

MODEL_NAMES = ("ranking", "regime", "earnings", "factor_timing")
FALLBACKS = {
    "ranking": "rule-based scores",
    "regime": "rule-based RegimeDetector",
    "earnings": None,
    "factor_timing": "rule weights of the predicted regime",
}
_UNSET = object()
_SP500_COLUMNS = ("sp500_close", "sp500")
PREDICTION_ERRORS = (ValueError, KeyError, TypeError, RuntimeError)  # prediction failures that trigger the fallback
_CAUGHT = PREDICTION_ERRORS


class ModelUnavailableError(RuntimeError):
    """No usable model and no rule-based fallback for the request."""


def _fingerprint(model: Any) -> str | None:
    meta = getattr(model, "metadata", None)
    if meta is None:
        return None
    text = json.dumps(meta.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class MLPredictor:
    """Serves the ranking, regime, earnings and factor-timing models (module docstring)."""

    def __init__(self, feature_engineer: FeatureEngineer | None = None, cache_size: int = 128):
        self.feature_engineer = feature_engineer
        self.cache_size = int(cache_size)
        self._models: dict[str, Any] = dict.fromkeys(MODEL_NAMES)
        self._load_status: dict[str, tuple[str, str, str | None]] = dict.fromkeys(
            MODEL_NAMES, ("missing", "no model set", None)
        )
        self._deactivated: dict[str, str] = {}
        self._last: dict[str, dict[str, Any]] = {n: {} for n in MODEL_NAMES}
        self.rule_scorer: Any = None
        self._cache: OrderedDict = OrderedDict()
        self._hits = self._misses = 0

    # -- models -------------------------------------------------------------------------------
    def set_models(
        self,
        ranking: Any = _UNSET,
        regime: Any = _UNSET,
        earnings: Any = _UNSET,
        factor_timing: Any = _UNSET,
        rule_scorer: Any = _UNSET,
    ) -> MLPredictor:
        """Set the models passed (None = no model); models not passed stay as they are."""
        for name, model in zip(MODEL_NAMES, (ranking, regime, earnings, factor_timing)):
            if model is _UNSET:
                continue
            self._models[name] = model
            self._load_status[name] = (
                ("missing", "set to None", None) if model is None else ("ok", "set in memory", None)
            )
            self._last[name] = {}
        if rule_scorer is not _UNSET:
            self.rule_scorer = rule_scorer
        return self

    def load_from_directory(self, model_dir: str | Path) -> dict[str, dict[str, Any]]:
        """Load each model's LATEST version; returns ``get_model_status()``.

        The rules of ``TrainingPipeline.load_models`` (only the version LATEST names, never the
        newest directory; no LATEST -> "missing"), applied model by model so that whatever one
        model's load raises (ModelLoadError for a tampered file, or a TypeError from an ill-typed
        manifest) becomes that model's "error" status and the others still load.
        """
        root = Path(model_dir)
        for name in MODEL_NAMES:
            model, status = _load_latest(root, name)
            self._models[name], self._load_status[name], self._last[name] = model, status, {}
            if status[0] == "error":
                logger.warning("%s model not loaded: %s", name, status[1])
        return self.get_model_status()

    def usable(self, name: str) -> Any:
        """The model when its status is ok, else None (the caller then uses the fallback)."""
        self._check_name(name)
        return self._usable(name)

    def set_load_error(self, name: str, detail: str) -> None:
        """Record that ``name`` could not be loaded (missing, tampered, corrupt): predictions fall
        back and ``get_model_status`` reports ``error`` with ``detail``."""
        self._check_name(name)
        self._models[name], self._load_status[name], self._last[name] = None, ("error", detail, None), {}

    def set_loaded(self, name: str, model: Any, version: str | None) -> None:
        """Use a model loaded elsewhere (e.g. a model store) and remember its version."""
        self._check_name(name)
        self._models[name], self._load_status[name], self._last[name] = model, ("ok", "loaded", version), {}

    def deactivate(self, name: str, reason: str = "deactivated") -> None:
        """Stop using a model (predictions fall back) until ``activate``."""
        self._check_name(name)
        self._deactivated[name] = reason

    def activate(self, name: str) -> None:
        self._check_name(name)
        self._deactivated.pop(name, None)

    @staticmethod
    def _check_name(name: str) -> None:
        if name not in MODEL_NAMES:
            raise KeyError(f"unknown model {name!r}; expected one of {MODEL_NAMES}")

    def _state(self, name: str) -> tuple[str, str]:
        """(status, detail) of a model before any prediction error is considered."""
        model = self._models[name]
        status, detail, _ = self._load_status[name]
        if status != "ok" or model is None:
            return (status if status != "ok" else "missing"), detail
        if not getattr(model, "is_fitted", False):
            return "unfitted", f"{type(model).__name__} is not fitted"
        if name in self._deactivated:
            return "deactivated", self._deactivated[name]
        return "ok", detail

    def _usable(self, name: str) -> Any:
        return self._models[name] if self._state(name)[0] == "ok" else None

    def get_model_status(self) -> dict[str, dict[str, Any]]:
        """Per model: status ok / missing / unfitted / error / deactivated, detail, version,
        fingerprint, model_type, trained_at, fallback (what is used instead while not ok; None for
        earnings, which has none), last_source and last_error of the latest prediction."""
        out = {}
        for name in MODEL_NAMES:
            status, detail = self._state(name)
            last = self._last[name]
            if status == "ok" and last.get("error"):
                status, detail = "error", f"last prediction failed: {last['error']}"
            model, meta = self._models[name], getattr(self._models[name], "metadata", None)
            out[name] = {
                "status": status,
                "detail": detail,
                "version": self._load_status[name][2] or (f"mem-{_fingerprint(model)}" if meta else None),
                "fingerprint": _fingerprint(model),
                "model_type": getattr(meta, "model_type", None),
                "trained_at": getattr(meta, "trained_at", None),
                "fallback": FALLBACKS[name] if status != "ok" else None,
                "last_source": last.get("source"),
                "last_error": last.get("error"),
            }
        return out

    # -- cache --------------------------------------------------------------------------------
    def cache_info(self) -> dict[str, int]:
        return {"hits": self._hits, "misses": self._misses, "size": len(self._cache), "maxsize": self.cache_size}

    def clear_cache(self) -> None:
        self._cache.clear()
        self._hits = self._misses = 0

    def _cached(self, key: tuple, compute):
        if self.cache_size > 0 and key in self._cache:
            self._hits += 1
            self._cache.move_to_end(key)
            return copy.deepcopy(self._cache[key])
        self._misses += 1
        value = compute()
        if self.cache_size > 0:
            self._cache[key] = copy.deepcopy(value)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return value

    def _key(self, method: str, name: str, *inputs: Any) -> tuple:
        state = self._state(name)[0]
        return (method, state, _fingerprint(self._models[name]) if state == "ok" else None, data_fingerprint(*inputs))

    def _record(self, name: str, source: str, error: str | None = None) -> None:
        self._last[name] = {"source": source, "error": error}

    # -- rankings -----------------------------------------------------------------------------
    def predict_rankings(
        self,
        raw_data: pd.DataFrame,
        target_date: Any,
        rule_scores: pd.Series | None = None,
        *,
        macro_data: pd.DataFrame | None = None,
        prices: pd.DataFrame | None = None,
        fundamentals: pd.DataFrame | None = None,
        sp500_prices: pd.Series | None = None,
    ) -> pd.DataFrame:
        """Scores of every symbol on ``target_date``: ML when usable, else rules (module docstring)."""
        t = pd.Timestamp(target_date)
        key = self._key(
            "rankings",
            "ranking",
            raw_data,
            str(t.date()),
            rule_scores,
            macro_data,
            prices,
            fundamentals,
            sp500_prices,
            repr(self.rule_scorer),
            repr(self.feature_engineer),
            getattr(self._models["ranking"], "macro_data", None),
        )
        return self._cached(
            key, lambda: self._rankings(raw_data, t, rule_scores, macro_data, prices, fundamentals, sp500_prices)
        )

    def _rankings(self, raw_data, t, rule_scores, macro_data, prices, fundamentals, sp500_prices) -> pd.DataFrame:
        model = self._usable("ranking")
        reason = "ranking model {}: {}".format(*self._state("ranking"))
        if model is not None:
            try:
                features = self._ranking_features(model, raw_data, t, macro_data)
                model_score = model.predict(features)["score"]
                symbols = features.index.get_level_values(-1)
                raw = pd.Series(_blended(model, features, model_score), index=symbols)
                self._record("ranking", "ml")
                out = _ranking_frame(raw, t, "ml", None)
                out["model_score"] = pd.Series(model_score.to_numpy(), index=symbols).reindex(out.index).to_numpy()
                return out
            except _CAUGHT as exc:
                reason = f"ranking prediction failed: {type(exc).__name__}: {exc}"
                logger.warning("%s; falling back to rule-based scores", reason)
                self._record("ranking", "rules", f"{type(exc).__name__}: {exc}")
        scores = self._rule_scores(raw_data, t, rule_scores, prices, fundamentals, sp500_prices, reason)
        if model is None:
            self._record("ranking", "rules")
        return _ranking_frame(scores, t, "rules", reason)

    def _ranking_features(self, model, raw_data: pd.DataFrame, t: pd.Timestamp, macro_data) -> pd.DataFrame:
        names = model.feature_names
        if names and all(n in raw_data.columns for n in names):  # already the model's features
            rows = raw_data[pd.to_datetime(raw_data.index.get_level_values(0)) == t]
            if rows.empty:
                raise ValueError(f"raw_data has no feature rows on {t.date()}")
            return rows
        engineer = self.feature_engineer
        if engineer is None:
            stored = (model.metadata.extra or {}).get("feature_config")
            engineer = FeatureEngineer(FeatureConfig(**stored) if stored else None)
        if macro_data is None:
            macro_data = _carried_macro(model, t)
        return engineer.create_features(raw_data, macro_data=macro_data, target_date=t)

    def _rule_scores(self, raw_data, t, rule_scores, prices, fundamentals, sp500_prices, reason) -> pd.Series:
        if rule_scores is not None:
            scores = rule_scores
        elif self.rule_scorer is not None and not hasattr(self.rule_scorer, "compute_all_scores"):
            scores = self.rule_scorer(raw_data, t)
        elif raw_data is not None and "composite" in raw_data.columns:
            scores = raw_data["composite"]
        elif prices is not None:
            from axion_pipeline.factor_engine import FactorEngineV2

            engine = self.rule_scorer if hasattr(self.rule_scorer, "compute_all_scores") else FactorEngineV2()
            scores = engine.compute_all_scores(prices, fundamentals, sp500_prices, as_of_date=t)["composite"]
        else:
            raise ModelUnavailableError(
                f"{reason}; no rule-based fallback either: pass rule_scores=, set_models(rule_scorer=...), "
                "a 'composite' column in raw_data, or prices="
            )
        if not isinstance(scores, pd.Series):
            raise TypeError(f"rule scores must be a Series indexed by symbol, got {type(scores).__name__}")
        if scores.index.nlevels == 2:  # (date, symbol): the target date's cross-section
            dates = pd.to_datetime(scores.index.get_level_values(0))
            scores = scores[dates == t].droplevel(0)
        scores = scores.dropna()
        if scores.empty:
            raise ModelUnavailableError(f"{reason}; the rule-based scores hold no value on {t.date()}")
        return scores

    # -- other models -------------------------------------------------------------------------
    def predict_regime(self, market_data: pd.DataFrame) -> RegimePrediction:
        """Regime of the last row of ``market_data`` (raw market series with an S&P 500 close, or
        the model's regime features; pass the recent history for ``duration_days``)."""
        key = self._key("regime", "regime", market_data)
        return self._cached(key, lambda: self._regime(market_data))

    def _regime(self, market_data: pd.DataFrame) -> RegimePrediction:
        model = self._usable("regime")
        reason = "regime model {}: {}".format(*self._state("regime"))
        if model is not None:
            try:
                prediction = model.predict_regime(_market_features(model, market_data))
                self._record("regime", "ml")
                return prediction
            except _CAUGHT as exc:
                reason = f"regime prediction failed: {type(exc).__name__}: {exc}"
                logger.warning("%s; falling back to the rule-based regime", reason)
                self._record("regime", "rules", f"{type(exc).__name__}: {exc}")
        column = next((c for c in _SP500_COLUMNS if c in market_data.columns), None)
        if column is None:
            raise ModelUnavailableError(
                f"{reason}; the rule-based fallback needs an S&P 500 close column {_SP500_COLUMNS}"
            )
        from axion_pipeline.factor_engine import RegimeDetector
        from axion_pipeline.ml.regime import RegimePrediction, trailing_run_length

        series = market_data.set_index("date")[column] if "date" in market_data.columns else market_data[column]
        close = pd.Series(series.to_numpy(dtype=float), index=pd.DatetimeIndex(pd.to_datetime(series.index)))
        regimes = RegimeDetector().detect_series(close.dropna())["regime"].to_numpy()
        if model is None:
            self._record("regime", "rules")
        return RegimePrediction(
            regime=str(regimes[-1]),
            confidence=float("nan"),
            probabilities={str(regimes[-1]): 1.0},
            duration_days=trailing_run_length(regimes),
        )

    def get_factor_timing_weights(self, market_data: pd.DataFrame) -> dict[str, float]:
        """Factor weights from the timing model, else the rule weights of the predicted regime."""
        key = self._key("factor_timing", "factor_timing", market_data, self._key("regime", "regime", market_data))
        return self._cached(key, lambda: self._timing(market_data))

    def _timing(self, market_data: pd.DataFrame) -> dict[str, float]:
        model = self._usable("factor_timing")
        if model is not None:
            try:
                weights = model.get_factor_weights(_market_features(model, market_data))
                self._record("factor_timing", "ml")
                return weights
            except _CAUGHT as exc:
                logger.warning("factor timing failed (%s); falling back to the regime's rule weights", exc)
                self._record("factor_timing", "rules", f"{type(exc).__name__}: {exc}")
        else:
            self._record("factor_timing", "rules")
        from axion_pipeline.factor_engine import AdaptiveWeightManager

        regime = self.predict_regime(market_data).regime
        return AdaptiveWeightManager(use_momentum_overlay=False).get_weights(regime)

    def predict_earnings(self, features: pd.DataFrame | pd.Series | dict, symbol: str | None = None):
        """A DataFrame of events -> beat_probability, predicted_surprise, confidence per row; one
        event (dict, Series, or ``symbol`` with a one-row frame) -> ``EarningsPrediction``."""
        key = self._key("earnings", "earnings", features, symbol)
        return self._cached(key, lambda: self._earnings(features, symbol))

    def _earnings(self, features, symbol):
        model = self._usable("earnings")
        if model is None:
            self._record("earnings", "none")
            raise ModelUnavailableError(
                "earnings model {}: {}; there is no rule-based earnings fallback".format(*self._state("earnings"))
            )
        if isinstance(features, pd.DataFrame) and symbol is None:
            out = model.predict(features)
            out["confidence"] = (2.0 * out["beat_probability"] - 1.0).abs()
        else:
            if symbol is None:
                symbol = dict(features).get("symbol", "")
            out = model.predict_single(symbol, features)
        self._record("earnings", "ml")
        return out


def _load_latest(root: Path, name: str) -> tuple[Any, tuple[str, str, str | None]]:
    """(model or None, (status, detail, version)) for one model under ``root/<name>/``."""
    try:
        model, version = load_latest(root / name)
    except FileNotFoundError as exc:
        return None, ("missing", str(exc), None)
    except (ModelLoadError, ImportError, OSError, ValueError, TypeError, KeyError) as exc:
        return None, ("error", f"{type(exc).__name__}: {exc}", None)
    return model, ("ok", f"loaded {name}/{version} from {root}", version)


def _market_features(model: Any, market_data: pd.DataFrame) -> pd.DataFrame:
    """Market data as the model's inputs: used as is when it holds every training feature, else
    turned into regime features (raw series with an S&P 500 close), as the training pipeline does."""
    names = model.metadata.feature_names
    if all(n in market_data.columns for n in names):
        return market_data
    if any(c in market_data.columns for c in _SP500_COLUMNS):
        return FeatureEngineer().create_regime_features(market_data)
    missing = [n for n in names if n not in market_data.columns]
    raise ValueError(f"market_data lacks the model's features {missing[:5]} and has no S&P 500 close to build them")


def _carried_macro(model: Any, t: pd.Timestamp) -> pd.DataFrame | None:
    """The macro data the ranking model carries from training, when it needs macro columns.

    Raises ``ValueError`` (the prediction fails, loudly) when the model needs macro columns but
    carries none or not all of them, or its macro rows end before ``t`` (an as-of join would then
    give the model stale macro values as if they were current) or start after it (no macro value
    would be known: NaN features).
    """
    needed = (model.metadata.extra or {}).get("macro_columns") or []
    if not needed:
        return None
    macro = getattr(model, "macro_data", None)
    if macro is None:
        raise ValueError(
            f"the model was trained with the macro columns {needed} and carries no macro data: pass macro_data="
        )
    lacking = [c for c in needed if c not in macro.columns]
    if lacking:
        raise ValueError(f"the model's macro data lacks its macro columns {lacking}: pass macro_data=")
    dates = pd.to_datetime(macro["date"] if "date" in macro.columns else macro.index)
    if len(dates) == 0 or dates.max() < t:
        last = dates.max().date() if len(dates) else None
        raise ValueError(f"the model's macro data ends on {last}, before {t.date()}: pass current macro_data=")
    if dates.min() > t:
        raise ValueError(f"the model's macro data starts on {dates.min().date()}, after {t.date()}: pass macro_data=")
    return macro


def _blended(model: Any, features: pd.DataFrame, model_score: pd.Series) -> np.ndarray:
    """The model's score averaged with the signal it was trained to be averaged with
    (``score_blend`` of its metadata, ``MLConfig.score_blend_weight``), when ``features`` carry
    that column; the model's score alone otherwise (a model without a blend, or raw factor input)."""
    blend = (model.metadata.extra or {}).get("score_blend") or {}
    column, weight = blend.get("signal"), float(blend.get("weight") or 0.0)
    if not column or weight == 0 or column not in features.columns:
        return model_score.to_numpy(dtype=float)
    return M.blend_with_signal(model_score, features[column], None, weight)


def _ranking_frame(raw: pd.Series, t: pd.Timestamp, source: str, reason: str | None) -> pd.DataFrame:
    raw = pd.to_numeric(raw, errors="raise").astype(float)
    if raw.index.has_duplicates:
        raise ValueError(f"{source} scores hold duplicate symbols")
    out = pd.DataFrame(
        {"date": t, "score": M.percentile_rank_by_date(raw.to_numpy()), "raw_score": raw.to_numpy()},
        index=pd.Index(raw.index, name="symbol"),
    )
    out["rank"] = out["raw_score"].rank(ascending=False, method="min").astype(int)
    out["source"] = source
    out["fallback_reason"] = reason
    out["model_score"] = np.nan  # the ranking model's own score, set by the caller for ML scores
    out = out.sort_values("rank", kind="stable")
    out.attrs["fallback_reason"] = reason
    return out
