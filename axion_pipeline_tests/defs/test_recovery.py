"""Recovery after a killed runner: stale runs are recognised by pid and start time, and a fold
model interrupted between its two renames is restored, never lost."""

import os
import re
import socket
import subprocess
import sys

import pytest

from axion_pipeline.defs.recovery import RUNNER_TAG, runner_is_gone, runner_tags
from axion_pipeline.defs.resources import ModelStore


def test_a_live_runner_is_not_gone_a_dead_one_is():
    assert not runner_is_gone(runner_tags())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"make run on {socket.gethostname()}, pid {child.pid}, started 1970-01-01 00:00:01.000 UTC"
    assert runner_is_gone({RUNNER_TAG: dead})


def test_runner_tags_are_readable():
    """One tag a person reads on the run page, no bare pid or epoch: what started the run, where, when."""
    tags = runner_tags()
    assert tags["axion/trigger"] == "make run"
    assert re.fullmatch(
        rf"make run on {re.escape(socket.gethostname())}, pid {os.getpid()}, "
        r"started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC",
        tags[RUNNER_TAG],
    )


def test_a_reused_pid_is_gone_and_other_hosts_are_left_alone():
    tags = runner_tags()
    started_again = tags[RUNNER_TAG].rsplit("started ", 1)[0] + "started 2001-01-01 00:00:00.000 UTC"
    assert runner_is_gone({RUNNER_TAG: started_again})  # same pid, another process start time
    elsewhere = tags[RUNNER_TAG].replace(f"on {socket.gethostname()},", "on another-host,")
    assert not runner_is_gone({RUNNER_TAG: elsewhere})
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
