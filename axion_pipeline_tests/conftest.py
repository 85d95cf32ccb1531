"""Shared test fixtures (where the real data lives) and how `make test` spreads the tests over its
xdist workers."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# A module whose source holds one of these keeps all its tests on one worker (see below).
SHARED_SETUP = re.compile(r"""scope\s*=\s*["']module["']|xdist_group""")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared real-data folder: ``$AXION_DATA_DIR``, else ``<repo>/../shared/data``.

    Tests using it are marked ``realdata``; they are skipped, with the path tried, only when the
    folder (or its price file) is absent.
    """
    path = Path(os.environ.get("AXION_DATA_DIR") or REPO_ROOT.parent / "shared" / "data").resolve()
    if not (path / "prices" / "all_stocks_5yr.csv.gz").is_file():
        pytest.skip(f"../shared/data not found: no prices/all_stocks_5yr.csv.gz under {path}")
    return path


def module_shares_setup(path: Path) -> bool:
    """Whether a test module defines a module-scoped fixture or an ``xdist_group`` mark."""
    return path.suffix == ".py" and path.is_file() and bool(SHARED_SETUP.search(path.read_text()))


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist has no such hook
def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadgroup`` (``make test``): every test of a module that shares set-up (a
    module-scoped fixture such as a built warehouse or a running `dagster dev`, or an
    ``xdist_group`` mark) runs on one worker, so that set-up is built once, not once per worker;
    every other test is scheduled on its own, as ``--dist load`` does. Units go out largest first.

    Why not rely on xdist's own ``xdist_group``: with pytest 9.2 the worker's rename of grouped
    node ids (``<id>@<group>``) no longer reaches the controller (pytest-xdist issue #1386), so
    the groups were silently ignored and every shared set-up was built on both workers. Grouping
    here needs only the node ids the controller has.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = Path(config.rootpath)
    shares = cache(lambda module: module_shares_setup(root / module))

    class ModuleSetupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if shares(module) else nodeid

    return ModuleSetupScheduling(config, log)
