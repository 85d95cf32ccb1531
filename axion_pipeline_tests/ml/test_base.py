import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from axion_pipeline.ml.base import BaseModel, ModelLoadError, ModelMetadata


@dataclass
class ToyConfig:
    scale: float = 2.0
    tags: list[str] = field(default_factory=list)


class ToyModel(BaseModel):
    """Learns one weight per feature (a mean); enough to exercise the lifecycle."""

    model_type = "toy"
    config_class = ToyConfig

    def __init__(self, config=None):
        super().__init__(config)
        self.weights = None

    def train(self, X: np.ndarray):
        self.weights = X.mean(axis=0) * self.config.scale
        self._finish_training({"mean": np.float64(self.weights.mean()), "per_feature": self.weights},
                              ["a", "b"], train_start="2020-01-01", fold=3, n_rows=np.int64(len(X)))
        return self

    def _has_fitted_state(self):
        return self.weights is not None

    def _save_artifacts(self, directory: Path):
        (directory / "weights.json").write_text(json.dumps(self.weights.tolist()))
        return ["weights.json"]

    def _load_artifacts(self, directory: Path, files):
        self.weights = np.array(json.loads((directory / "weights.json").read_text()), dtype=float)


class OtherModel(ToyModel):
    model_type = "other"


@pytest.fixture
def saved(tmp_path):
    model = ToyModel(ToyConfig(scale=3.0, tags=["x"])).train(np.arange(6.0).reshape(3, 2))
    return model, model.save(tmp_path / "toy")


def test_lifecycle_round_trip(saved):
    model, path = saved
    loaded = ToyModel.load(path)
    assert loaded.is_fitted and np.array_equal(loaded.weights, model.weights)
    assert loaded.config == ToyConfig(scale=3.0, tags=["x"])
    meta = loaded.metadata
    assert meta.model_type == "toy" and meta.fold == 3 and meta.train_start == "2020-01-01"
    assert meta.metrics == {"mean": 7.5, "per_feature": [6.0, 9.0]} and meta.extra == {"n_rows": 3}
    assert meta.feature_names == ["a", "b"] and "numpy" in meta.library_versions
    manifest = json.loads((path / "metadata.json").read_text())
    assert set(manifest["artifacts"]) == {"weights.json"}


def test_unfitted_model_refuses_to_save(tmp_path):
    model = ToyModel()
    assert not model.is_fitted and model.config == ToyConfig()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.save(tmp_path / "x")


def test_altered_artefact_is_refused(saved):
    _, path = saved
    (path / "weights.json").write_text("[6.0, 9.5]")
    with pytest.raises(ModelLoadError, match="does not match"):
        ToyModel.load(path)


def test_missing_artefact_and_missing_manifest(saved, tmp_path):
    _, path = saved
    (path / "weights.json").unlink()
    with pytest.raises(ModelLoadError, match="artefact missing"):
        ToyModel.load(path)
    with pytest.raises(ModelLoadError, match="no metadata.json"):
        ToyModel.load(tmp_path / "nowhere")


def test_other_model_type_is_refused(saved):
    with pytest.raises(ModelLoadError, match="expected 'other'"):
        OtherModel.load(saved[1])


@pytest.mark.parametrize("edit, message", [
    (lambda m: m["artifacts"].update({"../weights.json": "0" * 64}), "not a plain file name"),
    (lambda m: m.update(format_version=99), "unsupported format"),
    (lambda m: m["metadata"].update(surprise=1), "unknown fields"),
    (lambda m: m["metadata"]["config"].update(unknown_knob=1), "does not match ToyConfig"),
])
def test_manifest_edits_are_refused(saved, edit, message):
    _, path = saved
    manifest = json.loads((path / "metadata.json").read_text())
    edit(manifest)
    (path / "metadata.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message):
        ToyModel.load(path)


def test_manifest_that_is_not_json(saved):
    (saved[1] / "metadata.json").write_bytes(b"\x80\x04not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        ToyModel.load(saved[1])


def test_unparseable_artefact_becomes_model_load_error(tmp_path):
    class Fragile(ToyModel):
        model_type = "fragile"

        def _load_artifacts(self, directory, files):
            raise ValueError("bad numbers")

    path = Fragile().train(np.ones((2, 2))).save(tmp_path / "f")
    with pytest.raises(ModelLoadError, match="could not be parsed: bad numbers"):
        Fragile.load(path)


def test_metadata_dict_round_trip():
    meta = ModelMetadata(model_type="toy", metrics={"ic": 0.05})
    assert ModelMetadata.from_dict(meta.to_dict()) == meta
