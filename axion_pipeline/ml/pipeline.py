"""Training pipeline: features -> targets -> walk-forward evaluation -> final model -> versioned save.

Each model is saved under ``model_dir/<name>/<version>/`` (version = UTC timestamp + the first 8 hex
digits of a SHA-256 over the config and the training data), and ``model_dir/<name>/LATEST`` is
rewritten (atomically) only after the save succeeded. ``load_models`` loads exactly the version
LATEST names, never "the newest directory", and reports a missing or corrupt model per model
instead of failing.

Where look-ahead could enter in the ranking model: features use data up to each date
(``FeatureEngineer``); labels are h-day forward returns, so the walk-forward gap must be >= h
(checked); feature selection is fitted on each fold's training rows only; the final model is
early-stopped on the last ``walk_forward.test_size`` labelled dates, separated from its training
rows by ``walk_forward.gap`` dates; the most recent h dates have no label and are not used.
The final model's ``metrics`` come from those early-stopping dates and are slightly optimistic;
``walk_forward_metrics`` (pooled out-of-sample ICs, Newey-West p-value) are the honest estimate.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.base import BaseModel, ModelLoadError
from axion_pipeline.ml.config import MLConfig
from axion_pipeline.ml.features import FeatureEngineer
from axion_pipeline.ml.walk_forward import WalkForwardValidator, check_purge

logger = logging.getLogger(__name__)

LATEST_FILE = "LATEST"
MODEL_CLASSES = {
    "ranking": ("axion_pipeline.ml.ranking", "StockRankingModel", "ranking_model"),
    "regime": ("axion_pipeline.ml.regime", "RegimeClassifier", "regime_model"),
    "earnings": ("axion_pipeline.ml.earnings", "EarningsPredictionModel", "earnings_model"),
    "factor_timing": ("axion_pipeline.ml.factor_timing", "FactorTimingModel", "factor_timing_model"),
}
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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


def _model_class(name: str) -> type[BaseModel]:
    module, cls, _ = MODEL_CLASSES[name]
    return getattr(importlib.import_module(module), cls)


def data_fingerprint(*objects: Any) -> str:
    """SHA-256 over pandas objects (values, index, column names) and JSON-able values."""
    digest = hashlib.sha256()
    for obj in objects:
        if isinstance(obj, (pd.DataFrame, pd.Series)):
            digest.update(pd.util.hash_pandas_object(obj, index=True).to_numpy().tobytes())
            names = list(obj.columns) if isinstance(obj, pd.DataFrame) else [obj.name]
            digest.update(json.dumps([str(n) for n in names]).encode())
        else:
            digest.update(json.dumps(obj, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def save_version(base: Path, model: BaseModel, fingerprint: str, config_part: Any) -> tuple[str, Path]:
    """Save ``model`` under ``base/<version>/`` (UTC timestamp + 8 hex digits of a SHA-256 over the
    config and the data fingerprint), then point ``base/LATEST`` at it; returns (version, path)."""
    digest = hashlib.sha256((json.dumps(config_part, sort_keys=True, default=str) + fingerprint).encode()).hexdigest()
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    version, n = f"{stamp}-{digest[:8]}", 1
    while (base / version).exists():
        n += 1
        version = f"{stamp}-{digest[:8]}-{n}"
    model.metadata.data_version = fingerprint[:16]
    path = model.save(base / version)
    _write_latest(base, version)
    logger.info("saved model version %s at %s", version, path)
    return version, path


def read_latest(base: Path) -> str | None:
    """The version ``base/LATEST`` names (None when there is none); refuses a malformed name."""
    latest = Path(base) / LATEST_FILE
    if not latest.is_file():
        return None
    version = latest.read_text().strip()
    if not _VERSION_RE.match(version):
        raise ModelLoadError(f"{latest} holds an invalid version {version[:40]!r}")
    return version


def _write_latest(directory: Path, version: str) -> None:
    tmp = directory / f".{LATEST_FILE}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, directory / LATEST_FILE)


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

    # -- saving -------------------------------------------------------------------------------
    def _save(self, name: str, model: BaseModel, fingerprint: str, config_part: Any) -> tuple[str, Path]:
        """Save under a new version directory, then point LATEST at it."""
        return save_version(self.model_dir / name, model, fingerprint, config_part)

    # -- ranking ------------------------------------------------------------------------------
    def build_ranking_dataset(self, raw_data: pd.DataFrame, returns_data: pd.DataFrame,
                              macro_data: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(features, targets) on the labelled (date, symbol) rows; targets hold fwd_return and label."""
        cfg = self.config
        engineer = FeatureEngineer(cfg.features)
        features = engineer.create_features_panel(raw_data, macro_data)
        targets = engineer.create_target_panel(returns_data, cfg.forward_days, cfg.ranking.num_quintiles)
        targets.index = targets.index.set_names(features.index.names)
        targets = targets.reindex(features.index)
        labelled = targets["label"].notna().to_numpy()
        if not labelled.any():
            raise ValueError("no (date, symbol) row of raw_data has a forward-return label in returns_data")
        logger.info("ranking dataset: %d of %d feature rows labelled", labelled.sum(), len(labelled))
        return features.loc[labelled], targets.loc[labelled]

    def train_ranking_model(self, raw_data: pd.DataFrame, returns_data: pd.DataFrame,
                            macro_data: pd.DataFrame | None = None, run_walk_forward: bool = True) -> TrainingResult:
        """Walk-forward evaluation (optional), then a final model early-stopped on the latest dates."""
        from axion_pipeline.ml.ranking import StockRankingModel

        cfg = self.config
        wf = cfg.walk_forward
        check_purge(wf, cfg.forward_days)
        X, targets = self.build_ranking_dataset(raw_data, returns_data, macro_data)
        y, fwd = targets["label"], targets["fwd_return"]

        def selector(X_fit: pd.DataFrame):
            return FeatureEngineer(cfg.features).fit_selection(X_fit).transform_selection

        wf_metrics, fold_results = None, []
        if run_walk_forward:
            validator = WalkForwardValidator(wf)
            fold_results = validator.run_walk_forward(StockRankingModel(cfg.ranking), X, y, fwd, fold_transform=selector)
            wf_metrics = validator.aggregate_results(fold_results, newey_west_lags=max(cfg.forward_days - 1, 0))

        dates = pd.DatetimeIndex(M.date_labels(X.index))
        unique = dates.unique().sort_values()
        if len(unique) <= wf.test_size + wf.gap:
            raise ValueError(f"{len(unique)} labelled dates leave nothing to train after a {wf.test_size}-date "
                             f"holdout and a {wf.gap}-date gap")
        val_mask = dates >= unique[-wf.test_size]
        fit_mask = dates <= unique[-wf.test_size - wf.gap - 1]
        engineer = FeatureEngineer(cfg.features).fit_selection(X.loc[fit_mask])
        model = StockRankingModel(cfg.ranking)
        metrics = model.train(
            engineer.transform_selection(X.loc[fit_mask]), y.loc[fit_mask],
            X_val=engineer.transform_selection(X.loc[val_mask]), y_val=y.loc[val_mask], forward_returns=fwd.loc[val_mask],
        )
        model.metadata.extra.update(
            feature_selection=engineer.selection_to_dict(), feature_config=cfg.features.to_dict(),
            forward_days=cfg.forward_days, walk_forward=wf_metrics,
        )
        fingerprint = data_fingerprint(X, targets)
        config_part = {"features": cfg.features.to_dict(), "ranking": cfg.ranking.to_dict(),
                       "walk_forward": wf.to_dict(), "forward_days": cfg.forward_days}
        version, path = self._save("ranking", model, fingerprint, config_part)
        self.ranking_model = model
        return TrainingResult("ranking", version, metrics, wf_metrics, str(path), "success", fold_results)

    # -- other models ---------------------------------------------------------------------------
    def _train_simple(self, name: str, config_part: Any, X: pd.DataFrame, *train_args: Any) -> TrainingResult:
        model = _model_class(name)(config_part)
        metrics = model.train(X, *train_args)
        version, path = self._save(name, model, data_fingerprint(X, *train_args), config_part.to_dict())
        setattr(self, MODEL_CLASSES[name][2], model)
        return TrainingResult(name, version, metrics, None, str(path), "success")

    def market_features(self, market_data: pd.DataFrame) -> pd.DataFrame:
        """Raw market series (with an S&P 500 close) become regime features; anything else is used as is."""
        if any(c in market_data.columns for c in ("sp500_close", "sp500")):
            return FeatureEngineer(self.config.features).create_regime_features(market_data)
        return market_data

    def train_regime_model(self, market_data: pd.DataFrame, regime_labels: Any) -> TrainingResult:
        """Regime classifier on ``market_features(market_data)`` and labels aligned on its dates."""
        return self._train_simple("regime", self.config.regime, self.market_features(market_data), regime_labels)

    def train_earnings_model(self, earnings_features: pd.DataFrame, earnings_labels: Any) -> TrainingResult:
        return self._train_simple("earnings", self.config.earnings, earnings_features, earnings_labels)

    def train_factor_timing_model(self, macro_data: pd.DataFrame, factor_returns: pd.DataFrame) -> TrainingResult:
        return self._train_simple("factor_timing", self.config.factor_timing, macro_data, factor_returns)

    def train_all(self, raw_data: pd.DataFrame | None = None, returns_data: pd.DataFrame | None = None,
                  market_data: pd.DataFrame | None = None, regime_labels: Any = None,
                  earnings_features: pd.DataFrame | None = None, earnings_labels: Any = None,
                  factor_returns: pd.DataFrame | None = None, macro_data: pd.DataFrame | None = None,
                  run_walk_forward: bool = True) -> dict[str, TrainingResult]:
        """Train every model whose inputs are given; the others are "skipped: ...".

        A model that fails gets status "error: <type>: <message>" (logged with its traceback) and
        the others still train. Factor timing uses ``macro_data``, or else the regime features of
        ``market_data``.
        """
        macro_for_timing = macro_data
        if macro_for_timing is None and market_data is not None:
            macro_for_timing = self.market_features(market_data)
        jobs = {
            "ranking": ((raw_data, returns_data),
                        lambda: self.train_ranking_model(raw_data, returns_data, macro_data, run_walk_forward)),
            "regime": ((market_data, regime_labels), lambda: self.train_regime_model(market_data, regime_labels)),
            "earnings": ((earnings_features, earnings_labels),
                         lambda: self.train_earnings_model(earnings_features, earnings_labels)),
            "factor_timing": ((macro_for_timing, factor_returns),
                              lambda: self.train_factor_timing_model(macro_for_timing, factor_returns)),
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
        for name, (_, _, attr) in MODEL_CLASSES.items():
            setattr(self, attr, None)
            latest = root / name / LATEST_FILE
            if not latest.is_file():
                status[name] = f"missing: no {name}/{LATEST_FILE} in {root}"
                continue
            version = latest.read_text().strip()
            if not _VERSION_RE.match(version):
                status[name] = f"error: {latest} holds an invalid version {version[:40]!r}"
                continue
            try:
                model = _model_class(name).load(root / name / version)
            except ImportError as exc:
                status[name] = f"error: model class unavailable: {exc}"
                continue
            except (ModelLoadError, OSError, ValueError) as exc:
                status[name] = f"error: {exc}"
                continue
            setattr(self, attr, model)
            status[name] = f"loaded: {version}"
        return status
