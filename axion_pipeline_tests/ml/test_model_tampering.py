"""A saved ``StockRankingModel`` directory that was truncated, edited, swapped for a pickle or given
a hostile ``metadata.json`` is refused with ``ModelLoadError`` naming the file, and nothing in it
is executed: loading parses JSON and LightGBM model text only, never a pickle.

Two attacker models:
- the files are edited but ``metadata.json`` is left alone: the SHA-256 manifest catches every
  change and names the altered file;
- ``metadata.json`` is rewritten too (recomputed hashes, ``rehash``): the manifest is then no
  protection (it is an integrity check, not a signature), but the content is still only parsed as
  data, so it fails to parse or loads as a (wrong) model; it never runs code.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml.base import METADATA_FILE, ModelLoadError, sha256_file
from axion_pipeline.ml.config import RankingModelConfig
from axion_pipeline.ml.ranking import STATE_FILE, StockRankingModel

TINY = RankingModelConfig(n_estimators=20, n_ensemble=2, num_leaves=7, max_depth=3, min_child_samples=5, n_jobs=1)
BACKENDS = {"lightgbm": "member_{}.lgb.txt", "sklearn": "member_{}.json"}


def tiny_panel(seed: int = 0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=30)
    idx = pd.MultiIndex.from_product([dates, [f"S{i:02d}" for i in range(20)]], names=["date", "symbol"])
    X = pd.DataFrame(rng.normal(size=(len(idx), 3)), index=idx, columns=["signal", "noise0", "noise1"])
    ranks = (X["signal"] + rng.normal(size=len(idx))).groupby(level="date").rank(method="first")
    return X, np.ceil(ranks / 20 * 5).rename("label")


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def saved(request, tmp_path_factory):
    """(backend, pristine saved directory, predictions of the trained model)."""
    X, y = tiny_panel()
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "sklearn":
            mp.setitem(sys.modules, "lightgbm", None)  # the scikit-learn fallback, saved as JSON
        model = StockRankingModel(TINY)
        model.train(X, y)
        assert model.backend == request.param
        path = model.save(tmp_path_factory.mktemp(request.param) / "model")
    return request.param, path, model.predict(X)


@pytest.fixture
def model_dir(saved, tmp_path):
    """A fresh copy of the saved model to tamper with."""
    return shutil.copytree(saved[1], tmp_path / "model")


def member(saved, i: int = 0) -> str:
    return BACKENDS[saved[0]].format(i)


def rehash(directory: Path) -> None:
    """What an attacker who can write the directory does: recompute the manifest's hashes."""
    meta = json.loads((directory / METADATA_FILE).read_text())
    meta["artifacts"] = {name: sha256_file(directory / name) for name in meta["artifacts"]}
    (directory / METADATA_FILE).write_text(json.dumps(meta))


def edit_manifest(directory: Path, edit) -> None:
    meta = json.loads((directory / METADATA_FILE).read_text())
    edit(meta)
    (directory / METADATA_FILE).write_text(json.dumps(meta))


# ----------------------------------------------------------------------------- a payload that acts
def _touch(path: str) -> None:
    Path(path).write_text("code from a model file was executed")


class Payload:
    """Pickles to 'call _touch(marker)': harmless, but visible if anything ever unpickles it."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return _touch, (self.marker,)


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any unpickling attempt during the test fails loudly (on top of the marker-file check)."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle a model file")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    if "joblib" in sys.modules:  # imported by scikit-learn
        monkeypatch.setattr(sys.modules["joblib"], "load", refuse)


def test_the_payload_really_executes_when_unpickled(tmp_path):
    """The control: the payload used below is live, so 'marker absent' means it never ran."""
    marker = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text() == "code from a model file was executed"


# ------------------------------------------------------------------------------------ save()
def test_save_writes_only_native_text_formats(saved):
    backend, path, _ = saved
    names = sorted(p.name for p in path.iterdir())
    assert names == sorted([METADATA_FILE, STATE_FILE, member(saved, 0), member(saved, 1)])
    assert not [p for pattern in ("*.pkl", "*.pickle", "*.joblib", "*.npy", "*.npz") for p in path.rglob(pattern)]
    for p in path.iterdir():
        data = p.read_bytes()
        assert not data.startswith(b"\x80"), f"{p.name} looks like a pickle"
        data.decode("utf-8")  # text, not binary
        if p.suffix == ".json":
            json.loads(data)
    first = (path / member(saved)).read_text()
    assert first.startswith("tree\n") if backend == "lightgbm" else json.loads(first)["format"] == "axion-sklearn-json"


def test_pristine_copy_loads_and_predicts_identically(saved, model_dir):
    X, _ = tiny_panel()
    pd.testing.assert_frame_equal(StockRankingModel.load(model_dir).predict(X), saved[2], check_exact=True)


# ------------------------------------------------------------------ (a) truncated, (b) one byte
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(position: float):
    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        i = min(int(len(data) * position), len(data) - 1)
        data[i] = ord("7") if data[i] != ord("7") else ord("3")
        path.write_bytes(bytes(data))

    return flip


EDITS = {
    "truncated": _truncate,
    "byte_first": _flip_byte(0.0),
    "byte_middle": _flip_byte(0.5),
    "byte_last": _flip_byte(1.0),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("victim", ["member_0", "member_1", STATE_FILE])
def test_edited_artefact_is_refused_naming_the_file(saved, model_dir, edit, victim, no_unpickling):
    name = member(saved, int(victim[-1])) if victim.startswith("member_") else victim
    EDITS[edit](model_dir / name)
    with pytest.raises(ModelLoadError) as exc:
        StockRankingModel.load(model_dir)
    assert str(exc.value).startswith(f"{model_dir / name}: SHA-256 ")
    assert "does not match the recorded" in str(exc.value)


# -------------------------------------------------------------------- (c) a pickle in its place
def test_pickle_in_place_of_the_model_is_refused_and_never_run(saved, model_dir, tmp_path, no_unpickling):
    marker = tmp_path / "marker"
    (model_dir / member(saved)).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelLoadError, match="does not match the recorded") as exc:
        StockRankingModel.load(model_dir)
    assert str(model_dir / member(saved)) in str(exc.value)
    assert not marker.exists()


@pytest.mark.parametrize("victim", ["member", STATE_FILE])
def test_pickle_with_a_rewritten_manifest_is_parsed_as_text_and_never_run(
    saved, model_dir, tmp_path, victim, no_unpickling
):
    marker = tmp_path / "marker"
    name = member(saved) if victim == "member" else victim
    (model_dir / name).write_bytes(pickle.dumps(Payload(marker)))
    rehash(model_dir)
    with pytest.raises(ModelLoadError, match="could not be parsed") as exc:
        StockRankingModel.load(model_dir)
    assert str(exc.value).startswith(f"{model_dir}: ")  # the directory (the loader does not say which file)
    assert not marker.exists()


def test_pickle_files_dropped_next_to_the_model_are_ignored(saved, model_dir, tmp_path, no_unpickling):
    marker = tmp_path / "marker"
    for name in ("model.pkl", "member_0.joblib", "ranking_state.pickle"):
        (model_dir / name).write_bytes(pickle.dumps(Payload(marker)))
    X, _ = tiny_panel()
    pd.testing.assert_frame_equal(StockRankingModel.load(model_dir).predict(X), saved[2], check_exact=True)
    assert not marker.exists()


def test_state_naming_a_pickle_as_member_is_refused(saved, model_dir, tmp_path, no_unpickling):
    """The state file is edited to load 'model.pkl' and the manifest rewritten to vouch for both."""
    marker = tmp_path / "marker"
    (model_dir / "model.pkl").write_bytes(pickle.dumps(Payload(marker)))
    state = json.loads((model_dir / STATE_FILE).read_text())
    state["members"] = ["model.pkl"]
    (model_dir / STATE_FILE).write_text(json.dumps(state))
    edit_manifest(model_dir, lambda m: m["artifacts"].update({"model.pkl": ""}))
    rehash(model_dir)
    with pytest.raises(ModelLoadError, match="could not be parsed"):
        StockRankingModel.load(model_dir)
    assert not marker.exists()


# -------------------------------------------------------------------- (d) garbage metadata.json
GARBAGE = {
    "text": b"this is not a manifest",
    "empty": b"",
    "binary": bytes(range(256)),
    "truncated_json": None,  # the first half of the real manifest
    "json_list": b"[]",
    "json_null": b"null",
    "wrong_version": b'{"format_version": 99, "model_type": "stock_ranking"}',
    "no_model_type": b'{"format_version": 1}',
    "other_model": b'{"format_version": 1, "model_type": "regime_classifier", "artifacts": {}}',
    "no_artefacts": b'{"format_version": 1, "model_type": "stock_ranking", "artifacts": {}}',
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_manifest_is_refused_naming_it(saved, model_dir, kind, no_unpickling):
    meta = model_dir / METADATA_FILE
    meta.write_bytes(GARBAGE[kind] if GARBAGE[kind] is not None else meta.read_bytes()[: meta.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as exc:
        StockRankingModel.load(model_dir)
    assert str(exc.value).startswith(f"{meta}: ")


def test_pickle_as_manifest_is_refused_and_never_run(saved, model_dir, tmp_path, no_unpickling):
    marker = tmp_path / "marker"
    (model_dir / METADATA_FILE).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelLoadError, match="not valid JSON") as exc:
        StockRankingModel.load(model_dir)
    assert str(model_dir / METADATA_FILE) in str(exc.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: m["metadata"].pop("model_type"), id="metadata_without_model_type"),
        pytest.param(lambda m: m["artifacts"].update({"ranking_state.json": 5}), id="hash_not_a_string"),
        pytest.param(lambda m: m.update(metadata="x"), id="metadata_not_an_object"),
    ],
)
def test_ill_typed_manifest_is_refused_naming_it(saved, model_dir, edit):
    edit_manifest(model_dir, edit)
    with pytest.raises(ModelLoadError) as exc:
        StockRankingModel.load(model_dir)
    assert str(model_dir / METADATA_FILE) in str(exc.value)


# ----------------------------------------------------------------------- (e) paths out of the dir
@pytest.mark.parametrize(
    "name",
    [
        "../member_0.lgb.txt",
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        ".",
        "sub/../ranking_state.json",
        "..\\outside.txt",
        ".hidden",
    ],
)
def test_manifest_path_outside_the_directory_is_refused(saved, model_dir, name, no_unpickling):
    outside = model_dir.parent / "member_0.lgb.txt"
    shutil.copy(model_dir / member(saved), outside)  # a valid file does exist there
    edit_manifest(model_dir, lambda m: m["artifacts"].update({name: sha256_file(outside)}))
    with pytest.raises(ModelLoadError, match="is not a plain file name") as exc:
        StockRankingModel.load(model_dir)
    assert str(exc.value).startswith(f"{model_dir / METADATA_FILE}: artefact name {name!r}")


@pytest.mark.parametrize("relative", [True, False])
def test_state_member_outside_the_directory_is_refused(saved, model_dir, relative, no_unpickling):
    outside = model_dir.parent / "outside_member.txt"
    shutil.copy(model_dir / member(saved), outside)
    target = "../outside_member.txt" if relative else str(outside)
    state = json.loads((model_dir / STATE_FILE).read_text())
    state["members"] = [target, *state["members"][1:]]
    (model_dir / STATE_FILE).write_text(json.dumps(state))
    rehash(model_dir)  # the state file is vouched for; its member list still is not trusted
    with pytest.raises(ModelLoadError, match="not in the verified manifest") as exc:
        StockRankingModel.load(model_dir)
    assert str(exc.value).startswith(f"{model_dir}: members [{target!r}]")


# ------------------------------------------------------------- rewritten manifest, LightGBM text
TRUNCATED_LOAD = textwrap.dedent("""
    import sys
    from axion_pipeline.ml.base import ModelLoadError
    from axion_pipeline.ml.ranking import StockRankingModel
    try:
        StockRankingModel.load(sys.argv[1])
    except ModelLoadError as exc:
        print("ModelLoadError:", exc)
    else:
        print("loaded")
""")


def test_truncated_lightgbm_text_with_rewritten_manifest_is_refused(saved, model_dir):
    if saved[0] != "lightgbm":
        pytest.skip("LightGBM model text only")
    path = model_dir / member(saved)
    path.write_text(path.read_text()[:500])  # cut inside the header, after tree_sizes
    rehash(model_dir)
    run = subprocess.run(
        [sys.executable, "-c", TRUNCATED_LOAD, str(model_dir)],
        capture_output=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    out = run.stdout.decode("utf-8", "replace")  # LightGBM echoes whatever bytes it read
    assert run.returncode == 0, f"the loading process died (exit {run.returncode})"
    result = [line for line in out.splitlines() if line.startswith(("ModelLoadError:", "loaded"))]
    assert result and result[-1].startswith("ModelLoadError:") and str(path) in result[-1]


# ------------------------------------------------------------- the macro rows saved with the model
@pytest.fixture(scope="module")
def saved_with_macro(tmp_path_factory):
    """A model carrying macro rows (with a gap: NaN), saved; and those rows."""
    from axion_pipeline.ml.carried_macro import rows_to_carry

    X, y = tiny_panel()
    model = StockRankingModel(TINY)
    model.train(X, y)
    dates = pd.bdate_range("2020-01-01", periods=300)
    values = np.random.default_rng(3).normal(size=(300, 2)) / 3.0  # floats that need every digit
    values[290, 1] = np.nan
    model.macro_data = rows_to_carry(
        pd.DataFrame(values, index=dates, columns=["vix", "yield_10y"]), ["vix", "yield_10y"]
    )
    return model.save(tmp_path_factory.mktemp("macro") / "model"), model.macro_data


def test_macro_rows_round_trip_exactly_under_the_manifest(saved_with_macro, tmp_path):
    from axion_pipeline.ml.carried_macro import MACRO_FILE, MACRO_ROWS_KEPT

    path, macro = saved_with_macro
    kept = pd.bdate_range("2020-01-01", periods=300)[-MACRO_ROWS_KEPT:]  # the last rows
    assert macro.index.equals(pd.DatetimeIndex(kept, name="date")) and macro["yield_10y"].isna().sum() == 1
    assert MACRO_FILE in json.loads((path / METADATA_FILE).read_text())["artifacts"]
    pd.testing.assert_frame_equal(StockRankingModel.load(path).macro_data, macro, check_exact=True)


def _bad_row(directory: Path) -> None:
    from axion_pipeline.ml.carried_macro import MACRO_FILE

    record = json.loads((directory / MACRO_FILE).read_text())
    record["values"][0] = record["values"][0][:1]
    (directory / MACRO_FILE).write_text(json.dumps(record))
    rehash(directory)


def _unlisted(directory: Path) -> None:
    from axion_pipeline.ml.carried_macro import MACRO_FILE

    edit_manifest(directory, lambda meta: meta["artifacts"].pop(MACRO_FILE))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_flip_byte(0.5), "SHA-256"),  # edited, manifest untouched
        (_bad_row, "values[0] must hold 2 numbers"),  # manifest rewritten to vouch for it
        (_unlisted, "is not in the verified manifest"),  # the state names a file the manifest does not
    ],
)
def test_edited_macro_rows_are_refused_naming_the_file(saved_with_macro, tmp_path, edit, message, no_unpickling):
    from axion_pipeline.ml.carried_macro import MACRO_FILE

    directory = shutil.copytree(saved_with_macro[0], tmp_path / "model")
    edit(directory / MACRO_FILE if edit not in (_bad_row, _unlisted) else directory)
    with pytest.raises(ModelLoadError) as exc:
        StockRankingModel.load(directory)
    assert message in str(exc.value) and str(directory) in str(exc.value)
    if edit is not _unlisted:
        assert MACRO_FILE in str(exc.value)
