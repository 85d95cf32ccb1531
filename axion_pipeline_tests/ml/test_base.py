import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from axion_pipeline.ml.base import BaseModel, ModelLoadError, ModelMetadata, artifact_parsing


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
        self._finish_training(
            {"mean": np.float64(self.weights.mean()), "per_feature": self.weights},
            ["a", "b"],
            train_start="2020-01-01",
            fold=3,
            n_rows=np.int64(len(X)),
        )
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


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["artifacts"].update({"../weights.json": "0" * 64}), "not a plain file name"),
        (lambda m: m.update(format_version=99), "unsupported format"),
        (lambda m: m["metadata"].update(surprise=1), "unknown fields"),
        (lambda m: m["metadata"]["config"].update(unknown_knob=1), "does not match ToyConfig"),
    ],
)
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


def test_every_metadata_field_has_a_checked_type():
    from axion_pipeline.ml import base

    assert set(base._METADATA_TYPES) == set(ModelMetadata.__dataclass_fields__)
    full = ModelMetadata(model_type="toy", fold=2, train_start="2020-01-01", data_version="abc", extra={"k": 1})
    assert ModelMetadata.from_dict(full.to_dict(), source="m.json") == full


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["artifacts"].update({"weights.json": 5}), "records '5', not a SHA-256"),
        (lambda m: m["artifacts"].update({"weights.json": None}), "records 'None', not a SHA-256"),
        (lambda m: m["artifacts"].update({"weights.json": "0" * 63}), "not a SHA-256"),
        (lambda m: m["artifacts"].update({"weights.json": "g" * 64}), "not a SHA-256"),
        (lambda m: m.update(format_version=True), "unsupported format"),
        (lambda m: m.update(metadata="x"), "metadata is a str, expected a JSON object"),
        (lambda m: m.pop("metadata"), "metadata is a NoneType, expected a JSON object"),
        (lambda m: m["metadata"].pop("model_type"), r"metadata lacks the fields \['model_type'\]"),
        (lambda m: m["metadata"].pop("trained_at"), r"metadata lacks the fields \['trained_at'\]"),
        (lambda m: m["metadata"].update(model_type="other"), "metadata describes a 'other' model, expected 'toy'"),
        (lambda m: m["metadata"].update(model_type=7), "'model_type' is int, expected str"),
        (lambda m: m["metadata"].update(fold="3"), "'fold' is str, expected int or null"),
        (lambda m: m["metadata"].update(fold=True), "'fold' is bool, expected int or null"),
        (lambda m: m["metadata"].update(extra=[]), "'extra' is list, expected dict"),
        (lambda m: m["metadata"].update(config="scale=3"), "'config' is str, expected dict"),
        (lambda m: m["metadata"].update(feature_names=["a", 1]), "'feature_names' holds non-strings, e.g. 1"),
        (lambda m: m["metadata"]["library_versions"].update(numpy=2), "'library_versions' holds non-strings"),
        (lambda m: m["metadata"].update(surprise=1), "unknown fields"),
        (lambda m: m["metadata"]["config"].update(unknown_knob=1), "does not match ToyConfig"),
    ],
)
def test_ill_typed_manifest_is_a_model_load_error_naming_it(saved, edit, message):
    """Every manifest problem is a ModelLoadError that starts with the metadata.json path (never a
    TypeError from a field of the wrong type, never the bare directory)."""
    _, path = saved
    manifest = json.loads((path / "metadata.json").read_text())
    edit(manifest)
    (path / "metadata.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match=message) as exc:
        ToyModel.load(path)
    assert str(exc.value).startswith(f"{path / 'metadata.json'}: ")
    if "ToyConfig" not in message:  # the config is checked by load; the rest already by read_manifest,
        with pytest.raises(ModelLoadError, match=message):  # which the model catalogue calls alone
            ToyModel.read_manifest(path)


@pytest.mark.parametrize(
    "error, detail",
    [
        (KeyError("weights"), "missing field 'weights'"),
        (ValueError("bad numbers"), "bad numbers"),
        (TypeError("list indices must be integers"), "list indices must be integers"),
        (UnicodeDecodeError("utf-8", b"\x80", 0, 1, "invalid start byte"), "not UTF-8 text"),  # a pickle, say
    ],
)
def test_parse_error_inside_artifact_parsing_names_the_artefact(tmp_path, error, detail):
    class Named(ToyModel):
        model_type = "named"

        def _load_artifacts(self, directory, files):
            with artifact_parsing(directory / "weights.json"):
                raise error

    path = Named().train(np.ones((2, 2))).save(tmp_path / "n")
    with pytest.raises(ModelLoadError) as exc:
        Named.load(path)
    assert str(exc.value).startswith(f"{path}: artefacts could not be parsed: {path / 'weights.json'}: {detail}")


def test_artifact_parsing_does_not_repeat_a_file_name_already_given(tmp_path):
    file = tmp_path / "state.json"
    with pytest.raises(ValueError) as exc, artifact_parsing(file):
        raise ValueError(f"{file}: not valid JSON (x)")
    assert str(exc.value) == f"{file}: not valid JSON (x)"
    with pytest.raises(ModelLoadError, match="^as is$"), artifact_parsing(file):
        raise ModelLoadError("as is")
