"""Model lifecycle shared by every model: metadata, native-format save/load, tamper detection.

A saved model is a directory holding ``metadata.json`` and the model's native artefacts
(LightGBM model text, XGBoost JSON, scikit-learn parameters as JSON arrays). ``metadata.json``
records the SHA-256 of every artefact; ``load`` refuses a directory whose artefacts are missing,
altered or of another model type. Nothing is ever unpickled: loading parses JSON and model text
only, so a file a user replaced cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, ClassVar

from axion_pipeline.ml.jsonable import jsonable

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_TRACKED_LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "shap")


class InsufficientDataError(ValueError):
    """The data given cannot train this model: too few rows, events, dates or classes. The caller
    records a "skipped" status and falls back to rules; any other error is a bug and fails loudly."""


class ModelLoadError(RuntimeError):
    """A stored model is missing, corrupt, tampered with, or not the expected kind."""


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelMetadata:
    """What was trained, when, on which window, with which settings and how well."""

    model_type: str
    trained_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    metrics: dict[str, Any] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    train_start: str | None = None
    train_end: str | None = None
    fold: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=library_versions)
    data_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, source: str | Path | None = None) -> ModelMetadata:
        """Rebuild from ``to_dict`` output, checking every field's type; ``ModelLoadError``
        (prefixed with ``source``, e.g. the metadata.json path) when a field is unknown, missing
        or of the wrong type."""
        prefix = f"{source}: " if source is not None else ""
        if not isinstance(data, dict):
            raise ModelLoadError(f"{prefix}metadata is a {type(data).__name__}, expected a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ModelLoadError(f"{prefix}metadata has unknown fields {sorted(unknown)}")
        missing = [name for name in _METADATA_REQUIRED if name not in data]
        if missing:
            raise ModelLoadError(f"{prefix}metadata lacks the fields {missing}")
        for name, value in data.items():
            expected = _METADATA_TYPES[name]
            if not isinstance(value, expected) or isinstance(value, bool):
                names = " or ".join("null" if t is type(None) else t.__name__ for t in expected)
                raise ModelLoadError(f"{prefix}metadata field {name!r} is {type(value).__name__}, expected {names}")
        for name, values in (
            ("feature_names", data.get("feature_names", [])),
            ("library_versions", list(data.get("library_versions", {}).values())),
        ):
            bad = [v for v in values if not isinstance(v, str)]
            if bad:
                raise ModelLoadError(f"{prefix}metadata field {name!r} holds non-strings, e.g. {bad[0]!r}")
        return cls(**data)


# Types of the metadata fields as JSON parsing returns them (bool is refused: JSON true is not 1).
_METADATA_TYPES: dict[str, tuple[type, ...]] = {
    "model_type": (str,),
    "trained_at": (str,),
    "metrics": (dict,),
    "feature_names": (list,),
    "train_start": (str, type(None)),
    "train_end": (str, type(None)),
    "fold": (int, type(None)),
    "config": (dict,),
    "library_versions": (dict,),
    "data_version": (str, type(None)),
    "extra": (dict,),
}
_METADATA_REQUIRED = ("model_type", "trained_at")


@contextmanager
def artifact_parsing(file: str | Path) -> Iterator[None]:
    """Report a parse error raised in the block (ValueError, KeyError, TypeError) as a ValueError
    naming ``file``; ``BaseModel.load`` turns it into ``ModelLoadError("<directory>: artefacts could
    not be parsed: <file>: ...")``. ``ModelLoadError`` passes through unchanged."""
    try:
        yield
    except ModelLoadError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, UnicodeDecodeError):
            detail = f"not UTF-8 text ({exc})"
        elif isinstance(exc, KeyError):
            detail = f"missing field {exc}"
        else:
            detail = str(exc)
        if detail.startswith(f"{file}: "):  # already names the file (e.g. serialization.load_json)
            raise ValueError(detail) from exc
        raise ValueError(f"{file}: {detail}") from exc


class BaseModel(ABC):
    """Base of every model. Subclasses implement ``_save_artifacts`` and ``_load_artifacts``.

    ``metadata`` is set by training (``_finish_training``) or by ``load``; ``is_fitted`` is true
    only when the model holds fitted state.
    """

    model_type: ClassVar[str] = "base"
    config_class: ClassVar[type | None] = None

    def __init__(self, config: Any = None):
        if config is None and self.config_class is not None:
            config = self.config_class()
        self.config = config
        self.metadata: ModelMetadata | None = None

    # -- fitted state -------------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return self.metadata is not None and self._has_fitted_state()

    @abstractmethod
    def _has_fitted_state(self) -> bool: ...

    def _config_dict(self) -> dict[str, Any]:
        if self.config is None:
            return {}
        if hasattr(self.config, "to_dict"):
            return self.config.to_dict()
        return asdict(self.config)

    def _finish_training(self, metrics: dict[str, Any], feature_names: list[str], **extra: Any) -> None:
        self.metadata = ModelMetadata(
            model_type=self.model_type,
            metrics={k: jsonable(v, keep_nan=True, keep_inf=True) for k, v in metrics.items()},
            feature_names=list(feature_names),
            config=self._config_dict(),
            train_start=extra.pop("train_start", None),
            train_end=extra.pop("train_end", None),
            fold=extra.pop("fold", None),
            data_version=extra.pop("data_version", None),
            extra={k: jsonable(v, keep_nan=True, keep_inf=True) for k, v in extra.items()},
        )

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call train() or load() first")

    # -- persistence ----------------------------------------------------------------------------
    @abstractmethod
    def _save_artifacts(self, directory: Path) -> list[str]:
        """Write native-format artefacts into ``directory``; return their file names."""

    @abstractmethod
    def _load_artifacts(self, directory: Path, files: list[str]) -> None:
        """Restore fitted state from the verified artefacts in ``directory``."""

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        files = self._save_artifacts(directory)
        payload = {
            "format_version": FORMAT_VERSION,
            "model_type": self.model_type,
            "artifacts": {name: sha256_file(directory / name) for name in files},
            "metadata": self.metadata.to_dict(),
        }
        tmp = directory / (METADATA_FILE + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
        tmp.replace(directory / METADATA_FILE)
        return directory

    @classmethod
    def read_manifest(cls, path: str | Path) -> dict[str, Any]:
        """Parse and verify ``metadata.json`` (structure and field types) and every artefact hash;
        never executes file content. Every refusal is a ``ModelLoadError`` naming the file at fault."""
        directory = Path(path)
        meta_path = directory / METADATA_FILE
        if not meta_path.is_file():
            raise ModelLoadError(f"{directory}: no {METADATA_FILE}; not a saved model directory")
        try:
            payload = json.loads(meta_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{meta_path}: not valid JSON ({exc})") from exc
        version = payload.get("format_version") if isinstance(payload, dict) else None
        if type(version) is not int or version != FORMAT_VERSION:
            raise ModelLoadError(f"{meta_path}: unsupported format (expected format_version {FORMAT_VERSION})")
        if payload.get("model_type") != cls.model_type:
            raise ModelLoadError(
                f"{meta_path}: holds a {payload.get('model_type')!r} model, expected {cls.model_type!r}"
            )
        artifacts = payload.get("artifacts")
        if not isinstance(artifacts, dict) or not artifacts:
            raise ModelLoadError(f"{meta_path}: lists no artefacts")
        for name, expected in artifacts.items():
            if not name or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
                raise ModelLoadError(f"{meta_path}: artefact name {name!r} is not a plain file name")
            if not isinstance(expected, str) or not _SHA256_HEX.fullmatch(expected):
                raise ModelLoadError(
                    f"{meta_path}: artefact {name!r} records {str(expected)[:70]!r}, "
                    "not a SHA-256 (64 lower-case hex digits)"
                )
        metadata = ModelMetadata.from_dict(payload.get("metadata"), source=meta_path)
        if metadata.model_type != cls.model_type:
            raise ModelLoadError(
                f"{meta_path}: metadata describes a {metadata.model_type!r} model, expected {cls.model_type!r}"
            )
        for name, expected in artifacts.items():
            file = directory / name
            if not file.is_file():
                raise ModelLoadError(f"{file}: artefact missing")
            actual = sha256_file(file)
            if actual != expected:
                raise ModelLoadError(
                    f"{file}: SHA-256 {actual[:12]}... does not match the recorded {expected[:12]}...; "
                    "file altered or corrupt"
                )
        return payload

    @classmethod
    def load(cls, path: str | Path) -> BaseModel:
        """Verify (``read_manifest``) and restore a saved model; any problem is a ``ModelLoadError``
        naming metadata.json (manifest, metadata, config) or the artefact (hash, parse) at fault."""
        payload = cls.read_manifest(path)
        meta_path = Path(path) / METADATA_FILE
        metadata = ModelMetadata.from_dict(payload["metadata"], source=meta_path)
        config = None
        if cls.config_class is not None:
            try:
                config = cls.config_class(**metadata.config)
            except (TypeError, ValueError) as exc:
                raise ModelLoadError(
                    f"{meta_path}: stored config does not match {cls.config_class.__name__}: {exc}"
                ) from exc
        model = cls(config=config)
        try:
            model._load_artifacts(Path(path), list(payload["artifacts"]))
        except ModelLoadError:
            raise
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ModelLoadError(f"{path}: artefacts could not be parsed: {exc}") from exc
        model.metadata = metadata
        return model


def feature_array(X: Any, names: list[str] | None, what: str) -> Any:
    """``X[names]`` as a float array: a DataFrame is required, training features must all be
    present, infinite values are refused (missing values pass through to the model)."""
    import numpy as np
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X must be a DataFrame of {what}, got {type(X).__name__}")
    if names is not None:
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the training features {missing}")
        X = X[names]
    values = X.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise ValueError("X holds infinite values")
    return values
