"""`make test`'s xdist scheduling (axion_pipeline_tests/conftest.py): a module with a module-scoped
fixture runs on one worker, so its set-up is built once; other tests are spread."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from axion_pipeline_tests.conftest import REPO_ROOT, module_shares_setup

SHARED = """
import pytest

@pytest.fixture(scope="module")
def built():
    return object()

@pytest.mark.parametrize("i", range(6))
def test_shared(built, i):
    pass
"""
SINGLE = """
import time

import pytest

@pytest.mark.parametrize("i", range(6))
def test_single(i):
    time.sleep(0.3)
"""


def test_module_shares_setup_reads_the_module(tmp_path):
    (tmp_path / "test_a.py").write_text(SHARED)
    (tmp_path / "test_b.py").write_text(SINGLE)
    assert module_shares_setup(tmp_path / "test_a.py") and not module_shares_setup(tmp_path / "test_b.py")
    assert not module_shares_setup(tmp_path / "missing.py")


def test_a_module_with_a_module_fixture_runs_on_one_worker(tmp_path):
    """Six tests sharing a module fixture land on one worker; six independent ones on both."""
    (tmp_path / "test_shared.py").write_text(SHARED)
    (tmp_path / "test_single.py").write_text(SINGLE)
    (tmp_path / "conftest.py").write_text(
        "from axion_pipeline_tests.conftest import pytest_xdist_make_scheduler  # noqa: F401\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    workers: dict[str, set[str]] = {}
    for worker, module in re.findall(r"\[(gw\d)\][^\n]*PASSED (test_\w+)\.py::", done.stdout):
        workers.setdefault(module, set()).add(worker)
    assert len(workers["test_shared"]) == 1, done.stdout
    assert workers["test_single"] == {"gw0", "gw1"}, done.stdout
