"""Recovery after a killed runner: stale runs are recognised by pid and start time, and a fold
model interrupted between its two renames is restored, never lost."""

import socket
import subprocess
import sys

import pytest

from axion_pipeline.defs.recovery import HOST_TAG, PID_TAG, STARTED_TAG, runner_is_gone, runner_tags
from axion_pipeline.defs.resources import ModelStore


def test_a_live_runner_is_not_gone_a_dead_one_is():
    assert not runner_is_gone(runner_tags())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert runner_is_gone({HOST_TAG: socket.gethostname(), PID_TAG: str(child.pid), STARTED_TAG: "1.000"})


def test_a_reused_pid_is_gone_and_other_hosts_are_left_alone():
    tags = runner_tags()
    assert runner_is_gone({**tags, STARTED_TAG: "12.345"})  # same pid, another process start time
    assert not runner_is_gone({**tags, HOST_TAG: "another-host"})
    assert not runner_is_gone({})  # launched by the UI or the daemon: run monitoring owns it


class _Model:
    def __init__(self, text):
        self.text = text

    def save(self, path):
        path.mkdir(parents=True)
        (path / "model.txt").write_text(self.text)


def test_fold_model_killed_between_renames_is_restored(tmp_path, monkeypatch):
    store = ModelStore(root=str(tmp_path))
    store.save_fold("ranking_model", "fold_0", _Model("old"))
    target = store.fold_dir("ranking_model", "fold_0")
    # a crash after the old model was renamed aside and before the new one took its place
    target.rename(target.with_name(".fold_0.retired"))
    monkeypatch.setattr(
        "axion_pipeline.ml.model_store.model_class",
        lambda name: type("M", (), {"load": staticmethod(lambda p: (p / "model.txt").read_text())}),
    )
    assert store.load_fold("ranking_model", "fold_0") == "old"
    store.save_fold("ranking_model", "fold_0", _Model("new"))
    assert store.load_fold("ranking_model", "fold_0") == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["fold_0"]


def test_a_failed_save_keeps_the_previous_fold_model(tmp_path):
    store = ModelStore(root=str(tmp_path))
    store.save_fold("ranking_model", "fold_0", _Model("old"))

    class Broken:
        def save(self, path):
            path.mkdir(parents=True)
            raise OSError("disk full")

    with pytest.raises(OSError):
        store.save_fold("ranking_model", "fold_0", Broken())
    assert (store.fold_dir("ranking_model", "fold_0") / "model.txt").read_text() == "old"
