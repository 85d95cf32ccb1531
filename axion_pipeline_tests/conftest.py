"""Shared test fixtures: where the real data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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
