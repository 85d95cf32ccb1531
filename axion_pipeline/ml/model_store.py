"""Where trained models live on disk, how versions are named and found, and the store's catalogue.

Layout under a root::

    <name>/<fold_key>/              one model per walk-forward fold (the Dagster fold assets)
    <name>/production/<version>/    every production model trained (``save_version``)
    <name>/production/LATEST        the version in force, rewritten atomically after a save
    <name>/<fold_key>/SKIPPED.json  a fold the data could not train: the reason, no model
    <name>/production/SKIPPED.json  the last production training was skipped (no LATEST then)

``TrainingPipeline`` uses ``<model_dir>/<short name>/<version>/`` with ``LATEST`` beside the
versions. A version is a UTC timestamp and the first 8 hex digits of a SHA-256 over the config and
the training data, so two trainings of the same data and config are recognisable. Loading reads
exactly the version ``LATEST`` names, never "the newest directory". Nothing here unpickles: models
are LightGBM text, XGBoost JSON and scikit-learn JSON with a SHA-256 manifest (``ml/base.py``).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from axion_pipeline.ml.base import METADATA_FILE, BaseModel, ModelLoadError, sha256_file
from axion_pipeline.ml.jsonable import jsonable

logger = logging.getLogger(__name__)

LATEST_FILE = "LATEST"
PRODUCTION = "production"
SKIPPED_FILE = "SKIPPED.json"
SKIPPED = "skipped"
TRAINED = "trained"
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class ModelKind:
    """One of the four models: its short name (``TrainingPipeline``), its store/asset name and class."""

    name: str
    store_name: str
    module: str
    class_name: str

    def load_class(self) -> type[BaseModel]:
        return getattr(importlib.import_module(self.module), self.class_name)


MODEL_KINDS = (
    ModelKind("ranking", "ranking_model", "axion_pipeline.ml.ranking", "StockRankingModel"),
    ModelKind("regime", "regime_model", "axion_pipeline.ml.regime", "RegimeClassifier"),
    ModelKind("earnings", "earnings_model", "axion_pipeline.ml.earnings", "EarningsPredictionModel"),
    ModelKind("factor_timing", "factor_timing_model", "axion_pipeline.ml.factor_timing", "FactorTimingModel"),
)
STORE_NAMES = [kind.store_name for kind in MODEL_KINDS]


def model_kind(name: str) -> ModelKind:
    """The model a short name (``ranking``) or a store name (``ranking_model``) refers to."""
    for kind in MODEL_KINDS:
        if name in (kind.name, kind.store_name):
            return kind
    raise KeyError(f"unknown model {name!r}; expected one of {[k.name for k in MODEL_KINDS]} or {STORE_NAMES}")


def model_class(name: str) -> type[BaseModel]:
    return model_kind(name).load_class()


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
    """Save ``model`` under ``base/<version>/``, then point ``base/LATEST`` at it; returns (version, path)."""
    digest = hashlib.sha256((json.dumps(config_part, sort_keys=True, default=str) + fingerprint).encode()).hexdigest()
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
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


def load_latest(base: Path, name: str | None = None) -> tuple[BaseModel, str]:
    """The model ``base/LATEST`` names and its version. ``name`` (default: ``base``'s own name)
    picks the class. Raises FileNotFoundError when there is no LATEST, ModelLoadError when the
    pointer or the model is invalid (hashes, format), ImportError when the class is unavailable."""
    base = Path(base)
    version = read_latest(base)
    if version is None:
        raise FileNotFoundError(f"no {base.name}/{LATEST_FILE} in {base.parent}")
    return model_class(name or base.name).load(base / version), version


def _write_latest(directory: Path, version: str) -> None:
    tmp = directory / f".{LATEST_FILE}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, directory / LATEST_FILE)


def write_skipped(directory: Path, reason: str, **facts: Any) -> Path:
    """Record in ``directory`` that the model could not be trained there, and why (JSON, written
    atomically): the store then says "skipped" where a model would be, instead of nothing."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    record = {"status": SKIPPED, "reason": reason, "recorded_at": datetime.now(UTC).isoformat(), **jsonable(facts)}
    tmp = directory / f".{SKIPPED_FILE}.tmp"
    tmp.write_text(json.dumps(record, sort_keys=True, default=str) + "\n")
    os.replace(tmp, directory / SKIPPED_FILE)
    return directory / SKIPPED_FILE


def read_skipped(directory: Path) -> dict | None:
    """The skip record in ``directory`` (``write_skipped``), or None."""
    path = Path(directory) / SKIPPED_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not a readable skip record: {exc}") from None
    if not isinstance(record, dict) or record.get("status") != SKIPPED or not isinstance(record.get("reason"), str):
        raise ModelLoadError(f"{path} is not a skip record (expected status 'skipped' and a reason)")
    return record


# -- catalogue -----------------------------------------------------------------------------------
CATALOG_COLUMNS = [
    "model_name",
    "kind",
    "version",
    "status",
    "is_latest",
    "model_type",
    "trained_at",
    "train_start",
    "train_end",
    "fit_start",
    "fit_end",
    "test_start",
    "test_end",
    "metrics",
    "feature_names",
    "artifacts",
    "path",
    "sha256",
    "verified",
    "error",
    "model_text",
]


def catalog_models(root: str | Path, fold_keys: list[str], store_names: list[str] | None = None) -> pd.DataFrame:
    """One row per stored model under ``root``: ``<name>/<fold>/`` (kind fold, for ``fold_keys``) and
    every ``<name>/production/<version>/`` (kind production, ``is_latest`` from LATEST), plus one row
    per skip record (``status`` "skipped: <reason>", no artefacts; a skipped production training is
    the latest, so ``is_latest`` is then false for every version). ``status`` is "trained" otherwise.

    Only JSON and text are read, never unpickled. ``verified``: every artefact's SHA-256 matches
    ``metadata.json`` (else ``error`` says why and ``model_text`` is empty; false for a skip record,
    which has no artefact); ``sha256`` is the digest of ``metadata.json``, which pins every
    artefact's digest, so it identifies the model. ``model_text`` concatenates the artefacts
    (LightGBM model text, XGBoost JSON, scikit-learn JSON), each after a header line
    ``=== <file> sha256=<digest> ===``.
    """
    root = Path(root)
    rows = []
    for name in store_names or STORE_NAMES:
        cls = model_class(name)
        base = root / name
        entries = [("fold", key, base / key, True) for key in fold_keys if (base / key / METADATA_FILE).is_file()]
        skipped = [("fold", key, base / key) for key in fold_keys if (base / key / SKIPPED_FILE).is_file()]
        production = base / PRODUCTION
        if production.is_dir():
            latest = read_latest(production)
            entries += [
                (PRODUCTION, d.name, d, d.name == latest)
                for d in sorted(production.iterdir())
                if (d / METADATA_FILE).is_file()
            ]
            if (production / SKIPPED_FILE).is_file():
                skipped.append((PRODUCTION, None, production))
        for kind, version, path, is_latest in entries:
            row = {
                "model_name": name,
                "kind": kind,
                "version": version,
                "status": TRAINED,
                "is_latest": is_latest,
                "path": str(path),
                "sha256": sha256_file(path / METADATA_FILE),
            }
            try:
                payload = cls.read_manifest(path)
                row.update(verified=True, error=None, **_catalog_fields(payload, path))
            except ModelLoadError as exc:
                row.update(verified=False, error=str(exc), model_text="")
            rows.append(row)
        for kind, version, path in skipped:
            record = read_skipped(path)
            window = record.get("window") or {}
            rows.append(
                {
                    "model_name": name,
                    "kind": kind,
                    "version": version,
                    "status": f"{SKIPPED}: {record['reason']}",
                    "is_latest": True,
                    **{k: window.get(k) for k in ("train_start", "train_end", "test_start", "test_end")},
                    "path": str(path / SKIPPED_FILE),
                    "verified": False,
                    "error": None,
                    "model_text": "",
                }
            )
    return pd.DataFrame(rows, columns=CATALOG_COLUMNS)


def _catalog_fields(payload: dict, path: Path) -> dict[str, Any]:
    meta = payload["metadata"]
    window = meta.get("extra", {}).get("window") or {}
    texts = [
        f"=== {name} sha256={digest} ===\n{(path / name).read_text()}" for name, digest in payload["artifacts"].items()
    ]
    return {
        "model_type": payload["model_type"],
        "trained_at": meta.get("trained_at"),
        "train_start": window.get("train_start"),
        "train_end": window.get("train_end"),
        "fit_start": meta.get("train_start"),
        "fit_end": meta.get("train_end"),
        "test_start": window.get("test_start"),
        "test_end": window.get("test_end"),
        "metrics": json.dumps(jsonable(meta.get("metrics", {})), sort_keys=True),
        "feature_names": json.dumps(meta.get("feature_names", [])),
        "artifacts": json.dumps(payload["artifacts"], sort_keys=True),
        "model_text": "\n".join(texts),
    }
