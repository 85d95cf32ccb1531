"""The model store: where trained models live on disk, in native formats only.

Layout under ``root``::

    <model_name>/<fold_key>/                 one model per walk-forward fold (replaced atomically on re-training)
    <model_name>/production/<version>/       every production model ever trained
    <model_name>/production/LATEST           the version in force (written after a successful save)
    hyperparameter_search/optuna.db          Optuna studies (SQLite)

``model_name`` is the asset name: ranking_model, regime_model, earnings_model, factor_timing_model.
Each model directory holds ``metadata.json`` (SHA-256 of every artefact) and the artefacts
(LightGBM model text, XGBoost JSON, scikit-learn JSON); loading verifies the hashes and never
unpickles anything (``axion_pipeline.ml.base``).
"""

import importlib
import os
import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from axion_pipeline.settings import get_settings

MODEL_NAMES = ["ranking_model", "regime_model", "earnings_model", "factor_timing_model"]
PRODUCTION = "production"


def model_class(name: str) -> type:
    """The library class of a stored model name (``ranking_model`` -> ``StockRankingModel``, ...)."""
    from axion_pipeline.ml.pipeline import MODEL_CLASSES

    for module, cls, attr in MODEL_CLASSES.values():
        if attr == name:
            return getattr(importlib.import_module(module), cls)
    raise KeyError(f"unknown model name {name!r}; expected one of {MODEL_NAMES}")


class ModelStore(dg.ConfigurableResource):
    """Directory of trained models (see the module docstring); ``root`` defaults to the settings'
    model_dir (``<warehouse>_models``) or ``AXION_MODEL_DIR``."""

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)

    def fold_dir(self, name: str, fold_key: str) -> Path:
        return self.path / name / fold_key

    def save_fold(self, name: str, fold_key: str, model: Any) -> Path:
        """Save a fold's model, replacing the previous one only once the new one is complete.

        The new model is written to a staging directory; the old one is renamed aside, the staging
        directory renamed into place, then the old one deleted. A process killed at any point leaves
        a complete model under the fold's name or aside (``_settle`` puts it back), never a partial one.
        """
        target = self.fold_dir(name, fold_key)
        staging, retired = target.with_name(f".{fold_key}.staging"), target.with_name(f".{fold_key}.retired")
        self._settle(target, retired)
        shutil.rmtree(staging, ignore_errors=True)
        model.save(staging)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
        return target

    @staticmethod
    def _settle(target: Path, retired: Path) -> None:
        """After a crash between the two renames of ``save_fold``: restore the retired model."""
        if retired.exists():
            if target.exists():
                shutil.rmtree(retired, ignore_errors=True)
            else:
                retired.rename(target)

    def _settled_fold_dir(self, name: str, fold_key: str) -> Path:
        target = self.fold_dir(name, fold_key)
        self._settle(target, target.with_name(f".{fold_key}.retired"))
        return target

    def load_fold(self, name: str, fold_key: str) -> Any:
        return model_class(name).load(self._settled_fold_dir(name, fold_key))

    def fold_metadata(self, name: str, fold_key: str) -> Any:
        """A fold model's ``ModelMetadata`` (manifest and artefact hashes verified, no model parsed)."""
        from axion_pipeline.ml.base import METADATA_FILE, ModelMetadata

        target = self._settled_fold_dir(name, fold_key)
        payload = model_class(name).read_manifest(target)
        return ModelMetadata.from_dict(payload["metadata"], source=target / METADATA_FILE)

    def save_production(self, name: str, model: Any, fingerprint: str, config: dict) -> tuple[str, Path]:
        """Save under a new ``production/<version>/`` and point ``production/LATEST`` at it."""
        from axion_pipeline.ml.pipeline import save_version

        return save_version(self.path / name / PRODUCTION, model, fingerprint, config)

    def production_version(self, name: str) -> str | None:
        from axion_pipeline.ml.pipeline import read_latest

        return read_latest(self.path / name / PRODUCTION)

    def load_production(self, name: str) -> Any:
        """The production model LATEST names (verified, never unpickled); raises when there is none."""
        version = self.production_version(name)
        if version is None:
            raise FileNotFoundError(f"no production {name} in {self.path}: materialize production_models first")
        return model_class(name).load(self.path / name / PRODUCTION / version)

    def hyperopt_storage(self) -> str:
        directory = self.path / "hyperparameter_search"
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'optuna.db'}"


def default_model_store(warehouse: str | None = None) -> ModelStore:
    """``AXION_MODEL_DIR`` when set, else ``<warehouse>_models`` next to the given (or configured) warehouse."""
    if os.environ.get("AXION_MODEL_DIR"):
        return ModelStore(root=os.environ["AXION_MODEL_DIR"])
    if warehouse:
        return ModelStore(root=str(Path(warehouse).with_suffix("")) + "_models")
    return ModelStore(root=get_settings().model_dir)
