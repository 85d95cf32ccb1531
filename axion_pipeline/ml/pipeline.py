"""Training pipeline: features -> targets -> walk-forward evaluation -> final model -> versioned save.

``TrainingPipeline`` is the spec's API over the project's one training path: it plans the same
windows as the Dagster assets (``plan_walk_forward`` on the data's dates with ``MLConfig``'s
walk-forward, horizon, warm-up and live span) and trains every model through
``axion_pipeline.ml.training``, so the same data and config give the same models as the fold and
production assets. The final model of each kind is trained on the plan's production window: it ends
``gap`` trading days before the live span (the last ``max(live_days, forward_days)`` dates), so
every label it learns from matured before that span.

Each model is saved under ``model_dir/<name>/<version>/`` (``axion_pipeline.ml.model_store``) and
``LATEST`` is rewritten only after the save succeeded. ``load_models`` loads exactly the version
LATEST names and reports a missing or corrupt model per model instead of failing.

Where look-ahead could enter in the ranking model: features use data up to each date
(``FeatureEngineer``); labels are h-day forward returns, so the walk-forward gap must be >= h
(checked); feature selection is fitted on each window's fitted rows only; early stopping uses the
window's validation slice, another gap after the fitted dates. The final model's ``metrics`` come
from that validation slice and are slightly optimistic; ``walk_forward_metrics`` (pooled
out-of-sample ICs, Newey-West p-value) are the honest estimate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml.base import BaseModel, ModelLoadError
from axion_pipeline.ml.carried_macro import rows_to_carry
from axion_pipeline.ml.config import SCORE_BLEND_SIGNAL, MLConfig
from axion_pipeline.ml.datasets import TrainWindow, plan_walk_forward, production_window
from axion_pipeline.ml.feature_inputs import blend_signal_values, to_long
from axion_pipeline.ml.features import FeatureEngineer
from axion_pipeline.ml.model_store import MODEL_KINDS, load_latest, save_version
from axion_pipeline.ml.walk_forward import check_purge

logger = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """Outcome of training one model. ``status`` is "success", "skipped: ..." or "error: ..."."""

    model_name: str
    version: str | None
    metrics: dict[str, Any]
    walk_forward_metrics: dict[str, Any] | None
    model_path: str | None
    status: str
    fold_results: list[dict[str, Any]] = field(default_factory=list)


class TrainingPipeline:
    """Trains, evaluates, versions and reloads the ranking, regime, earnings and factor-timing models."""

    def __init__(self, config: MLConfig | None = None):
        self.config = config if config is not None else MLConfig()
        self.ranking_model = None
        self.regime_model = None
        self.earnings_model = None
        self.factor_timing_model = None

    @property
    def model_dir(self) -> Path:
        return Path(self.config.model_dir)

    def _save(self, name: str, model: BaseModel, fingerprint: str, config_part: Any) -> tuple[str, Path]:
        """Save under a new version directory, then point LATEST at it."""
        return save_version(self.model_dir / name, model, fingerprint, config_part)

    def production_window(self, dates: Any) -> TrainWindow:
        """The final models' window on these dates (see the module docstring)."""
        cfg = self.config
        return production_window(
            pd.DatetimeIndex(dates).unique().sort_values(),
            cfg.walk_forward,
            cfg.forward_days,
            cfg.warmup_days,
            cfg.live_days,
        )

    # -- ranking ------------------------------------------------------------------------------
    def build_ranking_dataset(
        self, raw_data: pd.DataFrame, returns_data: pd.DataFrame, macro_data: pd.DataFrame | None = None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(features, targets) on the labelled (date, symbol) rows; targets hold fwd_return and label."""
        features, targets = self._ranking_panels(raw_data, returns_data, macro_data)
        labelled = targets["label"].notna().to_numpy()
        if not labelled.any():
            raise ValueError("no (date, symbol) row of raw_data has a forward-return label in returns_data")
        logger.info("ranking dataset: %d of %d feature rows labelled", labelled.sum(), len(labelled))
        return features.loc[labelled], targets.loc[labelled]

    def _ranking_panels(self, raw_data, returns_data, macro_data) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Features of every (date, symbol) row of ``raw_data`` (and ``SCORE_BLEND_SIGNAL``, from
        ``returns_data``) and their targets (NaN when unknown)."""
        cfg = self.config
        engineer = FeatureEngineer(cfg.features)
        features = engineer.create_features_panel(raw_data, macro_data)
        # the signal the ML score averages the model with, as the features asset adds it
        features[SCORE_BLEND_SIGNAL] = blend_signal_values(returns_data, features.index)
        targets = engineer.create_target_panel(returns_data, cfg.forward_days, cfg.ranking.num_quintiles)
        targets.index = targets.index.set_names(features.index.names)
        return features, targets.reindex(features.index)

    def train_ranking_model(
        self,
        raw_data: pd.DataFrame,
        returns_data: pd.DataFrame,
        macro_data: pd.DataFrame | None = None,
        run_walk_forward: bool = True,
    ) -> TrainingResult:
        """Walk-forward evaluation on the plan's folds (optional), then the final model on its
        production window (both through ``axion_pipeline.ml.training.train_ranking``). With the
        walk forward, each fold and the production model choose tree size and rounds from the
        validation curves of their own and every earlier fold's slice, as the Dagster folds do."""
        from axion_pipeline.ml.evaluation import walk_forward_table
        from axion_pipeline.ml.training import ranking_validation_curves, train_ranking

        cfg = self.config
        check_purge(cfg.walk_forward, cfg.forward_days)
        features, targets = self._ranking_panels(raw_data, returns_data, macro_data)
        features_long = to_long(features)
        targets_long = to_long(targets)[["date", "ticker", "label", "fwd_return"]]
        dates = pd.DatetimeIndex(features_long["date"]).unique().sort_values()
        sectors = _sectors_of(raw_data)
        curves = None

        def train(window):
            return train_ranking(features_long, targets_long, window, cfg, sectors=sectors, curves=curves)

        wf_metrics, fold_results = None, []
        if run_walk_forward:
            plan = plan_walk_forward(dates, cfg.walk_forward, cfg.forward_days, cfg.warmup_days, cfg.live_days)
            curves = pd.concat(
                [ranking_validation_curves(features_long, targets_long, w, cfg, sectors=sectors) for w in plan.windows],
                ignore_index=True,
            )
            runs = [train(window) for window in plan.windows]
            table, _ = walk_forward_table(
                pd.concat([r.predictions for r in runs], ignore_index=True), horizon=cfg.forward_days
            )
            rows = table.set_index("fold")
            fold_results = [
                {**rows.loc[w.key].to_dict(), **w.to_dict(), "info": r.info, "predictions": r.predictions}
                for w, r in zip(plan.windows, runs)
            ]
            wf_metrics = {
                **rows.loc["all"].to_dict(),
                "n_folds": len(runs),
                "fold_ic_mean": [rows.loc[w.key, "ic_mean"] for w in plan.windows],
            }
        run = train(self.production_window(dates))
        model = run.model
        macro_columns = [] if macro_data is None else _macro_columns(macro_data)
        model.metadata.extra.update(
            feature_config=cfg.features.to_dict(),
            forward_days=cfg.forward_days,
            walk_forward=wf_metrics,
            macro_columns=macro_columns,
        )
        # The model scores only with the macro columns it learnt from: it carries their last
        # MACRO_ROWS_KEPT rows, in memory and in its saved directory, so that
        # ``MLPredictor.predict_rankings`` finds them before and after a save (``carried_macro``).
        model.macro_data = rows_to_carry(macro_data, macro_columns) if macro_columns else None
        config_part = {
            "features": cfg.features.to_dict(),
            "ranking": cfg.ranking.to_dict(),
            "walk_forward": cfg.walk_forward.to_dict(),
            "forward_days": cfg.forward_days,
        }
        version, path = self._save("ranking", model, run.fingerprint, config_part)
        self.ranking_model = model
        return TrainingResult("ranking", version, run.train_metrics, wf_metrics, str(path), "success", fold_results)

    # -- other models ---------------------------------------------------------------------------
    def _finish(self, name: str, run: Any, config_part: Any) -> TrainingResult:
        version, path = self._save(name, run.model, run.fingerprint, config_part.to_dict())
        setattr(self, f"{name}_model", run.model)
        return TrainingResult(name, version, run.train_metrics, None, str(path), "success")

    def market_features(self, market_data: pd.DataFrame) -> pd.DataFrame:
        """Raw market series (with an S&P 500 close) become regime features; anything else is used as is."""
        if any(c in market_data.columns for c in ("sp500_close", "sp500")):
            return FeatureEngineer(self.config.features).create_regime_features(market_data)
        return market_data

    def train_regime_model(self, market_data: pd.DataFrame, regime_labels: Any) -> TrainingResult:
        """Regime classifier on ``market_features(market_data)`` of the production window, labels
        aligned on its dates (a Series by date, or an array as long as the data)."""
        from axion_pipeline.ml.training import train_regime

        X = self.market_features(market_data)
        labels = _by_date(regime_labels, X.index, "regime_labels").astype(object)
        run = train_regime(_dated(X), labels, "given", self.production_window(X.index), self.config.regime)
        return self._finish("regime", run, self.config.regime)

    def train_earnings_model(
        self, earnings_features: pd.DataFrame, earnings_labels: Any, surprise: Any = None
    ) -> TrainingResult:
        """Earnings model on the events announced in the production window of their dates (index
        level ``announce_date`` or ``date``); ``surprise`` (optional) trains the surprise regressor."""
        from axion_pipeline.ml.datasets import event_dates
        from axion_pipeline.ml.training import train_earnings

        X = earnings_features
        beat = _aligned(earnings_labels, X.index, "earnings_labels")
        surprise = None if surprise is None else _aligned(surprise, X.index, "surprise")
        run = train_earnings(X, beat, surprise, self.production_window(event_dates(X)), self.config.earnings)
        return self._finish("earnings", run, self.config.earnings)

    def train_factor_timing_model(self, macro_data: pd.DataFrame, factor_returns: pd.DataFrame) -> TrainingResult:
        """Factor-timing model on the production window of the macro data's dates."""
        from axion_pipeline.ml.training import train_factor_timing

        run = train_factor_timing(
            _dated(macro_data), factor_returns, self.production_window(macro_data.index), self.config.factor_timing
        )
        return self._finish("factor_timing", run, self.config.factor_timing)

    def train_all(
        self,
        raw_data: pd.DataFrame | None = None,
        returns_data: pd.DataFrame | None = None,
        market_data: pd.DataFrame | None = None,
        regime_labels: Any = None,
        earnings_features: pd.DataFrame | None = None,
        earnings_labels: Any = None,
        factor_returns: pd.DataFrame | None = None,
        macro_data: pd.DataFrame | None = None,
        run_walk_forward: bool = True,
    ) -> dict[str, TrainingResult]:
        """Train every model whose inputs are given; the others are "skipped: ...".

        A model that fails gets status "error: <type>: <message>" (logged with its traceback) and
        the others still train. Factor timing uses ``macro_data``, or else the regime features of
        ``market_data``.
        """
        macro_for_timing = macro_data
        if macro_for_timing is None and market_data is not None:
            macro_for_timing = self.market_features(market_data)
        jobs = {
            "ranking": (
                (raw_data, returns_data),
                lambda: self.train_ranking_model(raw_data, returns_data, macro_data, run_walk_forward),
            ),
            "regime": ((market_data, regime_labels), lambda: self.train_regime_model(market_data, regime_labels)),
            "earnings": (
                (earnings_features, earnings_labels),
                lambda: self.train_earnings_model(earnings_features, earnings_labels),
            ),
            "factor_timing": (
                (macro_for_timing, factor_returns),
                lambda: self.train_factor_timing_model(macro_for_timing, factor_returns),
            ),
        }
        results = {}
        for name, (inputs, run) in jobs.items():
            if any(v is None for v in inputs):
                results[name] = TrainingResult(name, None, {}, None, None, "skipped: inputs not given")
                continue
            try:
                results[name] = run()
            except Exception as exc:  # one failing model must not stop the others; status says why
                logger.exception("training %s failed", name)
                results[name] = TrainingResult(name, None, {}, None, None, f"error: {type(exc).__name__}: {exc}")
        return results

    # -- loading --------------------------------------------------------------------------------
    def load_models(self, model_dir: str | Path | None = None) -> dict[str, str]:
        """Load the LATEST version of every model: status "loaded: <version>", "missing: ..." or "error: ..."."""
        root = Path(model_dir) if model_dir is not None else self.model_dir
        status = {}
        for kind in MODEL_KINDS:
            name = kind.name
            setattr(self, f"{name}_model", None)
            try:
                model, version = load_latest(root / name)
            except FileNotFoundError as exc:
                status[name] = f"missing: {exc}"
                continue
            except ImportError as exc:
                status[name] = f"error: model class unavailable: {exc}"
                continue
            except (ModelLoadError, OSError, ValueError) as exc:
                status[name] = f"error: {exc}"
                continue
            setattr(self, f"{name}_model", model)
            status[name] = f"loaded: {version}"
        return status


def _macro_columns(macro_data: pd.DataFrame) -> list[str]:
    """The macro columns the feature engineer turns into features (numeric, besides ``date``)."""
    frame = macro_data.drop(columns="date") if "date" in macro_data.columns else macro_data
    return [str(c) for c in frame.select_dtypes("number").columns]


def _sectors_of(raw_data: pd.DataFrame) -> pd.Series | None:
    """ticker -> sector from a ``sector`` column of ``raw_data`` (its first value per symbol), else None."""
    if "sector" not in raw_data.columns:
        return None
    symbols = raw_data.index.get_level_values(-1).astype(str)
    return raw_data["sector"].groupby(symbols).first()


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """A date-indexed frame as the training module's per-date tables: a ``date`` column."""
    return frame.rename_axis("date").reset_index()


def _by_date(labels: Any, index: pd.Index, what: str) -> pd.Series:
    """Labels as a Series on ``index``: a Series is aligned by date, an array must be as long."""
    if isinstance(labels, pd.Series):
        return labels.reindex(index)
    return _aligned(labels, index, what)


def _aligned(values: Any, index: pd.Index, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.reindex(index)
    array = np.asarray(values)
    if len(array) != len(index):
        raise ValueError(f"{what} has {len(array)} values for {len(index)} rows")
    return pd.Series(array, index=index)
